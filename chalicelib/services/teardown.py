"""Deleting a project: its definition; with a teardown, its endpoint and what sagewire made."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from chalicelib.errors import (
    Conflict,
    EndpointBusy,
    InvalidParameter,
    NotFound,
    PreconditionFailed,
    ProjectNotFound,
)
from chalicelib.models import Project
from chalicelib.naming import model_name
from chalicelib.records import SETTLED_OUTCOMES, Champion, EndpointState, EndpointStatus, Promotion
from chalicelib.services.ports import ChampionStore, ControlPlane, ObjectStore, ResourceDeleter
from chalicelib.services.projects import ProjectService

logger = logging.getLogger("sagewire")

# SageMaker deletes no endpoint in these states; a teardown waits for it to settle.
BUSY_STATES = frozenset({"Creating", "Updating", "SystemUpdating", "RollingBack"})
# What Retry-After says then: creating or updating an endpoint takes minutes.
BUSY_RETRY_SECONDS = 60
# The ledger entries a teardown reads, newest first, down to the previous teardown.
LEDGER_LIMIT = 100_000
# Resources named in each list of a message; the answer's lists name them all.
MESSAGE_NAMES = 20


@dataclass(frozen=True)
class Deletion:
    """What DELETE /v1/projects/{project} did: the definition is gone; with `teardown`, the
    endpoint and the configs, models and repacked archives sagewire made for it went too.
    `endpoint_status` is the endpoint's status before ("Absent": there was none); `kept` says
    what was left and why; `promotion_id` is the teardown's ledger entry."""

    project: str
    endpoint: str
    endpoint_status: EndpointStatus
    teardown: bool
    message: str
    deleted: tuple[str, ...] = ()
    already_gone: tuple[str, ...] = ()
    kept: tuple[str, ...] = ()
    promotion_id: str | None = None


@dataclass(frozen=True)
class _Sweep:
    """What a teardown found, resource by resource (its lists grow as it goes)."""

    deleted: list[str] = field(default_factory=list)
    already_gone: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)

    def remove(self, label: str, delete: Callable[[], None]) -> None:
        try:
            delete()
        except NotFound:
            self.already_gone.append(label)
        else:
            self.deleted.append(label)


class TeardownService:
    def __init__(
        self,
        projects: ProjectService,
        champions: ChampionStore,
        sagemaker: ControlPlane,
        deleter: ResourceDeleter,
        objects: ObjectStore,
        packed_models: str,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._projects = projects
        self._champions = champions
        self._sagemaker = sagemaker
        self._deleter = deleter
        self._objects = objects
        self._packed_models = packed_models
        self._clock = clock

    def delete(
        self, name: str, if_match: frozenset[str] | None, teardown: str | None, cause: str
    ) -> Deletion:
        """`teardown` as the query gives it ("true", "false" or None). The definition goes
        last, so that a teardown that failed midway can be retried: every step finds what is
        already gone and goes on."""
        if teardown not in (None, "true", "false"):
            raise InvalidParameter("teardown must be true or false")
        try:
            project, revision = self._projects.versioned(name)
        except ProjectNotFound:
            self._projects.delete(name, if_match)  # the store's answer: 412 with an If-Match
            raise
        if if_match is not None and not if_match & {revision, "*"}:
            raise PreconditionFailed(f"project {name!r} is not at the revision given")
        endpoint = project.endpoint
        state = self._sagemaker.describe_endpoint(endpoint.name)
        torn = teardown == "true"
        champion = self._champions.get_champion(project.name) if torn else None
        if champion is None:
            self._projects.delete(name, if_match)
            message = _left_as_is(project, state, torn)
            return Deletion(name, endpoint.name, state.status, torn, message)
        entries = self._incarnation(project.name)
        deployed = {entry.endpoint_config_name for entry in entries}
        serves = {state.config_name, state.pending_config_name}
        ours = endpoint.managed and not serves.isdisjoint(deployed)
        if ours and state.status in BUSY_STATES:
            raise EndpointBusy(
                f"endpoint {endpoint.name} is {state.status}: SageMaker deletes it once it "
                "settles; nothing was deleted, try again then",
                BUSY_RETRY_SECONDS,
            )
        sweep = self._sweep(project, champion, state, entries, ours)
        entry = self._record(project, champion, state, sweep, cause)
        self._projects.delete(name, if_match)
        logger.info("project torn down", extra={"project": name, "promotion_id": entry})
        return Deletion(
            name,
            endpoint.name,
            state.status,
            True,
            f"project {name!r} torn down; {_summary(sweep, MESSAGE_NAMES)}",
            tuple(sweep.deleted),
            tuple(sweep.already_gone),
            tuple(sweep.kept),
            entry,
        )

    def _sweep(
        self,
        project: Project,
        champion: Champion,
        state: EndpointState,
        entries: list[Promotion],
        ours: bool,
    ) -> _Sweep:
        """Deletes the endpoint when it serves a config sagewire deployed (`ours`), then the
        configs and models of `entries`, each only if sagewire's tag says it made it for this
        endpoint."""
        sweep = _Sweep()
        promotion = self._champions.get_promotion(project.name, champion.promotion_id)
        if promotion is not None and promotion.outcome not in SETTLED_OUTCOMES:
            # Nothing resumes it now (reconcile, the endpoint's events) to write the endpoint.
            self._champions.set_outcome(
                project.name, promotion.promotion_id, "superseded", "the project was torn down"
            )
        endpoint = project.endpoint.name
        if not project.endpoint.managed:
            sweep.kept.append(f"endpoint/{endpoint}: its owner's (endpoint.managed is false)")
        elif state.status in ("Absent", "Deleting"):
            sweep.already_gone.append(f"endpoint/{endpoint}")
        elif not ours:
            sweep.kept.append(
                f"endpoint/{endpoint}: serves {state.config_name}, which sagewire did not deploy"
            )
        else:
            sweep.remove(f"endpoint/{endpoint}", lambda: self._deleter.delete_endpoint(endpoint))
        for config in dict.fromkeys(entry.endpoint_config_name for entry in entries):
            self._remove_config(endpoint, config, sweep)
        runs = {entry.model_name: entry.run_name for entry in entries}
        # An operator's split (PUT .../variants) names a model per variant.
        runs.update({v.model_name: v.run_name for entry in entries for v in entry.variants})
        for model, run in runs.items():
            self._remove_model(endpoint, model, run, sweep)
        return sweep

    def _incarnation(self, project: str) -> list[Promotion]:
        """The ledger entries since the project's previous teardown, newest first."""
        entries = []
        for entry in self._champions.promotions(project, LEDGER_LIMIT):
            if entry.outcome == "torn_down":
                break
            entries.append(entry)
        return entries

    def _remove_config(self, endpoint: str, name: str, sweep: _Sweep) -> None:
        label = f"endpoint-config/{name}"
        try:
            made_for = self._deleter.endpoint_config_tag(name)
        except NotFound:
            sweep.already_gone.append(label)
            return
        if made_for != endpoint:
            sweep.kept.append(f"{label}: not tagged sagewire:endpoint={endpoint}")
            return
        sweep.remove(label, lambda: self._deleter.delete_endpoint_config(name))

    def _remove_model(self, endpoint: str, name: str, run: str, sweep: _Sweep) -> None:
        """The model, and first the archive repacked for it (so that a retry still finds the
        archive through the model)."""
        label = f"model/{name}"
        if name != model_name(endpoint, run):
            sweep.kept.append(f"{label}: not the model sagewire names for {endpoint}")
            return
        try:
            model = self._sagemaker.describe_model(name)
        except NotFound:
            sweep.already_gone.append(label)
            return
        if self._sagemaker.model_run_tag(model.arn) != run:
            sweep.kept.append(f"{label}: not tagged sagewire:run={run}")
            return
        archive = f"{self._packed_models}{name}/model.tar.gz"
        if model.artifact == archive:
            bucket, _, key = archive.removeprefix("s3://").partition("/")
            self._objects.delete(bucket, key)
            sweep.deleted.append(archive)
        sweep.remove(label, lambda: self._deleter.delete_model(name))

    def _record(
        self, project: Project, champion: Champion, state: EndpointState, sweep: _Sweep, cause: str
    ) -> str:
        """The teardown's ledger entry, written as the champion is removed (so that the project,
        defined again, starts with none); Conflict when a promotion took over meanwhile."""
        now = self._clock()
        entry = Promotion(
            project=project.name,
            promotion_id=f"{now.strftime('%Y-%m-%dT%H:%M:%S.%f')}Z#teardown",
            run_name=champion.run_name,
            previous_run_name=champion.previous_run_name,
            cause=cause,
            strategy=project.endpoint.strategy.type,
            outcome="torn_down",
            model_name=champion.model_name,
            endpoint_config_name=champion.endpoint_config_name,
            previous_endpoint_config_name=state.config_name,
            created_at=now,
            updated_at=now,
            message=_summary(sweep, MESSAGE_NAMES),
        )
        if not self._champions.retire(champion, entry):
            raise Conflict(
                f"project {project.name!r} got a new champion during its teardown; "
                "tear it down again"
            )
        return entry.promotion_id


def _summary(sweep: _Sweep, names: int) -> str:
    """Deleted, already gone and kept, with at most `names` resources named in each."""

    def listed(labels: list[str]) -> str:
        more = f", and {len(labels) - names} more" if len(labels) > names else ""
        return ", ".join(labels[:names]) + more

    parts = [f"deleted {listed(sweep.deleted) or 'nothing'}"]
    if sweep.already_gone:
        parts.append(f"already gone: {listed(sweep.already_gone)}")
    if sweep.kept:
        parts.append(f"kept: {listed(sweep.kept)}")
    return "; ".join(parts)


def _left_as_is(project: Project, state: EndpointState, teardown: bool) -> str:
    """What a deletion that deleted nothing on SageMaker says about the endpoint."""
    deleted = f"project {project.name!r} deleted"
    endpoint = project.endpoint.name
    if state.status == "Absent":
        return f"{deleted}; it had no endpoint"
    if not project.endpoint.managed:
        return f"{deleted}; endpoint {endpoint} is its owner's and is left {state.status}"
    if teardown:
        return (
            f"{deleted}; it has no champion (nothing promoted since it was defined or last "
            f"torn down), so endpoint {endpoint} is not sagewire's to delete and is left "
            f"{state.status}"
        )
    return (
        f"{deleted}; endpoint {endpoint} is left {state.status} and keeps costing money, "
        "no longer managed by sagewire. Delete it with `aws sagemaker delete-endpoint "
        f"--endpoint-name {endpoint}`, or define the project again and DELETE "
        f"/v1/projects/{project.name}?teardown=true to remove it with the endpoint configs "
        "and models sagewire made for it"
    )
