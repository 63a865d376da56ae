"""Champion automation: record runs, keep each project's best eligible run, deploy it safely."""

from __future__ import annotations

import hashlib
import logging
import math
import operator
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from chalicelib.errors import (
    Conflict,
    DeploymentFailed,
    EndpointBusy,
    EndpointUnavailable,
    InvalidParameter,
    NotFound,
    ProjectNotFound,
)
from chalicelib.models import (
    SETTLED_OUTCOMES,
    Champion,
    EndpointChange,
    EndpointState,
    Objective,
    Project,
    Promotion,
    PromotionOutcome,
    Run,
    TrainingJobChange,
    TuningJobChange,
    Variant,
)
from chalicelib.naming import resource_name
from chalicelib.services.ports import (
    NO_METRICS,
    ChampionStore,
    ControlPlane,
    MetricsSink,
    ProjectStore,
    RunStore,
)

logger = logging.getLogger("sagewire")

FINISHED_RUN = ("Completed", "Failed", "Stopped")
# A compare-and-swap loses only to a concurrent change; this many losses in a row means a storm
# of events, and the event is better retried later than spun on.
MAX_SWAPS = 20
DEFAULT_CHALLENGER_WEIGHT = 0.1
_GUARDS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}


@dataclass(frozen=True)
class ChampionView:
    """A project's champion, its promotion, and what the endpoint really serves (and which run
    that is, from the ledger), which differ while a promotion is in flight or after it failed."""

    champion: Champion | None
    promotion: Promotion | None
    serving: EndpointState
    serving_run_name: str | None


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


def matches(project: Project, run: Run) -> bool:
    """Every criterion the project names holds for the run; a project naming none matches none."""
    match = project.match
    checks = [all(run.tags.get(key) == value for key, value in match.tags.items())]
    if not match.tags:
        checks.clear()
    for wanted, actual in (
        (match.experiment_name, run.experiment_name),
        (match.trial_name, run.trial_name),
        (match.tuning_job_name, run.tuning_job_name),
    ):
        if wanted is not None:
            checks.append(wanted == actual)
    return bool(checks) and all(checks)


def objective_value(project: Project, run: Run) -> float | None:
    """The run's objective when it may compete: completed, deployable, every guard passed."""
    value = run.metrics.get(project.objective.metric)
    if (
        run.status != "Completed"
        or value is None
        or not math.isfinite(value)
        or not run.model_artifact
        or not run.training_image
    ):
        return None
    for guard in project.guards:
        metric = run.metrics.get(guard.metric)
        if metric is None or not _GUARDS[guard.op](metric, guard.value):
            return None
    return value


def beats(value: float, run_name: str, champion: Champion, objective: Objective) -> bool:
    """Strictly better by more than min_improvement; an exact tie goes to the smaller run name,
    so that the final champion does not depend on the order of events."""
    current = champion.objective_value
    if objective.goal == "minimize":
        better = value < current - objective.min_improvement
    else:
        better = value > current + objective.min_improvement
    tie = value == current and objective.min_improvement == 0 and run_name < champion.run_name
    return better or tie


class ChampionService:
    def __init__(
        self,
        projects: ProjectStore,
        runs: RunStore,
        champions: ChampionStore,
        sagemaker: ControlPlane,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        metrics: MetricsSink = NO_METRICS,
    ) -> None:
        self._projects = projects
        self._runs = runs
        self._champions = champions
        self._sagemaker = sagemaker
        self._clock = clock
        self._metrics = metrics

    def on_training_job(self, change: TrainingJobChange, cause: str) -> list[Promotion]:
        """Records a finished run (one Describe) and lets it challenge every matching project."""
        if change.status not in FINISHED_RUN:
            return []
        try:
            run = self._sagemaker.describe_training_job(change.name, change.tags)
        except NotFound:
            # Deleted since it finished: nothing to record, and no retry can change that.
            logger.info("training job gone", extra={"training_job": change.name})
            return []
        return self._record_and_challenge(run, cause)

    def on_tuning_job(self, change: TuningJobChange, cause: str) -> list[Promotion]:
        """A completed tuning job's best training job challenges the projects it matches."""
        if change.status != "Completed":
            return []
        best = self._sagemaker.best_training_job(change.name)
        if best is None:
            return []
        run = self._runs.get_run(best)
        if run is None:
            return self._record_and_challenge(
                self._sagemaker.describe_training_job(best, change.tags), cause
            )
        projects = [project for project in self._projects.all() if matches(project, run)]
        return self._challenge_all(run, projects, cause)

    def on_endpoint(self, change: EndpointChange) -> Promotion | None:
        """Closes or fails the promotion in flight on this endpoint, or resumes a deferred one."""
        owner = self._projects.owner_of(change.name)
        project = None if owner is None else self._projects.get(owner)
        if project is None:
            return None
        return self._advance(project)

    def reconcile(self) -> Reconciliation:
        """Finishes deferred promotions and reports endpoints serving something else."""
        advanced, drift = [], []
        for project in self._projects.all():
            champion = self._champions.get_champion(project.name)
            if champion is None:
                continue
            promotion = self._advance(project, champion)
            if promotion is not None:
                advanced.append(promotion)
                continue
            if project.endpoint.strategy.type == "manual":
                continue
            state = self._sagemaker.describe_endpoint(project.endpoint.name)
            if state.config_name != champion.endpoint_config_name:
                drift.append(
                    Drift(
                        project.name,
                        project.endpoint.name,
                        champion.endpoint_config_name,
                        state.config_name,
                    )
                )
        return Reconciliation(tuple(advanced), tuple(drift))

    def drift(self) -> list[Drift]:
        """Endpoints serving something other than their champion's config, read-only: nothing
        is advanced (a promotion in flight shows as drift until it lands)."""
        found = []
        for project in self._projects.all():
            champion = self._champions.get_champion(project.name)
            if champion is None or project.endpoint.strategy.type == "manual":
                continue
            state = self._sagemaker.describe_endpoint(project.endpoint.name)
            if state.config_name != champion.endpoint_config_name:
                found.append(
                    Drift(
                        project.name,
                        project.endpoint.name,
                        champion.endpoint_config_name,
                        state.config_name,
                    )
                )
        return found

    def promote(self, project_name: str, run_name: str, cause: str) -> Promotion:
        """Makes a named run the champion (promotion or rollback), whatever its metrics."""
        project = self._project(project_name)
        run = self._runs.get_run(run_name)
        if run is None:
            raise NotFound(f"no recorded run named {run_name!r}")
        if run.status != "Completed" or not run.model_artifact or not run.training_image:
            raise InvalidParameter(f"run {run_name!r} has no deployable model")
        value = run.metrics.get(project.objective.metric)
        if value is None or not math.isfinite(value):
            raise InvalidParameter(f"run {run_name!r} has no {project.objective.metric}")
        for _ in range(MAX_SWAPS):
            current = self._champions.get_champion(project.name)
            # An operator's pick serves alone: an A/B split would leave the run being rolled
            # back from with most of the traffic.
            champion, promotion = self._candidate(
                project, run, value, current, cause, "pending", alone=True
            )
            if self._champions.replace(champion, current.version if current else 0, promotion):
                self._supersede(current)
                return self._deploy(project, champion, promotion, run)
        raise Conflict(f"the champion of {project_name!r} kept changing; try again")

    def view(self, project_name: str) -> ChampionView:
        project = self._project(project_name)
        champion = self._champions.get_champion(project.name)
        promotion = (
            None
            if champion is None
            else self._champions.get_promotion(project.name, champion.promotion_id)
        )
        serving = self._sagemaker.describe_endpoint(project.endpoint.name)
        serving_run = next(
            (
                entry.run_name
                for entry in self._champions.promotions(project.name)
                if entry.endpoint_config_name == serving.config_name
            ),
            None,
        )
        return ChampionView(champion, promotion, serving, serving_run)

    def promotions(self, project_name: str, limit: int) -> list[Promotion]:
        return self._champions.promotions(self._project(project_name).name, limit)

    def _project(self, name: str) -> Project:
        project = self._projects.get(name)
        if project is None:
            raise ProjectNotFound(f"no project named {name!r}")
        return project

    def _record_and_challenge(self, run: Run, cause: str) -> list[Promotion]:
        # Recorded whatever happens next: a run that cannot compete still has lineage.
        projects = [project for project in self._projects.all() if matches(project, run)]
        self._runs.put_run(run, projects)
        return self._challenge_all(run, projects, cause)

    def _challenge_all(self, run: Run, projects: list[Project], cause: str) -> list[Promotion]:
        promotions = []
        for project in projects:
            promotion = self._challenge(project, run, cause)
            if promotion is not None:
                promotions.append(promotion)
        return promotions

    def _challenge(self, project: Project, run: Run, cause: str) -> Promotion | None:
        value = objective_value(project, run)
        if value is None:
            return None
        for _ in range(MAX_SWAPS):
            current = self._champions.get_champion(project.name)
            if current is not None and current.run_name == run.name:
                # A retry of the event that made this run champion: finish what it started.
                return self._advance(project, current)
            if current is not None and not beats(value, run.name, current, project.objective):
                return None
            manual = project.endpoint.strategy.type == "manual"
            champion, promotion = self._candidate(
                project, run, value, current, cause, "recorded" if manual else "pending"
            )
            if self._champions.replace(champion, current.version if current else 0, promotion):
                self._supersede(current)
                if manual:
                    self._changed(promotion, "recorded")
                    return promotion
                return self._deploy(project, champion, promotion, run, fresh=True)
        raise Conflict(f"the champion of {project.name!r} kept changing; the event is retried")

    def _candidate(
        self,
        project: Project,
        run: Run,
        value: float,
        current: Champion | None,
        cause: str,
        outcome: PromotionOutcome,
        alone: bool = False,
    ) -> tuple[Champion, Promotion]:
        now = self._clock()
        promotion_id = f"{now.strftime('%Y-%m-%dT%H:%M:%S.%f')}Z#{run.name}"
        previous = None if current is None else current.run_name
        partner = None if alone else previous
        strategy = project.endpoint.strategy.type
        model_name = resource_name(project.endpoint.name, run.name)
        config_name = self._config_name(project, run.name, partner)
        champion = Champion(
            project=project.name,
            run_name=run.name,
            objective_value=value,
            version=(current.version if current else 0) + 1,
            model_name=model_name,
            endpoint_config_name=config_name,
            promotion_id=promotion_id,
            changed_at=now,
            previous_run_name=partner,
        )
        promotion = Promotion(
            project=project.name,
            promotion_id=promotion_id,
            run_name=run.name,
            previous_run_name=previous,
            cause=cause,
            strategy="all_at_once" if alone and strategy == "ab" else strategy,
            outcome=outcome,
            model_name=model_name,
            endpoint_config_name=config_name,
            previous_endpoint_config_name=None if current is None else current.endpoint_config_name,
            created_at=now,
            updated_at=now,
        )
        return champion, promotion

    def _variants(
        self, project: Project, run_name: str, previous: str | None
    ) -> list[tuple[str, Variant]]:
        """The endpoint config's variants, each with the run behind its model."""
        model = resource_name(project.endpoint.name, run_name)
        strategy = project.endpoint.strategy
        if strategy.type != "ab" or previous is None or previous == run_name:
            return [(run_name, Variant("AllTraffic", model, 1.0))]
        weight = strategy.challenger_weight or DEFAULT_CHALLENGER_WEIGHT
        return [
            (
                previous,
                Variant("Champion", resource_name(project.endpoint.name, previous), 1.0 - weight),
            ),
            (run_name, Variant("Challenger", model, weight)),
        ]

    def _config_name(self, project: Project, run_name: str, previous: str | None) -> str:
        endpoint = project.endpoint
        variants = [variant for _, variant in self._variants(project, run_name, previous)]
        shape = repr((variants, endpoint.instance_type, endpoint.instance_count))
        return resource_name(
            endpoint.name, run_name, hashlib.sha256(shape.encode()).hexdigest()[:8]
        )

    def _supersede(self, replaced: Champion | None) -> None:
        if replaced is not None:
            self._set_outcome(replaced, "superseded", "a better run took over")

    def _deploy(
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
        try:
            self._ensure_resources(project, champion, run)
            if fresh:
                outcome, message = self._update_or_create(project, champion)
            else:
                state = self._sagemaker.describe_endpoint(project.endpoint.name)
                outcome, message = self._roll_out(project, champion, state)
        except (EndpointBusy, EndpointUnavailable) as error:
            outcome, message = "pending", error.message
        except (DeploymentFailed, Conflict, NotFound) as error:
            outcome, message = "failed", error.message
        self._set_outcome(promotion, outcome, message)
        return replace(promotion, outcome=outcome, message=message, updated_at=self._clock())

    def _update_or_create(
        self, project: Project, champion: Champion
    ) -> tuple[PromotionOutcome, str | None]:
        endpoint, target = project.endpoint, champion.endpoint_config_name
        try:
            self._sagemaker.update_endpoint(endpoint.name, target, endpoint.strategy)
        except NotFound:
            self._sagemaker.create_endpoint(endpoint.name, target)
            return "deploying", "creating the endpoint"
        return "deploying", "updating the endpoint"

    def _ensure_resources(self, project: Project, champion: Champion, known: Run | None) -> None:
        variants = self._variants(project, champion.run_name, champion.previous_run_name)
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
            self._sagemaker.ensure_model(variant.model_name, run, role)
        self._sagemaker.ensure_endpoint_config(
            champion.endpoint_config_name, [variant for _, variant in variants], project.endpoint
        )

    def _roll_out(
        self, project: Project, champion: Champion, state: EndpointState
    ) -> tuple[PromotionOutcome, str | None]:
        target = champion.endpoint_config_name
        if state.pending_config_name == target:
            return "deploying", f"the endpoint is {state.status}"
        if state.config_name == target and state.pending_config_name is None:
            if state.status == "InService":
                return "succeeded", None
            if state.status in ("Creating", "Updating", "SystemUpdating"):
                return "deploying", f"the endpoint is {state.status}"
        if state.status == "Absent":
            self._sagemaker.create_endpoint(project.endpoint.name, target)
            return "deploying", "creating the endpoint"
        if state.status == "InService":
            self._sagemaker.update_endpoint(
                project.endpoint.name, target, project.endpoint.strategy
            )
            return "deploying", f"updating from {state.config_name}"
        if state.status in ("Failed", "UpdateRollbackFailed", "OutOfService", "Deleting"):
            return (
                "failed",
                f"the endpoint is {state.status}: {state.failure_reason or 'no reason'}",
            )
        return "pending", f"the endpoint is {state.status}"

    def _advance(self, project: Project, champion: Champion | None = None) -> Promotion | None:
        """Moves the champion's promotion on, if one is in flight."""
        champion = champion or self._champions.get_champion(project.name)
        if champion is None:
            return None
        promotion = self._champions.get_promotion(project.name, champion.promotion_id)
        if promotion is None or promotion.outcome in SETTLED_OUTCOMES:
            return None
        if promotion.outcome == "pending":
            return self._deploy(project, champion, promotion)
        state = self._sagemaker.describe_endpoint(project.endpoint.name)
        outcome: PromotionOutcome
        if state.status == "InService" and state.pending_config_name is None:
            if state.config_name == champion.endpoint_config_name:
                outcome, message = "succeeded", None
            else:
                outcome, message = "failed", f"rolled back; serving {state.config_name}"
        elif state.status in ("Failed", "UpdateRollbackFailed"):
            outcome, message = "failed", f"the endpoint is {state.status}: {state.failure_reason}"
        else:
            return None
        self._set_outcome(promotion, outcome, message)
        return replace(promotion, outcome=outcome, message=message, updated_at=self._clock())

    def _set_outcome(
        self, entry: Champion | Promotion, outcome: PromotionOutcome, message: str | None
    ) -> None:
        """Moves the ledger entry of a champion or promotion on; a move that took is counted."""
        if self._champions.set_outcome(entry.project, entry.promotion_id, outcome, message):
            self._changed(entry, outcome)

    def _changed(self, entry: Champion | Promotion, outcome: PromotionOutcome) -> None:
        self._metrics.count("Promotions", outcome=outcome)
        if outcome == "pending":
            self._metrics.count("DeferredPromotions")
        where = {"project": entry.project, "training_job": entry.run_name}
        logger.info("promotion %s", outcome, extra={**where, "promotion_id": entry.promotion_id})
