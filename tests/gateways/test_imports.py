"""ImportTable on moto's DynamoDB, EventBus under a Stubber."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.stub import Stubber
from mypy_boto3_dynamodb.client import DynamoDBClient
from mypy_boto3_events.client import EventBridgeClient

from chalicelib.errors import ServiceUnavailable
from chalicelib.event_types import IMPORT_REQUESTED
from chalicelib.gateways.event_bus import EventBus
from chalicelib.gateways.imports import ImportTable
from chalicelib.imports import RunImport, SearchCursor
from tests.gateways.conftest import TABLE

STARTED = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)


def started(import_id: str = "20261204T100000000000Z-0a1b2c3d") -> RunImport:
    return RunImport("digits-zero", import_id, "running", "definition", False, STARTED, STARTED)


def test_an_import_round_trips_with_its_cursor_and_times(dynamodb: DynamoDBClient) -> None:
    table = ImportTable(dynamodb, TABLE)
    first = started()
    assert table.create(first)
    assert not table.create(first)
    moved = replace(
        first,
        pages=1,
        seen=100,
        recorded=99,
        best_run="job-7",
        best_value=0.25,
        cursor=SearchCursor("token", None, STARTED - timedelta(days=3)),
        updated_at=STARTED + timedelta(seconds=5),
    )
    assert table.save(moved, after_pages=0)
    assert table.get("digits-zero", first.import_id) == moved
    assert table.get("digits-zero", "other") is None


def test_a_save_after_another_workers_save_is_refused(dynamodb: DynamoDBClient) -> None:
    table = ImportTable(dynamodb, TABLE)
    first = started()
    table.create(first)
    assert table.save(replace(first, pages=1), after_pages=0)
    assert not table.save(replace(first, pages=1, seen=5), after_pages=0)
    stored = table.get("digits-zero", first.import_id)
    assert stored is not None
    assert stored.seen == 0


def test_latest_is_the_newest_import_of_the_project(dynamodb: DynamoDBClient) -> None:
    table = ImportTable(dynamodb, TABLE)
    assert table.latest("digits-zero") is None
    older, newer = started("20261204T100000000000Z-aaaa"), started("20261204T110000000000Z-0000")
    table.create(newer)
    table.create(older)
    table.create(replace(started("20261205T000000000000Z-ffff"), project="digits-zero-2"))
    assert table.latest("digits-zero") == newer


@pytest.fixture
def client() -> EventBridgeClient:
    return boto3.client("events", region_name="us-east-1")


@pytest.fixture
def events(client: EventBridgeClient) -> Stubber:
    return Stubber(client)


def test_the_bus_publishes_one_event_from_sagewire(
    client: EventBridgeClient, events: Stubber
) -> None:
    bus = EventBus(client, "sagewire", 3)
    entry = {
        "Source": "sagewire",
        "DetailType": IMPORT_REQUESTED,
        "Detail": '{"project":"digits-zero","import_id":"x"}',
    }
    events.add_response(
        "put_events",
        {"FailedEntryCount": 0, "Entries": [{"EventId": "e-1"}]},
        {"Entries": [entry]},
    )
    with events:
        assert bus.publish(IMPORT_REQUESTED, {"project": "digits-zero", "import_id": "x"}) == "e-1"


@pytest.mark.parametrize(
    "answer",
    [
        {"FailedEntryCount": 1, "Entries": [{"ErrorCode": "ThrottlingException"}]},
        {"FailedEntryCount": 0, "Entries": []},
    ],
)
def test_an_event_the_bus_did_not_take_is_service_unavailable(
    client: EventBridgeClient, events: Stubber, answer: dict[str, object]
) -> None:
    events.add_response("put_events", answer)
    with events, pytest.raises(ServiceUnavailable) as raised:
        EventBus(client, "sagewire", 3).publish(IMPORT_REQUESTED, {})
    assert raised.value.retry_after == 3


def test_a_bus_that_cannot_be_called_is_service_unavailable(
    client: EventBridgeClient, events: Stubber
) -> None:
    events.add_client_error("put_events", "InternalException", "boom", 500)
    with events, pytest.raises(ServiceUnavailable):
        EventBus(client, "sagewire", 3).publish(IMPORT_REQUESTED, {})
