"""The devstack's EventBridge PutEvents: the app's own events reach its rules, as on AWS."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast

import boto3
import pytest
from botocore.exceptions import ClientError
from chalice.app import Chalice, CloudWatchEvent

from devstack.aws import ControlPlane
from devstack.event_bus import TARGET, EventBusShim, envelope
from devstack.events import ACCOUNT_ID, EventRouter, rules_of

if TYPE_CHECKING:
    from mypy_boto3_events.client import EventBridgeClient
    from mypy_boto3_events.type_defs import PutEventsRequestEntryTypeDef

REGION = "us-east-1"
REQUESTED = "Run Import Requested"


@dataclass(frozen=True)
class Local:
    events: EventBridgeClient
    router: EventRouter
    received: list[dict[str, Any]]


@pytest.fixture(scope="module")
def local() -> Iterator[Local]:
    app = Chalice(app_name="unit")
    received: list[dict[str, Any]] = []
    lock = threading.Lock()

    @app.on_cw_event({"source": ["sagewire"], "detail-type": [REQUESTED]})
    def on_import(event: CloudWatchEvent) -> None:
        with lock:
            received.append(event.to_dict())

    router = EventRouter.for_app(app, "unit")
    control = ControlPlane()
    control.attach(router, lambda environ, start_response: [])
    control.start()
    router.start()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_ACCESS_KEY_ID", "testing")
        patch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        session = boto3.session.Session(region_name=REGION)
        try:
            yield Local(session.client("events", endpoint_url=control.url), router, received)
        finally:
            router.stop()
            control.stop()


def _entry(
    detail: str = '{"project": "mnist-zero"}', **fields: Any
) -> PutEventsRequestEntryTypeDef:
    entry = {"Source": "sagewire", "DetailType": REQUESTED, "Detail": detail, **fields}
    return cast("PutEventsRequestEntryTypeDef", entry)


def test_an_entry_reaches_the_rule_whose_pattern_matches_as_a_full_event(local: Local) -> None:
    mark = local.router.mark()
    answer = local.events.put_events(
        Entries=[_entry(Resources=["arn:aws:sagemaker:us-east-1:123456789012:training-job/a"])]
    )
    assert answer["FailedEntryCount"] == 0
    (result,) = answer["Entries"]
    assert local.router.wait_idle(10)
    (delivery,) = local.router.published_since(mark)
    event = delivery.event
    assert event["id"] == result["EventId"]
    assert {
        key: event[key] for key in ("version", "detail-type", "source", "account", "region")
    } == {
        "version": "0",
        "detail-type": REQUESTED,
        "source": "sagewire",
        "account": ACCOUNT_ID,
        "region": REGION,
    }
    assert event["resources"] == ["arn:aws:sagemaker:us-east-1:123456789012:training-job/a"]
    assert event["detail"] == {"project": "mnist-zero"}
    assert datetime.strptime(event["time"], "%Y-%m-%dT%H:%M:%SZ")
    assert [outcome.status for outcome in delivery.outcomes] == ["succeeded"]
    assert local.received[-1]["id"] == result["EventId"]


def test_each_entry_is_answered_and_failures_are_counted(local: Local) -> None:
    mark = local.router.mark()
    default_bus = f"arn:aws:events:{REGION}:{ACCOUNT_ID}:event-bus/default"
    answer = local.events.put_events(
        Entries=[
            _entry(EventBusName="default"),
            _entry(detail="not json"),
            _entry(detail="[1, 2]"),
            _entry(EventBusName="elsewhere"),
            {"DetailType": REQUESTED, "Detail": "{}"},
            _entry(EventBusName=default_bus, Time=datetime(2026, 12, 4, 10, 0, tzinfo=UTC)),
        ]
    )
    results = answer["Entries"]
    assert answer["FailedEntryCount"] == 4
    assert [result.get("ErrorCode") for result in results] == [
        None,
        "MalformedDetail",
        "MalformedDetail",
        "ResourceNotFoundException",
        "InvalidArgument",
        None,
    ]
    assert results[4]["ErrorMessage"] == (
        "Parameter Source is not valid. Reason: Source is a required argument."
    )
    assert local.router.wait_idle(10)
    published = [delivery.event for delivery in local.router.published_since(mark)]
    assert [event["id"] for event in published] == [results[0]["EventId"], results[5]["EventId"]]
    assert published[1]["time"] == "2026-12-04T10:00:00Z"


def test_more_than_ten_entries_are_refused(local: Local) -> None:
    with pytest.raises(ClientError) as refused:
        local.events.put_events(Entries=[_entry() for _ in range(11)])
    assert refused.value.response["Error"]["Code"] == "ValidationException"


def test_other_eventbridge_calls_reach_moto(local: Local) -> None:
    local.events.put_rule(Name="unit-rule", EventPattern=json.dumps({"source": ["x"]}))
    names = [rule["Name"] for rule in local.events.list_rules()["Rules"]]
    assert "unit-rule" in names


def test_before_attach_put_events_answers_503() -> None:
    passed: list[str] = []

    def moto(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        passed.append(environ.get("HTTP_X_AMZ_TARGET", ""))
        return []

    shim = EventBusShim(moto)
    statuses: list[str] = []
    body = json.dumps({"Entries": [_entry()]}).encode()
    environ = {
        "HTTP_X_AMZ_TARGET": TARGET,
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
    }
    answer = shim(environ, lambda status, headers: statuses.append(status))
    assert statuses == ["503 Service Unavailable"]
    assert json.loads(b"".join(answer))["__type"] == "InternalException"
    shim({"HTTP_X_AMZ_TARGET": "AWSEvents.ListRules"}, lambda status, headers: None)
    assert passed == ["AWSEvents.ListRules"]


def test_an_envelope_matches_the_app_rules_as_emitted_events_do() -> None:
    app = Chalice(app_name="unit")

    @app.on_cw_event({"source": ["sagewire"], "detail": {"project": [{"prefix": "mnist"}]}})
    def handler(event: CloudWatchEvent) -> None:
        """Matches by the parsed detail."""

    router = EventRouter(rules_of(app), function_prefix="unit-")
    event = envelope(dict(_entry()), ACCOUNT_ID, REGION)
    assert router.publish(event).expected == 1
