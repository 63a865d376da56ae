"""The scheduled lineage report: gather, compare with the previous day's, render, write to S3."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Protocol

import orjson

from chalicelib.errors import NotFound
from chalicelib.models import REPORT_CONTENT_TYPES, Project, ReportKind, document
from chalicelib.objectives import objective_metric
from chalicelib.processing.report_html import render_html
from chalicelib.processing.report_text import render_csv, render_json, render_openlineage
from chalicelib.processing.report_values import (
    REPORT_SCHEMA_VERSION,
    ChampionChange,
    Changes,
    DriftRow,
    LeaderboardRow,
    Orphans,
    ProjectItem,
    ProjectReport,
    Report,
    RunRecord,
)
from chalicelib.records import Run
from chalicelib.services.ports import (
    ChampionStore,
    ControlPlane,
    ObjectStore,
    ProjectStore,
    RunStore,
)
from chalicelib.services.rollout import Drift
from chalicelib.services.selection import objective_value

LATEST_PREFIX = "reports/latest"
MAX_REPORT_BYTES = 64 * 1024 * 1024
# The whole ledger of a project goes into its champion history.
MAX_PROMOTIONS = 1000
_DATED_NAMES: dict[ReportKind, str] = {
    "json": "lineage.json",
    "html": "lineage.html",
    "csv": "lineage.csv",
    "openlineage": "openlineage.jsonl",
}
_LATEST_KEYS: dict[ReportKind, str] = {
    "json": f"{LATEST_PREFIX}.json",
    "html": f"{LATEST_PREFIX}.html",
    "csv": f"{LATEST_PREFIX}.csv",
    "openlineage": f"{LATEST_PREFIX}.openlineage.jsonl",
}


class DriftSource(Protocol):
    def drift(self) -> Sequence[Drift]: ...


class LineageSource(Protocol):
    """What serves behind an endpoint; NotFound when there is no such endpoint."""

    def endpoint(self, name: str) -> object: ...


@dataclass(frozen=True)
class ReportKeys:
    """The S3 keys one report was written to: the day's and the `latest` ones."""

    dated: tuple[str, ...]
    latest: tuple[str, ...]


@dataclass(frozen=True)
class _Snapshot:
    """The facts of an earlier report that changes are measured against."""

    key: str
    generated_at: str
    champions: dict[str, str | None]
    runs: frozenset[tuple[str, str]]
    promotions: frozenset[tuple[str, str]]
    drift: frozenset[str]


def dated_key(day: datetime, kind: ReportKind) -> str:
    return f"reports/{day.astimezone(UTC):%Y/%m/%d}/{_DATED_NAMES[kind]}"


def _snapshot(key: str, previous: Mapping[str, Any]) -> _Snapshot:
    projects = previous.get("projects", [])
    return _Snapshot(
        key=key,
        generated_at=str(previous.get("generated_at", "")),
        champions={p["name"]: (p.get("champion") or {}).get("run") for p in projects},
        runs=frozenset((p["name"], row["run"]) for p in projects for row in p["leaderboard"]),
        promotions=frozenset(
            (p["name"], e["promotion_id"]) for p in projects for e in p["promotions"]
        ),
        drift=frozenset(row["endpoint"] for row in previous.get("drift", [])),
    )


def _changes(report: Report, before: _Snapshot | None) -> Changes:
    if before is None:
        return Changes()
    champions = {p.name: p.champion.run_name if p.champion else None for p in report.projects}
    drift = {row.endpoint for row in report.drift}
    return Changes(
        since_key=before.key,
        since=before.generated_at,
        champions_changed=tuple(
            ChampionChange(name, before.champions.get(name), run)
            for name, run in sorted(champions.items())
            if before.champions.get(name) != run
        ),
        new_runs=tuple(
            ProjectItem(p.name, row.run_name)
            for p in report.projects
            for row in sorted(p.leaderboard, key=lambda row: row.run_name)
            if (p.name, row.run_name) not in before.runs
        ),
        new_promotions=tuple(
            ProjectItem(p.name, entry.promotion_id)
            for p in report.projects
            for entry in sorted(p.promotions, key=lambda entry: entry.promotion_id)
            if (p.name, entry.promotion_id) not in before.promotions
        ),
        drift_appeared=tuple(sorted(drift - before.drift)),
        drift_resolved=tuple(sorted(before.drift - drift)),
    )


def leaderboard(project: Project, runs: Sequence[Run]) -> tuple[LeaderboardRow, ...]:
    """Runs that may compete ranked best first (ties by name), then the others by name."""
    scored = [(objective_value(project, run), run.name) for run in runs]
    sign = 1.0 if project.objective.goal == "minimize" else -1.0
    ranked = sorted((sign * value, name) for value, name in scored if value is not None)
    rows = [
        LeaderboardRow(rank, name, sign * key) for rank, (key, name) in enumerate(ranked, start=1)
    ]
    rows += [
        LeaderboardRow(None, name, _finite(objective_metric(run, project.objective)))
        for run, (value, name) in sorted(zip(runs, scored, strict=True), key=lambda p: p[0].name)
        if value is None
    ]
    return tuple(rows)


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


class ReportService:
    def __init__(
        self,
        projects: ProjectStore,
        runs: RunStore,
        champions: ChampionStore,
        drift: DriftSource,
        sagemaker: ControlPlane,
        lineage: LineageSource,
        objects: ObjectStore,
        bucket: str,
        region: str,
        fresh_view: Callable[[], None] = lambda: None,
    ) -> None:
        """`fresh_view` is called before each build, to forget what an earlier one described."""
        self._fresh_view = fresh_view
        self._projects = projects
        self._runs = runs
        self._champions = champions
        self._drift = drift
        self._sagemaker = sagemaker
        self._lineage = lineage
        self._objects = objects
        self._bucket = bucket
        self._region = region

    def write(self, now: datetime) -> ReportKeys:
        """Builds the report and writes it under the day's keys and the `latest` keys; a second
        run on the same day compares with the same earlier report, so it rewrites the same keys
        with the same content but for `generated_at`."""
        report = self.build(now)
        bodies: dict[ReportKind, bytes] = {
            "json": render_json(report),
            "html": render_html(report),
            "csv": render_csv(report),
            "openlineage": render_openlineage(report),
        }
        dated: list[str] = []
        latest: list[str] = []
        for kind, body in bodies.items():
            for key, keys in ((dated_key(now, kind), dated), (_LATEST_KEYS[kind], latest)):
                self._objects.put(self._bucket, key, body, REPORT_CONTENT_TYPES[kind])
                keys.append(key)
        return ReportKeys(tuple(dated), tuple(latest))

    def latest(self, kind: ReportKind) -> bytes:
        """The newest report in one format; NotFound before the first report."""
        body = self._objects.get(self._bucket, _LATEST_KEYS[kind], MAX_REPORT_BYTES).body
        return body or b""

    def build(self, now: datetime) -> Report:
        self._fresh_view()
        projects = sorted(self._projects.all(), key=lambda project: project.name)
        runs: dict[str, Run] = {}
        reports = []
        for project in projects:
            project_runs = self._runs.project_runs(project.name)
            runs.update((run.name, run) for run in project_runs)
            reports.append(self._project_report(project, project_runs))
        drift = tuple(
            DriftRow(d.project, d.endpoint, d.champion_config, d.serving_config)
            for d in sorted(self._drift.drift(), key=lambda d: (d.project, d.endpoint))
        )
        report = Report(
            generated_at=now.astimezone(UTC),
            region=self._region,
            projects=tuple(reports),
            runs=tuple(self._record(runs[name]) for name in sorted(runs)),
            drift=drift,
            orphans=self._orphans(projects),
            changes=Changes(),
        )
        return replace(report, changes=_changes(report, self._baseline(now)))

    def _project_report(self, project: Project, runs: Sequence[Run]) -> ProjectReport:
        try:
            chain = document(self._lineage.endpoint(project.endpoint.name))
        except NotFound:
            chain = None
        return ProjectReport(
            name=project.name,
            objective_metric=project.objective.metric,
            goal=project.objective.goal,
            endpoint=project.endpoint.name,
            leaderboard=leaderboard(project, runs),
            champion=self._champions.get_champion(project.name),
            promotions=tuple(self._champions.promotions(project.name, MAX_PROMOTIONS)),
            lineage=chain if isinstance(chain, dict) else None,
        )

    def _record(self, run: Run) -> RunRecord:
        """The run with the parameters of the other components of its trial (preprocessing)."""
        if run.trial_name is None:
            return RunRecord(run)
        parameters: dict[str, str | float] = {}
        for component in sorted(
            self._sagemaker.trial_components(run.trial_name), key=lambda c: c.name
        ):
            if component.source_arn != run.arn:
                parameters.update(component.parameters)
        return RunRecord(run, parameters)

    def _orphans(self, projects: Sequence[Project]) -> Orphans:
        """What sagewire named for a project (`<project>-...` models, `<endpoint>-...` configs)
        and neither an endpoint (current or pending config) nor a champion uses; fronted
        endpoints' configs and models are their owners', never orphans."""
        projects = [project for project in projects if project.endpoint.managed]
        used_configs: set[str] = set()
        for project in projects:
            state = self._sagemaker.describe_endpoint(project.endpoint.name)
            champion = self._champions.get_champion(project.name)
            champion_config = None if champion is None else champion.endpoint_config_name
            used_configs.update(
                name
                for name in (state.config_name, state.pending_config_name, champion_config)
                if name
            )
        used_models: set[str] = set()
        for config in sorted(used_configs):
            try:
                used_models.update(
                    v.model_name for v in self._sagemaker.describe_endpoint_config(config)
                )
            except NotFound:
                continue
        models = {m for p in projects for m in self._sagemaker.list_models(f"{p.name}-")}
        configs = {
            c
            for p in projects
            for c in self._sagemaker.list_endpoint_configs(f"{p.endpoint.name}-")
        }
        return Orphans(
            models=tuple(sorted(models - used_models)),
            endpoint_configs=tuple(sorted(configs - used_configs)),
        )

    def _baseline(self, now: datetime) -> _Snapshot | None:
        """The newest report of an earlier day: `latest`, or, when `latest` is from today, the
        report that today's compared with."""
        latest = self._read(_LATEST_KEYS["json"])
        if latest is None:
            return None
        if str(latest.get("generated_at", ""))[:10] != f"{now.astimezone(UTC):%Y-%m-%d}":
            written = datetime.fromisoformat(str(latest["generated_at"]))
            return _snapshot(dated_key(written, "json"), latest)
        key = (latest.get("changes") or {}).get("since_key")
        earlier = None if key is None else self._read(key)
        return None if earlier is None or key is None else _snapshot(key, earlier)

    def _read(self, key: str) -> dict[str, Any] | None:
        try:
            body = self._objects.get(self._bucket, key, MAX_REPORT_BYTES).body
        except NotFound:
            return None
        value = orjson.loads(body or b"null")
        # A report of another schema version is no baseline: its changes start afresh.
        if isinstance(value, dict) and value.get("schema_version") == REPORT_SCHEMA_VERSION:
            return value
        return None
