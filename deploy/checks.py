"""Checks on a packaged stage: template, IAM, event patterns, zip size and wheels, cfn-lint."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chalicelib.gateways.table import TABLE_SCHEMA
from deploy import gateway_responses
from deploy import template as tpl
from deploy.bytecode import check_bytecode
from deploy.policy import (
    allowed_resources,
    build_policy,
    check_policy,
    covered,
    policy_path,
    render_policy,
)
from deploy.sam import expand
from deploy.stages import APP_DIRS, APP_FILES, ARCHITECTURE, RUNTIME, Stage
from deploy.trim import check_trimmed
from deploy.wheels import RUNTIMES, check_wheels

MiB = 1024 * 1024
# Lambda's limits for a .zip deployment package: uploaded directly, and unzipped.
MAX_ZIPPED_BYTES = 50 * MiB
MAX_UNZIPPED_BYTES = 250 * MiB
CFN_LINT_VERSION = "1.51.0"
QUEUE_ARN = {"Fn::GetAtt": [tpl.QUEUE, "Arn"]}
TOPIC_REF = {"Ref": tpl.TOPIC}


@dataclass
class Findings:
    """What was checked and what failed, one sentence each."""

    checked: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)

    def expect(self, condition: bool, passed: str, failed: str) -> None:
        (self.checked if condition else self.violations).append(passed if condition else failed)

    def merge(self, other: Findings) -> None:
        self.checked += other.checked
        self.violations += other.violations


def _resources(template: dict[str, Any], kind: str) -> Iterator[tuple[str, dict[str, Any]]]:
    for logical_id, resource in template.get("Resources", {}).items():
        if resource.get("Type") == kind:
            yield logical_id, resource


def _props(resource: dict[str, Any]) -> dict[str, Any]:
    properties: dict[str, Any] = resource.get("Properties", {})
    return properties


def _statements(template: dict[str, Any], logical_id: str) -> list[dict[str, Any]]:
    document = _props(template["Resources"].get(logical_id, {})).get("PolicyDocument", {})
    return _list(document.get("Statement"))


# ---------------------------------------------------------------------------------------------
# The packaged (SAM) template


def check_runtime(template: dict[str, Any], stage: Stage, findings: Findings) -> None:
    for logical_id, function in _resources(template, tpl.FUNCTION):
        properties = _props(function)
        name = str(properties.get("FunctionName"))
        # The policy lets the functions write to their stage's log groups only.
        findings.expect(
            stage.owns_function(name),
            f"{logical_id}: named {name}",
            f"{logical_id}: FunctionName {name} does not start with {stage.prefix}-",
        )
        runtime, architectures = properties.get("Runtime"), properties.get("Architectures")
        findings.expect(
            runtime == RUNTIME and architectures == [ARCHITECTURE],
            f"{logical_id}: {RUNTIME} on {ARCHITECTURE}",
            f"{logical_id}: Runtime {runtime} on {architectures}, expected {RUNTIME} "
            f"on [{ARCHITECTURE}]",
        )


def s3_pattern(pattern: dict[str, Any]) -> tuple[Any, list[Any], set[str]] | None:
    """(bucket names, key filters, key prefixes) an S3 event pattern matches; None for a
    pattern of another source."""
    if "aws.s3" not in pattern.get("source", []):
        return None
    detail = pattern.get("detail", {})
    keys = detail.get("object", {}).get("key", [])
    prefixes = {k["prefix"] for k in keys if isinstance(k, dict) and "prefix" in k}
    return detail.get("bucket", {}).get("name"), keys, prefixes


def check_event_patterns(template: dict[str, Any], stage: Stage, findings: Findings) -> None:
    """Events reach the app through patterns fixed at packaging: the stage's account, bucket and
    prefixes must be in them, not the defaults of whatever environment ran the packaging."""
    settings = stage.settings
    prefixes: set[str] = set()
    for logical_id, function in _resources(template, tpl.FUNCTION):
        for event_id, event in _props(function).get("Events", {}).items():
            s3 = s3_pattern(event.get("Properties", {}).get("Pattern", {}))
            if s3 is None:
                continue
            buckets, keys, event_prefixes = s3
            prefixes |= event_prefixes
            findings.expect(
                buckets == [settings.bucket_name] and bool(keys),
                f"{logical_id}.{event_id}: S3 pattern on {settings.bucket_name}, keys {keys}",
                f"{logical_id}.{event_id}: S3 pattern names buckets {buckets} (keys {keys}), "
                f"expected [{settings.bucket_name!r}] with a key prefix",
            )
    for logical_id, function in _resources(template, tpl.FUNCTION):
        for event_id, event in _props(function).get("Events", {}).items():
            if event.get("Type") != "CloudWatchEvent":
                continue
            account = event.get("Properties", {}).get("Pattern", {}).get("account")
            findings.expect(
                account == [stage.account],
                f"{logical_id}.{event_id}: pattern pinned to account {stage.account}",
                f"{logical_id}.{event_id}: pattern matches account {account}, expected "
                f"[{stage.account!r}]",
            )
    expected = {settings.datasets_prefix, settings.batch_input_prefix}
    findings.expect(
        prefixes == expected,
        f"S3 patterns cover the prefixes {sorted(expected)}",
        f"S3 patterns cover the prefixes {sorted(prefixes)}, expected {sorted(expected)}",
    )


# ---------------------------------------------------------------------------------------------
# What CloudFormation will create (after SAM's transform)


def check_resilience(expanded: dict[str, Any], stage: Stage, findings: Findings) -> None:
    """Every EventBridge rule retries and dead-letters; every function it invokes sends its
    failed asynchronous invocations to the same queue; the queue lets exactly those rules send."""
    rules = dict(_resources(expanded, "AWS::Events::Rule"))
    findings.expect(bool(rules), f"{len(rules)} EventBridge rules", "no EventBridge rules")
    targeted: set[str] = set()
    rule_names: set[str] = set()
    for logical_id, rule in rules.items():
        properties = _props(rule)
        rule_names.add(str(properties.get("Name")))
        for target in properties.get("Targets", []):
            retry = target.get("RetryPolicy", {})
            findings.expect(
                {"MaximumEventAgeInSeconds", "MaximumRetryAttempts"} <= set(retry)
                and target.get("DeadLetterConfig", {}).get("Arn") == QUEUE_ARN,
                f"{logical_id}: RetryPolicy {retry}, dead letters to {tpl.QUEUE}",
                f"{logical_id}: target {target.get('Id')} lacks a RetryPolicy or the "
                f"DeadLetterConfig of {tpl.QUEUE}",
            )
            arn = target.get("Arn", {})
            if isinstance(arn, dict) and "Fn::GetAtt" in arn:
                targeted.add(arn["Fn::GetAtt"][0])
    configs = {
        _props(config).get("FunctionName", {}).get("Ref"): config
        for _, config in _resources(expanded, "AWS::Lambda::EventInvokeConfig")
    }
    for function in sorted(targeted):
        properties = _props(configs.get(function, {}))
        on_failure = properties.get("DestinationConfig", {}).get("OnFailure", {})
        findings.expect(
            on_failure.get("Destination") == QUEUE_ARN
            and "MaximumRetryAttempts" in properties
            and "MaximumEventAgeInSeconds" in properties,
            f"{function}: async failures after {properties.get('MaximumRetryAttempts')} retries "
            f"go to {tpl.QUEUE}",
            f"{function}: no EventInvokeConfig sending failures to {tpl.QUEUE}",
        )
    check_queue(expanded, stage, findings)
    allowed = _queue_senders(expanded, "ArnEquals")
    findings.expect(
        bool(rule_names) and allowed == rule_names,
        f"{tpl.QUEUE_POLICY}: events.amazonaws.com may send from the {len(allowed)} rules only",
        f"{tpl.QUEUE_POLICY}: rules allowed to send {sorted(allowed)}, rules {sorted(rule_names)}",
    )


def check_queue(template: dict[str, Any], stage: Stage, findings: Findings) -> None:
    queue = _props(template["Resources"].get(tpl.QUEUE, {}))
    findings.expect(
        queue.get("QueueName") == stage.dlq_name
        and queue.get("MessageRetentionPeriod") == tpl.DLQ_RETENTION_SECONDS
        and queue.get("SqsManagedSseEnabled") is True,
        f"{stage.dlq_name}: 14 days' retention, SSE",
        f"{tpl.QUEUE}: expected {stage.dlq_name} with 14 days' retention and SSE, got {queue}",
    )


def _queue_senders(template: dict[str, Any], operator: str) -> set[str]:
    """The rule names (or globs) the queue policy lets EventBridge send for, under `operator`;
    any other principal or condition in an Allow shows as `<...>`."""
    allowed: set[str] = set()
    for statement in _statements(template, tpl.QUEUE_POLICY):
        if statement.get("Effect") != "Allow":
            continue
        condition = statement.get("Condition", {})
        from_events = statement.get("Principal") == {"Service": "events.amazonaws.com"}
        if not from_events or set(condition) != {operator}:
            allowed.add(f"<{statement.get('Principal')} {condition}>")
            continue
        for arn in _list(condition[operator].get("aws:SourceArn")):
            allowed.add(str(arn.get("Fn::Sub", "")).rpartition("rule/")[2])
    return allowed


def check_storage(expanded: dict[str, Any], stage: Stage, findings: Findings) -> None:
    table = _props(expanded["Resources"].get(tpl.TABLE, {}))
    schema = ("AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes", "BillingMode")
    expected_keys = {key: TABLE_SCHEMA[key] for key in schema}
    findings.expect(
        table.get("TableName") == stage.settings.table_name
        and all(table.get(key) == value for key, value in expected_keys.items())
        and table.get("PointInTimeRecoverySpecification") == {"PointInTimeRecoveryEnabled": True}
        and table.get("SSESpecification") == {"SSEEnabled": True}
        and table.get("TimeToLiveSpecification")
        == {"AttributeName": tpl.TTL_ATTRIBUTE, "Enabled": True},
        f"table {stage.settings.table_name}: TABLE_SCHEMA, on-demand, PITR, SSE, TTL on "
        f"{tpl.TTL_ATTRIBUTE}",
        f"table: expected {stage.settings.table_name} as TABLE_SCHEMA with PITR, SSE and TTL "
        f"on {tpl.TTL_ATTRIBUTE}",
    )
    bucket = _props(expanded["Resources"].get(tpl.BUCKET, {}))
    block = bucket.get("PublicAccessBlockConfiguration", {})
    findings.expect(
        bucket.get("BucketName") == stage.settings.bucket_name
        and bucket.get("VersioningConfiguration") == {"Status": "Enabled"}
        and bucket.get("NotificationConfiguration", {}).get("EventBridgeConfiguration")
        == {"EventBridgeEnabled": True}
        and bool(bucket.get("BucketEncryption", {}).get("ServerSideEncryptionConfiguration"))
        and len(block) == 4
        and all(value is True for value in block.values()),
        f"bucket {stage.settings.bucket_name}: versioned, EventBridge notifications, "
        "encrypted, public access blocked",
        f"bucket: expected {stage.settings.bucket_name} versioned, with EventBridge "
        "notifications, default encryption and all public access blocked",
    )
    statements = _statements(expanded, tpl.BUCKET_POLICY)
    tls_only = any(
        s.get("Effect") == "Deny"
        and s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"
        for s in statements
    )
    findings.expect(tls_only, "bucket policy: TLS only", "bucket policy: no Deny without TLS")


def check_alarms(expanded: dict[str, Any], stage: Stage, findings: Findings) -> None:
    alarms = [_props(alarm) for _, alarm in _resources(expanded, "AWS::CloudWatch::Alarm")]
    notify = all(alarm.get("AlarmActions") == [TOPIC_REF] for alarm in alarms)
    findings.expect(
        notify, f"{len(alarms)} alarms notify {tpl.TOPIC}", f"an alarm does not notify {tpl.TOPIC}"
    )
    watched = {
        dimension["Value"]
        for alarm in alarms
        if alarm.get("Namespace") == "AWS/Lambda" and alarm.get("MetricName") == "Errors"
        for dimension in alarm.get("Dimensions", [])
    }
    for logical_id, function in _resources(expanded, "AWS::Lambda::Function"):
        name = _props(function).get("FunctionName")
        findings.expect(
            name in watched,
            f"{name}: Errors alarm",
            f"{logical_id}: no Errors alarm on function {name}",
        )
    findings.expect(
        any(alarm.get("MetricName") == "ApproximateNumberOfMessagesVisible" for alarm in alarms),
        f"{stage.dlq_name}: depth alarm",
        f"{stage.dlq_name}: no depth alarm",
    )


def check_api_keys(expanded: dict[str, Any], stage: Stage, findings: Findings) -> None:
    plans = [_props(plan) for _, plan in _resources(expanded, "AWS::ApiGateway::UsagePlan")]
    keys = list(_resources(expanded, "AWS::ApiGateway::UsagePlanKey"))
    if stage.settings.predictions_auth == "api_key":
        findings.expect(
            len(plans) == 1 and len(keys) == 1 and "Throttle" in plans[0] and "Quota" in plans[0],
            "api_key: a usage plan with throttle and quota, bound to the API stage, and its key",
            "api_key: expected one usage plan (throttle, quota) and one usage plan key",
        )
    else:
        findings.expect(
            not plans and not keys,
            f"{stage.settings.predictions_auth}: no API keys",
            f"{stage.settings.predictions_auth}: a usage plan on a stage without API keys",
        )


def check_gateway_responses(expanded: dict[str, Any], findings: Findings) -> None:
    for logical_id, api in _resources(expanded, "AWS::ApiGateway::RestApi"):
        wrong = gateway_responses.missing(_props(api).get("Body", {}))
        findings.expect(
            not wrong,
            f"{logical_id}: API Gateway's own errors ({len(gateway_responses.RESPONSES)} types) "
            "answer sagewire's error envelope",
            f"{logical_id}: gateway responses missing or not the error envelope: {wrong}",
        )


def missing_grants(document: dict[str, Any], allowed: dict[str, tuple[str, ...]]) -> list[str]:
    """What the stage needs (`allowed_resources`) that the policy does not grant."""
    grants = [
        (action, resource)
        for statement in _list(document.get("Statement"))
        if statement.get("Effect") == "Allow"
        for action in _list(statement.get("Action"))
        for resource in _list(statement.get("Resource"))
        if isinstance(resource, str)
    ]
    return [
        f"{action} on {pattern}"
        for action, patterns in allowed.items()
        for pattern in patterns
        if not any(a == action and covered(pattern, r) for a, r in grants)
    ]


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [] if value is None else [value]


def check_iam(expanded: dict[str, Any], stage: Stage, findings: Findings) -> None:
    """Every identity policy in the stack passes the checker for this stage, and grants what
    the functions need; every function runs with a role of the stack."""
    allowed = allowed_resources(stage)
    roles = dict(_resources(expanded, "AWS::IAM::Role"))
    for logical_id, role in roles.items():
        properties = _props(role)
        managed = properties.get("ManagedPolicyArns")
        findings.expect(
            not managed,
            f"{logical_id}: no managed policies",
            f"{logical_id}: managed policies cannot be checked: {managed}",
        )
        for policy in properties.get("Policies", []):
            where = f"{logical_id}/{policy.get('PolicyName')}"
            violations = check_policy(policy["PolicyDocument"], stage, where)
            missing = missing_grants(policy["PolicyDocument"], allowed)
            findings.expect(not violations, f"{where}: least privilege", "; ".join(violations))
            findings.expect(
                not missing,
                f"{where}: grants all the functions need",
                f"{where}: lacks {', '.join(missing)}",
            )
    for kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
        for logical_id, policy in _resources(expanded, kind):
            violations = check_policy(_props(policy)["PolicyDocument"], stage, logical_id)
            findings.expect(not violations, f"{logical_id}: least privilege", "; ".join(violations))
    for logical_id, function in _resources(expanded, "AWS::Lambda::Function"):
        reference = _props(function).get("Role")
        name = reference.get("Fn::GetAtt", [None])[0] if isinstance(reference, dict) else None
        findings.expect(
            name in roles,
            f"{logical_id}: runs as {name}",
            f"{logical_id}: runs as {reference}, not a role of the stack",
        )


def check_resources_template(template: dict[str, Any], stage: Stage) -> Findings:
    """The checks of `python -m deploy resources`' stack: the packaged stage's storage, queue
    and alarm topic, EventBridge allowed to dead-letter from the stage's rules (by name prefix,
    as Chalice names them), what `harden` reads, and nothing else (no roles, no functions)."""
    findings = Findings()
    kinds = {resource["Type"] for resource in template.get("Resources", {}).values()}
    expected = {
        "AWS::DynamoDB::Table",
        "AWS::S3::Bucket",
        "AWS::S3::BucketPolicy",
        "AWS::SQS::Queue",
        "AWS::SQS::QueuePolicy",
        "AWS::SNS::Topic",
        "AWS::SNS::Subscription",
        "AWS::CloudWatch::Alarm",
    }
    findings.expect(
        kinds == expected,
        f"resources: {', '.join(sorted(kinds))}",
        f"resources: {sorted(kinds)}, expected {sorted(expected)}",
    )
    check_storage(template, stage, findings)
    check_queue(template, stage, findings)
    allowed = _queue_senders(template, "ArnLike")
    findings.expect(
        allowed == {f"{stage.prefix}-*"},
        f"{tpl.QUEUE_POLICY}: events.amazonaws.com may send from the rules {stage.prefix}-* only",
        f"{tpl.QUEUE_POLICY}: senders {sorted(allowed)}, expected the rules {stage.prefix}-*",
    )
    check_alarms(template, stage, findings)
    outputs = template.get("Outputs", {})
    findings.expect(
        {tpl.DLQ_ARN_OUTPUT, tpl.TOPIC_ARN_OUTPUT} <= set(outputs),
        f"outputs {tpl.DLQ_ARN_OUTPUT} and {tpl.TOPIC_ARN_OUTPUT} for `harden`",
        f"outputs lack {tpl.DLQ_ARN_OUTPUT} or {tpl.TOPIC_ARN_OUTPUT}, which `harden` reads",
    )
    return findings


def check_template(template: dict[str, Any], stage: Stage) -> Findings:
    """Everything that can be told from the packaged template alone."""
    findings = Findings()
    check_runtime(template, stage, findings)
    check_event_patterns(template, stage, findings)
    expanded = expand(template)
    check_resilience(expanded, stage, findings)
    check_storage(expanded, stage, findings)
    check_alarms(expanded, stage, findings)
    check_api_keys(expanded, stage, findings)
    check_gateway_responses(expanded, findings)
    check_iam(expanded, stage, findings)
    return findings


# ---------------------------------------------------------------------------------------------
# The deployment package, the policy file, cfn-lint


def check_zip(zip_path: Path, findings: Findings, tracing: bool = True) -> None:
    """Lambda's size limits, the wheels, the bytecode and what is trimmed; `tracing`: whether
    the stage traces (SAGEWIRE_TRACING), so needs the X-Ray SDK."""
    zipped = zip_path.stat().st_size
    with zipfile.ZipFile(zip_path) as archive:
        unzipped = sum(info.file_size for info in archive.infolist())
    findings.expect(
        zipped < MAX_ZIPPED_BYTES,
        f"{zip_path.name}: {zipped / MiB:.1f} MiB zipped (limit {MAX_ZIPPED_BYTES // MiB})",
        f"{zip_path.name}: {zipped / MiB:.1f} MiB zipped, over Lambda's "
        f"{MAX_ZIPPED_BYTES // MiB} MiB",
    )
    findings.expect(
        unzipped < MAX_UNZIPPED_BYTES,
        f"{zip_path.name}: {unzipped / MiB:.1f} MiB unzipped (limit {MAX_UNZIPPED_BYTES // MiB})",
        f"{zip_path.name}: {unzipped / MiB:.1f} MiB unzipped, over Lambda's "
        f"{MAX_UNZIPPED_BYTES // MiB} MiB",
    )
    runtime = RUNTIMES[RUNTIME]
    for checked, violations in (
        check_wheels(zip_path, runtime),
        check_bytecode(zip_path, runtime),
        check_trimmed(zip_path, (*APP_FILES, *(f"{name}/" for name in APP_DIRS)), tracing),
    ):
        findings.checked += checked
        findings.violations += violations


def check_policy_file(stage: Stage, project_dir: Path, findings: Findings) -> None:
    path = policy_path(stage, project_dir)
    current = path.read_text() if path.exists() else None
    findings.expect(
        current == render_policy(build_policy(stage)),
        f"{path.name}: as `python -m deploy policies` writes it",
        f"{path.name}: differs from the stage's configuration; run `make policies`",
    )


def cfn_lint_command() -> list[str]:
    beside = Path(sys.executable).with_name("cfn-lint")
    found = str(beside) if beside.exists() else shutil.which("cfn-lint")
    if found is None:
        raise FileNotFoundError("cfn-lint is not installed (requirements-dev.txt)")
    return [found]


def check_cfn_lint(
    template_path: Path,
    findings: Findings,
    run: Callable[..., subprocess.CompletedProcess[str]] = subprocess.run,
) -> None:
    command = cfn_lint_command()
    version = run([*command, "--version"], capture_output=True, text=True, check=False)
    result = run([*command, str(template_path)], capture_output=True, text=True, check=False)
    output = (result.stdout + result.stderr).strip()
    findings.expect(
        result.returncode == 0,
        f"{version.stdout.strip()}: {template_path.name} passes",
        f"cfn-lint {template_path.name} (exit {result.returncode}):\n{output}",
    )
