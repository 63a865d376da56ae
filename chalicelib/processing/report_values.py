"""The lineage report as a value: its frozen records, schema constants and time format."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from chalicelib.models import Goal
from chalicelib.records import Champion, Promotion, Run

REPORT_SCHEMA_VERSION = "1"
PRODUCER = "https://github.com/sagewire/sagewire"
SCHEMA_URL = f"{PRODUCER}/blob/main/docs/report-schema.json"
RUN_EVENT_SCHEMA = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
# The standard facets' schemas, at the versions openlineage-python 1.54's models name.
ERROR_MESSAGE_SCHEMA = (
    "https://openlineage.io/spec/facets/1-0-1/ErrorMessageRunFacet.json#/$defs/ErrorMessageRunFacet"
)
JOB_TYPE_SCHEMA = (
    "https://openlineage.io/spec/facets/2-0-4/JobTypeJobFacet.json#/$defs/JobTypeJobFacet"
)
PARENT_SCHEMA = "https://openlineage.io/spec/facets/1-2-0/ParentRunFacet.json#/$defs/ParentRunFacet"


@dataclass(frozen=True)
class RunRecord:
    """One training run and the parameters of the preprocessing steps of its trial."""

    run: Run
    preprocessing: dict[str, str | float] = field(default_factory=dict)


@dataclass(frozen=True)
class LeaderboardRow:
    """A run's place in a project: ranked when it may compete, unranked (None) otherwise."""

    rank: int | None
    run_name: str
    objective: float | None


@dataclass(frozen=True)
class ProjectReport:
    name: str
    objective_metric: str
    goal: Goal
    endpoint: str
    leaderboard: tuple[LeaderboardRow, ...]
    champion: Champion | None
    promotions: tuple[Promotion, ...]
    lineage: Mapping[str, Any] | None


@dataclass(frozen=True)
class DriftRow:
    project: str
    endpoint: str
    champion_config: str
    serving_config: str | None


@dataclass(frozen=True)
class Orphans:
    """Models and endpoint configs sagewire created that no endpoint's current config uses."""

    models: tuple[str, ...] = ()
    endpoint_configs: tuple[str, ...] = ()


@dataclass(frozen=True)
class ChampionChange:
    project: str
    before: str | None
    after: str | None


@dataclass(frozen=True)
class ProjectItem:
    """A (project, name) pair: a new run or a new promotion id."""

    project: str
    name: str


@dataclass(frozen=True)
class Changes:
    """What changed since the report at `since_key` (None: no earlier report to compare with)."""

    since_key: str | None = None
    since: str | None = None
    champions_changed: tuple[ChampionChange, ...] = ()
    new_runs: tuple[ProjectItem, ...] = ()
    new_promotions: tuple[ProjectItem, ...] = ()
    drift_appeared: tuple[str, ...] = ()
    drift_resolved: tuple[str, ...] = ()


@dataclass(frozen=True)
class ReportSummary:
    """What a report says besides its projects and runs, which are written one at a time."""

    generated_at: datetime
    region: str
    drift: tuple[DriftRow, ...]
    orphans: Orphans
    changes: Changes


def iso(value: datetime) -> str:
    """UTC, microseconds, `Z`: the one time format of the report."""
    return value.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
