"""LeaderboardService over the fake run store: walking every page equals filtering and sorting."""

from __future__ import annotations

import operator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.definitions import parse_project
from chalicelib.errors import InvalidParameter, ProjectNotFound
from chalicelib.gateways.board_writes import sortable_number
from chalicelib.models import Objective, Project
from chalicelib.processing.leaderboard_query import STATUSES
from chalicelib.records import Run
from chalicelib.services.leaderboard import LeaderboardService
from tests.factories import TRUSTED, project_document
from tests.fakes import FakeProjects, FakeRuns, board_service

T0 = datetime(2026, 11, 23, tzinfo=UTC)
LOSS = "train:objective_loss:final"
METRICS = (LOSS, "validation:f1")
COMPARE = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}

values = st.sampled_from([-2.5, -1.0, -0.0, 0.0, 0.25, 1.0, 3.0, float("nan"), float("inf")])
runs = st.lists(
    st.builds(
        lambda name, status, metrics, hps, tags: Run(
            name=f"run-{name:03d}",
            arn=f"arn:run-{name:03d}",
            status=status,
            last_modified_at=T0,
            metrics=metrics,
            hyperparameters=hps,
            tags=tags,
        ),
        st.integers(0, 999),
        st.sampled_from(STATUSES),
        st.dictionaries(st.sampled_from(METRICS), values),
        st.dictionaries(
            st.sampled_from(["mini_batch_size", "optimizer"]),
            st.sampled_from(["100", "200", "2e2", "adam"]),
        ),
        st.dictionaries(st.just("Team"), st.sampled_from(["vision", "nlp"])),
    ),
    max_size=30,
    unique_by=lambda run: run.name,
)
# (subject, op, value): the reference reads these, the service their text.
FilterSpec = tuple[str, str, str]
filter_specs = st.one_of(
    st.tuples(
        st.sampled_from([f"Metrics.{m}" for m in METRICS]),
        st.sampled_from(list(COMPARE)),
        st.sampled_from(["0", "-1", "0.25"]),
    ),
    st.tuples(
        st.just("HyperParameters.mini_batch_size"),
        st.sampled_from(list(COMPARE)),
        st.sampled_from(["150", "200"]),
    ),
    st.tuples(
        st.just("HyperParameters.optimizer"),
        st.sampled_from(["=", "!="]),
        st.sampled_from(["adam", "200"]),
    ),
    st.tuples(
        st.just("Tags.Team"), st.sampled_from(["=", "!="]), st.sampled_from(["vision", "nlp"])
    ),
    st.tuples(st.just("Status"), st.sampled_from(["=", "!="]), st.sampled_from(STATUSES)),
)


def project(goal: str = "minimize") -> Project:
    definition = parse_project(project_document(), "digits-zero")
    return replace(definition, objective=Objective(LOSS, goal))  # type: ignore[arg-type]


def reference_match(run: Run, spec: FilterSpec) -> bool:
    """The documented semantics, spelled out independently of the service's code."""
    subject, op, value = spec
    compare = COMPARE[op]
    if subject == "Status":
        return bool(compare(run.status, value))
    field, _, name = subject.partition(".")
    if field == "Metrics":
        return name in run.metrics and bool(compare(run.metrics[name], float(value)))
    if field == "Tags":
        return name in run.tags and bool(compare(run.tags[name], value))
    if name not in run.hyperparameters:
        return False
    actual = run.hyperparameters[name]
    try:
        return bool(compare(float(actual), float(value)))
    except ValueError:
        return op in ("=", "!=") and bool(compare(actual, value))


def reference(all_runs: list[Run], filters: list[FilterSpec], metric: str, order: str) -> list[str]:
    kept = [run for run in all_runs if all(reference_match(run, f) for f in filters)]
    ranked = [r for r in kept if metric in r.metrics and abs(r.metrics[metric]) != float("inf")]
    ranked = [r for r in ranked if r.metrics[metric] == r.metrics[metric]]
    ranked.sort(
        key=lambda r: f"{sortable_number(r.metrics[metric])}#{r.name}", reverse=order == "desc"
    )
    rest = sorted((r for r in kept if r not in ranked), key=lambda r: r.name)
    return [run.name for run in ranked + rest]


def walk(service: LeaderboardService, limit: int, **query: Any) -> list[str]:
    names: list[str] = []
    cursor = None
    for _ in range(1000):
        page = service.page("digits-zero", limit=limit, cursor=cursor, **query)
        assert len(page.entries) <= limit
        names += [entry.run.name for entry in page.entries]
        cursor = page.next_cursor
        if cursor is None:
            return names
    raise AssertionError("pagination does not end")


@settings(max_examples=300, deadline=None)
@given(
    runs,
    st.lists(filter_specs, max_size=3),
    st.sampled_from([None, *(f"Metrics.{m}" for m in METRICS)]),
    st.sampled_from([None, "asc", "desc"]),
    st.integers(1, 7),
    st.sampled_from(["minimize", "maximize"]),
)
def test_walking_every_page_gives_the_reference_ranking(
    recorded: list[Run],
    filters: list[FilterSpec],
    sort: str | None,
    order: str | None,
    limit: int,
    goal: str,
) -> None:
    definition = project(goal)
    store = FakeRuns()
    for run in recorded:
        store.put_run(run, [definition])
    service = LeaderboardService(FakeProjects(definition), store, TRUSTED, board_service())

    texts = ["".join(spec) for spec in filters]
    names = walk(service, limit, filters=texts, sort=sort, order=order)

    metric = LOSS if sort is None else sort.removeprefix("Metrics.")
    default = "desc" if metric == LOSS and goal == "maximize" else "asc"
    assert names == reference(recorded, filters, metric, order or default)
    assert len(set(names)) == len(names)


def test_top_ten_by_objective_reads_ten_index_items_and_pages_on() -> None:
    definition = project()
    store = FakeRuns()
    for index in range(50):
        run = Run(f"run-{index:02d}", "arn", "Completed", T0, metrics={LOSS: 1.0 / (1 + index)})
        store.put_run(run, [definition])
    service = LeaderboardService(FakeProjects(definition), store, TRUSTED, board_service())

    first = service.page("digits-zero")
    second = service.page("digits-zero", cursor=first.next_cursor)

    assert (first.sort, first.order) == (f"Metrics.{LOSS}", "asc")
    assert [e.run.name for e in first.entries] == [f"run-{i:02d}" for i in range(49, 39, -1)]
    assert [e.run.name for e in second.entries] == [f"run-{i:02d}" for i in range(39, 29, -1)]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"filters": ["Metrics.x<y"]}, "filter 'Metrics.x<y'"),
        ({"sort": "loss"}, "sort"),
        ({"order": "up"}, "order"),
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"cursor": "garbage!"}, "cursor"),
    ],
)
def test_bad_queries_are_invalid_parameters(query: dict[str, Any], message: str) -> None:
    service = LeaderboardService(FakeProjects(project()), FakeRuns(), TRUSTED, board_service())
    with pytest.raises(InvalidParameter, match=message):
        service.page("digits-zero", **query)


def test_a_cursor_serves_only_its_own_query() -> None:
    definition = project()
    store = FakeRuns()
    for index in range(3):
        store.put_run(
            Run(f"run-{index}", "arn", "Completed", T0, metrics={LOSS: 0.1}), [definition]
        )
    service = LeaderboardService(FakeProjects(definition), store, TRUSTED, board_service())
    ranked = service.page("digits-zero", limit=1).next_cursor
    by_f1 = service.page("digits-zero", limit=1, sort="Metrics.validation:f1").next_cursor

    with pytest.raises(InvalidParameter, match="another query"):
        service.page("digits-zero", limit=1, cursor=ranked, filters=["Status=Completed"])
    with pytest.raises(InvalidParameter, match="another query"):
        service.page("digits-zero", limit=1, cursor=by_f1)
    with pytest.raises(InvalidParameter, match="another query"):
        service.page("digits-zero", limit=1, cursor=ranked, order="desc")


def test_unknown_project() -> None:
    with pytest.raises(ProjectNotFound):
        LeaderboardService(FakeProjects(), FakeRuns(), TRUSTED, board_service()).page("nope")


@pytest.mark.parametrize("sort", [None, "Metrics.validation:f1"])
def test_negative_zero_ranks_before_zero_as_in_the_index(sort: str | None) -> None:
    definition = project()
    store = FakeRuns()
    for name, value in (("a", 0.0), ("b", -0.0), ("c", -1.0)):
        metrics = {LOSS: value, "validation:f1": value}
        store.put_run(Run(name, "arn", "Completed", T0, metrics=metrics), [definition])
    service = LeaderboardService(FakeProjects(definition), store, TRUSTED, board_service())

    page = service.page("digits-zero", sort=sort, order="asc")

    assert [entry.run.name for entry in page.entries] == ["c", "b", "a"]


ACCURACY = "test:accuracy"


def statistic_runs() -> list[Run]:
    """Final and max accuracy rank the runs in opposite orders; "d" was not in an experiment
    (its max is its final value) and "e" logged no accuracy."""
    logged = {  # name: (final, max)
        "a": (0.90, 0.91),
        "b": (0.85, 0.97),
        "c": (0.80, 0.99),
    }
    runs = [
        Run(
            name,
            "arn",
            "Completed",
            T0,
            metrics={ACCURACY: final},
            metric_statistics={ACCURACY: {"max": best, "min": 0.1, "last": final, "count": 5}},
        )
        for name, (final, best) in logged.items()
    ]
    runs.append(Run("d", "arn", "Completed", T0, metrics={ACCURACY: 0.95}))
    runs.append(Run("e", "arn", "Completed", T0, metrics={LOSS: 0.1}))
    return runs


@pytest.mark.parametrize("statistic", ["last", "max"])
def test_sorting_by_a_metrics_statistic(statistic: str) -> None:
    definition = project()
    store = FakeRuns()
    for run in statistic_runs():
        store.put_run(run, [definition])
    service = LeaderboardService(FakeProjects(definition), store, TRUSTED, board_service())

    by_final = service.page("digits-zero", sort=f"Metrics.{ACCURACY}", order="desc")
    by_statistic = service.page("digits-zero", sort=f"Metrics.{ACCURACY}.{statistic}", order="desc")

    assert [e.run.name for e in by_final.entries] == ["d", "a", "b", "c", "e"]
    assert by_final.sort == f"Metrics.{ACCURACY}"
    expected = ["c", "b", "d", "a", "e"] if statistic == "max" else ["d", "a", "b", "c", "e"]
    assert [e.run.name for e in by_statistic.entries] == expected
    suffix = "" if statistic == "last" else ".max"
    assert by_statistic.sort == f"Metrics.{ACCURACY}{suffix}"


def test_the_objectives_statistic_ranks_the_default_leaderboard_from_the_index() -> None:
    definition = replace(project(), objective=Objective(ACCURACY, "maximize", statistic="max"))
    store = FakeRuns()
    for run in statistic_runs():
        store.put_run(run, [definition])
    service = LeaderboardService(FakeProjects(definition), store, TRUSTED, board_service())

    first = service.page("digits-zero", limit=2)
    rest = service.page("digits-zero", limit=10, cursor=first.next_cursor)
    by_max = service.page("digits-zero", limit=2, sort=f"Metrics.{ACCURACY}.max")

    assert (first.sort, first.order) == (f"Metrics.{ACCURACY}.max", "desc")
    assert [e.run.name for e in first.entries + rest.entries] == ["c", "b", "d", "a", "e"]
    # The same query spelled out: its cursor is the index's, the final value's is not.
    assert service.page("digits-zero", cursor=by_max.next_cursor, sort=first.sort).entries
    with pytest.raises(InvalidParameter, match="another query"):
        service.page("digits-zero", cursor=first.next_cursor, sort=f"Metrics.{ACCURACY}")
