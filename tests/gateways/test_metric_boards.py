"""Named metrics' leaderboard indexes in the table: the items and queries (Stubber), and their
behaviour on moto's DynamoDB (newer records, the 100-action limit, a guarded re-index)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import orjson
import pytest
from botocore.stub import ANY, Stubber

from chalicelib.boards import BoardIndex, metric_board, objective_board
from chalicelib.definitions import parse_project
from chalicelib.errors import InvalidParameter
from chalicelib.gateways.board_writes import sortable_number
from chalicelib.gateways.boards import BoardTable
from chalicelib.gateways.runs import RunTable
from chalicelib.models import Objective, Project
from chalicelib.records import Run
from tests.factories import project_document
from tests.gateways.conftest import TABLE

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
LOSS = "train:objective_loss:final"
F1 = "validation:f1"
ACC = "validation:accuracy"


def definition(name: str = "digits-zero", metrics: tuple[str, ...] = (F1, ACC)) -> Project:
    return replace(parse_project(project_document(name), name), leaderboard_metrics=metrics)


def run(name: str, seconds: int = 0, /, **metrics: float) -> Run:
    return Run(name, f"arn:{name}", "Completed", T0 + timedelta(seconds=seconds), metrics=metrics)


def board(client: Any, metric: str, project: str = "digits-zero") -> list[str]:
    items = client.query(
        TableName=TABLE,
        IndexName="gsi1",
        KeyConditionExpression="gsi1pk = :board",
        ExpressionAttributeValues={":board": {"S": f"LEADERBOARD#{project}#{metric}"}},
    )["Items"]
    return [item["gsi1sk"]["S"] for item in items]


def rank(value: float, name: str) -> str:
    return f"{sortable_number(value)}#{name}"


@pytest.fixture
def stubbed() -> Any:
    client = boto3.client("dynamodb", region_name="us-east-1")
    with Stubber(client) as stub:
        yield client, stub
        stub.assert_no_pending_responses()


def test_a_run_is_written_with_an_entry_per_named_metric_it_has(stubbed: Any) -> None:
    client, stub = stubbed
    recorded = run("r1", **{LOSS: 0.5, F1: 0.75})
    document = {"S": ANY}
    stub.add_response(
        "transact_write_items",
        {},
        {
            "TransactItems": [
                {"Put": ANY},
                {
                    "Put": {
                        "TableName": TABLE,
                        "Item": {
                            "pk": {"S": "PROJECT#digits-zero"},
                            "sk": {"S": "RUN#r1"},
                            "run": document,
                            "gsi1pk": {"S": "LEADERBOARD#digits-zero"},
                            "gsi1sk": {"S": rank(0.5, "r1")},
                        },
                    }
                },
                {
                    "Put": {
                        "TableName": TABLE,
                        "Item": {
                            "pk": {"S": "PROJECT#digits-zero"},
                            "sk": {"S": f"BOARD#r1#{F1}"},
                            "run": document,
                            "gsi1pk": {"S": f"LEADERBOARD#digits-zero#{F1}"},
                            "gsi1sk": {"S": rank(0.75, "r1")},
                        },
                    }
                },
                {
                    "Delete": {
                        "TableName": TABLE,
                        "Key": {
                            "pk": {"S": "PROJECT#digits-zero"},
                            "sk": {"S": f"BOARD#r1#{ACC}"},
                        },
                    }
                },
            ]
        },
    )

    assert RunTable(client, TABLE).put_run(recorded, [definition()]) is True


def test_a_named_metrics_page_queries_its_index(stubbed: Any) -> None:
    client, stub = stubbed
    start = {
        "gsi1pk": f"LEADERBOARD#digits-zero#{F1}",
        "gsi1sk": rank(0.5, "r1"),
        "pk": "PROJECT#digits-zero",
        "sk": f"BOARD#r1#{F1}",
    }
    stub.add_response(
        "query",
        {"Items": [], "Count": 0, "ScannedCount": 0},
        {
            "TableName": TABLE,
            "IndexName": "gsi1",
            "KeyConditionExpression": "#gsi1pk = :board",
            "ExpressionAttributeNames": {"#gsi1pk": "gsi1pk"},
            "ExpressionAttributeValues": {":board": {"S": f"LEADERBOARD#digits-zero#{F1}"}},
            "ScanIndexForward": False,
            "Limit": 10,
            "ExclusiveStartKey": {name: {"S": value} for name, value in start.items()},
        },
    )
    stub.add_response(
        "query",
        {"Items": [], "Count": 0, "ScannedCount": 0},
        {
            "TableName": TABLE,
            "KeyConditionExpression": "#pk = :pk AND begins_with(#sk, :prefix)",
            "ExpressionAttributeNames": {"#pk": "pk", "#sk": "sk"},
            "ExpressionAttributeValues": {
                ":pk": {"S": "PROJECT#digits-zero"},
                ":prefix": {"S": "RUN#"},
            },
            "Limit": 10,
        },
    )
    table = RunTable(client, TABLE)

    assert table.leaderboard("digits-zero", "desc", 10, start, F1) == ([], None)
    assert table.unranked_runs("digits-zero", 10, None, F1) == ([], None)


@pytest.mark.parametrize(
    "key",
    [
        {
            "gsi1pk": "LEADERBOARD#digits-zero",
            "gsi1sk": "x",
            "pk": "PROJECT#digits-zero",
            "sk": "RUN#a",
        },
        {
            "gsi1pk": f"LEADERBOARD#digits-zero#{F1}",
            "gsi1sk": "x",
            "pk": "PROJECT#digits-zero",
            "sk": f"BOARD#a#{ACC}",
        },
        {
            "gsi1pk": f"LEADERBOARD#digits-zero#{F1}",
            "gsi1sk": "x",
            "pk": "PROJECT#digits-zero",
            "sk": "RUN#a",
        },
    ],
)
def test_a_key_from_another_index_is_refused(stubbed: Any, key: dict[str, str]) -> None:
    client, _ = stubbed
    with pytest.raises(InvalidParameter, match="cursor"):
        RunTable(client, TABLE).leaderboard("digits-zero", "asc", 10, key, F1)


def test_a_newer_record_moves_or_removes_its_entries(dynamodb: Any) -> None:
    table = RunTable(dynamodb, TABLE)
    project = definition()
    table.put_run(run("r1", 0, **{F1: 0.5, ACC: 0.1}), [project])
    table.put_run(run("r2", 0, **{F1: 0.7}), [project])
    table.put_run(run("r1", 1, **{F1: 0.9}), [project])

    assert board(dynamodb, F1) == [rank(0.7, "r2"), rank(0.9, "r1")]
    assert board(dynamodb, ACC) == []
    assert [r.name for r, _ in table.leaderboard("digits-zero", "desc", 5, None, F1)[0]] == [
        "r1",
        "r2",
    ]


def test_entries_beyond_a_transactions_100_actions_follow_it(dynamodb: Any) -> None:
    table = RunTable(dynamodb, TABLE)
    metrics = tuple(f"m{i}" for i in range(10))
    projects = [definition(f"p{i}", metrics) for i in range(10)]  # 1 + 10 * 11 actions
    assert table.put_run(run("r1", **dict.fromkeys(metrics, 1.0)), projects) is True

    assert all(board(dynamodb, m, f"p{i}") == [rank(1.0, "r1")] for i in range(10) for m in metrics)
    assert table.put_run(run("r1"), projects) is False  # as new as the stored one


def test_a_reindex_places_every_run_and_skips_one_recorded_again_meanwhile(dynamodb: Any) -> None:
    table = RunTable(dynamodb, TABLE)
    before = definition(metrics=())
    for index in range(5):
        table.put_run(run(f"r{index}", 0, **{LOSS: index, F1: -index, ACC: index}), [before])
    after = replace(definition(metrics=(F1,)), objective=Objective(ACC, "maximize"))
    building = frozenset({metric_board(F1), objective_board(after.objective)})
    first = table.reindex(after, building, None, 3)
    original = table._writes.guarded

    def recorded_meanwhile(groups: Any) -> None:
        # The run's completion event, after the definition's write, between the re-index's
        # read of the page and its write: the re-index must not overwrite what it wrote.
        table.put_run(run("r3", 1, **{LOSS: 3, F1: 30, ACC: -1}), [after])
        original(groups)

    table._writes.guarded = recorded_meanwhile  # type: ignore[method-assign]
    end = table.reindex(after, building, first, 3)

    assert first == {"pk": "PROJECT#digits-zero", "sk": "RUN#r2"}
    assert end is None
    assert board(dynamodb, F1) == [
        rank(-4, "r4"),
        rank(-2, "r2"),
        rank(-1, "r1"),
        rank(0, "r0"),
        rank(30, "r3"),
    ]
    by_accuracy = table.leaderboard("digits-zero", "desc", 10)[0]
    assert [r.name for r, _ in by_accuracy] == ["r4", "r2", "r1", "r0", "r3"]


def test_an_index_state_round_trips_and_a_stale_save_is_refused(dynamodb: Any) -> None:
    states = BoardTable(dynamodb, TABLE)
    assert states.get("digits-zero") is None
    started = BoardIndex(
        "digits-zero",
        frozenset({"objective:last:loss"}),
        frozenset({metric_board(F1)}),
        "job-1",
        None,
        0,
        T0,
    )
    assert states.save(started)
    moved = replace(started, cursor={"pk": "PROJECT#digits-zero", "sk": "RUN#r2"}, pages=1)
    assert states.save(moved, started)
    assert not states.save(replace(moved, pages=2), started)
    assert states.get("digits-zero") == moved
    done = replace(moved, ready=moved.ready | moved.building, building=frozenset(), job_id=None)
    assert states.save(done, moved)
    assert states.get("digits-zero") == done
    stored = dynamodb.get_item(
        TableName=TABLE, Key={"pk": {"S": "PROJECT#digits-zero"}, "sk": {"S": "BOARDS"}}
    )
    assert orjson.loads(stored["Item"]["state"]["S"])["building"] == []
