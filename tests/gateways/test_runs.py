"""RunTable against moto's DynamoDB: runs kept at their newest, leaderboards, dataset usage."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.definitions import parse_project
from chalicelib.gateways.board_writes import sortable_number
from chalicelib.gateways.runs import RunTable
from chalicelib.gateways.table import DATASET_USAGE
from chalicelib.models import Objective
from chalicelib.records import Channel, Run
from tests.factories import project_document
from tests.gateways.conftest import TABLE

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.fixture
def client(dynamodb: Any) -> Any:
    return dynamodb


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
        metric_statistics={
            "validation:f1": {"max": 0.98, "min": 0.5, "avg": 0.9, "last": 0.97, "count": 12.0}
        },
    )


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


def test_the_leaderboard_index_holds_the_objectives_statistic(client: Any) -> None:
    runs = RunTable(client, TABLE)
    project = parse_project(project_document("digits-zero"))
    by_max = replace(project, objective=Objective("validation:f1", "maximize", statistic="max"))
    by_final = replace(by_max, objective=Objective("validation:f1", "maximize"))
    runs.put_run(full_run(), [by_max])
    runs.put_run(replace(full_run(), name="other"), [replace(by_final, name="other")])

    keys = {
        board: runs.leaderboard(board, "desc", 10)[0][0][1]["gsi1sk"]
        for board in ("digits-zero", "other")
    }

    assert keys["digits-zero"] == f"{sortable_number(0.98)}#ll-batch-100"
    assert keys["other"] == f"{sortable_number(0.97)}#other"


@given(st.lists(st.floats(allow_nan=False).map(lambda x: x + 0.0), min_size=2, max_size=20))
def test_sortable_numbers_sort_as_the_numbers_do(values: list[float]) -> None:
    assert sorted(values, key=sortable_number) == sorted(values)
