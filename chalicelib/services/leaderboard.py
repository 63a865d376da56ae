"""Project leaderboards: runs filtered and ranked by any metric, paged with opaque cursors."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import orjson

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
    """Sorted by the objective, pages come from the objective's index (O(limit) reads without
    filters); sorted by any other metric, every run of the project is read and sorted per page."""

    def __init__(self, projects: ProjectStore, runs: RunStore, trust: TrustPolicy) -> None:
        self._projects = projects
        self._runs = runs
        self._trust = trust

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
        ranked = key == objective
        start = Cursor(fingerprint, "ranked" if ranked else "sorted")
        if cursor is not None:
            start = decode_cursor(cursor)
            if start.fingerprint != fingerprint or (start.phase == "sorted") == ranked:
                raise InvalidParameter("cursor belongs to another query: keep filters and sort")
        if ranked:
            entries, after = self._from_index(project, direction, conditions, limit, start)
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
        self,
        project: str,
        order: Order,
        conditions: tuple[Filter, ...],
        limit: int,
        start: Cursor,
    ) -> tuple[list[Run], Cursor | None]:
        """The objective's index in `order`, then the runs lacking the objective by name."""
        found: list[Run] = []
        phase, key = start.phase, start.key
        while len(found) < limit:
            size = FILTERED_PAGE if conditions else limit - len(found)
            if phase == "ranked":
                runs, next_key = self._runs.leaderboard(project, order, size, key)
            else:
                runs, next_key = self._runs.unranked_runs(project, size, key)
            for run, run_key in runs:
                if len(found) == limit:
                    return found, Cursor(start.fingerprint, phase, key=key)
                key = run_key
                if all(matches(run, condition) for condition in conditions):
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
