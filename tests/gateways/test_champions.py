"""ChampionTable against moto's DynamoDB: compare-and-swap and the promotion ledger."""

from __future__ import annotations

import itertools
import math
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto.dynamodb.models import DynamoDBBackend

from chalicelib.errors import ServiceUnavailable
from chalicelib.gateways.champions import ChampionTable
from chalicelib.gateways.table import TABLE_SCHEMA
from chalicelib.records import SETTLED_OUTCOMES, Champion, Promotion, PromotionOutcome, RunVariant
from tests.gateways.conftest import TABLE

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.fixture
def client(dynamodb: Any) -> Any:
    return dynamodb


def champion_and_promotion(
    version: int, promotion_id: str, project: str = "digits-zero"
) -> tuple[Champion, Promotion]:
    run_name = f"run-{promotion_id}"
    champion = Champion(
        project=project,
        run_name=run_name,
        objective_value=0.1 / version,
        version=version,
        model_name=f"model-{run_name}",
        endpoint_config_name=f"config-{run_name}",
        promotion_id=promotion_id,
        changed_at=T0,
        previous_run_name=None if version == 1 else "run-before",
    )
    promotion = Promotion(
        project=project,
        promotion_id=promotion_id,
        run_name=run_name,
        previous_run_name=champion.previous_run_name,
        cause="event:training-job-completed",
        strategy="canary",
        outcome="pending",
        model_name=champion.model_name,
        endpoint_config_name=champion.endpoint_config_name,
        previous_endpoint_config_name=None if version == 1 else "config-before",
        created_at=T0,
        updated_at=T0,
        message=None if version == 1 else "waiting for the endpoint",
    )
    return champion, promotion


def history(client: Any, project: str, promotion_id: str) -> list[dict[str, str]]:
    item = client.get_item(
        TableName=TABLE,
        Key={"pk": {"S": f"PROJECT#{project}"}, "sk": {"S": f"PROMOTION#{promotion_id}"}},
    )["Item"]
    return [{k: v["S"] for k, v in entry["M"].items()} for entry in item["history"]["L"]]


def test_the_first_champion_is_written_with_expected_version_zero(client: Any) -> None:
    table = ChampionTable(client, TABLE)
    champion, promotion = champion_and_promotion(1, "2026-11-23T12:00:00.000Z#a")
    assert table.get_champion("digits-zero") is None
    assert table.replace(champion, 0, promotion) is True
    assert table.get_champion("digits-zero") == champion
    assert table.get_promotion("digits-zero", promotion.promotion_id) == promotion
    assert history(client, "digits-zero", promotion.promotion_id) == [
        {"outcome": "pending", "at": "2026-11-23T12:00:00.000000Z"}
    ]
    assert table.get_promotion("digits-zero", "absent") is None


def test_an_operators_promotion_outside_the_trust_policy_says_so_in_the_ledger(
    client: Any,
) -> None:
    table = ChampionTable(client, TABLE)
    champion, promotion = champion_and_promotion(1, "2026-12-04T12:00:00.000Z#a")
    promotion = replace(promotion, cause="api:admin", untrusted="untrusted image evil.example/x")

    assert table.replace(champion, 0, promotion) is True

    assert table.get_promotion("digits-zero", promotion.promotion_id) == promotion
    assert table.promotions("digits-zero") == [promotion]


def test_an_operators_split_keeps_each_variants_run_model_and_weight(client: Any) -> None:
    table = ChampionTable(client, TABLE)
    champion, promotion = champion_and_promotion(1, "2026-12-04T12:00:00.000Z#a")
    split = (
        RunVariant("A", "model-a", 0.7, "run-a"),
        RunVariant("B-2", "model-b", 0.3, "run-b"),
    )
    champion = replace(champion, variants=split)
    promotion = replace(promotion, strategy="variants", variants=split)

    assert table.replace(champion, 0, promotion) is True

    assert table.get_champion("digits-zero") == champion
    assert table.get_promotion("digits-zero", promotion.promotion_id) == promotion
    assert table.promotions("digits-zero") == [promotion]
    raw = client.get_item(
        TableName=TABLE, Key={"pk": {"S": "PROJECT#digits-zero"}, "sk": {"S": "CHAMPION"}}
    )["Item"]
    assert raw["variants"]["L"][1]["M"] == {
        "name": {"S": "B-2"},
        "model_name": {"S": "model-b"},
        "weight": {"N": "0.3"},
        "run_name": {"S": "run-b"},
    }


def test_a_stale_expected_version_writes_nothing(client: Any) -> None:
    table = ChampionTable(client, TABLE)
    first, first_promotion = champion_and_promotion(1, "p1")
    second, second_promotion = champion_and_promotion(2, "p2")
    assert table.replace(first, 0, first_promotion) is True
    assert table.replace(second, 1, second_promotion) is True

    for wrong_version in (0, 1, 3, 5):
        stale, stale_promotion = champion_and_promotion(wrong_version + 1, "p3")
        assert table.replace(stale, wrong_version, stale_promotion) is False
        assert table.get_champion("digits-zero") == second
        assert table.get_promotion("digits-zero", "p3") is None
    assert [p.promotion_id for p in table.promotions("digits-zero")] == ["p2", "p1"]


def test_a_duplicate_promotion_id_is_refused_and_leaves_the_champion(client: Any) -> None:
    table = ChampionTable(client, TABLE)
    first, first_promotion = champion_and_promotion(1, "p1")
    assert table.replace(first, 0, first_promotion) is True
    again, again_promotion = champion_and_promotion(2, "p1")
    assert table.replace(again, 1, again_promotion) is False
    assert table.get_champion("digits-zero") == first
    assert table.get_promotion("digits-zero", "p1") == first_promotion


def test_retire_deletes_the_champion_at_its_version_with_the_teardown_entry(
    client: Any,
) -> None:
    table = ChampionTable(client, TABLE)
    first, first_promotion = champion_and_promotion(1, "p1")
    second, second_promotion = champion_and_promotion(2, "p2")
    assert table.replace(first, 0, first_promotion) is True
    teardown = replace(
        second_promotion, promotion_id="p3#teardown", outcome="torn_down", cause="api:alice"
    )

    assert table.retire(first, replace(teardown, promotion_id="p1")) is False  # id taken
    assert table.replace(second, 1, second_promotion) is True
    assert table.retire(first, teardown) is False  # the champion moved on: nothing written
    assert table.get_promotion("digits-zero", teardown.promotion_id) is None

    assert table.retire(second, teardown) is True
    assert table.get_champion("digits-zero") is None
    assert table.promotions("digits-zero")[0] == teardown
    assert history(client, "digits-zero", teardown.promotion_id) == [
        {"outcome": "torn_down", "at": "2026-11-23T12:00:00.000000Z", "message": teardown.message}
    ]
    assert table.set_outcome("digits-zero", "p3#teardown", "pending", None) is False
    again, again_promotion = champion_and_promotion(1, "p4")
    assert table.replace(again, 0, again_promotion) is True  # defined again: a first champion


def test_inconsistent_arguments_are_a_programming_error(client: Any) -> None:
    table = ChampionTable(client, TABLE)
    champion, promotion = champion_and_promotion(1, "p1")
    with pytest.raises(ValueError, match="expected_version"):
        table.replace(champion, 1, promotion)
    with pytest.raises(ValueError, match="own promotion"):
        table.replace(champion, 0, replace(promotion, promotion_id="p2"))
    with pytest.raises(ValueError, match="DynamoDB number"):
        table.replace(replace(champion, objective_value=math.nan), 0, promotion)
    assert table.get_champion("digits-zero") is None


def test_set_outcome_appends_history_until_a_terminal_outcome(client: Any) -> None:
    minutes = itertools.count(1)
    table = ChampionTable(client, TABLE, clock=lambda: T0 + timedelta(minutes=next(minutes)))
    champion, promotion = champion_and_promotion(2, "p1")
    assert table.replace(replace(champion, version=1), 0, promotion) is True

    assert table.set_outcome("digits-zero", "p1", "deploying", None) is True
    assert table.set_outcome("digits-zero", "p1", "succeeded", "InService") is True
    assert table.get_promotion("digits-zero", "p1") == replace(
        promotion, outcome="succeeded", message="InService", updated_at=T0 + timedelta(minutes=2)
    )
    assert history(client, "digits-zero", "p1") == [
        {"outcome": "pending", "at": "2026-11-23T12:00:00.000000Z", "message": promotion.message},
        {"outcome": "deploying", "at": "2026-11-23T12:01:00.000000Z"},
        {"outcome": "succeeded", "at": "2026-11-23T12:02:00.000000Z", "message": "InService"},
    ]
    assert table.set_outcome("digits-zero", "p1", "failed", "too late") is False
    assert table.set_outcome("digits-zero", "absent", "deploying", None) is False
    assert len(history(client, "digits-zero", "p1")) == 3


@pytest.mark.parametrize("terminal", SETTLED_OUTCOMES)
def test_every_terminal_outcome_refuses_changes(client: Any, terminal: PromotionOutcome) -> None:
    table = ChampionTable(client, TABLE)
    champion, promotion = champion_and_promotion(1, "p1")
    assert table.replace(champion, 0, replace(promotion, outcome=terminal)) is True
    assert table.set_outcome("digits-zero", "p1", "pending", None) is False
    assert table.get_promotion("digits-zero", "p1") == replace(promotion, outcome=terminal)


def test_promotions_are_newest_first_and_limited(client: Any) -> None:
    table = ChampionTable(client, TABLE)
    ids = [f"2026-11-23T12:{minute:02d}:00.000Z#run-{minute}" for minute in range(12)]
    for version, promotion_id in enumerate(ids, start=1):
        champion, promotion = champion_and_promotion(version, promotion_id)
        assert table.replace(champion, version - 1, promotion) is True
    other, other_promotion = champion_and_promotion(1, "z-other", project="digits-zero-2")
    table.replace(other, 0, other_promotion)

    assert [p.promotion_id for p in table.promotions("digits-zero")] == ids[::-1]
    assert [p.promotion_id for p in table.promotions("digits-zero", limit=5)] == ids[:-6:-1]
    assert table.promotions("digits-zero", limit=0) == []
    assert table.promotions("nobody") == []


def test_promotions_page_past_the_response_size_limit(client: Any) -> None:
    table = ChampionTable(client, TABLE)
    for version in range(1, 13):
        champion, promotion = champion_and_promotion(version, f"p{version:02d}")
        promotion = replace(promotion, message="x" * 150_000)
        assert table.replace(champion, version - 1, promotion) is True
    assert [p.promotion_id for p in table.promotions("digits-zero")] == [
        f"p{v:02d}" for v in range(12, 0, -1)
    ]
    assert len(table.promotions("digits-zero", limit=9)) == 9


@pytest.mark.parametrize(
    ("reasons", "outcome"),
    [
        (["TransactionConflict", "None"], "lost"),
        (["None", "TransactionConflict"], "lost"),
        (["ConditionalCheckFailed", "ConditionalCheckFailed"], "lost"),
        (["ThrottlingError", "None"], "unavailable"),
        (["ConditionalCheckFailed", "ValidationError"], "raised"),
    ],
)
def test_only_a_lost_race_is_false_and_other_cancellations_propagate(
    reasons: list[str], outcome: str
) -> None:
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    champion, promotion = champion_and_promotion(2, "p1")
    with Stubber(dynamodb) as stubber:
        stubber.add_client_error(
            "transact_write_items",
            service_error_code="TransactionCanceledException",
            modeled_fields={"CancellationReasons": [{"Code": code} for code in reasons]},
        )
        table = ChampionTable(dynamodb, TABLE, retry_after_seconds=7)
        if outcome == "lost":
            assert table.replace(champion, 1, promotion) is False
        elif outcome == "unavailable":
            with pytest.raises(ServiceUnavailable) as raised:
                table.replace(champion, 1, promotion)
            assert raised.value.retry_after == 7
        else:
            with pytest.raises(ClientError, match="TransactionCanceledException"):
                table.replace(champion, 1, promotion)


def serialized(method: Callable[..., Any]) -> Callable[..., Any]:
    """DynamoDB isolates transactions; moto's backend does not, so the race gets a lock."""
    lock = threading.Lock()

    def locked(*args: Any, **kwargs: Any) -> Any:
        with lock:
            return method(*args, **kwargs)

    return locked


def test_concurrent_replacements_from_one_version_let_exactly_one_win(
    client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        DynamoDBBackend,
        "transact_write_items",
        serialized(DynamoDBBackend.transact_write_items),
    )
    base, base_promotion = champion_and_promotion(1, "p0")
    ChampionTable(client, TABLE).replace(base, 0, base_promotion)
    contenders = 8
    tables = [
        ChampionTable(boto3.client("dynamodb", region_name="us-east-1"), TABLE)
        for _ in range(contenders)
    ]
    start = threading.Barrier(contenders)

    def contend(index: int) -> bool:
        champion, promotion = champion_and_promotion(2, f"p1-{index}")
        start.wait()
        return tables[index].replace(champion, 1, promotion)

    with ThreadPoolExecutor(contenders) as pool:
        results = list(pool.map(contend, range(contenders)))

    assert results.count(True) == 1
    winner = f"p1-{results.index(True)}"
    reader = ChampionTable(client, TABLE)
    champion = reader.get_champion("digits-zero")
    assert champion is not None
    assert (champion.version, champion.promotion_id) == (2, winner)
    assert sorted(p.promotion_id for p in reader.promotions("digits-zero")) == ["p0", winner]


examples = itertools.count()


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    calls=st.lists(
        st.tuples(st.integers(min_value=-2, max_value=2), st.booleans()), min_size=1, max_size=12
    )
)
def test_the_version_counts_exactly_the_successful_replacements(
    client: Any, calls: list[tuple[int, bool]]
) -> None:
    table_name = f"{TABLE}-{next(examples)}"
    client.create_table(TableName=table_name, **TABLE_SCHEMA)
    table = ChampionTable(client, table_name)
    project = "digits-zero"
    champion, promotion = champion_and_promotion(1, "seed", project=project)
    assert table.replace(champion, 0, promotion) is True
    version, succeeded = 1, ["seed"]

    for index, (offset, reuse_id) in enumerate(calls):
        expected = max(0, version + offset)
        promotion_id = succeeded[-1] if reuse_id else f"call-{index}"
        champion, promotion = champion_and_promotion(expected + 1, promotion_id, project=project)
        ok = table.replace(champion, expected, promotion)
        assert ok is (expected == version and not reuse_id)
        if ok:
            version, succeeded = version + 1, [*succeeded, promotion_id]

    stored = table.get_champion(project)
    assert stored is not None
    assert stored.version == version == len(succeeded)
    assert stored.promotion_id == succeeded[-1]
    assert sorted(p.promotion_id for p in table.promotions(project)) == sorted(succeeded)


def test_a_model_package_arn_is_stored_once_on_its_entry(client: Any) -> None:
    table = ChampionTable(client, TABLE)
    champion, promotion = champion_and_promotion(1, "2026-12-04T12:00:00.000Z#a")
    table.replace(champion, 0, replace(promotion, outcome="recorded"))
    arn = "arn:aws:sagemaker:us-east-1:123456789012:model-package/digits-zero/1"

    assert table.set_model_package("digits-zero", promotion.promotion_id, arn) is True
    assert table.set_model_package("digits-zero", promotion.promotion_id, f"{arn}0") is False
    assert table.set_model_package("digits-zero", "absent", arn) is False

    stored = table.get_promotion("digits-zero", promotion.promotion_id)
    assert stored is not None
    assert stored.model_package_arn == arn
    assert stored.outcome == "recorded"


def test_a_recorded_entry_moves_to_rejected_only_from_the_outcome_expected(client: Any) -> None:
    table = ChampionTable(client, TABLE)
    champion, promotion = champion_and_promotion(1, "2026-12-04T12:00:00.000Z#a")
    table.replace(champion, 0, replace(promotion, outcome="recorded"))
    pid = promotion.promotion_id

    assert table.set_outcome("digits-zero", pid, "rejected", "no") is False  # settled
    assert table.set_outcome("digits-zero", pid, "rejected", "no", expected="pending") is False
    assert table.set_outcome("digits-zero", pid, "rejected", "no", expected="recorded") is True
    assert table.set_outcome("digits-zero", pid, "rejected", "no", expected="recorded") is False
    assert [entry["outcome"] for entry in history(client, "digits-zero", pid)] == [
        "recorded",
        "rejected",
    ]


def test_a_promotion_is_read_by_key_and_an_id_too_long_for_a_key_is_never_asked() -> None:
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    _, promotion = champion_and_promotion(1, "2026-11-23T12:00:00.000000Z#a")
    item = {
        "project": {"S": "digits-zero"},
        "promotion_id": {"S": promotion.promotion_id},
        "run_name": {"S": promotion.run_name},
        "cause": {"S": promotion.cause},
        "strategy": {"S": promotion.strategy},
        "outcome": {"S": promotion.outcome},
        "model_name": {"S": promotion.model_name},
        "endpoint_config_name": {"S": promotion.endpoint_config_name},
        "created_at": {"S": promotion.created_at.isoformat()},
        "updated_at": {"S": promotion.updated_at.isoformat()},
    }
    with Stubber(dynamodb) as stubber:
        stubber.add_response(
            "get_item",
            {"Item": item},
            {
                "TableName": TABLE,
                "Key": {
                    "pk": {"S": "PROJECT#digits-zero"},
                    "sk": {"S": "PROMOTION#2026-11-23T12:00:00.000000Z#a"},
                },
                "ConsistentRead": True,
            },
        )
        table = ChampionTable(dynamodb, TABLE)

        assert table.get_promotion("digits-zero", promotion.promotion_id) == promotion
        # DynamoDB refuses a sort key over 1,024 bytes: no call is made (none is stubbed).
        assert table.get_promotion("digits-zero", "é" * 510) is None
