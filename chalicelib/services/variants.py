"""Variants an operator chooses: named variants from recorded runs, their weights, their traffic."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.errors import (
    Conflict,
    EndpointBusy,
    InvalidParameter,
    NotFound,
    ProjectNotFound,
    SagewireError,
)
from chalicelib.models import Project
from chalicelib.naming import champion_variants, model_name, variants_config_name
from chalicelib.objectives import describe, objective_metric
from chalicelib.processing.variant_bodies import VariantChoice, parse_variants, parse_weights
from chalicelib.records import Champion, Promotion, Run, RunVariant, Variant
from chalicelib.services.champion_view import ChampionView, VariantView
from chalicelib.services.ports import (
    ChampionStore,
    ControlPlane,
    ProjectStore,
    RunStore,
    TrafficMetrics,
    VariantWeights,
)
from chalicelib.services.rollout import RolloutService, require_managed
from chalicelib.services.selection import MAX_SWAPS, candidate, deployable_run
from chalicelib.services.trust import TrustPolicy

logger = logging.getLogger("sagewire")

# The window of the invocations the champion view shows.
TRAFFIC_WINDOW = timedelta(hours=1)
# What Retry-After says when a weight change meets a busy endpoint.
BUSY_RETRY_SECONDS = 30


class VariantService:
    """PUT .../variants deploys one endpoint config of named variants through the ledger, as a
    champion (the heaviest variant's run) whose promotion carries the split; PATCH changes their
    weights in place (UpdateEndpointWeightsAndCapacities, no new config), a ledger entry too."""

    def __init__(
        self,
        projects: ProjectStore,
        runs: RunStore,
        champions: ChampionStore,
        sagemaker: ControlPlane,
        weights: VariantWeights,
        traffic: TrafficMetrics,
        rollout: RolloutService,
        trust: TrustPolicy,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._projects = projects
        self._runs = runs
        self._champions = champions
        self._sagemaker = sagemaker
        self._weights = weights
        self._traffic = traffic
        self._rollout = rollout
        self._trust = trust
        self._clock = clock

    def put(self, project_name: str, body: Any, cause: str) -> Promotion:
        """Deploys the variants (one model per run, one endpoint config, one endpoint write) as
        the champion's promotion; runs outside the trust policy are deployed all the same and
        named in the entry's `untrusted`."""
        choices = parse_variants(body)
        project = self._project(project_name)
        require_managed(project)
        runs = {choice.run: deployable_run(self._runs, choice.run) for choice in choices}
        lead = max(choices, key=lambda choice: choice.weight)  # the first of the heaviest
        lead_run = runs[lead.run]
        value = objective_metric(lead_run, project.objective)
        if value is None or not math.isfinite(value):
            raise InvalidParameter(
                f"run {lead.run!r} of the heaviest variant {lead.name!r} has no "
                f"{describe(project.objective)}: it would be the champion"
            )
        untrusted = self._untrusted(project, runs.values())
        variants = tuple(_run_variant(project, choice) for choice in choices)
        config = variants_config_name(project, variants)
        for _ in range(MAX_SWAPS):
            current = self._champions.get_champion(project.name)
            champion, promotion = candidate(
                project, lead_run, value, current, cause, "pending", self._clock(), alone=True
            )
            champion = replace(champion, endpoint_config_name=config, variants=variants)
            promotion = replace(
                promotion,
                strategy="variants",
                endpoint_config_name=config,
                message=_split(variants),
                untrusted=untrusted,
                variants=variants,
            )
            if self._champions.replace(champion, current.version if current else 0, promotion):
                if current is not None:
                    self._rollout.supersede(current)
                return self._rollout.deploy(project, champion, promotion, lead_run)
        raise Conflict(f"the champion of {project_name!r} kept changing; try again")

    def reweigh(self, project_name: str, body: Any, cause: str) -> Promotion:
        """New weights for the champion's variants, in place: a ledger entry (the weights before
        and after) as the champion's promotion, then UpdateEndpointWeightsAndCapacities."""
        weights = parse_weights(body)
        project = self._project(project_name)
        require_managed(project)
        current = self._champions.get_champion(project.name)
        if current is None:
            raise NotFound(f"project {project.name!r} has no champion: PUT its variants first")
        variants = champion_variants(project, current)
        unknown = sorted(set(weights) - {variant.name for _, variant in variants})
        if unknown:
            raise InvalidParameter(
                f"the champion's endpoint config has no variant {', '.join(unknown)}; it has "
                f"{', '.join(variant.name for _, variant in variants)}"
            )
        endpoint = project.endpoint.name
        state = self._sagemaker.describe_endpoint(endpoint)
        if state.status != "InService" or state.pending_config_name is not None:
            raise EndpointBusy(
                f"endpoint {endpoint} is {state.status}: its weights can change once it is "
                "InService",
                BUSY_RETRY_SECONDS,
            )
        if state.config_name != current.endpoint_config_name:
            raise Conflict(
                f"endpoint {endpoint} serves {state.config_name}, not the champion's "
                f"{current.endpoint_config_name}: its variants are not the champion's"
            )
        now_weights = self._weights.variant_weights(endpoint)
        before = {
            variant.name: _known(now_weights.get(variant.name), variant.weight)
            for _, variant in variants
        }
        after = {**before, **weights}
        if not any(weight > 0 for weight in after.values()):
            raise InvalidParameter("at least one variant must keep a weight above 0")
        promotion = self._record_weights(project, current, variants, before, after, cause)
        try:
            self._weights.update_weights(endpoint, weights)
        except SagewireError as error:
            self._champions.set_outcome(
                project.name, promotion.promotion_id, "failed", error.message
            )
            raise
        return promotion

    def view(self, project_name: str) -> ChampionView:
        """The rollout's champion view with the champion's variants: their runs, weights (as
        DescribeEndpoint has them when the endpoint serves the champion's config) and
        invocations over the last hour (None when CloudWatch has none or cannot answer)."""
        view = self._rollout.view(project_name)
        champion, project = view.champion, self._projects.get(project_name)
        if champion is None or project is None or not view.managed:
            return view
        endpoint = project.endpoint.name
        serves = view.serving.config_name == champion.endpoint_config_name
        weights = self._weights.variant_weights(endpoint) if serves else {}
        end = self._clock()
        shown = []
        for run_name, variant in champion_variants(project, champion):
            current, desired = weights.get(variant.name, (None, None))
            shown.append(
                VariantView(
                    name=variant.name,
                    run_name=run_name,
                    model_name=variant.model_name,
                    initial_weight=variant.weight,
                    current_weight=current,
                    desired_weight=desired,
                    invocations=self._invocations(endpoint, variant.name, end) if serves else None,
                )
            )
        return replace(view, variants=tuple(shown))

    def _record_weights(
        self,
        project: Project,
        current: Champion,
        variants: list[tuple[str, Variant]],
        before: dict[str, float],
        after: dict[str, float],
        cause: str,
    ) -> Promotion:
        """The weight change's ledger entry (`deploying`), the champion's version moved on with
        it in one compare-and-swap; Conflict when the champion changed meanwhile."""
        now = self._clock()
        promotion_id = f"{now.strftime('%Y-%m-%dT%H:%M:%S.%f')}Z#{current.run_name}"
        changes = ", ".join(
            f"{name} {before[name]:g} -> {after[name]:g}"
            for name in after
            if before[name] != after[name]
        )
        promotion = Promotion(
            project=project.name,
            promotion_id=promotion_id,
            run_name=current.run_name,
            previous_run_name=current.run_name,
            cause=cause,
            strategy="weights",
            outcome="deploying",
            model_name=current.model_name,
            endpoint_config_name=current.endpoint_config_name,
            previous_endpoint_config_name=current.endpoint_config_name,
            created_at=now,
            updated_at=now,
            message=f"weights: {changes or 'unchanged'}",
            variants=tuple(
                RunVariant(variant.name, variant.model_name, after[variant.name], run)
                for run, variant in variants
            ),
        )
        successor = replace(
            current, version=current.version + 1, promotion_id=promotion_id, changed_at=now
        )
        if not self._champions.replace(successor, current.version, promotion):
            raise Conflict(f"the champion of {project.name!r} changed meanwhile; try again")
        # The endpoint is InService on the champion's config: its promotion is over.
        self._champions.set_outcome(project.name, current.promotion_id, "succeeded", None)
        return promotion

    def _invocations(self, endpoint: str, variant: str, end: datetime) -> int | None:
        try:
            total = self._traffic.invocations(endpoint, variant, end - TRAFFIC_WINDOW, end)
        except SagewireError as error:
            logger.info("no invocation counts", extra={"code": error.code})
            return None
        return None if total is None else round(total)

    def _untrusted(self, project: Project, runs: Iterable[Run]) -> str | None:
        reasons = [
            f"{run.name}: {reason}"
            for run in runs
            if (reason := self._trust.refusal(project, run)) is not None
        ]
        if reasons:
            logger.warning(
                "operator deploys runs outside the trust policy",
                extra={"project": project.name, "reason": "; ".join(reasons)},
            )
        return "; ".join(reasons) or None

    def _project(self, name: str) -> Project:
        project = self._projects.get(name)
        if project is None:
            raise ProjectNotFound(f"no project named {name!r}")
        return project


def _run_variant(project: Project, choice: VariantChoice) -> RunVariant:
    return RunVariant(
        choice.name, model_name(project.endpoint.name, choice.run), choice.weight, choice.run
    )


def _known(weights: tuple[float | None, float | None] | None, initial: float) -> float:
    """A variant's desired weight as the endpoint has it, else its config's."""
    desired = None if weights is None else weights[1]
    return initial if desired is None else desired


def _split(variants: tuple[RunVariant, ...]) -> str:
    return "variants: " + ", ".join(
        f"{variant.name}={variant.run_name} ({variant.weight:g})" for variant in variants
    )
