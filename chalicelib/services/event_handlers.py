"""Event handlers, each run once per business key: a duplicate gets the first run's result."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from chalicelib.models import document
from chalicelib.records import EndpointChange, ObjectCreated, TrainingJobChange, TuningJobChange
from chalicelib.registry import ModelPackageChange
from chalicelib.services.batch import BatchService
from chalicelib.services.datasets import DatasetService
from chalicelib.services.registry import Approvals, Registrar
from chalicelib.services.rollout import RolloutService
from chalicelib.services.selection import ChampionService

# (handler name, function) -> the function, run once per distinct `key=`, called with the Lambda
# context first. The handler name prefixes every stored key: it must never change.
Idempotent = Callable[[str, Callable[..., Any]], Callable[..., Any]]


def job_key(arn: str, status: str, last_modified: datetime) -> dict[str, str]:
    """SageMaker may send one state change several times, under different event ids."""
    return {"arn": arn, "status": status, "last_modified": last_modified.isoformat()}


def object_key(change: ObjectCreated) -> dict[str, str]:
    """One object version, however many times (and under whichever event ids) it is delivered."""
    return {
        "bucket": change.bucket,
        "key": change.key,
        "etag": change.etag,
        "sequencer": change.sequencer or "",
    }


class EventHandlers:
    """SageMaker's events, each run once per (ARN, status, LastModifiedTime)."""

    def __init__(
        self,
        champions: ChampionService,
        rollout: RolloutService,
        idempotent: Idempotent,
        registry: tuple[Registrar, Approvals] | None = None,
    ) -> None:
        self._champions = champions
        self._rollout = rollout
        self._registry = registry
        self._package = idempotent("on_model_package_state_change", self._on_package)
        self._training_job = idempotent("on_training_job_state_change", self._on_training_job)
        self._tuning_job = idempotent("on_tuning_job_state_change", self._on_tuning_job)
        self._endpoint = idempotent("on_endpoint_state_change", self._on_endpoint)

    def training_job(self, context: Any, change: TrainingJobChange, cause: str) -> Any:
        key = job_key(change.arn, change.status, change.last_modified_at)
        return self._training_job(context, key=key, change=change, cause=cause)

    def tuning_job(self, context: Any, change: TuningJobChange, cause: str) -> Any:
        key = job_key(change.arn, change.status, change.last_modified_at)
        return self._tuning_job(context, key=key, change=change, cause=cause)

    def endpoint(self, context: Any, change: EndpointChange) -> Any:
        key = job_key(change.arn, change.status, change.last_modified_at)
        return self._endpoint(context, key=key, change=change)

    def model_package(self, context: Any, change: ModelPackageChange) -> Any:
        key = job_key(change.arn, change.approval, change.last_modified_at)
        return self._package(context, key=key, change=change)

    def reconcile(self) -> Any:
        """Scheduled, so not deduplicated: each run looks at the world afresh (and registers
        the champions whose registration failed)."""
        result = document(self._rollout.reconcile())
        if self._registry is not None:
            result["registered"] = document(self._registry[0].reconcile())
        return result

    def _on_training_job(self, key: dict[str, str], change: TrainingJobChange, cause: str) -> Any:
        return document(self._champions.on_training_job(change, cause))

    def _on_tuning_job(self, key: dict[str, str], change: TuningJobChange, cause: str) -> Any:
        return document(self._champions.on_tuning_job(change, cause))

    def _on_endpoint(self, key: dict[str, str], change: EndpointChange) -> Any:
        return document(self._rollout.on_endpoint(change))

    def _on_package(self, key: dict[str, str], change: ModelPackageChange) -> Any:
        if self._registry is None:
            return {"verdict": "skipped", "package": change.arn, "reason": "no registry"}
        return document(self._registry[1].on_package(change))


class ObjectEventHandlers:
    """S3 "Object Created" handlers, each run once per (bucket, key, ETag, sequencer)."""

    def __init__(
        self, datasets: DatasetService, batch: BatchService, idempotent: Idempotent
    ) -> None:
        self._datasets = datasets
        self._batch = batch
        self._dataset_object = idempotent("on_dataset_object", self._on_dataset_object)
        self._batch_object = idempotent("on_batch_object", self._on_batch_object)

    def dataset_object(self, context: Any, change: ObjectCreated) -> Any:
        return self._dataset_object(context, key=object_key(change), change=change)

    def batch_object(self, context: Any, change: ObjectCreated) -> Any:
        return self._batch_object(context, key=object_key(change), change=change)

    def _on_dataset_object(self, key: dict[str, str], change: ObjectCreated) -> Any:
        return {"uri": change.uri, "recorded": self._datasets.record(change)}

    def _on_batch_object(self, key: dict[str, str], change: ObjectCreated) -> Any:
        return document(self._batch.run(change))
