"""Project registry: validated definitions, one endpoint per project."""

from __future__ import annotations

from typing import Any

from chalicelib.definitions import parse_project
from chalicelib.errors import ProjectNotFound
from chalicelib.models import Project
from chalicelib.services.ports import ProjectStore


class ProjectService:
    def __init__(self, store: ProjectStore) -> None:
        self._store = store

    def get(self, name: str) -> Project:
        project = self._store.get(name)
        if project is None:
            raise ProjectNotFound(f"no project named {name!r}")
        return project

    def all(self) -> list[Project]:
        return sorted(self._store.all(), key=lambda project: project.name)

    def put(self, name: str, document: Any) -> tuple[Project, bool]:
        """Validates and stores a definition; the flag says whether it was created."""
        project = parse_project(document, name)
        return project, self._store.put(project)

    def delete(self, name: str) -> None:
        if not self._store.delete(name):
            raise ProjectNotFound(f"no project named {name!r}")
