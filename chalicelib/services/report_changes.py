"""A report's snapshot (the facts the next report compares with) and the changes against one.

Each dated report has a sidecar, `lineage.snapshot.jsonl`: a head line (the report's key, time,
the key it compared with, the endpoints in drift), then one line per project in name order
(champion, run names, promotion ids, sorted). The next report reads it a line at a time beside
its own projects, which it visits in the same order, so `changes` keeps the meaning it had when
it was computed from the whole previous JSON report, without holding that report."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from chalicelib.processing.report_values import (
    REPORT_SCHEMA_VERSION,
    ChampionChange,
    Changes,
    DriftRow,
    ProjectItem,
    ProjectReport,
)

SNAPSHOT_NAME = "lineage.snapshot.jsonl"


def snapshot_key(report_key: str) -> str:
    """The snapshot beside a dated JSON report (`reports/<day>/lineage.json`)."""
    return f"{report_key.rpartition('/')[0]}/{SNAPSHOT_NAME}"


@dataclass(frozen=True)
class SnapshotHead:
    """The head line of a snapshot: which report it describes and what it compared with."""

    report_key: str
    generated_at: str
    since_key: str | None
    drift: tuple[str, ...] = ()

    def line(self) -> bytes:
        return _line(
            {
                "schema_version": REPORT_SCHEMA_VERSION,
                "report": self.report_key,
                "generated_at": self.generated_at,
                "since_key": self.since_key,
                "drift": list(self.drift),
            }
        )

    @staticmethod
    def parse(line: bytes) -> SnapshotHead | None:
        """None for a snapshot of another schema version: its changes start afresh."""
        value = orjson.loads(line)
        if not isinstance(value, dict) or value.get("schema_version") != REPORT_SCHEMA_VERSION:
            return None
        return SnapshotHead(
            str(value["report"]),
            str(value["generated_at"]),
            value.get("since_key"),
            tuple(value.get("drift", ())),
        )


def project_line(project: ProjectReport) -> bytes:
    return _line(
        {
            "project": project.name,
            "champion": project.champion.run_name if project.champion else None,
            "runs": sorted(row.run_name for row in project.leaderboard),
            "promotions": sorted(entry.promotion_id for entry in project.promotions),
        }
    )


def _line(value: dict[str, Any]) -> bytes:
    return orjson.dumps(value) + b"\n"


@dataclass
class ChangeTracker:
    """Changes against a snapshot (head and the lines after it), a project at a time in name
    order; without a snapshot, no changes."""

    head: SnapshotHead | None = None
    before: Iterator[bytes] = field(default_factory=lambda: iter(()))
    _pending: dict[str, Any] | None = None
    _champions: list[ChampionChange] = field(default_factory=list)
    _runs: list[ProjectItem] = field(default_factory=list)
    _promotions: list[ProjectItem] = field(default_factory=list)

    def add(self, project: ProjectReport) -> None:
        if self.head is None:
            return
        earlier = self._earlier(project.name)
        champion = project.champion.run_name if project.champion else None
        if earlier.get("champion") != champion:
            self._champions.append(ChampionChange(project.name, earlier.get("champion"), champion))
        runs = set(earlier.get("runs", ()))
        self._runs += (
            ProjectItem(project.name, name)
            for name in sorted(row.run_name for row in project.leaderboard)
            if name not in runs
        )
        promotions = set(earlier.get("promotions", ()))
        self._promotions += (
            ProjectItem(project.name, promotion_id)
            for promotion_id in sorted(entry.promotion_id for entry in project.promotions)
            if promotion_id not in promotions
        )

    def changes(self, drift: Sequence[DriftRow]) -> Changes:
        if self.head is None:
            return Changes()
        now = {row.endpoint for row in drift}
        before = set(self.head.drift)
        return Changes(
            since_key=self.head.report_key,
            since=self.head.generated_at,
            champions_changed=tuple(self._champions),
            new_runs=tuple(self._runs),
            new_promotions=tuple(self._promotions),
            drift_appeared=tuple(sorted(now - before)),
            drift_resolved=tuple(sorted(before - now)),
        )

    def _earlier(self, name: str) -> dict[str, Any]:
        """The snapshot's line of a project ({} when the earlier report did not have it)."""
        while self._pending is None or self._pending["project"] < name:
            line = next(self.before, None)
            if line is None:
                return {}
            self._pending = orjson.loads(line)
        return self._pending if self._pending["project"] == name else {}
