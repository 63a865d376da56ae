"""The champion service as event handlers: idempotent, with JSON-safe results."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chalicelib.models import (
    EndpointChange,
    ObjectCreated,
    TrainingJobChange,
    TuningJobChange,
    document,
)
from chalicelib.services.batch import BatchService
from chalicelib.services.champions import ChampionService
from chalicelib.services.datasets import DatasetService

# (handler name, function) -> the function, run once per distinct `key=`; called with the Lambda
# context first.
Idempotent = Callable[[str, Callable[..., Any]], Callable[..., Any]]


class EventHandlers:
    """Each handler runs once per `key` (ARN, status, LastModifiedTime); a duplicate delivery,
    whatever its event id, gets the first delivery's result and changes nothing."""

    def __init__(self, service: ChampionService, idempotent: Idempotent) -> None:
        self._service = service
        self.training_job = idempotent("on_training_job_state_change", self._training_job)
        self.tuning_job = idempotent("on_tuning_job_state_change", self._tuning_job)
        self.endpoint = idempotent("on_endpoint_state_change", self._endpoint)

    def _training_job(self, key: dict[str, str], change: TrainingJobChange, cause: str) -> Any:
        return document(self._service.on_training_job(change, cause))

    def _tuning_job(self, key: dict[str, str], change: TuningJobChange, cause: str) -> Any:
        return document(self._service.on_tuning_job(change, cause))

    def _endpoint(self, key: dict[str, str], change: EndpointChange) -> Any:
        return document(self._service.on_endpoint(change))

    def reconcile(self) -> Any:
        """Scheduled, so not deduplicated: each run looks at the world afresh."""
        return document(self._service.reconcile())


class ObjectEventHandlers:
    """S3 "Object Created" handlers, each run once per `key` (bucket, key, ETag, sequencer)."""

    def __init__(
        self, datasets: DatasetService, batch: BatchService, idempotent: Idempotent
    ) -> None:
        self._datasets = datasets
        self._batch = batch
        self.dataset_object = idempotent("on_dataset_object", self._dataset_object)
        self.batch_object = idempotent("on_batch_object", self._batch_object)

    def _dataset_object(self, key: dict[str, str], change: ObjectCreated) -> Any:
        return {"uri": change.uri, "recorded": self._datasets.record(change)}

    def _batch_object(self, key: dict[str, str], change: ObjectCreated) -> Any:
        return document(self._batch.run(change))
