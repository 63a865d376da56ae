"""The scheduled lineage report: gathered a project at a time, compared with the previous day's,
written to S3 a piece at a time."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

import orjson

from chalicelib.errors import InputTooLarge, NotFound
from chalicelib.models import REPORT_CONTENT_TYPES, Project, ReportKind, document
from chalicelib.objectives import objective_metric
from chalicelib.processing.report_html import (
    HTML_END,
    ProjectGlance,
    html_head,
    project_glance,
    project_html,
)
from chalicelib.processing.report_text import (
    JsonArray,
    csv_cells,
    csv_header,
    csv_row,
    json_frame,
    openlineage_line,
    project_document,
    run_document,
)
from chalicelib.processing.report_values import (
    DriftRow,
    LeaderboardRow,
    Orphans,
    ProjectReport,
    ReportSummary,
    RunRecord,
    iso,
)
from chalicelib.records import Run
from chalicelib.services.ports import (
    ChampionStore,
    ControlPlane,
    ObjectStore,
    ObjectWriter,
    ProjectStore,
    RunStore,
)
from chalicelib.services.report_changes import (
    ChangeTracker,
    SnapshotHead,
    project_line,
    snapshot_key,
)
from chalicelib.services.report_spill import RunSpill, Section
from chalicelib.services.rollout import Drift
from chalicelib.services.selection import objective_value

LATEST_PREFIX = "reports/latest"
# What `latest` answers with its bytes; a larger report is a link: a Lambda behind API Gateway
# answers at most 6 MB, and the body travels JSON-escaped in the function's response.
MAX_INLINE_BYTES = 4 * 1024 * 1024
LINK_SECONDS = 300
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
_LATEST_SNAPSHOT = f"{LATEST_PREFIX}.snapshot.jsonl"
_SNAPSHOT_TYPE = "application/x-ndjson"


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
class LatestReport:
    """The newest report in one format: its bytes, or, when too large to answer with, a URL
    that reads it for LINK_SECONDS."""

    body: bytes = b""
    url: str | None = None


@dataclass
class _Spills:
    """What a report gathers a project at a time, in /tmp until the whole is known; about what
    the report's four bodies hold, plus the runs (docs/deploy.md, "Lineage reports")."""

    stack: ExitStack
    projects_json: Section = field(init=False)
    projects_html: Section = field(init=False)
    csv_rows: Section = field(init=False)
    snapshot: Section = field(init=False)
    runs: RunSpill = field(init=False)
    metrics: set[str] = field(default_factory=set)
    hyperparameters: set[str] = field(default_factory=set)
    glances: list[ProjectGlance] = field(default_factory=list)

    def __post_init__(self) -> None:
        for name in ("projects_json", "projects_html", "csv_rows", "snapshot"):
            section = Section()
            self.stack.callback(section.close)
            setattr(self, name, section)
        self.runs = RunSpill()
        self.stack.callback(self.runs.close)


def dated_key(day: datetime, kind: ReportKind) -> str:
    return f"reports/{day.astimezone(UTC):%Y/%m/%d}/{_DATED_NAMES[kind]}"


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
        """Writes the report under the day's keys, then copies it to the `latest` keys; a second
        run on the same day compares with the same earlier report, so it rewrites the same keys
        with the same content but for `generated_at`.

        Memory holds one project's runs, a part of each body being uploaded, a run of each
        project while the runs are merged by name, and a glance at each project (its name and
        counts, for the page's navigation); the rest waits in /tmp (_Spills)."""
        self._fresh_view()
        projects = sorted(self._projects.all(), key=lambda project: project.name)
        with ExitStack() as stack:
            tracker = self._baseline(now, stack)
            spills = _Spills(stack)
            projects_json = JsonArray(spills.projects_json.write)
            for project in projects:
                tracker.add(self._gather(project, spills, projects_json))
            projects_json.close()
            drift = tuple(
                DriftRow(d.project, d.endpoint, d.champion_config, d.serving_config)
                for d in sorted(self._drift.drift(), key=lambda d: (d.project, d.endpoint))
            )
            summary = ReportSummary(
                now.astimezone(UTC),
                self._region,
                drift,
                self._orphans(projects),
                tracker.changes(drift),
            )
            self._upload(now, summary, spills)
        dated = tuple(dated_key(now, kind) for kind in _DATED_NAMES)
        for source, destination in zip(dated, _LATEST_KEYS.values(), strict=True):
            self._objects.copy(self._bucket, source, destination)
        self._objects.copy(self._bucket, snapshot_key(dated[0]), _LATEST_SNAPSHOT)
        return ReportKeys(dated, tuple(_LATEST_KEYS.values()))

    def latest(self, kind: ReportKind) -> LatestReport:
        """The newest report in one format; NotFound before the first report."""
        key = _LATEST_KEYS[kind]
        try:
            return LatestReport(self._objects.get(self._bucket, key, MAX_INLINE_BYTES).body or b"")
        except InputTooLarge:
            return LatestReport(url=self._objects.presigned_get(self._bucket, key, LINK_SECONDS))

    def _gather(self, project: Project, spills: _Spills, projects: JsonArray) -> ProjectReport:
        """One project's report, its parts spilled; its runs are freed on return, before the
        next project's are read."""
        runs = list(self._runs.each_project_run(project.name))
        report = self._project_report(project, runs)
        self._spill(report, runs, spills, projects)
        return report

    def _spill(
        self, report: ProjectReport, runs: Sequence[Run], spills: _Spills, projects: JsonArray
    ) -> None:
        by_name = {run.name: run for run in runs}
        projects.add(project_document(report))
        spills.projects_html.write(project_html(report, by_name))
        spills.glances.append(project_glance(report, by_name))
        for row in report.leaderboard:
            run = by_name[row.run_name]
            spills.metrics.update(run.metrics)
            spills.hyperparameters.update(run.hyperparameters)
            spills.csv_rows.write(orjson.dumps(csv_cells(report, row, run)) + b"\n")
        spills.snapshot.write(project_line(report))
        spills.runs.add(runs)

    def _upload(self, now: datetime, summary: ReportSummary, spills: _Spills) -> None:
        with (
            self._writer(now, "json") as body,
            self._writer(now, "openlineage") as events,
        ):
            head, middle, tail = json_frame(summary)
            body.write(head)
            spills.projects_json.copy_to(body)
            body.write(middle)
            runs = JsonArray(body.write)
            for run in spills.runs.merged():
                record = self._record(run)
                runs.add(run_document(record))
                events.write(openlineage_line(record, self._region))
            runs.close()
            body.write(tail)
        with self._writer(now, "html") as page:
            page.write(html_head(summary, spills.glances))
            spills.projects_html.copy_to(page)
            page.write(HTML_END)
        metrics, hyperparameters = sorted(spills.metrics), sorted(spills.hyperparameters)
        with self._writer(now, "csv") as table:
            table.write(csv_header(metrics, hyperparameters))
            for line in spills.csv_rows.lines():
                table.write(csv_row(orjson.loads(line), metrics, hyperparameters))
        key = dated_key(now, "json")
        facts = SnapshotHead(
            key,
            iso(summary.generated_at),
            summary.changes.since_key,
            tuple(sorted({row.endpoint for row in summary.drift})),
        )
        with self._objects.writer(self._bucket, snapshot_key(key), _SNAPSHOT_TYPE) as snapshot:
            snapshot.write(facts.line())
            spills.snapshot.copy_to(snapshot)

    def _writer(self, now: datetime, kind: ReportKind) -> AbstractContextManager[ObjectWriter]:
        return self._objects.writer(self._bucket, dated_key(now, kind), REPORT_CONTENT_TYPES[kind])

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

    def _baseline(self, now: datetime, stack: ExitStack) -> ChangeTracker:
        """Changes against the newest report of an earlier day: `latest`, or, when `latest` is
        from today, the report that today's compared with (reports written before snapshots
        existed are no baseline: the first report after them starts its changes afresh)."""
        opened = self._snapshot(_LATEST_SNAPSHOT, stack)
        if opened is None:
            return ChangeTracker()
        head, rest = opened
        if head.generated_at[:10] != f"{now.astimezone(UTC):%Y-%m-%d}":
            return ChangeTracker(head, rest)
        since = head.since_key
        earlier = None if since is None else self._snapshot(snapshot_key(since), stack)
        return ChangeTracker() if earlier is None else ChangeTracker(*earlier)

    def _snapshot(self, key: str, stack: ExitStack) -> tuple[SnapshotHead, Iterator[bytes]] | None:
        try:
            lines = stack.enter_context(self._objects.lines(self._bucket, key))
        except NotFound:
            return None
        first = next(lines, None)
        head = None if first is None else SnapshotHead.parse(first)
        return None if head is None else (head, lines)
