"""Run imports: a project's existing training jobs recorded as their completion events would be."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from chalicelib.errors import Conflict, NotFound, ProjectNotFound, ServiceUnavailable
from chalicelib.event_types import IMPORT_REQUESTED
from chalicelib.imports import ImportStatus, RunImport
from chalicelib.models import Project
from chalicelib.records import Run
from chalicelib.services.ports import (
    ChampionStore,
    EventPublisher,
    ImportStore,
    ProjectStore,
    RunFinder,
    RunStore,
)
from chalicelib.services.selection import (
    FINISHED_RUN,
    ChampionService,
    eligibility,
    matches,
    objective_value,
)
from chalicelib.services.trust import TrustPolicy

logger = logging.getLogger("sagewire")

# What an invocation keeps in hand when it stops taking pages: one page of 100 runs (a Search
# and up to 100 writes) takes a few seconds; the rest is for the save and the next request.
RESERVE_MILLISECONDS = 20_000
# An import that has not saved a page for this long lost its invocation chain (a request that
# EventBridge never delivered, retries exhausted): the `resume_imports` schedule restarts it.
STALLED_AFTER = timedelta(minutes=15)


@dataclass(frozen=True)
class _Tally:
    seen: int = 0
    recorded: int = 0
    already_recorded: int = 0
    skipped: int = 0


class ImportRequests:
    """Starting an import and asking for its next invocation: all a definition's write needs."""

    def __init__(
        self,
        imports: ImportStore,
        bus: EventPublisher,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._imports = imports
        self.bus = bus
        self._clock = clock

    def start(self, project: Project, cause: str) -> RunImport:
        """A new import of the project's runs, requested from EventBridge; one that cannot be
        requested now is started by the `resume_imports` schedule."""
        now = self._clock()
        run_import = RunImport(
            project=project.name,
            import_id=f"{now:%Y%m%dT%H%M%S%f}Z-{secrets.token_hex(4)}",
            status="running",
            cause=cause,
            promote=project.imports.promote,
            started_at=now,
            updated_at=now,
        )
        if not self._imports.create(run_import):
            raise Conflict("an import with this id exists; try again")
        self.request(run_import)
        return run_import

    def request(self, run_import: RunImport) -> None:
        try:
            self.bus.publish(
                IMPORT_REQUESTED,
                {"project": run_import.project, "import_id": run_import.import_id},
            )
        except ServiceUnavailable:
            logger.warning(
                "import request not published; the resume_imports schedule will send it",
                extra={"project": run_import.project},
            )


class ImportService:
    """Runs imports page by page across invocations, reruns them, reports their progress."""

    def __init__(
        self,
        projects: ProjectStore,
        finder: RunFinder,
        runs: RunStore,
        imports: ImportStore,
        requests: ImportRequests,
        champions: ChampionService,
        champion_store: ChampionStore,
        trust: TrustPolicy,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        page_size: int = 100,
    ) -> None:
        self._projects = projects
        self._finder = finder
        self._runs = runs
        self._imports = imports
        self._requests = requests
        self._champions = champions
        self._champion_store = champion_store
        self._trust = trust
        self._clock = clock
        self._page_size = page_size

    def rerun(self, project_name: str, cause: str) -> RunImport:
        """`POST .../imports`: a new import, unless one is still running."""
        project = self._projects.get(project_name)
        if project is None:
            raise ProjectNotFound(f"no project named {project_name!r}")
        latest = self._imports.latest(project_name)
        if latest is not None and latest.status == "running" and not self._stalled(latest):
            raise Conflict(f"import {latest.import_id} of {project_name!r} is still running")
        return self._requests.start(project, cause)

    def latest(self, project_name: str) -> RunImport:
        if self._projects.get(project_name) is None:
            raise ProjectNotFound(f"no project named {project_name!r}")
        latest = self._imports.latest(project_name)
        if latest is None:
            raise NotFound(f"project {project_name!r} has no import")
        return latest

    def advance(
        self, project_name: str, import_id: str, remaining_ms: Callable[[], int]
    ) -> RunImport | None:
        """Takes pages until the import ends or the invocation's time runs short (one page at
        least), saving each; then asks for a fresh invocation to continue. A duplicate request
        finds the import ended, or loses the save of its first page to the worker on it."""
        run_import = self._imports.get(project_name, import_id)
        if run_import is None or run_import.status != "running":
            return run_import
        project = self._projects.get(project_name)
        latest = self._imports.latest(project_name)
        if project is None or latest is None or latest.import_id != import_id:
            why = "the project was deleted" if project is None else "a newer import replaced it"
            ended = replace(self._ended(run_import, "failed", why), pages=run_import.pages + 1)
            self._imports.save(ended, run_import.pages)
            return ended
        everyone = self._projects.all()
        while True:  # one page at least, whatever the time: every invocation makes progress
            following = self._next_page(project, everyone, run_import)
            if not self._imports.save(following, run_import.pages):
                logger.info("import advanced by another worker", extra={"project": project.name})
                return self._imports.get(project_name, import_id)
            run_import = following
            if run_import.status != "running":
                return run_import
            if remaining_ms() <= RESERVE_MILLISECONDS:
                self._requests.request(run_import)
                return run_import

    def resume_stalled(self) -> list[str]:
        """The schedule's sweep: requests again every import that stopped saving pages."""
        resumed = []
        for project in self._projects.all():
            latest = self._imports.latest(project.name)
            if latest is not None and latest.status == "running" and self._stalled(latest):
                self._requests.request(latest)
                resumed.append(latest.import_id)
        return resumed

    def _next_page(
        self, project: Project, everyone: list[Project], run_import: RunImport
    ) -> RunImport:
        page = self._finder.search_runs(project.match, run_import.cursor, self._page_size)
        tally = _Tally(
            run_import.seen, run_import.recorded, run_import.already_recorded, run_import.skipped
        )
        best = (run_import.best_run, run_import.best_value)
        for run in page.runs:
            tally, recorded = self._record(project, everyone, run, tally, run_import.started_at)
            if recorded is not None:
                best = self._better(project, recorded, best)
        following = replace(
            run_import,
            pages=run_import.pages + 1,
            cursor=page.cursor or run_import.cursor,
            seen=tally.seen,
            recorded=tally.recorded,
            already_recorded=tally.already_recorded,
            skipped=tally.skipped,
            best_run=best[0],
            best_value=best[1],
            updated_at=self._clock(),
        )
        return following if page.cursor is not None else self._finish(project, following)

    def _record(
        self, project: Project, everyone: list[Project], run: Run, tally: _Tally, since: datetime
    ) -> tuple[_Tally, Run | None]:
        """Records a finished matching run for every project it matches, as the event path does;
        one recorded before (by an event, another import) joins this project's leaderboard. A
        run that ended after the import began is its completion event's: the project existed."""
        tally = replace(tally, seen=tally.seen + 1)
        ended = run.ended_at or run.last_modified_at
        if run.status not in FINISHED_RUN or not matches(project, run) or ended > since:
            return replace(tally, skipped=tally.skipped + 1), None
        matching = [other for other in everyone if other.name != project.name]
        matching = [project] + [other for other in matching if matches(other, run)]
        if self._runs.put_run(run, matching):
            return replace(tally, recorded=tally.recorded + 1), run
        stored = self._runs.get_run(run.name) or run
        self._runs.join(stored, [project])
        return replace(tally, already_recorded=tally.already_recorded + 1), stored

    def _better(
        self, project: Project, run: Run, best: tuple[str | None, float | None]
    ) -> tuple[str | None, float | None]:
        """The import's best promotable run so far: by the objective, a tie to the smaller name."""
        value = objective_value(project, run)
        if value is None or not eligibility(project, run, self._trust).promotable:
            return best
        name, current = best
        if name is None or current is None:
            return run.name, value
        wins = value < current if project.objective.goal == "minimize" else value > current
        return (run.name, value) if wins or (value == current and run.name < name) else best

    def _finish(self, project: Project, run_import: RunImport) -> RunImport:
        """The best run found challenges the champion once, deployed only if the project says."""
        run = None if run_import.best_run is None else self._runs.get_run(run_import.best_run)
        if run is None:
            return self._ended(run_import, "completed", "no run could compete for the project")
        promotion = self._champions.challenge_imported(
            project, run, f"import:{run_import.import_id}", deploy=run_import.promote
        )
        champion = self._champion_store.get_champion(project.name)
        return replace(
            self._ended(run_import, "completed", None),
            champion=None if champion is None else champion.run_name,
            promotion_id=None if promotion is None else promotion.promotion_id,
        )

    def _ended(self, run_import: RunImport, status: ImportStatus, message: str | None) -> RunImport:
        now = self._clock()
        return replace(run_import, status=status, message=message, updated_at=now, finished_at=now)

    def _stalled(self, run_import: RunImport) -> bool:
        return self._clock() - run_import.updated_at > STALLED_AFTER
