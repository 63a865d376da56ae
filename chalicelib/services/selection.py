"""Champion selection: record finished runs, rank them, keep each project's best eligible run."""

from __future__ import annotations

import logging
import math
import operator
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from chalicelib.errors import Conflict, InvalidParameter, NotFound, ProjectNotFound
from chalicelib.models import Objective, Project
from chalicelib.naming import promotion_names
from chalicelib.objectives import describe, objective_metric
from chalicelib.records import (
    Champion,
    Promotion,
    PromotionOutcome,
    Run,
    TrainingJobChange,
    TuningJobChange,
)
from chalicelib.services.ports import ChampionStore, ControlPlane, ProjectStore, RunStore
from chalicelib.services.registry import Registrar
from chalicelib.services.rollout import RolloutService, require_managed
from chalicelib.services.trust import TrustPolicy

logger = logging.getLogger("sagewire")

FINISHED_RUN = ("Completed", "Failed", "Stopped")
# A compare-and-swap loses only to a concurrent change; this many losses in a row means a storm
# of events, and the event is better retried later than spun on.
MAX_SWAPS = 20
_GUARDS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}


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


def cannot_compete_because(project: Project, run: Run) -> str | None:
    """Why the run cannot compete for the project (not completed, nothing to deploy, no finite
    objective, a guard not met); None when it can."""
    if run.status != "Completed":
        return f"the run is {run.status}"
    if not run.model_artifact or not run.training_image:
        return "the run has no deployable model"
    value = objective_metric(run, project.objective)
    if value is None or not math.isfinite(value):
        return f"the run has no finite {describe(project.objective)}"
    for guard in project.guards:
        metric = run.metrics.get(guard.metric)
        if metric is None or not _GUARDS[guard.op](metric, guard.value):
            return f"guard {guard.metric} {guard.op} {guard.value:g} not met"
    return None


def objective_value(project: Project, run: Run) -> float | None:
    """The run's objective (by its statistic) when it may compete: completed, deployable, every
    guard passed."""
    if cannot_compete_because(project, run):
        return None
    return objective_metric(run, project.objective)


@dataclass(frozen=True)
class Eligibility:
    """Whether a run may become a project's champion without an operator, and why not."""

    project: str
    promotable: bool
    reason: str | None = None


def eligibility(project: Project, run: Run, trust: TrustPolicy) -> Eligibility:
    reason = cannot_compete_because(project, run) or trust.refusal(project, run)
    return Eligibility(project.name, reason is None, reason)


def deployable_run(runs: RunStore, run_name: str) -> Run:
    """A recorded run an operator may deploy: completed, with a model artifact and an image."""
    run = runs.get_run(run_name)
    if run is None:
        raise NotFound(f"no recorded run named {run_name!r}")
    if run.status != "Completed" or not run.model_artifact or not run.training_image:
        raise InvalidParameter(f"run {run_name!r} has no deployable model")
    return run


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


def candidate(
    project: Project,
    run: Run,
    value: float,
    current: Champion | None,
    cause: str,
    outcome: PromotionOutcome,
    now: datetime,
    alone: bool = False,
) -> tuple[Champion, Promotion]:
    """The champion `run` would be and its ledger entry (`alone`: without an A/B partner)."""
    promotion_id = f"{now.strftime('%Y-%m-%dT%H:%M:%S.%f')}Z#{run.name}"
    previous = None if current is None else current.run_name
    partner = None if alone else previous
    strategy = project.endpoint.strategy.type
    model_name, config_name = promotion_names(project, run.name, partner)
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


class ChampionService:
    """Decides each project's champion by compare-and-swap; the rollout service deploys it."""

    def __init__(
        self,
        projects: ProjectStore,
        runs: RunStore,
        champions: ChampionStore,
        sagemaker: ControlPlane,
        rollout: RolloutService,
        trust: TrustPolicy,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        registrar: Registrar | None = None,
    ) -> None:
        self._projects = projects
        self._runs = runs
        self._champions = champions
        self._sagemaker = sagemaker
        self._rollout = rollout
        self._trust = trust
        self._clock = clock
        self._registrar = registrar

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

    def promote(
        self, project_name: str, run_name: str, cause: str, package: str | None = None
    ) -> Promotion:
        """Makes a named run the champion (promotion or rollback), whatever its metrics; never
        for an endpoint sagewire does not manage. `package`: the approved model package version
        this promotion deploys (else the promotion registers one)."""
        project = self._projects.get(project_name)
        if project is None:
            raise ProjectNotFound(f"no project named {project_name!r}")
        require_managed(project)
        run = deployable_run(self._runs, run_name)
        value = objective_metric(run, project.objective)
        if value is None or not math.isfinite(value):
            raise InvalidParameter(f"run {run_name!r} has no {describe(project.objective)}")
        untrusted = self._trust.refusal(project, run)
        if untrusted is not None:
            logger.warning(
                "operator promotes a run outside the trust policy",
                extra={"project": project.name, "training_job": run.name, "reason": untrusted},
            )
        for _ in range(MAX_SWAPS):
            current = self._champions.get_champion(project.name)
            # An operator's pick serves alone: an A/B split would leave the run being rolled
            # back from with most of the traffic.
            champion, promotion = candidate(
                project, run, value, current, cause, "pending", self._clock(), alone=True
            )
            promotion = replace(promotion, untrusted=untrusted, model_package_arn=package)
            if self._champions.replace(champion, current.version if current else 0, promotion):
                self._supersede(current)
                promotion = self._register(project, promotion, run)
                return self._rollout.deploy(project, champion, promotion, run)
        raise Conflict(f"the champion of {project_name!r} kept changing; try again")

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

    def challenge_imported(
        self, project: Project, run: Run, cause: str, deploy: bool
    ) -> Promotion | None:
        """An import's best run challenges the project once; a win is deployed only if `deploy`
        (else recorded, as for a manual project)."""
        return self._challenge(project, run, cause, deploy)

    def _challenge(
        self, project: Project, run: Run, cause: str, deploy: bool = True
    ) -> Promotion | None:
        value = objective_value(project, run)
        if value is None:
            return None
        untrusted = self._trust.refusal(project, run)
        if untrusted is not None:
            # Ranked on the leaderboard all the same; only an operator may promote it.
            logger.info(
                "run outside the trust policy not promoted",
                extra={"project": project.name, "training_job": run.name, "reason": untrusted},
            )
            return None
        # A fronted endpoint's winner is recorded as a manual project's is, never deployed.
        manual = project.endpoint.strategy.type == "manual" or not (
            deploy and project.endpoint.managed
        )
        for _ in range(MAX_SWAPS):
            current = self._champions.get_champion(project.name)
            redeploy = False
            if current is not None and current.run_name == run.name:
                if manual or not self._recorded_by_import(current):
                    # A retry of the event that made this run champion: finish what it started.
                    return self._rollout.advance(project, current)
                # Its completion event reached sagewire after an import had recorded it (the
                # job ended during the import): a new run, deployed as the project says.
                redeploy = True
            elif current is not None and not beats(value, run.name, current, project.objective):
                return None
            outcome: PromotionOutcome = "recorded" if manual else "pending"
            champion, promotion = candidate(
                project, run, value, current, cause, outcome, self._clock(), redeploy
            )
            if self._champions.replace(champion, current.version if current else 0, promotion):
                if not redeploy:
                    self._supersede(current)
                promotion = self._register(project, promotion, run)
                if manual:
                    return self._rollout.recorded(promotion)
                return self._rollout.deploy(project, champion, promotion, run, fresh=True)
            # Lost the swap to a concurrent change: read the new champion and decide again.
        raise Conflict(f"the champion of {project.name!r} kept changing; the event is retried")

    def _recorded_by_import(self, champion: Champion) -> bool:
        promotion = self._champions.get_promotion(champion.project, champion.promotion_id)
        return (
            promotion is not None
            and promotion.outcome == "recorded"
            and promotion.cause.startswith("import:")
        )

    def _register(self, project: Project, promotion: Promotion, run: Run) -> Promotion:
        """The promotion registered in the Model Registry (when one is wired)."""
        registrar = self._registrar
        return promotion if registrar is None else registrar.register(project, promotion, run)

    def _supersede(self, replaced: Champion | None) -> None:
        if replaced is not None:
            self._rollout.supersede(replaced)
