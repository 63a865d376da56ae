"""A leaderboard sorted by a named metric, through the Chalice app over moto's DynamoDB: the full
read until the re-index that the definition's write started has run, then the metric's index."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from chalice.test import Client

from chalicelib import wiring
from chalicelib.boards import metric_board
from chalicelib.event_types import IMPORT_SOURCE, REINDEX_REQUESTED
from chalicelib.gateways.boards import BoardTable
from chalicelib.records import Run
from tests.factories import project_document, register_project

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
LOSS = "train:objective_loss:final"
F1 = "validation:f1"
BOARD = "/v1/projects/digits-zero/leaderboard"
RUNS = 60


def reindex_request(project: str, job_id: str) -> dict[str, Any]:
    """The event `BoardService` puts on the bus, as EventBridge delivers it."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": REINDEX_REQUESTED,
        "source": IMPORT_SOURCE,
        "account": "123456789012",
        "time": "2026-12-04T10:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": {"project": project, "job_id": job_id},
    }


def items_read(client: Client, path: str) -> tuple[list[str], int]:
    """The runs a GET returns and the DynamoDB items it read (Query's ScannedCount, GetItem)."""
    read: list[int] = []
    dynamodb = wiring.container().dynamodb_client
    count = lambda parsed, **_: read.append(parsed.get("ScannedCount", parsed.get("Count", 0)))  # noqa: E731
    got = lambda parsed, **_: read.append(1 if "Item" in parsed else 0)  # noqa: E731
    dynamodb.meta.events.register("after-call.dynamodb.Query", count)
    dynamodb.meta.events.register("after-call.dynamodb.GetItem", got)
    try:
        response = client.http.get(path)
    finally:
        dynamodb.meta.events.unregister("after-call.dynamodb.Query", count)
        dynamodb.meta.events.unregister("after-call.dynamodb.GetItem", got)
    assert response.status_code == 200, response.body
    return [run["name"] for run in orjson.loads(response.body)["runs"]], sum(read)


def test_a_named_metric_is_read_from_its_index_once_the_reindex_has_run(client: Client) -> None:
    document = project_document() | {"leaderboard": {"metrics": [F1]}}
    register_project(client, document)
    project = wiring.container().project_store.get("digits-zero")
    assert project is not None
    assert project.leaderboard_metrics == (F1,)
    runs = wiring.container().run_store
    for index in range(RUNS):
        metrics = {LOSS: index / RUNS} | (
            {} if index % 10 == 9 else {F1: (index * 37 % RUNS) / RUNS}
        )
        runs.put_run(
            Run(
                f"r{index:03d}",
                f"arn:r{index}",
                "Completed",
                T0 + timedelta(seconds=index),
                metrics=metrics,
            ),
            [project],
        )
    top = f"{BOARD}?sort=Metrics.{F1}&order=desc&limit=10"

    before, read_before = items_read(client, top)
    container = wiring.container()
    state = BoardTable(container.dynamodb_client, container.settings.table_name).get("digits-zero")
    assert state is not None
    assert state.job_id is not None
    assert state.building == {metric_board(F1)}
    client.lambda_.invoke("on_run_import", reindex_request("digits-zero", state.job_id))
    after, read_after = items_read(client, top)
    print(f"items read: {read_before} before the re-index, {read_after} after")

    assert before == after
    assert read_before >= RUNS
    assert read_after <= 12  # the definition, the index state, ten entries
    everything = []
    cursor = ""
    while True:
        response = client.http.get(f"{BOARD}?sort=Metrics.{F1}&order=desc&limit=7{cursor}")
        body = orjson.loads(response.body)
        everything += [run["name"] for run in body["runs"]]
        if body["next_cursor"] is None:
            break
        cursor = f"&cursor={body['next_cursor']}"
    assert len(everything) == RUNS == len(set(everything))
    assert everything[-6:] == [f"r{i:03d}" for i in range(9, RUNS, 10)]
