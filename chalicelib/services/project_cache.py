"""Definitions for the prediction path: read once, then answered from memory for a few seconds."""

from __future__ import annotations

import time
from collections.abc import Callable

from chalicelib.models import Project
from chalicelib.services.ports import ProjectStore


class CachedProjectStore:
    """A ProjectStore whose `get` answers from memory for `max_age_seconds` after reading the
    table (an absent project too), for at most `max_entries` names. A write through it forgets
    the name, and a consistent read (`versioned`, what every write starts from) replaces the
    entry with the current revision; everything else passes through. So a warm prediction
    reads no table, and another container's change is seen within `max_age_seconds`."""

    def __init__(
        self,
        store: ProjectStore,
        max_age_seconds: float,
        clock: Callable[[], float] = time.monotonic,
        max_entries: int = 1024,
    ) -> None:
        self._store = store
        self._max_age = max_age_seconds
        self._clock = clock
        self._max_entries = max_entries
        self._entries: dict[str, tuple[Project | None, float]] = {}

    def get(self, name: str) -> Project | None:
        entry = self._entries.get(name)
        if entry is not None and self._clock() - entry[1] < self._max_age:
            return entry[0]
        project = self._store.get(name)
        self._remember(name, project)
        return project

    def versioned(self, name: str) -> tuple[Project, str] | None:
        found = self._store.versioned(name)
        self._remember(name, None if found is None else found[0])
        return found

    def all(self) -> list[Project]:
        return self._store.all()

    def put(self, project: Project, if_match: frozenset[str] | None = None) -> tuple[bool, str]:
        self._entries.pop(project.name, None)
        return self._store.put(project, if_match)

    def delete(self, name: str, if_match: frozenset[str] | None = None) -> bool:
        self._entries.pop(name, None)
        return self._store.delete(name, if_match)

    def owner_of(self, endpoint: str) -> str | None:
        return self._store.owner_of(endpoint)

    def _remember(self, name: str, project: Project | None) -> None:
        if self._max_age <= 0:
            return
        self._entries.pop(name, None)
        if len(self._entries) >= self._max_entries:
            del self._entries[next(iter(self._entries))]  # the least recently read
        self._entries[name] = (project, self._clock())
