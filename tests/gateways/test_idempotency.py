"""Powertools idempotency on the table: the stored key format is pinned, whatever the names."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from chalicelib.gateways.idempotency import Idempotent
from tests.fakes import FakeMetrics
from tests.gateways.conftest import TABLE

KEY = {"arn": "arn:job", "status": "Completed", "last_modified": "2026-11-20T12:00:00+00:00"}


class LambdaContext:
    """What Powertools reads of Lambda's context: the time the invocation has left."""

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


CONTEXT = LambdaContext()


@pytest.fixture
def client(dynamodb: Any) -> Any:
    return dynamodb


def test_the_record_key_is_the_handler_name_and_the_hash_of_the_business_key(client: Any) -> None:
    once = Idempotent("on_training_job_state_change", lambda key: {"ran": True}, client, TABLE)

    assert once(CONTEXT, key=KEY) == {"ran": True}

    [item] = client.scan(TableName=TABLE)["Items"]
    digest = hashlib.md5(json.dumps(KEY, sort_keys=True).encode()).hexdigest()
    assert item["pk"] == {"S": "IDEMPOTENCY#on_training_job_state_change"}
    assert item["sk"] == {"S": f"on_training_job_state_change#{digest}"}


def test_a_renamed_function_still_finds_its_records_and_a_duplicate_is_counted(
    client: Any,
) -> None:
    ran: list[str] = []
    metrics = FakeMetrics()

    def before_the_rename(key: dict[str, str]) -> str:
        ran.append("before")
        return "first result"

    def after_the_rename(key: dict[str, str]) -> str:
        ran.append("after")
        return "second result"

    handler = "on_endpoint_state_change"
    Idempotent(handler, before_the_rename, client, TABLE, metrics)(CONTEXT, key=KEY)
    answer = Idempotent(handler, after_the_rename, client, TABLE, metrics)(CONTEXT, key=KEY)

    assert (ran, answer) == (["before"], "first result")
    assert metrics.total("DuplicateEvents", handler=handler) == 1
    other = {**KEY, "status": "Failed"}
    Idempotent(handler, after_the_rename, client, TABLE, metrics)(CONTEXT, key=other)
    assert ran == ["before", "after"]
    assert metrics.total("DuplicateEvents", handler=handler) == 1
