"""RunTable and ChampionTable against moto's DynamoDB: ordering, compare-and-swap and the ledger."""

from __future__ import annotations

import itertools
import math
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws
from moto.dynamodb.models import DynamoDBBackend

from chalicelib.definitions import parse_project
from chalicelib.errors import ServiceUnavailable
from chalicelib.gateways.champions import ChampionTable
from chalicelib.gateways.runs import RunTable, sortable_number
from chalicelib.gateways.table import DATASET_USAGE, TABLE_SCHEMA
from chalicelib.models import (
    SETTLED_OUTCOMES,
    Champion,
    Channel,
    Promotion,
    PromotionOutcome,
    Run,
)
from tests.factories import project_document

TABLE = "sagewire-ledger-test"
T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.fixture
def client() -> Iterator[Any]:
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name="us-east-1")
        dynamodb.create_table(TableName=TABLE, **TABLE_SCHEMA)
        yield dynamodb


def full_run(last_modified_at: datetime = T0) -> Run:
    return Run(
        name="ll-batch-100",
        arn="arn:aws:sagemaker:us-east-1:123456789012:training-job/ll-batch-100",
        status="Completed",
        last_modified_at=last_modified_at,
        metrics={"train:objective_loss:final": 0.0123456789012345, "validation:f1": 0.97},
        hyperparameters={"mini_batch_size": "100", "predictor_type": "binary_classifier"},
        channels=(Channel("train", "s3://data/train/"), Channel("test", "s3://data/test/")),
        model_artifact="s3://out/ll-batch-100/output/model.tar.gz",
        training_image="382416733822.dkr.ecr.us-east-1.amazonaws.com/linear-learner:1",
        role_arn="arn:aws:iam::123456789012:role/SageMakerExecution",
        tags={"Project": "Project_Binary_Classifier"},
        experiment_name="digits",
        trial_name="trial-1",
        tuning_job_name="tune-1",
        failure_reason=None,
        created_at=T0 - timedelta(minutes=30),
        started_at=(T0 - timedelta(minutes=29)).astimezone(timezone(timedelta(hours=2))),
        ended_at=T0 - timedelta(microseconds=1),
    )


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


def test_a_run_round_trips_every_field(client: Any) -> None:
    table = RunTable(client, TABLE)
    run = full_run()
    assert table.put_run(run) is True
    assert table.get_run(run.name) == run
    item = client.get_item(
        TableName=TABLE, Key={"pk": {"S": "RUN#ll-batch-100"}, "sk": {"S": "RUN"}}
    )
    assert item["Item"]["status"] == {"S": "Completed"}
    assert item["Item"]["last_modified_ms"] == {"N": str(int(T0.timestamp() * 1000))}
    assert '"started_at":"2026-11-23T11:31:00.000000Z"' in item["Item"]["run"]["S"]
    assert table.get_run("absent") is None


def test_a_run_with_defaults_and_infinite_metrics_round_trips(client: Any) -> None:
    table = RunTable(client, TABLE)
    run = Run(
        "diverged", "arn:diverged", "Failed", T0, metrics={"loss": math.inf, "gain": -math.inf}
    )
    assert table.put_run(run) is True
    assert table.get_run("diverged") == run


def test_a_naive_datetime_is_refused(client: Any) -> None:
    with pytest.raises(ValueError, match="naive datetime"):
        RunTable(client, TABLE).put_run(full_run(datetime(2026, 11, 23, 12, 0)))


def test_older_and_duplicate_events_never_overwrite_newer_facts(client: Any) -> None:
    table = RunTable(client, TABLE)
    newer = full_run(T0)
    older = replace(full_run(T0 - timedelta(seconds=1)), status="InProgress", metrics={})
    assert table.put_run(newer) is True
    assert table.put_run(older) is False
    assert table.put_run(replace(newer, status="Failed")) is False
    assert table.get_run(newer.name) == newer
    newest = replace(newer, last_modified_at=T0 + timedelta(milliseconds=1), status="Stopped")
    assert table.put_run(newest) is True
    assert table.get_run(newer.name) == newest


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


def test_a_run_joins_its_projects_leaderboards_and_its_datasets_usage(client: Any) -> None:
    runs = RunTable(client, TABLE)
    run = full_run()
    projects = [
        parse_project(project_document("digits-zero")),
        parse_project(project_document("b")),
    ]
    assert runs.put_run(run, projects) is True
    members = client.query(
        TableName=TABLE,
        IndexName="gsi1",
        KeyConditionExpression="gsi1pk = :board",
        ExpressionAttributeValues={":board": {"S": "LEADERBOARD#digits-zero"}},
    )["Items"]
    assert [item["sk"]["S"] for item in members] == [f"RUN#{run.name}"]
    usage = client.query(
        TableName=TABLE,
        KeyConditionExpression="pk = :datasets",
        ExpressionAttributeValues={":datasets": {"S": DATASET_USAGE}},
    )["Items"]
    assert sorted(item["sk"]["S"] for item in usage) == sorted(
        f"{channel.s3_uri}#RUN#{run.name}" for channel in run.channels
    )
    assert runs.put_run(run, projects) is False  # a duplicate changes nothing, atomically


@given(st.lists(st.floats(allow_nan=False).map(lambda x: x + 0.0), min_size=2, max_size=20))
def test_sortable_numbers_sort_as_the_numbers_do(values: list[float]) -> None:
    assert sorted(values, key=sortable_number) == sorted(values)
