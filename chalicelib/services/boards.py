"""Leaderboard re-indexes: a project's recorded runs placed in the indexes its definition names."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime

from chalicelib.boards import BoardIndex, boards, legacy_ready
from chalicelib.errors import ServiceUnavailable
from chalicelib.event_types import REINDEX_REQUESTED
from chalicelib.models import Project
from chalicelib.services.imports import RESERVE_MILLISECONDS, STALLED_AFTER
from chalicelib.services.ports import BoardStore, EventPublisher, ProjectStore, RunStore

logger = logging.getLogger("sagewire")


class BoardService:
    """Which of a project's indexes may answer, and the re-index that completes the others:
    page by page through the runs its leaderboard holds, across invocations like an import."""

    def __init__(
        self,
        projects: ProjectStore,
        runs: RunStore,
        states: BoardStore,
        bus: EventPublisher,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        page_size: int = 100,
    ) -> None:
        self._projects = projects
        self._runs = runs
        self._states = states
        self._bus = bus
        self._clock = clock
        self._page_size = page_size

    def ready(self, project: Project) -> frozenset[str]:
        """The project's indexes that hold every run of its leaderboard."""
        state = self._states.get(project.name)
        ready = legacy_ready(project) if state is None else state.ready
        return ready & boards(project)

    def start(self, project: Project, previous: Project | None = None) -> BoardIndex:
        """After a definition's write (over `previous`): the indexes it names that are not
        complete are built by a new re-index (replacing any running one); those it no longer
        names are not used."""
        wanted = boards(project)
        state = self._states.get(project.name)
        before = legacy_ready(previous or project) if state is None else state.ready
        ready = before & wanted
        if state is not None and state.ready == ready and state.building == wanted - ready:
            return state  # nothing changed, or the running re-index builds what is asked
        index = BoardIndex(project.name, ready, updated_at=self._clock())
        if ready != wanted:
            job = f"{self._clock():%Y%m%dT%H%M%S%f}Z-{secrets.token_hex(4)}"
            index = replace(index, building=wanted - ready, job_id=job)
        self._states.save(index)
        if index.job_id is not None:
            self._request(index)
        return index

    def advance(
        self, project_name: str, job_id: str, remaining_ms: Callable[[], int]
    ) -> BoardIndex | None:
        """Takes pages until the re-index ends or the invocation's time runs short (one page at
        least), saving each; then asks for a fresh invocation. A duplicate request finds the
        re-index ended, or loses the save of its page to the worker on it (the entries both
        wrote are the same)."""
        state = self._states.get(project_name)
        if state is None or state.job_id != job_id:
            return state
        project = self._projects.get(project_name)
        if project is None:
            self._states.save(replace(state, building=frozenset(), job_id=None), state)
            return None
        while True:
            cursor = self._runs.reindex(project, state.building, state.cursor, self._page_size)
            following = replace(
                state, cursor=cursor, pages=state.pages + 1, updated_at=self._clock()
            )
            if cursor is None:
                following = replace(
                    following,
                    ready=state.ready | state.building,
                    building=frozenset(),
                    job_id=None,
                )
            if not self._states.save(following, state):
                logger.info("re-index advanced by another worker", extra={"project": project_name})
                return self._states.get(project_name)
            state = following
            if state.job_id is None:
                return state
            if remaining_ms() <= RESERVE_MILLISECONDS:
                self._request(state)
                return state

    def resume_stalled(self) -> list[str]:
        """The schedule's sweep: requests again every re-index that stopped saving pages."""
        resumed = []
        for project in self._projects.all():
            state = self._states.get(project.name)
            if state is None or state.job_id is None or state.updated_at is None:
                continue
            if self._clock() - state.updated_at > STALLED_AFTER:
                self._request(state)
                resumed.append(state.job_id)
        return resumed

    def _request(self, state: BoardIndex) -> None:
        try:
            self._bus.publish(REINDEX_REQUESTED, {"project": state.project, "job_id": state.job_id})
        except ServiceUnavailable:
            logger.warning(
                "re-index request not published; the resume_imports schedule will send it",
                extra={"project": state.project},
            )
