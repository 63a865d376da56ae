"""Project registry: validated definitions, one endpoint per project."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from chalicelib.definitions import parse_project
from chalicelib.errors import (
    InvalidDefinition,
    InvalidVocabulary,
    ProjectNotFound,
    ServiceUnavailable,
)
from chalicelib.models import Project
from chalicelib.services.ports import ProjectStore, VocabularySource

logger = logging.getLogger("sagewire")


def project_not_found(name: str) -> ProjectNotFound:
    """The one answer for a project that does not exist, or that the caller may not see."""
    return ProjectNotFound(f"no project named {name!r}")


class ProjectService:
    def __init__(
        self,
        store: ProjectStore,
        endpoint_prefix: str = "",
        execution_role_arn: str | None = None,
        require_network_isolation: bool = True,
        vocabularies: VocabularySource | None = None,
        vocabulary_prefixes: tuple[str, ...] = (),
        fronted_endpoints: tuple[str, ...] = (),
        start_import: Callable[[Project, str], object] | None = None,
        start_reindex: Callable[[Project, Project | None], object] | None = None,
    ) -> None:
        self._store = store
        self._start_import = start_import
        self._start_reindex = start_reindex
        # SageMaker endpoint names are case-insensitive.
        self._fronted = frozenset(name.lower() for name in fronted_endpoints)
        self._vocabularies = vocabularies
        self._vocabulary_prefixes = vocabulary_prefixes
        self._endpoint_prefix = endpoint_prefix
        self._execution_role_arn = execution_role_arn
        self._require_network_isolation = require_network_isolation

    def get(self, name: str) -> Project:
        project = self._store.get(name)
        if project is None:
            raise project_not_found(name)
        return project

    def versioned(self, name: str) -> tuple[Project, str]:
        """A definition and its revision (what `if_match` names)."""
        found = self._store.versioned(name)
        if found is None:
            raise project_not_found(name)
        return found

    def all(self) -> list[Project]:
        return sorted(self._store.all(), key=lambda project: project.name)

    def put(
        self, name: str, document: Any, if_match: frozenset[str] | None = None
    ) -> tuple[Project, bool, str]:
        """Validates and stores a definition: it, whether it was created, and its revision;
        with `if_match`, only over a revision it names. A new project, or a changed `match`,
        starts an import of the runs it names that already exist; leaderboard indexes it names
        that are not complete (a new objective or named metric) are built in the background."""
        project = self._within_stage(parse_project(document, name))
        self._check_vocabulary(project)
        previous = self._store.get(project.name)
        created, revision = self._store.put(project, if_match)
        if self._start_import is not None and (previous is None or previous.match != project.match):
            try:
                self._start_import(project, "definition")
            except ServiceUnavailable:
                # The definition is stored: an operator starts the import (POST .../imports).
                logger.warning("import not started", extra={"project": project.name})
        if self._start_reindex is not None:
            try:
                self._start_reindex(project, previous)
            except ServiceUnavailable:
                # Until a later write starts it, the leaderboard reads every run for those metrics.
                logger.warning("re-index not started", extra={"project": project.name})
        return project, created, revision

    def _within_stage(self, project: Project) -> Project:
        """The stage's IAM policy lets it manage only these endpoints, pass only this role and,
        where it requires network isolation, create only isolated models; an endpoint it does
        not manage must be one it fronts, and one it fronts is never managed."""
        endpoint = project.endpoint
        fronted = endpoint.name.lower() in self._fronted
        if not endpoint.managed and not fronted:
            raise InvalidDefinition(
                "endpoint.name",
                "must be one of the existing endpoints this stage fronts "
                "(SAGEWIRE_FRONTED_ENDPOINTS) when endpoint.managed is false",
            )
        if not endpoint.managed:
            return project
        if fronted:
            raise InvalidDefinition(
                "endpoint.managed",
                f"must be false: {endpoint.name} is an endpoint this stage fronts and never "
                "changes (SAGEWIRE_FRONTED_ENDPOINTS)",
            )
        if not endpoint.name.startswith(self._endpoint_prefix):
            raise InvalidDefinition(
                "endpoint.name",
                f"must start with {self._endpoint_prefix!r}, the endpoints this stage manages",
            )
        if self._require_network_isolation and not endpoint.network_isolation:
            raise InvalidDefinition(
                "endpoint.network_isolation",
                "must be true: this stage requires network isolation "
                "(SAGEWIRE_REQUIRE_NETWORK_ISOLATION)",
            )
        role = self._execution_role_arn
        if role is None:
            return project
        if endpoint.execution_role_arn not in (None, role):
            raise InvalidDefinition(
                "endpoint.execution_role_arn", f"must be this stage's execution role, {role}"
            )
        return replace(project, endpoint=replace(endpoint, execution_role_arn=role))

    def _check_vocabulary(self, project: Project) -> None:
        """A bag-of-words project's vocabulary is read when it is defined: it must be where the
        stage may read, be word -> index JSON, and fit the model's input."""
        spec = project.inference.input
        uri = spec.text.vocabulary if spec.text is not None else None
        if uri is None:
            return
        field = "inference.input.text.vocabulary"
        if not uri.startswith(self._vocabulary_prefixes) or self._vocabularies is None:
            raise InvalidDefinition(
                field,
                "must be under one of the stage's vocabulary prefixes "
                f"({', '.join(self._vocabulary_prefixes) or 'none'}; "
                "SAGEWIRE_VOCABULARY_PREFIXES)",
            )
        try:
            vocabulary = self._vocabularies.get(uri, fresh=True)
        except InvalidVocabulary as error:
            raise InvalidDefinition(field, error.message) from None
        if spec.shape and vocabulary.size > math.prod(spec.shape):
            raise InvalidDefinition(
                "inference.input.shape",
                f"holds {math.prod(spec.shape)} values; the vocabulary's indices go up to "
                f"{vocabulary.size - 1}",
            )

    def delete(self, name: str, if_match: frozenset[str] | None = None) -> None:
        if not self._store.delete(name, if_match):
            raise project_not_found(name)
