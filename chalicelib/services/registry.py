"""Model Registry: each promotion registered as a model package version; approvals deployed."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

from chalicelib.definitions import SAGEMAKER_NAME
from chalicelib.errors import InvalidParameter, NotFound, SagewireError
from chalicelib.models import Project
from chalicelib.objectives import describe, objective_metric
from chalicelib.records import Promotion, Run
from chalicelib.registry import (
    GROUP_DESCRIPTION,
    PROJECT_KEY,
    PROMOTION_KEY,
    REGISTRY_CAUSE,
    RUN_KEY,
    ApprovalStatus,
    ModelPackage,
    ModelPackageChange,
    PackageRequest,
    client_token,
    metadata,
)
from chalicelib.services.model_builds import ModelBuilds
from chalicelib.services.ports import ChampionStore, ModelRegistry, ProjectStore, RunStore

logger = logging.getLogger("sagewire")

# A promotion that is over never gets its registration retried.
_UNREGISTERABLE = ("failed", "superseded", "torn_down", "rejected")
# A registered winner an approval deploys: recorded (manual, or an import's), or rejected before.
_AWAITING_APPROVAL = ("recorded", "rejected")
# (project, run, cause, model package ARN) -> the promotion made (ChampionService.promote).
Promote = Callable[[str, str, str, str], Promotion]
Verdict = Literal["deployed", "rejected", "skipped"]


@dataclass(frozen=True)
class PackageDecision:
    """What a model package state change did: a deployment (its promotion), a rejection
    recorded in the ledger, or nothing, and why."""

    verdict: Verdict
    package: str
    reason: str | None = None
    promotion: Promotion | None = None


@dataclass(frozen=True)
class RegistryStores:
    """What both sides of the registry read: projects, runs, the ledger, the registry."""

    projects: ProjectStore
    runs: RunStore
    champions: ChampionStore
    registry: ModelRegistry


class _RegistryService:
    def __init__(self, stores: RegistryStores) -> None:
        self._projects = stores.projects
        self._runs = stores.runs
        self._champions = stores.champions
        self._registry = stores.registry


class Registrar(_RegistryService):
    """Registers a promotion's run in the project's model package group: `Approved`, or
    `PendingManualApproval` for a winner that is only recorded (manual projects, imports)."""

    def __init__(self, stores: RegistryStores, models: ModelBuilds) -> None:
        super().__init__(stores)
        self._models = models

    def register(self, project: Project, promotion: Promotion, run: Run | None = None) -> Promotion:
        """The promotion with its version's ARN. A failure is logged and the promotion returned
        as it was: `reconcile` registers the champion's promotion later (at least once)."""
        if not project.endpoint.managed or promotion.model_package_arn is not None:
            return promotion
        try:
            run = run if run is not None and run.name == promotion.run_name else None
            run = run or self._runs.get_run(promotion.run_name)
            if run is None:
                raise NotFound(f"run {promotion.run_name!r} is not recorded")
            request = self._request(project, promotion, run)
            description = GROUP_DESCRIPTION.format(project=project.name)
            self._registry.ensure_group(project.name, description)
            arn = self._registry.create_package(request)
        except SagewireError as error:
            logger.warning(
                "model package not registered (reconcile retries): %s",
                error.message,
                extra={"project": project.name, "promotion_id": promotion.promotion_id},
            )
            return promotion
        self._champions.set_model_package(project.name, promotion.promotion_id, arn)
        logger.info(
            "model package registered",
            extra={"project": project.name, "promotion_id": promotion.promotion_id},
        )
        return replace(promotion, model_package_arn=arn)

    def reconcile(self) -> list[Promotion]:
        """Registers every champion's promotion whose registration has not happened yet."""
        registered = []
        for project in self._projects.all():
            champion = self._champions.get_champion(project.name)
            if champion is None or not project.endpoint.managed:
                continue
            promotion = self._champions.get_promotion(project.name, champion.promotion_id)
            if (
                promotion is None
                or promotion.model_package_arn is not None
                or promotion.outcome in _UNREGISTERABLE
            ):
                continue
            done = self.register(project, promotion)
            if done.model_package_arn is not None:
                registered.append(done)
        return registered

    def _request(self, project: Project, promotion: Promotion, run: Run) -> PackageRequest:
        container = self._models.container(promotion.model_name, run, project.endpoint)
        approval: ApprovalStatus = (
            "PendingManualApproval" if promotion.outcome == "recorded" else "Approved"
        )
        value = objective_metric(run, project.objective)
        entries = {
            PROJECT_KEY: project.name,
            RUN_KEY: run.name,
            PROMOTION_KEY: promotion.promotion_id,
            "sagewire:cause": promotion.cause,
            "sagewire:objective": describe(project.objective),
        }
        if value is not None:
            entries["sagewire:objective-value"] = repr(value)
        return PackageRequest(
            group=project.name,
            image=container.image,
            artifact=container.artifact,
            environment=container.environment,
            content_types=(project.inference.request.content_type,),
            response_types=(project.inference.response.accept,),
            approval=approval,
            metadata=metadata(entries),
            description=f"sagewire run {run.name}, promotion {promotion.promotion_id}"[:1024],
            token=client_token(project.name, promotion.promotion_id),
        )


class Approvals(_RegistryService):
    """Model package state changes: an approval deploys the run behind the package (a new
    ledger entry, cause `registry:<package ARN>`), a rejection is recorded on its entry."""

    def __init__(self, stores: RegistryStores, promote: Promote) -> None:
        super().__init__(stores)
        self._promote = promote

    def on_package(self, change: ModelPackageChange) -> PackageDecision:
        project = self._projects.get(change.group)
        if project is None or not project.endpoint.managed:
            why = "no project" if project is None else "a project that fronts its endpoint"
            return self._skip(change.arn, f"the group belongs to {why}")
        try:
            # The event may be older than the package's status: act on what it is now.
            package = self._registry.describe_package(change.arn)
        except NotFound:
            return self._skip(change.arn, "the package no longer exists")
        if package.group != project.name:
            return self._skip(change.arn, "the package is in another group")
        promotion = self._registered(project, package)
        cause = f"{REGISTRY_CAUSE}{package.arn}"
        if any(entry.cause == cause for entry in self._champions.promotions(project.name)):
            # Approved and deployed already: neither a second approval nor a rejection changes
            # what serves (an operator rolls back through the promotions API).
            return self._skip(change.arn, "an approval of the package was deployed already")
        if package.approval == "Rejected":
            return self._reject(project, package, promotion)
        if package.approval != "Approved":
            return self._skip(change.arn, f"the package is {package.approval}")
        if promotion is not None and promotion.outcome not in _AWAITING_APPROVAL:
            return self._skip(change.arn, f"its promotion is {promotion.outcome}")
        run_name = promotion.run_name if promotion is not None else self._run_behind(package)
        if run_name is None:
            return self._skip(change.arn, "no recorded run made its artifact")
        try:
            promoted = self._promote(project.name, run_name, cause, package.arn)
        except (InvalidParameter, NotFound) as error:
            # The run cannot be deployed (no model, no objective, gone): no retry changes that.
            return self._skip(change.arn, error.message)
        return PackageDecision("deployed", package.arn, promotion=promoted)

    def _registered(self, project: Project, package: ModelPackage) -> Promotion | None:
        """The ledger entry that registered the package (its metadata names it), if any."""
        promotion_id = package.metadata.get(PROMOTION_KEY)
        if promotion_id is None or package.metadata.get(PROJECT_KEY) != project.name:
            return None
        promotion = self._champions.get_promotion(project.name, promotion_id)
        if promotion is None or promotion.model_package_arn not in (None, package.arn):
            return None  # metadata copied onto a package sagewire did not register
        return promotion

    def _reject(
        self, project: Project, package: ModelPackage, promotion: Promotion | None
    ) -> PackageDecision:
        if promotion is None:
            return self._skip(package.arn, "sagewire did not register the package")
        message = "rejected in the Model Registry; deployed only if approved"
        if self._champions.set_outcome(
            project.name, promotion.promotion_id, "rejected", message, expected="recorded"
        ):
            logger.info(
                "promotion rejected",
                extra={"project": project.name, "promotion_id": promotion.promotion_id},
            )
            return PackageDecision("rejected", package.arn, promotion=promotion)
        # Deployed already (or over): a rejection does not change what serves.
        return self._skip(package.arn, f"its promotion is {promotion.outcome}")

    def _run_behind(self, package: ModelPackage) -> str | None:
        """The recorded run whose artifact the package serves (`<output>/<job>/output/
        model.tar.gz`): a package registered by someone else, in a project's group."""
        parts = (package.artifact or "").split("/")
        if len(parts) < 3 or parts[-2] != "output" or not SAGEMAKER_NAME.fullmatch(parts[-3]):
            return None
        run = self._runs.get_run(parts[-3])
        return run.name if run is not None and run.model_artifact == package.artifact else None

    @staticmethod
    def _skip(package: str, reason: str) -> PackageDecision:
        logger.info("model package change skipped: %s", reason)
        return PackageDecision("skipped", package, reason)
