"""GET /v1/projects/{project}/leaderboard through the Chalice app over moto's DynamoDB."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import orjson
import pytest
from chalice.test import Client

from chalicelib import wiring
from chalicelib.definitions import parse_project
from chalicelib.processing.leaderboard_query import decode_cursor, encode_cursor
from chalicelib.records import Run
from tests.factories import project_document

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
LOSS = "train:objective_loss:final"
BOARD = "/v1/projects/digits-zero/leaderboard"


@pytest.fixture
def board(client: Client) -> Client:
    assert client.http.put(
        "/v1/projects/digits-zero",
        body=orjson.dumps(project_document()),
        headers={"Content-Type": "application/json"},
    ).status_code in (200, 201)
    project = parse_project(project_document(), "digits-zero")
    runs = wiring.container().run_store
    for batch, loss, team, status in [
        (100, 0.30, "vision", "Completed"),
        (200, 0.10, "vision", "Completed"),
        (300, 0.20, "nlp", "Completed"),
        (400, None, "vision", "Failed"),
    ]:
        metrics = {"validation:f1": batch / 1000} | ({} if loss is None else {LOSS: loss})
        run = Run(
            f"ll-batch-{batch}",
            f"arn:ll-batch-{batch}",
            status,  # type: ignore[arg-type]
            T0,
            metrics=metrics,
            hyperparameters={"mini_batch_size": str(batch)},
            tags={"Team": team},
            created_at=T0,
        )
        runs.put_run(run, [project])
    return client


def get(client: Client, path: str, **query: Any) -> tuple[int, Any]:
    response = client.http.get(f"{path}?{urlencode(query, doseq=True)}" if query else path)
    return response.status_code, orjson.loads(response.body)


def names(body: Any) -> list[str]:
    return [run["name"] for run in body["runs"]]


def test_ranked_by_the_objective_by_default(board: Client) -> None:
    status, body = get(board, BOARD)

    assert status == 200
    assert (body["project"], body["sort"], body["order"]) == (
        "digits-zero",
        f"Metrics.{LOSS}",
        "asc",
    )
    assert names(body) == ["ll-batch-200", "ll-batch-300", "ll-batch-100", "ll-batch-400"]
    assert body["next_cursor"] is None
    first = body["runs"][0]
    assert first["hyperparameters"] == {"mini_batch_size": "200"}
    assert first["tags"] == {"Team": "vision"}
    assert (first["status"], first["created_at"]) == ("Completed", T0.isoformat())
    assert first["metrics"][LOSS] == 0.10


def test_filters_combine(board: Client) -> None:
    status, body = get(
        board, BOARD, filter=["HyperParameters.mini_batch_size>=200", "Tags.Team=vision"]
    )

    assert status == 200
    assert names(body) == ["ll-batch-200", "ll-batch-400"]
    assert names(get(board, BOARD, filter="Status!=Completed")[1]) == ["ll-batch-400"]
    assert names(get(board, BOARD, filter=f"Metrics.{LOSS}>0.15")[1]) == [
        "ll-batch-300",
        "ll-batch-100",
    ]


def test_any_metric_either_order(board: Client) -> None:
    _, body = get(board, BOARD, sort="Metrics.validation:f1", order="desc")

    assert (body["sort"], body["order"]) == ("Metrics.validation:f1", "desc")
    assert names(body) == ["ll-batch-400", "ll-batch-300", "ll-batch-200", "ll-batch-100"]


@pytest.mark.parametrize("sort", [None, "Metrics.validation:f1"])
def test_pages_follow_the_cursor(board: Client, sort: str | None) -> None:
    query = {} if sort is None else {"sort": sort}
    walked: list[str] = []
    cursor: str | None = None
    while True:
        status, body = get(
            board, BOARD, limit="1", **query, **({"cursor": cursor} if cursor else {})
        )
        assert status == 200
        walked += names(body)
        if (cursor := body["next_cursor"]) is None:
            break

    assert walked == names(get(board, BOARD, **query)[1])
    assert len(walked) == 4


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (
            {"filter": "HyperParameters.mini_batch_size>lots"},
            "HyperParameters.mini_batch_size>lots",
        ),
        ({"filter": "Colour=blue"}, "the field must be"),
        ({"sort": "validation:f1"}, "sort"),
        ({"order": "sideways"}, "order"),
        ({"limit": "0"}, "limit"),
        ({"limit": "101"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"limit": "١٠"}, "limit"),
        ({"cursor": "not a cursor"}, "cursor"),
        ({"cursor": "eyJxIjoiYSIsInAiOiJzb3J0ZWQiLCJzIjowLCJrIjpudWxsfQ"}, "another query"),
    ],
)
def test_bad_queries_are_400(board: Client, query: dict[str, str], message: str) -> None:
    status, body = get(board, BOARD, **query)

    assert status == 400
    assert body["error"]["code"] == "InvalidParameter"
    assert message in body["error"]["message"]


def test_a_forged_cursor_key_is_400_not_500(board: Client) -> None:
    _, body = get(board, BOARD, limit="1")
    cursor = decode_cursor(body["next_cursor"])
    assert cursor.key is not None
    forged = replace(cursor, key={**cursor.key, "pk": "PROJECT#elsewhere"})

    status, error = get(board, BOARD, limit="1", cursor=encode_cursor(forged))

    assert status == 400
    assert "cursor" in error["error"]["message"]


def test_unknown_project_is_404(client: Client) -> None:
    status, body = get(client, "/v1/projects/nope/leaderboard")

    assert status == 404
    assert body["error"]["code"] == "ProjectNotFound"
