"""Leaderboard indexes by named metrics over fakes: defaults, readiness, re-index and fallback."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib.boards import MAX_SORTABLE, default_metrics, metric_board, objective_board
from chalicelib.definitions import parse_project, project_to_document
from chalicelib.errors import InvalidDefinition, InvalidParameter
from chalicelib.event_types import REINDEX_REQUESTED
from chalicelib.models import Objective, Project
from chalicelib.records import Run
from chalicelib.services.leaderboard import LeaderboardService
from tests.factories import TRUSTED, project_document
from tests.fakes import FakeBoards, FakeBus, FakeProjects, FakeRuns, board_service

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
LOSS = "train:objective_loss:final"
F1 = "validation:f1"
ACC = "validation:accuracy"


def definition(metrics: list[Any] | None = None, **changes: Any) -> Project:
    document = project_document()
    if metrics is not None:
        document["leaderboard"] = {"metrics": metrics}
    return replace(parse_project(document, "digits-zero"), **changes)


def run(index: int, **metrics: float) -> Run:
    return Run(
        f"r{index:03d}", f"arn:{index}", "Completed", T0 + timedelta(seconds=index), metrics=metrics
    )


def seeded(project: Project, count: int = 25) -> FakeRuns:
    runs = FakeRuns()
    for index in range(count):
        values = {LOSS: index / count, ACC: (index * 7 % count) / count}
        if index % 5:
            values[F1] = (index * 11 % count) / count
        runs.put_run(run(index, **values), [project])
    return runs


def recorded(calls: list[str], name: str, method: Any) -> Any:
    def call(*args: Any, **kwargs: Any) -> Any:
        calls.append(name)
        return method(*args, **kwargs)

    return call


def always() -> int:
    return 10**6


def test_the_default_is_the_objective_algorithms_other_metrics() -> None:
    project = definition()

    assert project.leaderboard_metrics == default_metrics(LOSS)
    assert LOSS not in project.leaderboard_metrics
    assert 0 < len(project.leaderboard_metrics) <= MAX_SORTABLE
    assert "validation:binary_f_beta" in project.leaderboard_metrics
    assert definition(objective=Objective("my:own")).leaderboard_metrics == default_metrics(LOSS)
    custom = project_document() | {"objective": {"metric": "my:own"}}
    assert parse_project(custom, "digits-zero").leaderboard_metrics == ()
    xgboost = project_document() | {"objective": {"metric": "validation:auc", "goal": "maximize"}}
    assert "validation:rmse" in parse_project(xgboost, "digits-zero").leaderboard_metrics


def test_named_metrics_round_trip_through_the_document() -> None:
    project = definition([F1, LOSS])

    assert project.leaderboard_metrics == (F1, LOSS)
    assert project_to_document(project)["leaderboard"] == {"metrics": [F1, LOSS]}
    assert parse_project(project_to_document(project), "digits-zero") == project
    assert definition([]).leaderboard_metrics == ()


@pytest.mark.parametrize(
    ("metrics", "path", "message"),
    [
        ([F1, F1], "leaderboard.metrics[1]", "twice"),
        ([""], "leaderboard.metrics[0]", "metric name"),
        (["x" * 256], "leaderboard.metrics[0]", "metric name"),
        ([7], "leaderboard.metrics[0]", "metric name"),
        ([f"m{i}" for i in range(MAX_SORTABLE + 1)], "leaderboard.metrics", "at most 10"),
        ("validation:f1", "leaderboard.metrics", "array"),
    ],
)
def test_bad_named_metrics_are_refused(metrics: Any, path: str, message: str) -> None:
    with pytest.raises(InvalidDefinition) as error:
        definition(metrics)

    assert error.value.field == path
    assert message in error.value.message


def test_an_unknown_leaderboard_field_is_refused() -> None:
    document = project_document() | {"leaderboard": {"metric": [F1]}}
    with pytest.raises(InvalidDefinition, match="unknown field"):
        parse_project(document, "digits-zero")


def test_a_named_metric_is_read_from_its_index_only_once_it_is_complete() -> None:
    project = definition([F1])
    runs, states, bus = seeded(project), FakeBoards(), FakeBus()
    boards = board_service(FakeProjects(project), runs, states, bus)
    service = LeaderboardService(FakeProjects(project), runs, TRUSTED, boards)
    calls: list[str] = []
    for name in ("leaderboard", "unranked_runs", "project_runs"):
        setattr(runs, name, recorded(calls, name, getattr(runs, name)))

    full = service.page("digits-zero", sort=f"Metrics.{F1}", order="desc", limit=25)
    full_calls, calls[:] = list(calls), []
    started = boards.start(project)
    assert started.building == {metric_board(F1)}
    assert bus.events == [(REINDEX_REQUESTED, {"project": "digits-zero", "job_id": started.job_id})]
    boards.advance("digits-zero", started.job_id or "", always)
    indexed = service.page("digits-zero", sort=f"Metrics.{F1}", order="desc", limit=25)

    assert full_calls == ["project_runs"]
    assert "project_runs" not in calls
    assert [e.run.name for e in indexed.entries] == [e.run.name for e in full.entries]
    assert boards.ready(project) == {objective_board(project.objective), metric_board(F1)}


def test_an_interrupted_reindex_resumes_where_its_last_page_was_saved() -> None:
    project = definition([F1, ACC])
    runs, states = seeded(definition([])), FakeBoards()
    boards = board_service(FakeProjects(project), runs, states, page_size=4)
    started = boards.start(project)
    original = runs.reindex
    pages = 0

    def crash_on_the_third_page(*args: Any) -> Any:
        nonlocal pages
        pages += 1
        if pages == 3:
            raise RuntimeError("the invocation died")
        return original(*args)

    runs.reindex = crash_on_the_third_page  # type: ignore[method-assign,assignment]
    with pytest.raises(RuntimeError):
        boards.advance("digits-zero", started.job_id or "", always)
    halfway = states.get("digits-zero")
    assert halfway is not None
    assert (halfway.pages, halfway.job_id) == (2, started.job_id)
    assert boards.ready(project) == {objective_board(project.objective)}
    runs.reindex = original  # type: ignore[method-assign]
    finished = boards.advance("digits-zero", started.job_id or "", always)

    assert finished is not None
    assert finished.job_id is None
    assert finished.pages == 7  # 25 runs, 4 a page: the two saved pages are not read again
    assert len(runs.boards[("digits-zero", ACC)]) == 25
    assert len(runs.boards[("digits-zero", F1)]) == 20


def test_a_duplicate_request_advances_the_reindex_once() -> None:
    project = definition([F1])
    runs, states, bus = seeded(definition([])), FakeBoards(), FakeBus()
    boards = board_service(FakeProjects(project), runs, states, bus, page_size=10)
    started = boards.start(project)
    clock = iter([10**6, 0])  # the first invocation stops after its first page

    first = boards.advance("digits-zero", started.job_id or "", lambda: next(clock))
    again = boards.advance("digits-zero", started.job_id or "", always)
    late = boards.advance("digits-zero", started.job_id or "", always)

    assert first is not None
    assert first.pages == 2
    assert again is not None
    assert (again.pages, again.job_id) == (3, None)
    assert late == again
    assert states.saves == 1 + 3
    assert [detail for kind, detail in bus.events if kind == REINDEX_REQUESTED] == [
        {"project": "digits-zero", "job_id": started.job_id}
    ] * 2


def test_a_new_definition_replaces_a_running_reindex_and_drops_unnamed_metrics() -> None:
    project = definition([F1])
    runs, states = seeded(definition([])), FakeBoards()
    projects = FakeProjects(project)
    boards = board_service(projects, runs, states, page_size=10)
    first = boards.start(project)
    boards.advance("digits-zero", first.job_id or "", lambda: 0)
    renamed = definition([ACC])
    projects.put(renamed)
    second = boards.start(renamed)

    assert boards.advance("digits-zero", first.job_id or "", always) == states.get("digits-zero")
    assert second.building == {metric_board(ACC)}
    boards.advance("digits-zero", second.job_id or "", always)
    assert boards.ready(renamed) == {objective_board(renamed.objective), metric_board(ACC)}
    assert boards.ready(project) == {objective_board(project.objective)}
    assert boards.start(renamed) == states.get("digits-zero")  # nothing left to build


def test_a_new_objective_is_read_from_every_run_until_the_reindex_has_placed_them() -> None:
    project = definition([])
    runs, states = seeded(project), FakeBoards()
    projects = FakeProjects(project)
    boards = board_service(projects, runs, states)
    boards.advance("digits-zero", boards.start(project).job_id or "", always)
    by_accuracy = replace(project, objective=Objective(ACC, "maximize"))
    projects.put(by_accuracy)
    service = LeaderboardService(projects, runs, TRUSTED, boards)

    started = boards.start(by_accuracy)
    before = service.page("digits-zero", limit=5)
    boards.advance("digits-zero", started.job_id or "", always)
    after = service.page("digits-zero", limit=5)

    assert started.building == {objective_board(by_accuracy.objective)}
    assert before.sort == f"Metrics.{ACC}"
    assert [e.run.name for e in before.entries] == [e.run.name for e in after.entries]
    assert after.entries[0].run.metrics[ACC] == max(r.metrics[ACC] for r in runs.runs.values())


def test_a_cursor_into_an_index_that_is_no_longer_complete_is_refused() -> None:
    project = definition([F1])
    runs, states = seeded(project), FakeBoards()
    boards = board_service(FakeProjects(project), runs, states)
    boards.advance("digits-zero", boards.start(project).job_id or "", always)
    service = LeaderboardService(FakeProjects(project), runs, TRUSTED, boards)
    page = service.page("digits-zero", sort=f"Metrics.{F1}", limit=3)
    stored = states.get("digits-zero")
    assert stored is not None
    states.states["digits-zero"] = replace(stored, ready=frozenset())

    with pytest.raises(InvalidParameter, match="index changed"):
        service.page("digits-zero", sort=f"Metrics.{F1}", limit=3, cursor=page.next_cursor)


def test_a_new_objective_of_a_project_never_reindexed_is_not_taken_as_complete() -> None:
    before = definition([])
    after = replace(before, objective=Objective(ACC, "maximize"))
    boards = board_service(FakeProjects(after), seeded(before))

    started = boards.start(after, before)

    assert started.ready == frozenset()
    assert started.building == {objective_board(after.objective)}


def test_the_schedule_requests_stalled_reindexes_again() -> None:
    project = definition([F1])
    states, bus = FakeBoards(), FakeBus()
    boards = board_service(FakeProjects(project), seeded(project), states, bus)
    started = boards.start(project)
    assert boards.resume_stalled() == []
    states.states["digits-zero"] = replace(started, updated_at=T0)

    assert boards.resume_stalled() == [started.job_id]
    assert len(bus.events) == 2
