"""`python -m deploy policies|package|check|resources|harden`: policies, packages, checks."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import boto3
from botocore.exceptions import ClientError

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
from deploy.stages import PROJECT_DIR, deployable_stages, load_config, load_stage
from deploy.template import resources_template


def _report(findings: Findings, title: str) -> int:
    print(f"\n{title}: {len(findings.checked)} checks passed, {len(findings.violations)} failed")
    for line in findings.checked:
        print(f"  ok    {line}")
    for line in findings.violations:
        print(f"  FAIL  {line}")
    return 1 if findings.violations else 0


def policies(check: bool) -> int:
    """Writes (or with --check, compares) `.chalice/policy-<stage>.json` of every stage."""
    drifted = []
    for name in deployable_stages(load_config(PROJECT_DIR)):
        stage = load_stage(name)
        path = policy_path(stage)
        wanted = render_policy(build_policy(stage))
        current = path.read_text() if path.exists() else None
        if current == wanted:
            print(f"{path.relative_to(PROJECT_DIR)}: up to date")
        elif check:
            drifted.append(path)
            print(f"{path.relative_to(PROJECT_DIR)}: differs from the stage's configuration")
        else:
            path.write_text(wanted)
            print(f"{path.relative_to(PROJECT_DIR)}: written")
    return 1 if drifted else 0


def check(stage_name: str, out: Path) -> int:
    """The checks of `package` on an existing package directory."""
    stage = load_stage(stage_name)
    findings = Findings()
    check_policy_file(stage, PROJECT_DIR, findings)
    findings.merge(check_template(json.loads((out / "sam.json").read_text()), stage))
    check_zip(out / "deployment.zip", findings, stage.settings.tracing)
    check_cfn_lint(out / "sam.json", findings)
    return _report(findings, f"{stage_name}: {out}")


def resources(stage_name: str, out: Path) -> int:
    """Writes the stage's resources stack for `chalice deploy` (deploy/template.py), checked."""
    stage = load_stage(stage_name)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(resources_template(stage), indent=2) + "\n")
    findings = check_resources_template(json.loads(out.read_text()), stage)
    check_cfn_lint(out, findings)
    status = _report(findings, f"{stage_name}: {out}")
    if not status:
        print(
            f"deploy: aws cloudformation deploy --template-file {out} --stack-name "
            f"{resources_stack_name(stage)} [--parameter-overrides AlarmEmail=...]"
        )
    return status


def harden_stage(stage_name: str, deployed: Path | None, stack: str | None, dry_run: bool) -> int:
    """After `chalice deploy`: connects its functions and rules to the resources stack."""
    stage = load_stage(stage_name)
    try:
        deployment = Deployment.read(deployed or deployed_path(stage), stage)
        stack_name = stack or resources_stack_name(stage)
        session = boto3.Session(region_name=deployment.region)
        services = Services(
            stack=ResourcesStack(session.client("cloudformation")),
            functions=Functions(session.client("lambda")),
            rules=Rules(session.client("events")),
            log_groups=LogGroups(session.client("logs")),
            alarms=Alarms(session.client("cloudwatch")),
            usage_plans=UsagePlans(session.client("apigateway")),
        )
        print(f"{stage_name}: hardening in {deployment.region} with the stack {stack_name}")
        report = Report(dry_run=dry_run)
        try:
            harden(stage, deployment, stack_name, services, report)
        finally:
            for line in report.lines():
                print(line)
    except (HardenError, ClientError) as error:
        print(f"FAIL  {error}")
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    policies_parser = commands.add_parser("policies", help="write .chalice/policy-<stage>.json")
    policies_parser.add_argument("--check", action="store_true", help="only compare; 1 if stale")
    for name in ("package", "check"):
        sub = commands.add_parser(name, help=f"{name} a stage (sam.json, deployment.zip)")
        sub.add_argument("--stage", default="prod")
        sub.add_argument("--out", type=Path, help="default: build/<stage>")
    resources_parser = commands.add_parser(
        "resources", help="the stage's storage and failure handling stack, for chalice deploy"
    )
    resources_parser.add_argument("--stage", default="prod")
    resources_parser.add_argument("--out", type=Path, help="default: build/<stage>-resources.json")
    harden_parser = commands.add_parser(
        "harden", help="after chalice deploy: retries, dead letters, alarms, log retention"
    )
    harden_parser.add_argument("--stage", default="prod")
    harden_parser.add_argument(
        "--deployed", type=Path, help="chalice's record; default: .chalice/deployed/<stage>.json"
    )
    harden_parser.add_argument(
        "--resources-stack", help="the resources stack; default: sagewire-<stage>-resources"
    )
    harden_parser.add_argument("--dry-run", action="store_true", help="only say what would change")
    args = parser.parse_args(argv)
    if args.command == "policies":
        return policies(args.check)
    if args.command == "resources":
        return resources(
            args.stage, args.out or PROJECT_DIR / "build" / f"{args.stage}-resources.json"
        )
    if args.command == "harden":
        return harden_stage(args.stage, args.deployed, args.resources_stack, args.dry_run)
    out = args.out or PROJECT_DIR / "build" / args.stage
    if args.command == "check":
        return check(args.stage, out)
    findings, timings = package(args.stage, out)
    status = _report(findings, f"{args.stage}: {out}")
    print(f"\npackaged in {timings}")
    if not status:
        print(
            f"deploy: aws cloudformation package --template-file {out / 'sam.json'} "
            "--s3-bucket <artifacts bucket> --output-template-file packaged.json && "
            f"aws cloudformation deploy --template-file packaged.json --stack-name "
            f"sagewire-{args.stage} --capabilities CAPABILITY_IAM CAPABILITY_AUTO_EXPAND"
        )
    return status


if __name__ == "__main__":
    sys.exit(main())
