"""Rollout: put each champion on its endpoint, follow it until it settles, repair drift."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Literal

from chalicelib.errors import (
    Conflict,
    DeploymentFailed,
    EndpointBusy,
    EndpointNotManaged,
    EndpointUnavailable,
    InvalidParameter,
    NotFound,
    ProjectNotFound,
    PromotionNotFound,
)
from chalicelib.models import Project, Strategy
from chalicelib.naming import champion_variants
from chalicelib.records import (
    Champion,
    EndpointChange,
    EndpointState,
    Promotion,
    PromotionOutcome,
    Run,
)
from chalicelib.services.champion_view import ChampionView
from chalicelib.services.model_builds import ModelBuilds
from chalicelib.services.ports import (
    NO_METRICS,
    ChampionStore,
    ControlPlane,
    MetricsSink,
    ProjectStore,
    RunStore,
)

logger = logging.getLogger("sagewire")

# Ledger entries one page of GET .../promotions answers.
DEFAULT_PROMOTIONS, MAX_PROMOTIONS = 100, 1000
# An endpoint in one of these states will not finish a deployment by itself.
FAILED_STATES = frozenset({"Failed", "UpdateRollbackFailed", "OutOfService", "Deleting"})
# What a promotion does next, given the endpoint's state (see `next_step`).
Step = Literal["create", "update", "wait", "succeeded", "failed"]
_AT_REST: tuple[PromotionOutcome, ...] = ("recorded", "rejected", "failed", "superseded")


@dataclass(frozen=True)
class Drift:
    project: str
    endpoint: str
    champion_config: str
    serving_config: str | None


@dataclass(frozen=True)
class Reconciliation:
    advanced: tuple[Promotion, ...]
    drift: tuple[Drift, ...]


def next_step(state: EndpointState, target: str, issued: bool) -> tuple[Step, str | None]:
    """The one mapping from an endpoint's state to a promotion's next step. `issued`: the
    promotion's endpoint write was accepted, so an endpoint settled elsewhere rolled it back."""
    if state.status == "Absent":
        return "create", "creating the endpoint"
    if state.pending_config_name == target:
        return "wait", f"the endpoint is {state.status}"
    if state.status in FAILED_STATES:
        return "failed", f"the endpoint is {state.status}: {state.failure_reason or 'no reason'}"
    if state.status != "InService" or state.pending_config_name is not None:
        return "wait", f"the endpoint is {state.status}"
    if state.config_name == target:
        return "succeeded", None
    if issued:
        return "failed", f"rolled back; serving {state.config_name}"
    return "update", f"updating from {state.config_name}"


def require_managed(project: Project) -> None:
    """Refuses any change to an endpoint sagewire fronts but does not manage."""
    if not project.endpoint.managed:
        raise EndpointNotManaged(
            f"project {project.name!r} fronts endpoint {project.endpoint.name}, which sagewire "
            "never changes (endpoint.managed is false): its runs are ranked, never promoted"
        )


def drift_of(project: Project, champion: Champion | None, state: EndpointState) -> Drift | None:
    """The endpoint serving something other than its champion's config (manual projects serve
    what an operator deployed and fronted endpoints what their owner did: they never drift)."""
    if champion is None or _hands_off(project):
        return None
    if state.config_name == champion.endpoint_config_name:
        return None
    return Drift(
        project.name, project.endpoint.name, champion.endpoint_config_name, state.config_name
    )


def _in_flight(state: EndpointState, champion: Champion) -> bool:
    """The endpoint is busy putting the champion's config in service (an update or a create)."""
    target = champion.endpoint_config_name
    return state.pending_config_name == target or (
        state.config_name == target and state.pending_config_name is None
    )


def _hands_off(project: Project) -> bool:
    """What the endpoint serves is someone else's choice: an operator's or its owner's."""
    return project.endpoint.strategy.type == "manual" or not project.endpoint.managed


def repairable(project: Project, promotion: Promotion) -> bool:
    """Whether sagewire puts this promotion back when the endpoint serves something else: never
    for manual or fronted projects nor for an operator's pick (cause `api:`)."""
    return not _hands_off(project) and not promotion.cause.startswith("api:")


class RolloutService:
    def __init__(
        self,
        projects: ProjectStore,
        runs: RunStore,
        champions: ChampionStore,
        sagemaker: ControlPlane,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        metrics: MetricsSink = NO_METRICS,
        models: ModelBuilds | None = None,
    ) -> None:
        self._projects = projects
        self._runs = runs
        self._champions = champions
        self._sagemaker = sagemaker
        self._models = models or ModelBuilds(sagemaker)
        self._clock = clock
        self._metrics = metrics

    def on_endpoint(self, change: EndpointChange) -> Promotion | None:
        """Closes or fails the promotion in flight on this endpoint, resumes a deferred one, or
        repairs an endpoint that settled on something other than its champion."""
        owner = self._projects.owner_of(change.name)
        project = None if owner is None else self._projects.get(owner)
        champion = None if project is None else self._champions.get_champion(project.name)
        return None if project is None or champion is None else self.advance(project, champion)

    def reconcile(self) -> Reconciliation:
        """Moves every project's promotion on (deferred, in flight or overwritten) and reports
        the endpoints that still serve something else."""
        advanced, drift = [], []
        for project in self._projects.all():
            champion = self._champions.get_champion(project.name)
            if champion is None or not project.endpoint.managed:
                continue
            promotion, state = self._advance(project, champion)
            if promotion is not None:
                advanced.append(promotion)
                continue
            state = state or self._sagemaker.describe_endpoint(project.endpoint.name)
            if (found := drift_of(project, champion, state)) is not None:
                drift.append(found)
        return Reconciliation(tuple(advanced), tuple(drift))

    def drift(self) -> list[Drift]:
        """Endpoints serving something other than their champion's config, read-only: nothing
        is advanced (a promotion in flight shows as drift until it lands)."""
        found = []
        for project in self._projects.all():
            champion = self._champions.get_champion(project.name)
            if champion is None or _hands_off(project):
                continue
            state = self._sagemaker.describe_endpoint(project.endpoint.name)
            if (drifted := drift_of(project, champion, state)) is not None:
                found.append(drifted)
        return found

    def view(self, project_name: str) -> ChampionView:
        project = self._project(project_name)
        champion = self._champions.get_champion(project.name)
        promotion = None
        if champion is not None:
            promotion = self._champions.get_promotion(project.name, champion.promotion_id)
        serving = self._sagemaker.describe_endpoint(project.endpoint.name)
        serving_run = next(
            (
                entry.run_name
                for entry in self._champions.promotions(project.name)
                if entry.endpoint_config_name == serving.config_name
            ),
            None,
        )
        drift = drift_of(project, champion, serving) is not None
        managed = project.endpoint.managed
        return ChampionView(champion, promotion, serving, serving_run, drift, managed)

    def promotions(self, project_name: str, limit: int = DEFAULT_PROMOTIONS) -> list[Promotion]:
        if not 1 <= limit <= MAX_PROMOTIONS:
            raise InvalidParameter(f"limit must be an integer from 1 to {MAX_PROMOTIONS}")
        return self._champions.promotions(self._project(project_name).name, limit)

    def promotion(self, project_name: str, promotion_id: str) -> Promotion:
        """One entry of the project's ledger, by its id."""
        project = self._project(project_name)
        found = self._champions.get_promotion(project.name, promotion_id)
        if found is None:
            # A `#` cut off (a URL's fragment) is the likely mistake.
            form = "" if "#" in promotion_id else "; an id is <time>#<run or teardown>"
            raise PromotionNotFound(f"no promotion {promotion_id!r} in {project.name!r}{form}")
        return found

    def deploy(
        self,
        project: Project,
        champion: Champion,
        promotion: Promotion,
        run: Run | None = None,
        fresh: bool = False,
    ) -> Promotion:
        """Each step is safe to repeat: existing models and configs are verified and reused.

        `run` is the champion's run when the caller has it at hand. A `fresh` decision targets an
        endpoint config nothing can serve yet, so it updates (or creates) the endpoint without
        describing it first; resumed promotions describe, since their work may be half done."""
        require_managed(project)
        try:
            self._ensure_resources(project, champion, run)
            if fresh:
                outcome, message = self._write(project, champion, "update")
            else:
                state = self._sagemaker.describe_endpoint(project.endpoint.name)
                step, message = next_step(state, champion.endpoint_config_name, issued=False)
                if step in ("create", "update"):
                    outcome, message = self._write(project, champion, step)
                elif step == "wait":
                    outcome = "deploying" if _in_flight(state, champion) else "pending"
                else:
                    outcome = "succeeded" if step == "succeeded" else "failed"
        except (EndpointBusy, EndpointUnavailable) as error:
            outcome, message = "pending", error.message
        except (DeploymentFailed, Conflict, NotFound) as error:
            outcome, message = "failed", error.message
        return self._set_outcome(promotion, outcome, message)

    def advance(self, project: Project, champion: Champion) -> Promotion | None:
        """Moves the champion's promotion on, if there is anything to do."""
        return self._advance(project, champion)[0]

    def _advance(
        self, project: Project, champion: Champion
    ) -> tuple[Promotion | None, EndpointState | None]:
        """The promotion moved on (None when there was nothing to do), and the endpoint's state
        when it was described on the way."""
        if not project.endpoint.managed:
            return None, None
        promotion = self._champions.get_promotion(project.name, champion.promotion_id)
        if promotion is None or promotion.outcome in _AT_REST:
            return None, None
        if promotion.outcome == "pending":
            return self.deploy(project, champion, promotion), None
        state = self._sagemaker.describe_endpoint(project.endpoint.name)
        target = champion.endpoint_config_name
        if promotion.outcome == "succeeded":
            settled = state.status == "InService" and state.pending_config_name is None
            if settled and state.config_name != target and repairable(project, promotion):
                return self.repair(project, champion, promotion, state.config_name), None
            return None, state
        step, message = next_step(state, target, issued=True)
        if step == "create":
            return self.deploy(project, champion, promotion), None
        if step in ("succeeded", "failed"):
            # A weight change keeps its weights before and after (PATCH .../variants).
            kept = promotion.message if promotion.strategy == "weights" else None
            return self._set_outcome(promotion, step, message or kept), None
        return None, state

    def repair(
        self, project: Project, champion: Champion, promotion: Promotion, serving: str | None
    ) -> Promotion | None:
        """Re-issues the champion's promotion as a new ledger entry (cause `repair:<id>`), the
        champion's version moved on in the same compare-and-swap; None when the champion has
        changed meanwhile (its own promotion is then in charge)."""
        now = self._clock()
        repaired = replace(
            promotion,
            promotion_id=f"{now.strftime('%Y-%m-%dT%H:%M:%S.%f')}Z#{champion.run_name}",
            cause=f"repair:{promotion.promotion_id}",
            outcome="pending",
            previous_endpoint_config_name=serving,
            created_at=now,
            updated_at=now,
            message=f"the endpoint serves {serving}, not {champion.endpoint_config_name}",
        )
        successor = replace(
            champion,
            version=champion.version + 1,
            promotion_id=repaired.promotion_id,
            changed_at=now,
        )
        if not self._champions.replace(successor, champion.version, repaired):
            return None
        self._set_outcome(promotion, "superseded", f"repaired by {repaired.promotion_id}")
        logger.info(
            "promotion repaired",
            extra={"project": project.name, "promotion_id": repaired.promotion_id},
        )
        return self.deploy(project, successor, repaired)

    def recorded(self, promotion: Promotion) -> Promotion:
        """A manual or fronted project's winner: recorded; an operator deploys a manual one."""
        self._changed(promotion, "recorded")
        return promotion

    def supersede(self, replaced: Champion) -> None:
        """The replaced champion's promotion is over, wherever it was."""
        if self._champions.set_outcome(
            replaced.project, replaced.promotion_id, "superseded", "a better run took over"
        ):
            self._changed(replaced, "superseded")

    def _write(
        self, project: Project, champion: Champion, step: Literal["create", "update"]
    ) -> tuple[PromotionOutcome, str | None]:
        """Creates or updates the endpoint, if the champion is still this one just before; a
        champion replaced while the write was on its way gets its own promotion re-issued."""
        endpoint, target = project.endpoint, champion.endpoint_config_name
        current = self._champions.get_champion(project.name)
        if current is None or current.promotion_id != champion.promotion_id:
            return "superseded", "a better run took over before the endpoint was written"
        if step == "update":
            try:
                # Guardrails need the old config's variant names: an operator's split goes at once.
                strategy = Strategy() if champion.variants else endpoint.strategy
                self._sagemaker.update_endpoint(endpoint.name, target, strategy)
            except NotFound:
                step = "create"
        if step == "create":
            self._sagemaker.create_endpoint(endpoint.name, target)
        current = self._champions.get_champion(project.name)
        if current is not None and current.promotion_id != champion.promotion_id:
            self._repair_stale_write(project, current, target)
        return "deploying", f"{'creating' if step == 'create' else 'updating'} the endpoint"

    def _repair_stale_write(self, project: Project, current: Champion, written: str) -> None:
        """Our write landed after a newer champion's: put the newer one back (it is resumed when
        the endpoint settles, since the endpoint is busy with our write now)."""
        promotion = self._champions.get_promotion(project.name, current.promotion_id)
        if (
            promotion is not None
            and promotion.outcome in ("deploying", "succeeded")
            and repairable(project, promotion)
        ):
            self.repair(project, current, promotion, written)

    def _ensure_resources(self, project: Project, champion: Champion, known: Run | None) -> None:
        variants = champion_variants(project, champion)
        for run_name, variant in variants:
            run = known if known is not None and known.name == run_name else None
            run = run or self._runs.get_run(run_name)
            if run is None:
                raise NotFound(
                    f"run {run_name!r} behind model {variant.model_name} is not recorded"
                )
            role = project.endpoint.execution_role_arn or run.role_arn
            if role is None:
                raise DeploymentFailed(f"no execution role for model {variant.model_name}")
            self._models.ensure(variant.model_name, run, project.endpoint, role)
        self._sagemaker.ensure_endpoint_config(
            champion.endpoint_config_name, [variant for _, variant in variants], project.endpoint
        )

    def _project(self, name: str) -> Project:
        project = self._projects.get(name)
        if project is None:
            raise ProjectNotFound(f"no project named {name!r}")
        return project

    def _set_outcome(
        self, promotion: Promotion, outcome: PromotionOutcome, message: str | None
    ) -> Promotion:
        """Moves the ledger entry on (a move that took is counted) and returns it as moved."""
        if self._champions.set_outcome(promotion.project, promotion.promotion_id, outcome, message):
            self._changed(promotion, outcome)
        return replace(promotion, outcome=outcome, message=message, updated_at=self._clock())

    def _changed(self, entry: Champion | Promotion, outcome: PromotionOutcome) -> None:
        self._metrics.count("Promotions", outcome=outcome)
        if outcome == "pending":
            self._metrics.count("DeferredPromotions")
        where = {"project": entry.project, "training_job": entry.run_name}
        logger.info("promotion %s", outcome, extra={**where, "promotion_id": entry.promotion_id})
