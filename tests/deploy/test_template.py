"""The merge template: runtime, dead letters, storage, alarms and API keys of a packaged stage."""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

from chalicelib.config import PredictionsAuth
from chalicelib.gateways.table import TABLE_SCHEMA
from deploy import template as tpl
from deploy.checks import Findings, check_cfn_lint, check_template
from deploy.sam import expand
from deploy.stages import REPORTS_PREFIX
from tests.deploy.support import chalice_template, make_stage, packaged

QUEUE_ARN = {"Fn::GetAtt": ["DeadLetterQueue", "Arn"]}
EVENT_FUNCTIONS = {"OnTrainingJobStateChange", "OnDatasetObject", "OnBatchObject"}
SCHEDULED_FUNCTIONS = {"Reconcile", "LineageReport"}


def resources_of(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def props(template: dict[str, Any], logical_id: str) -> dict[str, Any]:
    properties: dict[str, Any] = template["Resources"][logical_id]["Properties"]
    return properties


@pytest.fixture(scope="module")
def merged() -> dict[str, Any]:
    return packaged(make_stage())


def test_every_function_runs_python312_on_x86_64_whatever_chalice_wrote(
    merged: dict[str, Any],
) -> None:
    functions = resources_of(merged, tpl.FUNCTION)

    assert len(functions) == 6
    for function in functions.values():
        assert function["Properties"]["Runtime"] == "python3.12"
        assert function["Properties"]["Architectures"] == ["x86_64"]


def test_functions_are_named_for_the_stage_with_their_own_log_groups(
    merged: dict[str, Any],
) -> None:
    assert props(merged, "OnDatasetObject")["FunctionName"] == "sagewire-prod-on-dataset-object"
    assert props(merged, "APIHandler")["FunctionName"] == "sagewire-prod-api-handler"
    for logical_id, function in resources_of(merged, tpl.FUNCTION).items():
        group = props(merged, f"{logical_id}LogGroup")
        assert group["LogGroupName"] == f"/aws/lambda/{function['Properties']['FunctionName']}"
        assert group["RetentionInDays"] == 90
        assert function["DependsOn"] == [f"{logical_id}LogGroup"]


def test_every_event_and_schedule_retries_and_dead_letters_to_the_queue(
    merged: dict[str, Any],
) -> None:
    events = {
        f"{logical_id}.{event_id}": event
        for logical_id, function in resources_of(merged, tpl.FUNCTION).items()
        for event_id, event in function["Properties"].get("Events", {}).items()
    }

    assert len(events) == 5
    for event in events.values():
        properties = event["Properties"]
        assert set(properties["RetryPolicy"]) == {
            "MaximumEventAgeInSeconds",
            "MaximumRetryAttempts",
        }
        assert properties["DeadLetterConfig"] == {"Arn": QUEUE_ARN}
        name = properties["Name" if event["Type"] == "Schedule" else "RuleName"]
        assert name.startswith("sagewire-prod-")
        assert len(name) <= 64
    # Chalice's own properties survive the merge.
    assert events["Reconcile.ReconcileEvent"]["Properties"]["Schedule"] == "rate(10 minutes)"
    pattern = events["OnDatasetObject.OnDatasetObjectEvent"]["Properties"]["Pattern"]
    assert pattern["detail"]["bucket"]["name"] == ["sagewire-prod"]


def test_a_schedule_gives_up_when_its_next_tick_is_due_and_service_events_never_early(
    merged: dict[str, Any],
) -> None:
    reconcile = props(merged, "Reconcile")
    training = props(merged, "OnTrainingJobStateChange")

    assert reconcile["Events"]["ReconcileEvent"]["Properties"]["RetryPolicy"] == {
        "MaximumEventAgeInSeconds": 600,
        "MaximumRetryAttempts": 185,
    }
    assert reconcile["EventInvokeConfig"]["MaximumEventAgeInSeconds"] == 600
    assert training["Events"]["OnTrainingJobStateChangeEvent"]["Properties"]["RetryPolicy"] == {
        "MaximumEventAgeInSeconds": 86400,
        "MaximumRetryAttempts": 185,
    }
    assert training["EventInvokeConfig"]["MaximumEventAgeInSeconds"] == 6 * 3600


def test_failed_async_invocations_go_to_the_same_queue_and_the_api_has_none(
    merged: dict[str, Any],
) -> None:
    for logical_id in EVENT_FUNCTIONS | SCHEDULED_FUNCTIONS:
        config = props(merged, logical_id)["EventInvokeConfig"]
        assert config["MaximumRetryAttempts"] == 2
        assert config["DestinationConfig"] == {
            "OnFailure": {"Type": "SQS", "Destination": QUEUE_ARN}
        }
    assert "EventInvokeConfig" not in props(merged, "APIHandler")


def test_one_encrypted_queue_keeps_dead_letters_14_days_and_only_the_rules_may_send(
    merged: dict[str, Any],
) -> None:
    queue = props(merged, "DeadLetterQueue")
    statement = props(merged, "DeadLetterQueuePolicy")["PolicyDocument"]["Statement"][0]
    rules = {
        event["Properties"].get("RuleName") or event["Properties"].get("Name")
        for function in resources_of(merged, tpl.FUNCTION).values()
        for event in function["Properties"].get("Events", {}).values()
    }

    assert queue == {
        "QueueName": "sagewire-prod-dlq",
        "MessageRetentionPeriod": 14 * 24 * 3600,
        "SqsManagedSseEnabled": True,
    }
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert statement["Action"] == "sqs:SendMessage"
    sources = statement["Condition"]["ArnEquals"]["aws:SourceArn"]
    assert {source["Fn::Sub"].rpartition("rule/")[2] for source in sources} == rules
    assert merged["Outputs"]["DeadLetterQueueUrl"]["Value"] == {"Ref": "DeadLetterQueue"}
    assert merged["Outputs"]["DeadLetterQueueArn"]["Value"] == QUEUE_ARN


def test_the_table_is_table_schema_on_demand_with_pitr_sse_and_ttl(merged: dict[str, Any]) -> None:
    table = merged["Resources"]["Table"]
    properties = table["Properties"]

    for key in ("AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes", "BillingMode"):
        assert properties[key] == TABLE_SCHEMA[key]
    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    assert properties["TableName"] == "sagewire-prod"
    assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert properties["SSESpecification"] == {"SSEEnabled": True}
    assert properties["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}
    assert table["DeletionPolicy"] == table["UpdateReplacePolicy"] == "Retain"


def test_the_ttl_attribute_is_the_one_powertools_writes_its_expiry_to() -> None:
    parameters = inspect.signature(DynamoDBPersistenceLayer.__init__).parameters

    assert parameters["expiry_attr"].default == tpl.TTL_ATTRIBUTE


def test_the_bucket_is_versioned_private_encrypted_tls_only_and_tells_eventbridge(
    merged: dict[str, Any],
) -> None:
    bucket = props(merged, "Bucket")
    statements = props(merged, "BucketPolicy")["PolicyDocument"]["Statement"]

    assert bucket["BucketName"] == "sagewire-prod"
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    assert bucket["NotificationConfiguration"] == {
        "EventBridgeConfiguration": {"EventBridgeEnabled": True}
    }
    rule = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert rule["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    assert bucket["PublicAccessBlockConfiguration"] == dict.fromkeys(
        ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"), True
    )
    tls = next(s for s in statements if s["Sid"] == "DenyWithoutTls")
    assert tls["Effect"] == "Deny"
    assert tls["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert merged["Resources"]["Bucket"]["DeletionPolicy"] == "Retain"


def test_alarms_watch_every_function_the_queue_and_the_api_and_notify_the_topic(
    merged: dict[str, Any],
) -> None:
    alarms = [a["Properties"] for a in resources_of(merged, "AWS::CloudWatch::Alarm").values()]
    errors = {a["Dimensions"][0]["Value"] for a in alarms if a["MetricName"] == "Errors"}
    names = {f["Properties"]["FunctionName"] for f in resources_of(merged, tpl.FUNCTION).values()}
    depth = next(a for a in alarms if a["MetricName"] == "ApproximateNumberOfMessagesVisible")
    api = next(a for a in alarms if a["MetricName"] == "5XXError")

    assert errors == names
    assert depth["ComparisonOperator"] == "GreaterThanThreshold"
    assert depth["Threshold"] == 0
    assert {d["Name"]: d["Value"] for d in api["Dimensions"]} == {
        "ApiName": "sagewire-prod",
        "Stage": "api",
    }
    assert props(merged, "RestAPI")["DefinitionBody"]["info"]["title"] == "sagewire-prod"
    assert all(a["AlarmActions"] == [{"Ref": "AlarmTopic"}] for a in alarms)


@pytest.mark.parametrize("auth", ["iam", "cognito", "api_key"])
def test_a_usage_plan_and_key_exist_only_when_predictions_take_api_keys(
    auth: PredictionsAuth,
) -> None:
    stage = make_stage(
        auth=auth,
        SAGEWIRE_COGNITO_USER_POOL_ARNS="arn:aws:cognito-idp:us-east-1:123456789012:userpool/x",
    )
    merged = packaged(stage)
    plans = resources_of(merged, "AWS::ApiGateway::UsagePlan")

    if auth != "api_key":
        assert not plans
        assert not resources_of(merged, "AWS::ApiGateway::ApiKey")
        return
    plan = next(iter(plans.values()))["Properties"]
    assert plan["ApiStages"] == [{"ApiId": {"Ref": "RestAPI"}, "Stage": {"Ref": "RestAPI.Stage"}}]
    assert plan["Throttle"] == tpl.API_KEY_THROTTLE
    assert plan["Quota"] == tpl.API_KEY_QUOTA
    key = props(merged, "UsagePlanKey")
    assert key == {
        "KeyId": {"Ref": "ApiKey"},
        "KeyType": "API_KEY",
        "UsagePlanId": {"Ref": "UsagePlan"},
    }
    assert merged["Outputs"]["ApiKeyId"]["Value"] == {"Ref": "ApiKey"}


def test_tracing_turns_on_active_tracing() -> None:
    merged = packaged(make_stage(tracing=True))

    assert {f["Properties"]["Tracing"] for f in resources_of(merged, tpl.FUNCTION).values()} == {
        "Active"
    }


def test_names_are_kebab_case_and_bounded() -> None:
    assert tpl.kebab("APIHandler") == "api-handler"
    assert tpl.kebab("OnTrainingJobStateChange") == "on-training-job-state-change"
    with pytest.raises(ValueError, match="longer than 64"):
        tpl.rule_name(make_stage(name="x" * 60), "OnTrainingJobStateChangeEvent")


@pytest.mark.parametrize(
    ("expression", "seconds"),
    [
        ("rate(1 minute)", 60),
        ("rate(10 minutes)", 600),
        ("rate(2 hours)", 7200),
        ("rate(1 day)", 86400),
        ("cron(0 12 * * ? *)", 86400),
    ],
)
def test_schedule_periods(expression: str, seconds: int) -> None:
    assert tpl.schedule_seconds(expression) == seconds


def test_the_reports_prefix_is_where_the_report_service_writes() -> None:
    from datetime import UTC, datetime

    from chalicelib.services.reports import LATEST_PREFIX, dated_key

    assert LATEST_PREFIX.startswith(REPORTS_PREFIX)
    assert dated_key(datetime(2026, 1, 2, tzinfo=UTC), "json").startswith(REPORTS_PREFIX)


# ---------------------------------------------------------------------------------------------
# check_template: what `make package` runs on the packaged template


@pytest.mark.parametrize(
    "stage",
    [make_stage(), make_stage(name="dev"), make_stage(auth="api_key"), make_stage(tracing=True)],
    ids=["prod", "dev", "api_key", "tracing"],
)
def test_the_checks_pass_on_a_packaged_stage(stage: Any) -> None:
    findings = check_template(packaged(stage), stage)

    assert findings.violations == []
    assert len(findings.checked) > 40


def _event(template: dict[str, Any], logical_id: str) -> dict[str, Any]:
    event: dict[str, Any] = next(iter(props(template, logical_id)["Events"].values()))
    return event


def test_the_checks_fail_without_a_retry_policy_or_a_dead_letter_queue() -> None:
    stage = make_stage()
    merged = packaged(stage)
    del _event(merged, "OnBatchObject")["Properties"]["RetryPolicy"]
    del _event(merged, "Reconcile")["Properties"]["DeadLetterConfig"]

    violations = check_template(merged, stage).violations

    assert any("OnBatchObjectOnBatchObjectEvent" in v and "RetryPolicy" in v for v in violations)
    assert any("ReconcileReconcileEvent" in v for v in violations)


def test_the_checks_fail_on_another_runtime_a_missing_on_failure_and_a_foreign_bucket() -> None:
    stage = make_stage()
    chalice = chalice_template(stage)
    pattern = _event(chalice, "OnDatasetObject")["Properties"]["Pattern"]
    pattern["detail"]["bucket"]["name"] = ["sagewire"]  # packaged with the default settings
    merged = packaged(stage, chalice)
    props(merged, "APIHandler")["Runtime"] = "python3.11"
    del props(merged, "Reconcile")["EventInvokeConfig"]

    violations = check_template(merged, stage).violations

    assert any("APIHandler: Runtime python3.11" in v for v in violations)
    assert any("Reconcile: no EventInvokeConfig" in v for v in violations)
    assert any("S3 pattern names buckets ['sagewire']" in v for v in violations)


def test_the_checks_fail_on_a_role_with_a_broad_policy_or_a_managed_policy() -> None:
    stage = make_stage()
    merged = packaged(stage)
    role = props(merged, "ReconcileRole")
    role["Policies"][0]["PolicyDocument"]["Statement"].append(
        {"Effect": "Allow", "Action": "sagemaker:*", "Resource": "*"}
    )
    role["ManagedPolicyArns"] = ["arn:aws:iam::aws:policy/AdministratorAccess"]

    violations = check_template(merged, stage).violations

    assert any("wildcard action 'sagemaker:*'" in v for v in violations)
    assert any("managed policies cannot be checked" in v for v in violations)


def test_the_checks_fail_when_the_tracing_stage_policy_was_not_regenerated() -> None:
    stale = make_stage()
    stage = make_stage(tracing=True)
    merged = packaged(stage, chalice_template(stale))

    violations = check_template(merged, stage).violations

    assert any("lacks xray:PutTelemetryRecords on *" in v for v in violations)


def test_sam_expands_the_events_into_rules_with_retry_policy_and_dead_letter_config() -> None:
    expanded = expand(packaged(make_stage()))
    rules = resources_of(expanded, "AWS::Events::Rule")

    assert len(rules) == 5
    for rule in rules.values():
        target = rule["Properties"]["Targets"][0]
        assert target["DeadLetterConfig"] == {"Arn": QUEUE_ARN}
        assert "RetryPolicy" in target
    assert len(resources_of(expanded, "AWS::Lambda::EventInvokeConfig")) == 5


def test_cfn_lint_passes_on_the_api_key_stage(tmp_path: Path) -> None:
    """The usage plan's `RestAPI.Stage` only resolves through SAM's transform: cfn-lint runs it."""
    path = tmp_path / "sam.json"
    path.write_text(json.dumps(packaged(make_stage(auth="api_key"))))
    findings = Findings()

    check_cfn_lint(path, findings)

    assert findings.violations == []


@pytest.mark.parametrize(
    ("schedule", "ages"),
    [
        (None, (86400, 6 * 3600)),
        ("rate(1 minute)", (60, 60)),
        ("rate(10 minutes)", (600, 600)),
        ("rate(1 day)", (86400, 6 * 3600)),
        ("cron(0 12 * * ? *)", (86400, 6 * 3600)),
    ],
)
def test_event_ages_of_a_pattern_and_of_schedules(
    schedule: str | None, ages: tuple[int, int]
) -> None:
    """(EventBridge's, Lambda's) maximum event age: the merge template's and `harden`'s."""
    assert tpl.event_ages(schedule) == ages


def test_the_checks_fail_on_an_event_pattern_not_pinned_to_the_stages_account() -> None:
    stage = make_stage()
    chalice = chalice_template(stage)
    del _event(chalice, "OnTrainingJobStateChange")["Properties"]["Pattern"]["account"]
    _event(chalice, "OnBatchObject")["Properties"]["Pattern"]["account"] = ["210987654321"]

    violations = check_template(packaged(stage, chalice), stage).violations

    assert any(
        "OnTrainingJobStateChange.OnTrainingJobStateChangeEvent: pattern matches account None" in v
        for v in violations
    )
    assert any("OnBatchObject.OnBatchObjectEvent" in v and "210987654321" in v for v in violations)
