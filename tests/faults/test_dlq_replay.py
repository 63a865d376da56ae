"""`python -m ops.dlq`: both dead-letter formats, nothing it cannot replay is ever lost, and the
same code runs against the local stack (moto's SQS, Lambda's Invoke API shim) as against AWS."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from app import app
from devstack.events import EventRouter, scheduled_event
from ops import dlq
from tests.faults.conftest import LocalStack

if TYPE_CHECKING:
    from mypy_boto3_sqs.type_defs import MessageAttributeValueTypeDef, MessageTypeDef

ROOT = Path(__file__).resolve().parents[2]
TRAINING = "on_training_job_state_change"
FUNCTION_ARN = f"arn:aws:lambda:us-east-1:123456789012:function:sagewire-local-{TRAINING}"
EVENT = {
    "version": "0",
    "id": "e-1",
    "detail-type": "SageMaker Training Job State Change",
    "source": "aws.sagemaker",
    "detail": {"TrainingJobName": "job-1", "TrainingJobStatus": "Completed"},
}


def _attributes(**values: str) -> dict[str, MessageAttributeValueTypeDef]:
    return {name: {"DataType": "String", "StringValue": value} for name, value in values.items()}


def eventbridge_attributes(target: str = FUNCTION_ARN) -> dict[str, MessageAttributeValueTypeDef]:
    """What EventBridge puts on a rule dead letter (the body is the event itself)."""
    return _attributes(
        RULE_ARN="arn:aws:events:us-east-1:123456789012:rule/sagewire-local-training",
        TARGET_ARN=target,
        ERROR_CODE="SDK_CLIENT_ERROR",
        ERROR_MESSAGE="Lambda was throttled",
    )


def lambda_record(event: dict[str, Any], condition: str = "RetriesExhausted") -> dict[str, Any]:
    return {
        "version": "1.0",
        "timestamp": "2026-11-23T12:00:00.000Z",
        "requestContext": {
            "requestId": "r-1",
            "functionArn": f"{FUNCTION_ARN}:$LATEST",
            "condition": condition,
            "approximateInvokeCount": 3,
        },
        "requestPayload": event,
        "responseContext": {"statusCode": 200, "functionError": "Unhandled"},
        "responsePayload": {"errorType": "EndpointUnavailable", "errorMessage": "throttled"},
    }


def message(body: Any, attributes: dict[str, Any] | None = None) -> MessageTypeDef:
    text = body if isinstance(body, str) else json.dumps(body)
    received: MessageTypeDef = {"MessageId": "m-1", "ReceiptHandle": "h-1", "Body": text}
    if attributes:
        received["MessageAttributes"] = attributes
    return received


def test_an_eventbridge_dead_letter_is_its_event_for_its_target() -> None:
    letter = dlq.parse(message(EVENT, eventbridge_attributes()))
    assert isinstance(letter, dlq.Letter)
    assert (letter.kind, letter.function, letter.event) == ("eventbridge", FUNCTION_ARN, EVENT)
    assert letter.function_name == f"sagewire-local-{TRAINING}"
    assert letter.error == "SDK_CLIENT_ERROR: Lambda was throttled"


def test_a_lambda_failure_record_is_its_request_payload_for_its_function() -> None:
    letter = dlq.parse(message(lambda_record(EVENT)))
    assert isinstance(letter, dlq.Letter)
    assert (letter.kind, letter.event) == ("lambda", EVENT)
    assert letter.function == f"{FUNCTION_ARN}:$LATEST"
    assert letter.function_name == f"sagewire-local-{TRAINING}"
    assert letter.error_kind == "RetriesExhausted EndpointUnavailable"


@pytest.mark.parametrize(
    ("body", "attributes", "reason"),
    [
        ("not json", None, "not JSON"),
        ([EVENT], None, "not a JSON object"),
        (EVENT, None, "neither an EventBridge dead letter"),
        (EVENT, eventbridge_attributes("arn:aws:sqs:us-east-1:1:queue"), "not a Lambda"),
        (lambda_record(EVENT, condition="Success"), None, "not a failure record"),
        ({**lambda_record(EVENT), "requestPayload": "x"}, None, "not an event"),
        ({**lambda_record(EVENT), "requestContext": {"condition": "RetriesExhausted"}}, None, "no"),
    ],
)
def test_anything_else_is_unreadable_and_says_why(
    body: Any, attributes: dict[str, Any] | None, reason: str
) -> None:
    item = dlq.parse(message(body, attributes))
    assert isinstance(item, dlq.Unreadable)
    assert reason in item.reason


def test_what_the_tool_prints_of_an_event_is_one_printable_line() -> None:
    hostile = {
        "detail-type": "Object Created",
        "detail": {"object": {"key": "batch/input/p/\x1b[2J\r\nreplayed 9, failed 0.csv"}},
    }
    line = dlq.describe_event(hostile)
    assert line.isprintable()
    assert line == "Object Created (batch/input/p/ [2J replayed 9, failed 0.csv)"


# --- against the local stack ---


def _send(local: LocalStack, body: Any, attributes: dict[str, Any] | None = None) -> None:
    extra: dict[str, Any] = {"MessageAttributes": attributes} if attributes else {}
    text = body if isinstance(body, str) else json.dumps(body)
    local.sqs.send_message(QueueUrl=local.queue_url, MessageBody=text, **extra)


def _run(local: LocalStack, *args: str) -> tuple[int, str]:
    out = io.StringIO()
    status = dlq.main(
        [args[0], "--queue-url", local.queue_url, "--poll-seconds", "0", *args[1:]], out
    )
    return status, out.getvalue()


def test_list_and_dry_run_change_nothing_and_replay_keeps_what_it_cannot_read(
    local: LocalStack,
) -> None:
    local.register("zero")
    local.start()
    event = local.complete_training_job("zero-mbs-100", 0.3)
    _send(local, event, eventbridge_attributes())
    _send(local, "garbage")

    status, listed = _run(local, "list")
    assert status == 0
    assert "2 message(s)" in listed
    assert f"sagewire-local-{TRAINING}" in listed
    assert "SDK_CLIENT_ERROR" in listed
    assert "unreadable" in listed
    status, text = _run(local, "list", "--json")
    summary = json.loads(text)
    assert [group["count"] for group in summary["groups"]] == [1]
    assert len(summary["unreadable"]) == 1
    status, dry = _run(local, "replay", "--dry-run")
    assert status == 1  # the unreadable message would be left
    assert "would replay" in dry
    status, text = _run(local, "replay", "--dry-run", "--json")
    summary = json.loads(text)
    assert status == 1
    assert summary["dry_run"] is True
    [would] = summary["replayed"]
    assert would["function"] == f"sagewire-local-{TRAINING}"
    assert would["event"] == "SageMaker Training Job State Change (zero-mbs-100 Completed)"
    assert [item["reason"] for item in summary["unreadable"]] == ["the body is not JSON"]
    assert summary["failed"] == summary["not_selected"] == []
    assert local.container.run_store.get_run("zero-mbs-100") is None
    assert len(local.peek()) == 2  # released: visible again at once

    status, replayed = _run(local, "replay")
    local.settle()

    assert status == 1
    assert "replayed 1, failed 0, unreadable 1" in replayed
    [left] = local.peek()
    assert left["Body"] == "garbage"
    [promotion] = local.container.champion_store.promotions("zero")
    assert (promotion.run_name, promotion.outcome) == ("zero-mbs-100", "succeeded")


def test_wait_keeps_the_letter_while_the_function_still_fails(local: LocalStack) -> None:
    local.register("zero")
    outage = local.throttle("DescribeTrainingJob")
    local.start()
    _send(local, lambda_record(local.complete_training_job("zero-mbs-100", 0.3)))

    status, output = _run(local, "replay", "--wait")
    assert status == 1
    assert "the function failed (Unhandled)" in output
    assert "EndpointUnavailable" in output
    assert local.queue_depth() == 1
    assert local.router.dead_letters == []  # a synchronous invoke is not retried or dead-lettered

    outage.clear()
    status, output = _run(local, "replay", "--wait")
    assert status == 0, output
    assert local.queue_depth() == 0
    [promotion] = local.container.champion_store.promotions("zero")  # done before Invoke answered
    assert promotion.run_name == "zero-mbs-100"
    local.settle()


def test_max_and_function_select_what_is_replayed(local: LocalStack) -> None:
    local.start()
    unknown = FUNCTION_ARN.replace(TRAINING, "on_nothing")
    _send(local, lambda_record(EVENT | {"id": "a"}))
    _send(local, lambda_record(EVENT | {"id": "b"}))
    _send(local, EVENT, eventbridge_attributes(unknown))

    status, output = _run(local, "replay", "--dry-run", "--max", "1")
    assert status == 0
    assert "would replay 1, failed 0, unreadable 0, not selected 0" in output
    status, output = _run(local, "replay", "--function", unknown)
    assert status == 1
    assert "Invoke refused: ResourceNotFoundException" in output
    assert "not selected 2" in output
    assert local.queue_depth() == 3


def test_the_command_line_runs_against_the_stack_through_aws_endpoint_url(
    local: LocalStack,
) -> None:
    local.register("zero")
    local.start()
    _send(local, lambda_record(local.complete_training_job("zero-mbs-100", 0.3)))

    def command(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "ops.dlq", *args, "--queue-name", "sagewire-local-dlq"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    listed = command("list", "--poll-seconds", "1")
    assert listed.returncode == 0, listed.stderr
    assert "1 message(s)" in listed.stdout
    replayed = command("replay", "--wait", "--poll-seconds", "1")
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert "replayed 1, failed 0" in replayed.stdout
    assert local.queue_depth() == 0
    local.settle()
    [promotion] = local.container.champion_store.promotions("zero")
    assert (promotion.run_name, promotion.outcome) == ("zero-mbs-100", "succeeded")


# --- the local stack's Lambda Invoke API ---


@pytest.mark.parametrize(
    "name",
    [
        TRAINING,
        f"sagewire-local-{TRAINING}",
        "sagewire-local-on-training-job-state-change",  # the packaged template's name
        FUNCTION_ARN,
        f"{FUNCTION_ARN}:$LATEST",
        f"123456789012:function:sagewire-local-{TRAINING}",
    ],
)
def test_a_function_is_found_by_any_of_its_names(name: str) -> None:
    rule = EventRouter.for_app(app, "local").function(name)
    assert rule is not None
    assert rule.name == TRAINING


@pytest.mark.parametrize(
    "name",
    ["on_nothing", f"{FUNCTION_ARN}:live", "arn:aws:sqs:us-east-1:123456789012:queue", ""],
)
def test_other_names_are_no_function(name: str) -> None:
    assert EventRouter.for_app(app, "local").function(name) is None


def test_invoke_answers_as_lambda_does(local: LocalStack) -> None:
    local.start()
    functions = boto3.session.Session(region_name="us-east-1").client("lambda")

    answer = functions.invoke(FunctionName="sagewire-local-reconcile", Payload=b"{}")
    assert answer["StatusCode"] == 200
    assert answer["FunctionError"] == "Unhandled"  # reconcile wants a scheduled event
    scheduled = scheduled_event("arn:aws:events:us-east-1:123456789012:rule/r", "us-east-1")
    answer = functions.invoke(FunctionName="reconcile", Payload=json.dumps(scheduled).encode())
    assert (answer["StatusCode"], "FunctionError" in answer) == (200, False)
    assert json.loads(answer["Payload"].read()) == {"advanced": [], "drift": [], "registered": []}
    dry = functions.invoke(FunctionName="reconcile", InvocationType="DryRun", Payload=b"{}")
    assert dry["StatusCode"] == 204
    with pytest.raises(functions.exceptions.ResourceNotFoundException):
        functions.invoke(FunctionName="sagewire-local-nothing", Payload=b"{}")
    with pytest.raises(functions.exceptions.InvalidRequestContentException):
        functions.invoke(FunctionName="reconcile", InvocationType="Event", Payload=b"{not json")


def test_a_replay_that_fails_again_lands_back_in_the_queue(local: LocalStack) -> None:
    """A poison event (not in SageMaker's documented shape): every replay is dead-lettered
    again by the function's own retries, never lost."""
    local.register("zero")
    local.start()
    shared = ROOT.parent / "shared" / "fixtures" / "events" / "training-job-completed.json"
    event = json.loads(shared.read_text())
    event["detail"] = {"TrainingJobStatus": "Completed"}
    local.router.publish(event)
    local.settle()
    [first] = local.peek()

    status, output = _run(local, "replay")
    local.settle()

    assert (status, "replayed 1" in output) == (0, True)
    [again] = local.peek()
    assert again["MessageId"] != first["MessageId"]
    record = json.loads(again["Body"])
    assert record["requestPayload"] == event
    assert record["responsePayload"]["errorType"] == "MalformedInput"
    assert len(local.router.dead_letters) == 2
