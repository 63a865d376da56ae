"""Project leaderboards: runs filtered and ranked by any metric, paged with opaque cursors."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import orjson

from chalicelib.boards import indexed_metrics, metric_board, objective_board
from chalicelib.errors import InvalidParameter, ProjectNotFound
from chalicelib.models import Project
from chalicelib.objectives import metric_value
from chalicelib.processing.leaderboard_query import (
    Cursor,
    Filter,
    SortKey,
    decode_cursor,
    encode_cursor,
    format_filter,
    format_sort,
    matches,
    parse_filters,
    parse_sort,
)
from chalicelib.records import Run
from chalicelib.services.boards import BoardService
from chalicelib.services.ports import ProjectStore, RunStore
from chalicelib.services.selection import Eligibility, eligibility
from chalicelib.services.trust import TrustPolicy

Order = Literal["asc", "desc"]
ORDERS: tuple[Order, ...] = ("asc", "desc")
MAX_LIMIT = 100
DEFAULT_LIMIT = 10
# Items read per index page while filters may drop some: a bounded overread per request, against
# one round trip per `limit` items when a filter is selective.
FILTERED_PAGE = 100


@dataclass(frozen=True)
class LeaderboardEntry:
    run: Run
    eligibility: Eligibility


@dataclass(frozen=True)
class LeaderboardPage:
    project: str
    sort: str
    order: Order
    entries: list[LeaderboardEntry]
    next_cursor: str | None


class LeaderboardService:
    """Sorted by the objective, or by the final value of a metric the project names sortable,
    pages come from that metric's index (O(limit) reads without filters) once the index is
    complete (`boards`); sorted by anything else, or while the index is being built, every run
    of the project is read and sorted per page."""

    def __init__(
        self, projects: ProjectStore, runs: RunStore, trust: TrustPolicy, boards: BoardService
    ) -> None:
        self._projects = projects
        self._runs = runs
        self._trust = trust
        self.boards = boards

    def page(
        self,
        project: str,
        filters: Sequence[str] = (),
        sort: str | None = None,
        order: str | None = None,
        limit: int = DEFAULT_LIMIT,
        cursor: str | None = None,
    ) -> LeaderboardPage:
        definition = self._projects.get(project)
        if definition is None:
            raise ProjectNotFound(f"no project named {project!r}")
        conditions = parse_filters(list(filters))
        objective = SortKey(definition.objective.metric, definition.objective.statistic)
        key = objective if sort is None else parse_sort(sort)
        direction = _order(definition, key.metric, order)
        if not 1 <= limit <= MAX_LIMIT:
            raise InvalidParameter(f"limit must be an integer from 1 to {MAX_LIMIT}")
        fingerprint = _fingerprint(project, key, direction, conditions)
        board = _board(definition, key)
        indexed = board is not None and board in self.boards.ready(definition)
        start = Cursor(fingerprint, "ranked" if indexed else "sorted")
        if cursor is not None:
            start = decode_cursor(cursor)
            if start.fingerprint != fingerprint:
                raise InvalidParameter("cursor belongs to another query: keep filters and sort")
            if start.phase != "sorted" and not indexed:
                raise InvalidParameter("the leaderboard's index changed: start again")
        if start.phase != "sorted":
            metric = None if key == objective else key.metric
            query = _IndexQuery(project, key, metric, direction, conditions)
            entries, after = self._from_index(query, limit, start)
        else:
            entries, after = self._sorted(project, key, direction, conditions, limit, start)
        return LeaderboardPage(
            project,
            format_sort(key),
            direction,
            [LeaderboardEntry(run, eligibility(definition, run, self._trust)) for run in entries],
            None if after is None else encode_cursor(after),
        )

    def _from_index(
        self, query: _IndexQuery, limit: int, start: Cursor
    ) -> tuple[list[Run], Cursor | None]:
        """The index in its order, then the runs lacking the metric by name."""
        found: list[Run] = []
        phase, key = start.phase, start.key
        project, metric, conditions = query.project, query.metric, query.conditions
        while len(found) < limit:
            size = FILTERED_PAGE if conditions else limit - len(found)
            if phase == "ranked":
                runs, next_key = self._runs.leaderboard(project, query.order, size, key, metric)
            else:
                runs, next_key = self._runs.unranked_runs(project, size, key, metric)
            for run, run_key in runs:
                if len(found) == limit:
                    return found, Cursor(start.fingerprint, phase, key=key)
                key = run_key
                ranked_before = phase == "unranked" and _value(run, query.key) is not None
                if not ranked_before and all(matches(run, c) for c in conditions):
                    found.append(run)
            if next_key is not None:
                key = next_key
            elif phase == "unranked":
                return found, None
            else:
                phase, key = "unranked", None
        return found, Cursor(start.fingerprint, phase, key=key)

    def _sorted(
        self,
        project: str,
        key: SortKey,
        order: Order,
        conditions: tuple[Filter, ...],
        limit: int,
        start: Cursor,
    ) -> tuple[list[Run], Cursor | None]:
        """Reads and sorts every run of the project: O(runs) reads per page."""
        runs = [
            run
            for run in self._runs.project_runs(project)
            if all(matches(run, condition) for condition in conditions)
        ]
        scored = [(value, run) for run in runs if (value := _value(run, key)) is not None]
        ranked = [
            run
            for _, run in sorted(
                scored, key=lambda pair: _rank_key(pair[0], pair[1].name), reverse=order == "desc"
            )
        ]
        unranked = sorted((run for run in runs if _value(run, key) is None), key=lambda r: r.name)
        ordered = ranked + unranked
        end = start.offset + limit
        after = Cursor(start.fingerprint, "sorted", end) if end < len(ordered) else None
        return ordered[start.offset : end], after


@dataclass(frozen=True)
class _IndexQuery:
    """A page read from an index: the objective's (`metric` None) or a named metric's."""

    project: str
    key: SortKey
    metric: str | None
    order: Order
    conditions: tuple[Filter, ...]


def _board(project: Project, key: SortKey) -> str | None:
    """The index that answers a sort key, if the project's definition has one."""
    objective = project.objective
    if key == SortKey(objective.metric, objective.statistic):
        return objective_board(objective)
    if key.statistic == "last" and key.metric in indexed_metrics(project):
        return metric_board(key.metric)
    return None


def _order(project: Project, metric: str, order: str | None) -> Order:
    """The order asked for; by default the objective's better-first, else ascending."""
    if order is None:
        better_first = metric == project.objective.metric and project.objective.goal == "maximize"
        return "desc" if better_first else "asc"
    if order not in ORDERS:
        raise InvalidParameter(f"order must be asc or desc, not {order[:20]!r}")
    return order


def _fingerprint(project: str, key: SortKey, order: Order, conditions: tuple[Filter, ...]) -> str:
    """Names a query (filters in any order) so that a cursor serves only the query it came from."""
    query: list[object] = [project, key.metric, order, sorted(format_filter(c) for c in conditions)]
    if key.statistic != "last":
        query.append(key.statistic)
    return hashlib.sha256(orjson.dumps(query)).hexdigest()[:16]


def _value(run: Run, key: SortKey) -> float | None:
    """What the run is sorted by; None (sorted last, by name) when it lacks a finite value."""
    value = metric_value(run, key.metric, key.statistic)
    return value if value is not None and math.isfinite(value) else None


def _rank_key(value: float, name: str) -> tuple[float, float, str]:
    # -0.0 before 0.0, as in the objective's index (which orders the numbers' IEEE 754 bits).
    return value, math.copysign(1.0, value), name
