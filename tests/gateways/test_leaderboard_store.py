"""RunTable's leaderboard reads against moto: gsi1 order, paging, cursor keys and items read."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from chalicelib.definitions import parse_project
from chalicelib.errors import InvalidParameter
from chalicelib.gateways.runs import RunTable
from chalicelib.models import Objective, Project
from chalicelib.records import Run
from chalicelib.services.leaderboard import LeaderboardService
from tests.factories import TRUSTED, project_document
from tests.fakes import FakeProjects, board_service
from tests.gateways.conftest import TABLE

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
LOSS = "train:objective_loss:final"


@pytest.fixture
def client(dynamodb: Any) -> Any:
    return dynamodb


@pytest.fixture
def project() -> Project:
    definition = parse_project(project_document(), "digits-zero")
    return replace(definition, objective=Objective(LOSS, "minimize"))


def run(name: str, loss: float | None) -> Run:
    metrics = {} if loss is None else {LOSS: loss}
    return Run(name, f"arn:{name}", "Completed", T0, metrics=metrics)


def names(page: list[tuple[Run, dict[str, str]]]) -> list[str]:
    return [run.name for run, _ in page]


def test_the_index_orders_by_the_objective_in_both_directions(
    client: Any, project: Project
) -> None:
    table = RunTable(client, TABLE)
    losses = {"a": 3.5, "b": -2.0, "c": 0.0, "d": -1e-300, "e": 1e300, "f": -7.25, "g": None}
    for name, loss in losses.items():
        table.put_run(run(name, loss), [project])

    ascending, end = table.leaderboard("digits-zero", "asc", 10)
    descending, _ = table.leaderboard("digits-zero", "desc", 10)

    assert names(ascending) == ["f", "b", "d", "c", "a", "e"]
    assert names(descending) == ["e", "a", "c", "d", "b", "f"]
    assert end is None
    assert names(table.unranked_runs("digits-zero", 10)[0]) == ["g"]
    assert [r.name for r in table.project_runs("digits-zero")] == list("abcdefg")


def test_pages_resume_after_any_returned_run(client: Any, project: Project) -> None:
    table = RunTable(client, TABLE)
    for index in range(7):
        table.put_run(run(f"r{index}", float(index)), [project])

    first, next_key = table.leaderboard("digits-zero", "desc", 3)
    second, _ = table.leaderboard("digits-zero", "desc", 3, next_key)
    after_first_run, _ = table.leaderboard("digits-zero", "desc", 2, first[0][1])

    assert names(first) == ["r6", "r5", "r4"]
    assert next_key == first[-1][1]
    assert names(second) == ["r3", "r2", "r1"]
    assert names(after_first_run) == ["r5", "r4"]


@pytest.mark.parametrize(
    "key",
    [
        {"pk": "PROJECT#digits-zero", "sk": "RUN#a"},
        {"gsi1pk": "LEADERBOARD#other", "gsi1sk": "x", "pk": "PROJECT#other", "sk": "RUN#a"},
        {
            "gsi1pk": "LEADERBOARD#digits-zero",
            "gsi1sk": "x",
            "pk": "PROJECT#digits-zero",
            "sk": "CHAMPION",
        },
    ],
)
def test_foreign_start_keys_are_refused(client: Any, key: dict[str, str]) -> None:
    with pytest.raises(InvalidParameter, match="cursor"):
        RunTable(client, TABLE).leaderboard("digits-zero", "asc", 10, key)


def test_a_top_ten_among_hundreds_of_runs_reads_about_ten_items(
    client: Any, project: Project
) -> None:
    table = RunTable(client, TABLE)
    # 300, not more: each transaction copies moto's whole table, so seeding is quadratic.
    for index in range(300):
        table.put_run(run(f"run-{index:04d}", (index * 7919 % 300) / 10), [project])
    table.put_run(run("no-objective", None), [project])
    read: list[int] = []
    client.meta.events.register(
        "after-call.dynamodb.Query",
        lambda parsed, **_: read.append(parsed.get("ScannedCount", parsed["Count"])),
    )
    service = LeaderboardService(FakeProjects(project), table, TRUSTED, board_service())

    first = service.page("digits-zero", limit=10)
    items_for_first = sum(read)
    second = service.page("digits-zero", limit=10, cursor=first.next_cursor)

    assert items_for_first <= 20
    assert sum(read) <= 40
    assert [e.run.metrics[LOSS] for e in first.entries] == [i / 10 for i in range(10)]
    assert [e.run.metrics[LOSS] for e in second.entries] == [i / 10 for i in range(10, 20)]


def test_unranked_runs_come_after_the_index_and_pages_may_be_short(
    client: Any, project: Project
) -> None:
    table = RunTable(client, TABLE)
    for index in range(6):
        table.put_run(run(f"r{index}", None if index % 2 else float(-index)), [project])

    page, next_key = table.unranked_runs("digits-zero", 2)
    rest, end = table.unranked_runs("digits-zero", 10, next_key)
    service = LeaderboardService(FakeProjects(project), table, TRUSTED, board_service())
    walked: list[str] = []
    cursor = None
    while True:
        result = service.page("digits-zero", limit=2, cursor=cursor)
        walked += [e.run.name for e in result.entries]
        if (cursor := result.next_cursor) is None:
            break

    assert names(page) == ["r1"]
    assert next_key == {"pk": "PROJECT#digits-zero", "sk": "RUN#r1"}
    assert (names(rest), end) == (["r3", "r5"], None)
    assert walked == ["r4", "r2", "r0", "r1", "r3", "r5"]
