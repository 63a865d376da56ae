"""`python -m deploy policies|package|check|resources|harden`: policies, packages, checks."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from cli_conventions import (
    FAILED,
    OK,
    UNAVAILABLE,
    fail,
    parser,
    print_json,
    subcommand,
)
from deploy.checks import (
    Findings,
    check_cfn_lint,
    check_policy_file,
    check_resources_template,
    check_template,
    check_zip,
)
from deploy.harden import (
    Alarms,
    Deployment,
    Functions,
    GatewayResponses,
    HardenError,
    LogGroups,
    Report,
    ResourcesStack,
    Rules,
    Services,
    UsagePlans,
    deployed_path,
    harden,
    resources_stack_name,
)
from deploy.package import package
from deploy.policy import build_policy, policy_path, render_policy
from deploy.stages import (
    PROJECT_DIR,
    Stage,
    StageError,
    deployable_stages,
    load_config,
    load_stage,
)
from deploy.template import resources_template

TOOL = "deploy"


def _log(line: str) -> None:
    """Progress under --json: stdout carries the JSON alone."""
    print(line, file=sys.stderr)


def _report(findings: Findings, stage: Stage, out: Path, as_json: bool, **extra: Any) -> int:
    status = FAILED if findings.violations else OK
    if as_json:
        print_json(
            {
                "stage": stage.name,
                "out": str(out),
                **extra,
                "passed": len(findings.checked),
                "failed": len(findings.violations),
                "checked": findings.checked,
                "violations": findings.violations,
            }
        )
        return status
    print(
        f"\n{stage.name}: {out}: {len(findings.checked)} checks passed, "
        f"{len(findings.violations)} failed"
    )
    for line in findings.checked:
        print(f"  ok    {line}")
    for line in findings.violations:
        print(f"  FAIL  {line}")
    return status


def policies(check: bool, as_json: bool) -> int:
    """Writes (or with --check, compares) `.chalice/policy-<stage>.json` of every stage."""
    states: dict[str, str] = {}
    for name in deployable_stages(load_config(PROJECT_DIR)):
        stage = load_stage(name)
        path = policy_path(stage)
        wanted = render_policy(build_policy(stage))
        current = path.read_text() if path.exists() else None
        file = str(path.relative_to(PROJECT_DIR))
        if current == wanted:
            states[file] = "up to date"
        elif check:
            states[file] = "differs from the stage's configuration"
        else:
            path.write_text(wanted)
            states[file] = "written"
    if as_json:
        print_json({"policies": states})
    else:
        for file, state in states.items():
            print(f"{file}: {state}")
    return FAILED if check and any(state != "up to date" for state in states.values()) else OK


def check(stage: Stage, out: Path, as_json: bool) -> int:
    """The checks of `package` on an existing package directory."""
    if not (out / "sam.json").is_file() or not (out / "deployment.zip").is_file():
        return fail(
            TOOL, f"no package in {out}; run `python -m deploy package --stage {stage.name}` first"
        )
    findings = Findings()
    check_policy_file(stage, PROJECT_DIR, findings)
    findings.merge(check_template(json.loads((out / "sam.json").read_text()), stage))
    check_zip(out / "deployment.zip", findings, stage.settings.tracing)
    check_cfn_lint(out / "sam.json", findings)
    return _report(findings, stage, out, as_json)


def resources(stage: Stage, out: Path, as_json: bool) -> int:
    """Writes the stage's resources stack for `chalice deploy` (deploy/template.py), checked."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(resources_template(stage), indent=2) + "\n")
    findings = check_resources_template(json.loads(out.read_text()), stage)
    check_cfn_lint(out, findings)
    status = _report(findings, stage, out, as_json)
    if not status and not as_json:
        print(
            f"deploy: aws cloudformation deploy --template-file {out} --stack-name "
            f"{resources_stack_name(stage)} [--parameter-overrides AlarmEmail=...]"
        )
    return status


def package_stage(stage: Stage, out: Path, as_json: bool) -> int:
    """Packages the stage into `out` and checks it; then says how to deploy it."""
    findings, timings = package(stage.name, out, log=_log if as_json else print)
    seconds = {phase: round(taken, 1) for phase, taken in timings.phases}
    status = _report(findings, stage, out, as_json, seconds=seconds)
    if as_json:
        return status
    print(f"\npackaged in {timings}")
    if not status:
        print(
            f"deploy: aws cloudformation package --template-file {out / 'sam.json'} "
            "--s3-bucket <artifacts bucket> --output-template-file packaged.json && "
            f"aws cloudformation deploy --template-file packaged.json --stack-name "
            f"sagewire-{stage.name} --capabilities CAPABILITY_IAM CAPABILITY_AUTO_EXPAND"
        )
    return status


def harden_stage(stage: Stage, deployed: Path | None, stack: str | None, dry_run: bool) -> int:
    """After `chalice deploy`: connects its functions and rules to the resources stack."""
    deployment = Deployment.read(deployed or deployed_path(stage), stage)
    stack_name = stack or resources_stack_name(stage)
    session = boto3.Session(region_name=deployment.region)
    try:
        apigateway = session.client("apigateway")
        services = Services(
            stack=ResourcesStack(session.client("cloudformation")),
            functions=Functions(session.client("lambda")),
            rules=Rules(session.client("events")),
            log_groups=LogGroups(session.client("logs")),
            alarms=Alarms(session.client("cloudwatch")),
            usage_plans=UsagePlans(apigateway),
            gateway_responses=GatewayResponses(apigateway),
        )
        print(f"{stage.name}: hardening in {deployment.region} with the stack {stack_name}")
        report = Report(dry_run=dry_run)
        finished = False
        try:
            harden(stage, deployment, stack_name, services, report)
            finished = True
        finally:
            for line in report.lines(interrupted=not finished):
                print(line)
    except ClientError as error:
        return fail(TOOL, error)
    except BotoCoreError as error:
        return fail(TOOL, error, UNAVAILABLE)
    return OK


def _parser() -> argparse.ArgumentParser:
    top = parser(
        "python -m deploy",
        "Prepares a stage of .chalice/config.json (dev, prod) for AWS: its IAM policy files, its "
        "checked deployment package (SAM template and zip), its resources stack, and after "
        "`chalice deploy` what that leaves out. docs/deploy.md is the guide.",
        "python -m deploy package --stage prod",
        "python -m deploy check --stage prod --json",
    )
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    policies_parser = subcommand(
        commands,
        "policies",
        "write .chalice/policy-<stage>.json",
        "Writes the IAM policy file of every deployable stage from .chalice/config.json "
        "(deploy/policy.py); `chalice deploy` and `package` use them as they are.",
        "python -m deploy policies --check",
    )
    policies_parser.add_argument(
        "--check", action="store_true", help="only compare; exit 1 if one is stale"
    )
    package_parser = subcommand(
        commands,
        "package",
        "package a stage (sam.json, deployment.zip) and check it",
        "Builds the stage's package into --out: its dependencies as wheels for Lambda's "
        "python3.12, `chalice package` with the merge template (the table, bucket, dead-letter "
        "queue, alarms), bytecode; then runs the checks of `check` on it. Exit 1 when one fails.",
        "python -m deploy package --stage dev --out build/dev",
    )
    check_parser = subcommand(
        commands,
        "check",
        "the checks of package again, on build/<stage>",
        "Checks an existing package: the policy file as `policies` writes it, the template's "
        "resources, the zip's contents, cfn-lint. Exit 1 when one fails.",
        "python -m deploy check --stage prod --json",
    )
    for sub in (package_parser, check_parser):
        sub.add_argument("--out", type=Path, help="default: build/<stage>")
    resources_parser = subcommand(
        commands,
        "resources",
        "the stage's storage and failure handling stack, for chalice deploy",
        "Writes and checks the CloudFormation stack that `chalice deploy` needs beside it: the "
        "table, the bucket, the dead-letter queue and the alarm topic (deploy/template.py).",
        "python -m deploy resources --stage prod --out build/prod-resources.json",
    )
    resources_parser.add_argument("--out", type=Path, help="default: build/<stage>-resources.json")
    harden_parser = subcommand(
        commands,
        "harden",
        "after chalice deploy: retries, dead letters, alarms, log retention, error answers",
        "Connects the functions and rules of a `chalice deploy` to the resources stack: "
        "EventBridge retry policies and dead letters, Lambda on-failure destinations, alarms, "
        "log retention, usage plans; puts API Gateway's own error answers in sagewire's "
        "envelope and deploys the API's stage for them. Changes only what differs; --dry-run "
        "says what would.",
        "python -m deploy harden --stage prod --dry-run",
    )
    harden_parser.add_argument(
        "--deployed", type=Path, help="chalice's record; default: .chalice/deployed/<stage>.json"
    )
    harden_parser.add_argument(
        "--resources-stack", help="the resources stack; default: sagewire-<stage>-resources"
    )
    harden_parser.add_argument("--dry-run", action="store_true", help="only say what would change")
    for sub in (package_parser, check_parser, resources_parser, harden_parser):
        sub.add_argument(
            "--stage", default="prod", help="a stage of .chalice/config.json (default: prod)"
        )
    for sub in (policies_parser, package_parser, check_parser, resources_parser):
        sub.add_argument("--json", action="store_true", help="print the summary as JSON")
    return top


def _run(args: argparse.Namespace) -> int:
    if args.command == "policies":
        return policies(args.check, args.json)
    stage = load_stage(args.stage)
    if args.command == "harden":
        return harden_stage(stage, args.deployed, args.resources_stack, args.dry_run)
    if args.command == "resources":
        out = args.out or PROJECT_DIR / "build" / f"{stage.name}-resources.json"
        return resources(stage, out, args.json)
    out = args.out or PROJECT_DIR / "build" / stage.name
    if args.command == "check":
        return check(stage, out, args.json)
    return package_stage(stage, out, args.json)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _run(args)
    except (StageError, HardenError) as error:
        return fail(TOOL, error)


if __name__ == "__main__":
    sys.exit(main())
