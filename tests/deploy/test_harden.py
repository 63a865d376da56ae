"""`python -m deploy harden` against botocore Stubbers: what it puts, what it leaves, and when
it refuses."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from deploy import __main__ as deploy_main
from deploy import gateway_responses as gr
from deploy import template as tpl
from deploy.__main__ import main
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
    contains,
    harden,
)
from deploy.stages import Stage, load_stage
from tests.deploy.support import ChaliceNames, chalice_deploy_names, deployed_record, make_stage

REGION = "us-east-1"
ACCOUNT = "123456789012"
STACK = "sagewire-prod-resources"
DLQ = f"arn:aws:sqs:{REGION}:{ACCOUNT}:sagewire-prod-dlq"
TOPIC = f"arn:aws:sns:{REGION}:{ACCOUNT}:sagewire-prod-alarms"
API = "sagewire-prod"
TRAINING = "sagewire-prod-on_training_job_state_change"
RECONCILE = "sagewire-prod-reconcile"
TRAINING_RULE = f"{TRAINING}-event"
RECONCILE_RULE = f"{RECONCILE}-event"
# A training job's event must not be lost: the longest ages; the 10-minute schedule's event is
# worth nothing after 10 minutes.
TRAINING_RETRY = {"MaximumEventAgeInSeconds": 86400, "MaximumRetryAttempts": 185}
RECONCILE_RETRY = {"MaximumEventAgeInSeconds": 600, "MaximumRetryAttempts": 185}
TRAINING_ASYNC_AGE = 6 * 3600
RECONCILE_ASYNC_AGE = 600
PLAN = "sagewire-prod-clients"
API_ID = "abc123defg"


def function_arn(name: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"


def _subset(names: ChaliceNames) -> ChaliceNames:
    """Three of the app's functions, as `chalice deploy` names them: the API, an event, a
    schedule."""
    functions = ("api_handler", "on_training_job_state_change", "reconcile")
    return ChaliceNames(
        functions={name: names.functions[name] for name in functions},
        rules={f"{name}-event": names.rules[f"{name}-event"] for name in functions[1:]},
    )


@pytest.fixture(scope="module")
def names() -> ChaliceNames:
    return _subset(chalice_deploy_names("prod"))


@pytest.fixture
def deployment(names: ChaliceNames, tmp_path: Path) -> Deployment:
    path = tmp_path / "prod.json"
    path.write_text(json.dumps(deployed_record(names)))
    return Deployment.read(path, make_stage())


@dataclass
class Aws:
    stubs: dict[str, Stubber]
    services: Services

    def add(self, service: str, method: str, response: dict[str, Any], **expected: Any) -> None:
        self.stubs[service].add_response(method, response, expected)

    def error(self, service: str, method: str, code: str, **expected: Any) -> None:
        self.stubs[service].add_client_error(
            method, service_error_code=code, http_status_code=404, expected_params=expected
        )


@pytest.fixture
def aws() -> Iterator[Aws]:
    clients: dict[str, Any] = {
        service: boto3.client(service, region_name=REGION)
        for service in ("cloudformation", "lambda", "events", "logs", "cloudwatch", "apigateway")
    }
    stubs = {service: Stubber(client) for service, client in clients.items()}
    services = Services(
        stack=ResourcesStack(clients["cloudformation"]),
        functions=Functions(clients["lambda"]),
        rules=Rules(clients["events"]),
        log_groups=LogGroups(clients["logs"]),
        alarms=Alarms(clients["cloudwatch"]),
        usage_plans=UsagePlans(clients["apigateway"]),
        gateway_responses=GatewayResponses(clients["apigateway"]),
    )
    for stub in stubs.values():
        stub.activate()
    yield Aws(stubs, services)
    for stub in stubs.values():
        stub.assert_no_pending_responses()
        stub.deactivate()


# ---------------------------------------------------------------------------------------------
# The reads


def stack_ready(aws: Aws, dlq: str = DLQ, status: str = "CREATE_COMPLETE") -> None:
    outputs = [
        {"OutputKey": "DeadLetterQueueArn", "OutputValue": dlq},
        {"OutputKey": "AlarmTopicArn", "OutputValue": TOPIC},
    ]
    stack = {
        "StackName": STACK,
        "CreationTime": datetime(2026, 1, 1, tzinfo=UTC),
        "StackStatus": status,
        "Outputs": outputs,
    }
    aws.add("cloudformation", "describe_stacks", {"Stacks": [stack]}, StackName=STACK)


def function_exists(aws: Aws, name: str, runtime: str = "python3.12") -> None:
    configuration = {
        "FunctionName": name,
        "FunctionArn": function_arn(name),
        "Runtime": runtime,
        "Architectures": ["x86_64"],
        "TracingConfig": {"Mode": "PassThrough"},
    }
    aws.add("lambda", "get_function", {"Configuration": configuration}, FunctionName=name)


SAGEMAKER_PATTERN = {"source": ["aws.sagemaker"], "account": [ACCOUNT]}


def rule_exists(
    aws: Aws,
    rule: str,
    targets: list[dict[str, Any]],
    schedule: str = "",
    pattern: dict[str, Any] = SAGEMAKER_PATTERN,
) -> None:
    description: dict[str, Any] = {
        "Name": rule,
        "Arn": f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{rule}",
    }
    if schedule:
        description["ScheduleExpression"] = schedule
    else:
        description["EventPattern"] = json.dumps(pattern)
    aws.add("events", "describe_rule", description, Name=rule)
    aws.add("events", "list_targets_by_rule", {"Targets": targets}, Rule=rule)


def chalice_target(function: str) -> dict[str, Any]:
    """What `chalice deploy` puts on its rules: one target, Id 1, the function, nothing else."""
    return {"Id": "1", "Arn": function_arn(function)}


def hardened(target: dict[str, Any], retry: dict[str, int]) -> dict[str, Any]:
    return {**target, "RetryPolicy": retry, "DeadLetterConfig": {"Arn": DLQ}}


def reads(aws: Aws, *, fresh: bool) -> None:
    """Everything `harden` reads, of a stage just deployed by Chalice (fresh) or hardened."""
    stack_ready(aws)
    for function in sorted((API, TRAINING, RECONCILE)):
        function_exists(aws, function)
    training, reconcile = chalice_target(TRAINING), chalice_target(RECONCILE)
    if not fresh:
        training, reconcile = (
            hardened(training, TRAINING_RETRY),
            hardened(reconcile, RECONCILE_RETRY),
        )
    rule_exists(aws, TRAINING_RULE, [training])
    rule_exists(aws, RECONCILE_RULE, [reconcile], schedule="rate(10 minutes)")


def invoke_config(age: int) -> dict[str, Any]:
    return {
        "MaximumRetryAttempts": 2,
        "MaximumEventAgeInSeconds": age,
        "DestinationConfig": {"OnFailure": {"Destination": DLQ}},
    }


def errors_alarm(function: str) -> dict[str, Any]:
    return {
        "AlarmName": f"{function}-errors",
        "AlarmDescription": f"{function} failed",
        "Namespace": "AWS/Lambda",
        "MetricName": "Errors",
        "Dimensions": [{"Name": "FunctionName", "Value": function}],
        "Statistic": "Sum",
        "Period": 300,
        "EvaluationPeriods": 1,
        "Threshold": 0,
        "ComparisonOperator": "GreaterThanThreshold",
        "TreatMissingData": "notBreaching",
        "AlarmActions": [TOPIC],
        "OKActions": [TOPIC],
    }


ALARMS = [errors_alarm(name) for name in sorted((API, TRAINING, RECONCILE))]
LOG_GROUPS = [f"/aws/lambda/{name}" for name in sorted((API, TRAINING, RECONCILE))]


def default_response(kind: str) -> dict[str, Any]:
    """What GetGatewayResponses answers for a type of an API that has none of its own."""
    response: dict[str, Any] = {
        "responseType": kind,
        "defaultResponse": True,
        "responseParameters": {},
        "responseTemplates": {"application/json": '{"message":$context.error.messageString}'},
    }
    status = gr.RESPONSES[kind].status
    return response if status is None else {**response, "statusCode": status}


def envelope(kind: str) -> dict[str, Any]:
    """What PutGatewayResponse gets for `kind`: sagewire's envelope and headers."""
    response = gr.RESPONSES[kind]
    headers = {"X-Content-Type-Options": "nosniff", **response.headers}
    wanted: dict[str, Any] = {
        "responseParameters": {
            f"gatewayresponse.header.{name}": f"'{value}'" for name, value in headers.items()
        },
        "responseTemplates": {
            "application/json": f'{{"error": {{"code": "{response.code}", "message": '
            '$context.error.messageString, "request_id": "$context.requestId"}}'
        },
    }
    return wanted if response.status is None else {**wanted, "statusCode": response.status}


def gateway_responses(aws: Aws, current: list[dict[str, Any]]) -> None:
    aws.add("apigateway", "get_gateway_responses", {"items": current}, restApiId=API_ID)


def gateway_responses_put(
    aws: Aws, current: list[dict[str, Any]], kinds: Iterable[str] = tuple(gr.RESPONSES)
) -> None:
    """Read `current`, put `kinds` in the envelope, then one deployment to Chalice's stage."""
    gateway_responses(aws, current)
    for kind in kinds:
        aws.add(
            "apigateway",
            "put_gateway_response",
            {"responseType": kind},
            restApiId=API_ID,
            responseType=kind,
            **envelope(kind),
        )
    aws.add("apigateway", "create_deployment", {"id": "dep1"}, restApiId=API_ID, stageName="api")


def as_wanted() -> list[dict[str, Any]]:
    """What API Gateway answers after `harden`: the envelope, and what it adds."""
    return [
        {"responseType": kind, "defaultResponse": False, **envelope(kind)} for kind in gr.RESPONSES
    ]


def fresh_api() -> list[dict[str, Any]]:
    return [default_response(kind) for kind in gr.RESPONSES]


RESPONSE_TYPES = len(gr.RESPONSES)


# ---------------------------------------------------------------------------------------------
# A fresh `chalice deploy`, then again


def test_a_fresh_chalice_deploy_gets_retries_dead_letters_log_retention_and_alarms(
    aws: Aws, deployment: Deployment
) -> None:
    reads(aws, fresh=True)
    # Chalice's targets keep their Id and Arn, and gain a retry policy and the queue.
    aws.add(
        "events",
        "put_targets",
        {"FailedEntryCount": 0, "FailedEntries": []},
        Rule=TRAINING_RULE,
        Targets=[hardened(chalice_target(TRAINING), TRAINING_RETRY)],
    )
    aws.add(
        "events",
        "put_targets",
        {"FailedEntryCount": 0, "FailedEntries": []},
        Rule=RECONCILE_RULE,
        Targets=[hardened(chalice_target(RECONCILE), RECONCILE_RETRY)],
    )
    # The functions the rules invoke, and only those (not the API's).
    for function, age in ((TRAINING, TRAINING_ASYNC_AGE), (RECONCILE, RECONCILE_ASYNC_AGE)):
        aws.error(
            "lambda",
            "get_function_event_invoke_config",
            "ResourceNotFoundException",
            FunctionName=function,
        )
        aws.add(
            "lambda",
            "put_function_event_invoke_config",
            {},
            FunctionName=function,
            **invoke_config(age),
        )
    # The API's group exists (Lambda made it at its first request), without a retention.
    aws.add(
        "logs",
        "describe_log_groups",
        {"logGroups": [{"logGroupName": LOG_GROUPS[0]}]},
        logGroupNamePrefix="/aws/lambda/sagewire-prod",
    )
    aws.add("logs", "put_retention_policy", {}, logGroupName=LOG_GROUPS[0], retentionInDays=90)
    for group in LOG_GROUPS[1:]:
        aws.add("logs", "create_log_group", {}, logGroupName=group)
        aws.add("logs", "put_retention_policy", {}, logGroupName=group, retentionInDays=90)
    aws.add(
        "cloudwatch",
        "describe_alarms",
        {"MetricAlarms": []},
        AlarmNames=[alarm["AlarmName"] for alarm in ALARMS],
    )
    for alarm in ALARMS:
        aws.add("cloudwatch", "put_metric_alarm", {}, **alarm)
    gateway_responses_put(aws, fresh_api())
    report = Report()

    harden(make_stage(), deployment, STACK, aws.services, report)

    assert len(report.changed) == 2 + 2 + 3 + 3 + RESPONSE_TYPES + 1
    assert report.unchanged == []
    assert report.changed[-1] == (
        f"REST API {API_ID}: deployed to its stage api, for the gateway responses to take effect"
    )
    assert (
        f"{RECONCILE}: failed async invocations, after 2 retries within 600 s, go to the "
        "dead-letter queue" in report.changed
    )


def hardened_stage(aws: Aws) -> None:
    """Everything `harden` reads of a stage it hardened before, all as wanted."""
    reads(aws, fresh=False)
    for function, age in ((TRAINING, TRAINING_ASYNC_AGE), (RECONCILE, RECONCILE_ASYNC_AGE)):
        current = {
            "FunctionArn": function_arn(function),
            "LastModified": datetime(2026, 1, 1, tzinfo=UTC),
            **invoke_config(age),
        }
        current["DestinationConfig"]["OnSuccess"] = {}
        aws.add("lambda", "get_function_event_invoke_config", current, FunctionName=function)
    aws.add(
        "logs",
        "describe_log_groups",
        {
            "logGroups": [
                {"logGroupName": group, "retentionInDays": 90, "arn": f"arn:aws:logs:{group}:*"}
                for group in LOG_GROUPS
            ]
        },
        logGroupNamePrefix="/aws/lambda/sagewire-prod",
    )
    # What CloudWatch answers: the alarm as put, and what it adds.
    current_alarms = [
        {**alarm, "Threshold": 0.0, "ActionsEnabled": True, "StateValue": "OK"} for alarm in ALARMS
    ]
    aws.add(
        "cloudwatch",
        "describe_alarms",
        {"MetricAlarms": current_alarms},
        AlarmNames=[alarm["AlarmName"] for alarm in ALARMS],
    )


def test_a_second_run_changes_nothing(aws: Aws, deployment: Deployment) -> None:
    hardened_stage(aws)
    gateway_responses(aws, as_wanted())
    report = Report()

    # No PutTargets, no put_*, no deployment: the stubbers have no response for one and would fail.
    harden(make_stage(), deployment, STACK, aws.services, report)

    assert report.changed == []
    assert len(report.unchanged) == 10 + RESPONSE_TYPES
    assert f"0 changed, {10 + RESPONSE_TYPES} unchanged" in list(report.lines())


def test_a_dry_run_reads_and_writes_nothing(aws: Aws, deployment: Deployment) -> None:
    reads(aws, fresh=True)
    for function in (TRAINING, RECONCILE):
        aws.error(
            "lambda",
            "get_function_event_invoke_config",
            "ResourceNotFoundException",
            FunctionName=function,
        )
    aws.add(
        "logs",
        "describe_log_groups",
        {"logGroups": []},
        logGroupNamePrefix="/aws/lambda/sagewire-prod",
    )
    aws.add(
        "cloudwatch",
        "describe_alarms",
        {"MetricAlarms": []},
        AlarmNames=[alarm["AlarmName"] for alarm in ALARMS],
    )
    gateway_responses(aws, fresh_api())
    report = Report(dry_run=True)

    # No PutGatewayResponse, no CreateDeployment: the stubber would fail on one.
    harden(make_stage(), deployment, STACK, aws.services, report)

    changes = 10 + RESPONSE_TYPES + 1
    assert len(report.changed) == changes
    assert list(report.lines())[-1] == f"{changes} would change, 0 unchanged"
    assert f"REST API {API_ID}: deployed to its stage api" in report.changed[-1]
    assert f"/aws/lambda/{API}: created, kept 90 days" in report.changed


def test_only_the_targets_that_lack_it_are_put_with_everything_else_they_had(aws: Aws) -> None:
    rules = aws.services.rules
    with_input = {"Id": "1", "Arn": function_arn(TRAINING), "Input": '{"replay": true}'}
    done = hardened({"Id": "2", "Arn": function_arn(TRAINING)}, TRAINING_RETRY)
    rule_exists(aws, TRAINING_RULE, [with_input, done])
    aws.add(
        "events",
        "put_targets",
        {"FailedEntryCount": 0, "FailedEntries": []},
        Rule=TRAINING_RULE,
        Targets=[hardened(with_input, TRAINING_RETRY)],
    )
    report = Report()

    rules.harden(
        rules.read(TRAINING_RULE),
        {"RetryPolicy": TRAINING_RETRY, "DeadLetterConfig": {"Arn": DLQ}},
        report,
    )

    assert report.changed == [
        f"{TRAINING_RULE}: targets retry 185 times within 86400 s, then dead-letter (targets 1)"
    ]


def test_a_target_eventbridge_refuses_fails(aws: Aws) -> None:
    rules = aws.services.rules
    rule_exists(aws, TRAINING_RULE, [chalice_target(TRAINING)])
    failure = {"TargetId": "1", "ErrorCode": "ValidationException", "ErrorMessage": "no"}
    aws.add(
        "events",
        "put_targets",
        {"FailedEntryCount": 1, "FailedEntries": [failure]},
        Rule=TRAINING_RULE,
        Targets=[hardened(chalice_target(TRAINING), TRAINING_RETRY)],
    )

    with pytest.raises(HardenError, match="PutTargets failed"):
        rules.harden(
            rules.read(TRAINING_RULE),
            {"RetryPolicy": TRAINING_RETRY, "DeadLetterConfig": {"Arn": DLQ}},
            Report(),
        )


# ---------------------------------------------------------------------------------------------
# Refusals: before any change


def test_a_missing_function_fails_before_any_change(aws: Aws, deployment: Deployment) -> None:
    stack_ready(aws)
    function_exists(aws, API)
    aws.error("lambda", "get_function", "ResourceNotFoundException", FunctionName=TRAINING)
    report = Report()

    with pytest.raises(
        HardenError, match=f"function {TRAINING} is in .chalice/deployed but not in Lambda"
    ):
        harden(make_stage(), deployment, STACK, aws.services, report)

    assert report.changed == []


def test_a_missing_rule_fails_before_any_change(aws: Aws, deployment: Deployment) -> None:
    stack_ready(aws)
    for function in sorted((API, TRAINING, RECONCILE)):
        function_exists(aws, function)
    aws.error("events", "describe_rule", "ResourceNotFoundException", Name=TRAINING_RULE)

    with pytest.raises(HardenError, match=f"rule {TRAINING_RULE} is in .chalice/deployed"):
        harden(make_stage(), deployment, STACK, aws.services, Report())


def test_a_function_chalice_deployed_on_its_own_python_is_refused(
    aws: Aws, deployment: Deployment
) -> None:
    """Chalice takes Lambda's runtime from the Python that runs it: 3.11 from this venv."""
    stack_ready(aws)
    function_exists(aws, API, runtime="python3.11")

    with pytest.raises(
        HardenError, match=r"runs python3\.11 .* run `chalice deploy` with Python 3\.12"
    ):
        harden(make_stage(), deployment, STACK, aws.services, Report())


def test_an_untraced_function_of_a_tracing_stage_is_refused(
    aws: Aws, deployment: Deployment
) -> None:
    stack_ready(aws)
    function_exists(aws, API)

    with pytest.raises(HardenError, match="set `xray: true`"):
        harden(make_stage(tracing=True), deployment, STACK, aws.services, Report())


def s3_pattern(bucket: str, prefix: str, account: str | None = ACCOUNT) -> dict[str, Any]:
    detail = {"bucket": {"name": [bucket]}, "object": {"key": [{"prefix": prefix}]}}
    pattern = {"source": ["aws.s3"], "detail-type": ["Object Created"], "detail": detail}
    return pattern if account is None else {**pattern, "account": [account]}


@pytest.mark.parametrize(
    ("bucket", "prefix", "account", "refused"),
    [
        ("sagewire-prod", "datasets/", ACCOUNT, None),
        ("sagewire-prod", "batch/input/", ACCOUNT, None),
        # `chalice deploy` imported the app with the defaults, or another shell's settings.
        ("sagewire", "datasets/", ACCOUNT, "without SAGEWIRE_\\* variables"),
        ("sagewire-prod", "elsewhere/", ACCOUNT, "without SAGEWIRE_\\* variables"),
        ("sagewire-prod", "datasets/", None, "matches account None"),
        ("sagewire-prod", "datasets/", "210987654321", "matches account \\['210987654321'\\]"),
    ],
)
def test_s3_rules_must_match_the_stages_account_bucket_and_prefixes(
    aws: Aws, bucket: str, prefix: str, account: str | None, refused: str | None
) -> None:
    name = "sagewire-prod-on_dataset_object-event"
    target = chalice_target("sagewire-prod-on_dataset_object")
    rule_exists(aws, name, [target], pattern=s3_pattern(bucket, prefix, account))
    rule = aws.services.rules.read(name)

    if refused is None:
        rule.check_pattern(make_stage())
        return
    with pytest.raises(HardenError, match=refused):
        rule.check_pattern(make_stage())


@pytest.mark.parametrize(
    ("dlq", "status", "message"),
    [
        (DLQ, "ROLLBACK_COMPLETE", "is ROLLBACK_COMPLETE"),
        (DLQ.replace("prod", "dev"), "CREATE_COMPLETE", "should name sagewire-prod-dlq"),
        (DLQ.replace(ACCOUNT, "210987654321"), "UPDATE_COMPLETE", "in account 123456789012"),
    ],
)
def test_a_resources_stack_not_ready_or_of_another_stage_is_refused(
    aws: Aws, dlq: str, status: str, message: str
) -> None:
    stack_ready(aws, dlq=dlq, status=status)

    with pytest.raises(HardenError, match=message):
        aws.services.stack.outputs(STACK, make_stage())


def test_a_missing_resources_stack_says_what_to_deploy(aws: Aws) -> None:
    aws.stubs["cloudformation"].add_client_error(
        "describe_stacks",
        service_error_code="ValidationError",
        service_message=f"Stack with id {STACK} does not exist",
        expected_params={"StackName": STACK},
    )

    with pytest.raises(HardenError, match="python -m deploy resources --stage prod"):
        aws.services.stack.outputs(STACK, make_stage())


# ---------------------------------------------------------------------------------------------
# API keys on the API that chalice deployed


def api_key_stage() -> Stage:
    return make_stage(auth="api_key")


def test_api_keys_get_a_usage_plan_on_chalices_api_stage_and_a_key(aws: Aws) -> None:
    aws.add("apigateway", "get_usage_plans", {"items": [{"id": "other", "name": "someone-else"}]})
    aws.add(
        "apigateway",
        "create_usage_plan",
        {"id": "plan1", "name": PLAN},
        name=PLAN,
        apiStages=[{"apiId": "abc123defg", "stage": "api"}],
        throttle={"rateLimit": 50, "burstLimit": 100},
        quota={"limit": 100_000, "period": "DAY"},
    )
    aws.add("apigateway", "get_api_keys", {"items": []}, nameQuery=PLAN)
    aws.add("apigateway", "create_api_key", {"id": "key1", "name": PLAN}, name=PLAN, enabled=True)
    aws.add("apigateway", "get_usage_plan_keys", {"items": []}, usagePlanId="plan1")
    aws.add(
        "apigateway",
        "create_usage_plan_key",
        {"id": "key1"},
        usagePlanId="plan1",
        keyId="key1",
        keyType="API_KEY",
    )
    report = Report()

    aws.services.usage_plans.attach(api_key_stage(), "abc123defg", report)

    # The key's id is printed, never its value.
    assert f"API key {PLAN}: created, id key1" in report.changed
    assert len(report.changed) == 3


def test_a_usage_plan_that_drifted_is_patched_and_one_as_wanted_is_left(aws: Aws) -> None:
    drifted = {
        "id": "plan1",
        "name": PLAN,
        "apiStages": [{"apiId": "old", "stage": "api"}],
        "throttle": {"rateLimit": 10.0, "burstLimit": 100},
        "quota": {"limit": 100_000, "offset": 0, "period": "DAY"},
    }
    aws.add("apigateway", "get_usage_plans", {"items": [drifted]})
    aws.add(
        "apigateway",
        "update_usage_plan",
        {"id": "plan1"},
        usagePlanId="plan1",
        patchOperations=[
            {"op": "add", "path": "/apiStages", "value": "abc123defg:api"},
            {"op": "replace", "path": "/throttle/rateLimit", "value": "50"},
        ],
    )
    aws.add("apigateway", "get_api_keys", {"items": [{"id": "key1", "name": PLAN}]}, nameQuery=PLAN)
    aws.add("apigateway", "get_usage_plan_keys", {"items": [{"id": "key1"}]}, usagePlanId="plan1")
    report = Report()

    aws.services.usage_plans.attach(api_key_stage(), "abc123defg", report)

    assert len(report.changed) == 1
    assert len(report.unchanged) == 2


def test_harden_refuses_api_keys_without_chalices_rest_api(
    aws: Aws, names: ChaliceNames, tmp_path: Path
) -> None:
    path = tmp_path / "prod.json"
    path.write_text(json.dumps(deployed_record(names, rest_api_id=None)))
    deployment = Deployment.read(path, api_key_stage())
    stack_ready(aws)
    for function in sorted((API, TRAINING, RECONCILE)):
        function_exists(aws, function)
    rule_exists(aws, TRAINING_RULE, [chalice_target(TRAINING)])
    rule_exists(aws, RECONCILE_RULE, [chalice_target(RECONCILE)], schedule="rate(10 minutes)")

    with pytest.raises(HardenError, match="chalice deployed no REST API"):
        harden(api_key_stage(), deployment, STACK, aws.services, Report())


# ---------------------------------------------------------------------------------------------
# API Gateway's own errors on the API that chalice deployed


def test_the_envelope_puts_api_gateways_parameter_mapping() -> None:
    """Spelled out once: the throttled answer, as PutGatewayResponse gets it."""
    assert envelope("THROTTLED") == {
        "statusCode": "429",
        "responseParameters": {
            "gatewayresponse.header.X-Content-Type-Options": "'nosniff'",
            "gatewayresponse.header.Retry-After": "'1'",
        },
        "responseTemplates": {
            "application/json": '{"error": {"code": "Throttled", "message": '
            '$context.error.messageString, "request_id": "$context.requestId"}}'
        },
    }
    assert envelope("THROTTLED") == gr.api_gateway_responses()["THROTTLED"]


def test_only_the_responses_that_differ_are_put_then_the_stage_deployed(aws: Aws) -> None:
    current = as_wanted()
    # Someone's extra header: a PUT replaces the whole response, so it differs.
    throttled = current[list(gr.RESPONSES).index("THROTTLED")]
    throttled["responseParameters"] = {
        **throttled["responseParameters"],
        "gatewayresponse.header.X-Extra": "'1'",
    }
    # A default type put back to API Gateway's own answer.
    current[list(gr.RESPONSES).index("DEFAULT_5XX")] = default_response("DEFAULT_5XX")
    gateway_responses_put(aws, current, ("THROTTLED", "DEFAULT_5XX"))
    report = Report()

    aws.services.gateway_responses.put(make_stage(), API_ID, report)

    assert report.changed == [
        f"gateway response THROTTLED of {API_ID}: 429 in sagewire's envelope",
        f"gateway response DEFAULT_5XX of {API_ID}: API Gateway's status in sagewire's envelope",
        f"REST API {API_ID}: deployed to its stage api, for the gateway responses to take effect",
    ]
    assert len(report.unchanged) == RESPONSE_TYPES - 2


def test_a_refused_put_exits_3_with_one_line(
    aws: Aws,
    names: ChaliceNames,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    deployed = tmp_path / "prod.json"
    deployed.write_text(json.dumps(deployed_record(names)))
    clients = {service: stub.client for service, stub in aws.stubs.items()}
    session = SimpleNamespace(client=clients.__getitem__)
    monkeypatch.setattr(deploy_main, "boto3", SimpleNamespace(Session=lambda **_: session))
    hardened_stage(aws)
    gateway_responses(aws, fresh_api())
    aws.stubs["apigateway"].add_client_error(
        "put_gateway_response",
        service_error_code="AccessDeniedException",
        service_message="User is not authorized to perform: apigateway:PUT",
        http_status_code=403,
        expected_params={
            "restApiId": API_ID,
            "responseType": "UNAUTHORIZED",
            **envelope("UNAUTHORIZED"),
        },
    )

    status = main(["harden", "--stage", "prod", "--deployed", str(deployed)])

    assert status == 3
    printed = capsys.readouterr()
    assert printed.err == (
        "deploy: An error occurred (AccessDeniedException) when calling the PutGatewayResponse "
        "operation: User is not authorized to perform: apigateway:PUT\n"
    )
    # The report of what it read before goes to stdout; no deployment was made.
    assert printed.out.startswith(f"prod: hardening in {REGION} with the stack {STACK}\n")
    assert "deployed to its stage" not in printed.out
    # The refused put is the last change recorded: attempted, not made.
    assert "  attempted     gateway response UNAUTHORIZED" in printed.out
    assert "  changed       gateway response UNAUTHORIZED" not in printed.out


# ---------------------------------------------------------------------------------------------
# .chalice/deployed/<stage>.json


def _read(record: dict[str, Any], stage: Stage, directory: Path) -> Deployment:
    path = directory / "prod.json"
    path.write_text(json.dumps(record))
    return Deployment.read(path, stage)


def test_the_record_of_the_real_app_names_every_function_and_rule(tmp_path: Path) -> None:
    names = chalice_deploy_names("prod")

    deployment = _read(deployed_record(names), make_stage(), tmp_path)

    assert deployment.region == REGION
    assert deployment.rest_api_id == "abc123defg"
    assert set(deployment.functions) == set(names.functions.values())
    assert deployment.functions[API] == function_arn(API)
    assert set(deployment.rules) == set(names.rules.values())
    assert len(deployment.rules) == 10


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"account": "210987654321"}, "not in the stage's account 123456789012"),
        ({"stage": "dev"}, "is not a function of the stage prod"),
    ],
)
def test_a_record_of_another_account_or_stage_is_refused(
    names: ChaliceNames, change: dict[str, str], message: str, tmp_path: Path
) -> None:
    if "stage" in change:
        names = _subset(chalice_deploy_names(change["stage"]))
    record = deployed_record(names, account=change.get("account", ACCOUNT))

    with pytest.raises(HardenError, match=message):
        _read(record, make_stage(), tmp_path)


def test_a_rule_outside_the_stages_prefix_is_refused(names: ChaliceNames, tmp_path: Path) -> None:
    """The queue takes undelivered events from `sagewire-<stage>-*` rules only."""
    record = deployed_record(ChaliceNames(names.functions, {"x-event": "other-rule"}))

    with pytest.raises(HardenError, match="rule other-rule does not start with sagewire-prod-"):
        _read(record, make_stage(), tmp_path)


def test_a_missing_record_says_to_deploy_first(tmp_path: Path) -> None:
    with pytest.raises(HardenError, match="run `chalice deploy --stage prod` first"):
        Deployment.read(tmp_path / "prod.json", make_stage())


def test_the_command_fails_without_chalices_record(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["harden", "--stage", "prod", "--deployed", str(tmp_path / "none.json")])

    assert status == 3
    printed = capsys.readouterr()
    assert printed.out == ""
    assert printed.err == (
        f"deploy: {tmp_path / 'none.json'}: not found; run `chalice deploy --stage prod` first\n"
    )


@pytest.mark.parametrize(
    ("current", "wanted", "expected"),
    [
        ({"a": 1, "b": {"c": 2, "d": 3}}, {"b": {"c": 2}}, True),
        ({"a": 1.0}, {"a": 1}, True),
        ({"a": [{"x": 1, "y": 2}]}, {"a": [{"x": 1}]}, True),
        ({"a": [1, 2]}, {"a": [1]}, False),
        (None, {"a": 1}, False),
    ],
)
def test_contains(current: Any, wanted: Any, expected: bool) -> None:
    assert contains(current, wanted) is expected


# ---------------------------------------------------------------------------------------------
# The command, on moto: what Chalice deploys, hardened, then hardened again


def _deploy_like_chalice(names: ChaliceNames, directory: Path) -> Path:
    """What `chalice deploy --stage prod` leaves: functions on python3.12, rules whose one target
    is `{"Id": "1", "Arn": <function>}`, a REST API deployed to the stage `api` with no gateway
    responses of its own, and its record; and the resources stack."""
    iam, lambda_client = boto3.client("iam"), boto3.client("lambda")
    events, cloudformation = boto3.client("events"), boto3.client("cloudformation")
    cloudformation.create_stack(
        StackName=STACK, TemplateBody=json.dumps(tpl.resources_template(load_stage("prod")))
    )
    role = iam.create_role(
        RoleName="sagewire-prod-api_handler",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "lambda.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            }
        ),
    )["Role"]["Arn"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("app.py", "app = None\n")
    for function in names.functions.values():
        lambda_client.create_function(
            FunctionName=function,
            Runtime="python3.12",
            Role=role,
            Handler="app.app",
            Code={"ZipFile": code.getvalue()},
        )
    for resource, rule in names.rules.items():
        function = names.functions[resource.removesuffix("-event")]
        if resource in ("reconcile-event", "resume_imports-event", "lineage_report-event"):
            events.put_rule(Name=rule, ScheduleExpression="rate(10 minutes)")
        else:
            events.put_rule(Name=rule, EventPattern=json.dumps(SAGEMAKER_PATTERN))
        events.put_targets(Rule=rule, Targets=[{"Id": "1", "Arn": function_arn(function)}])
    apigateway = boto3.client("apigateway")
    api_id = apigateway.create_rest_api(name="sagewire")["id"]
    [root] = apigateway.get_resources(restApiId=api_id)["items"]
    apigateway.put_method(
        restApiId=api_id, resourceId=root["id"], httpMethod="ANY", authorizationType="AWS_IAM"
    )
    apigateway.put_integration(
        restApiId=api_id, resourceId=root["id"], httpMethod="ANY", type="MOCK"
    )
    apigateway.create_deployment(restApiId=api_id, stageName="api")
    path = directory / "prod.json"
    path.write_text(json.dumps(deployed_record(names, rest_api_id=api_id)))
    return path


# moto's CloudFormation creates the queue, topic, table and bucket; it skips the policies and alarm.
@pytest.mark.filterwarnings("ignore:Tried to parse AWS:UserWarning")
@mock_aws
def test_the_command_hardens_a_chalice_deployment_and_then_changes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    names = chalice_deploy_names("prod")
    deployed = _deploy_like_chalice(names, tmp_path)
    command = ["harden", "--stage", "prod", "--deployed", str(deployed)]

    # 42 for the functions and rules, the gateway responses, and one deployment of the API.
    changes = 42 + RESPONSE_TYPES + 1
    assert main([*command, "--dry-run"]) == 0
    assert f"{changes} would change, 0 unchanged" in capsys.readouterr().out
    assert main(command) == 0
    assert f"{changes} changed, 0 unchanged" in capsys.readouterr().out
    assert main(command) == 0
    assert f"0 changed, {changes - 1} unchanged" in capsys.readouterr().out

    target = boto3.client("events").list_targets_by_rule(Rule=RECONCILE_RULE)["Targets"][0]
    assert target == hardened(chalice_target(RECONCILE), RECONCILE_RETRY)
    config = boto3.client("lambda").get_function_event_invoke_config(FunctionName=RECONCILE)
    assert config["DestinationConfig"]["OnFailure"] == {"Destination": DLQ}
    alarms = boto3.client("cloudwatch").describe_alarms()["MetricAlarms"]
    assert {alarm["AlarmName"] for alarm in alarms} >= {f"{API}-errors", f"{RECONCILE}-errors"}
    [api_id] = [
        resource["rest_api_id"]
        for resource in json.loads(deployed.read_text())["resources"]
        if resource["resource_type"] == "rest_api"
    ]
    apigateway = boto3.client("apigateway")
    throttled = apigateway.get_gateway_response(restApiId=api_id, responseType="THROTTLED")
    assert throttled["responseParameters"]["gatewayresponse.header.Retry-After"] == "'1'"
    # Chalice's deployment, and harden's one: none from the dry run or the second run.
    assert len(apigateway.get_deployments(restApiId=api_id)["items"]) == 2
