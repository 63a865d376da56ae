"""EventBridge and scheduled handlers: normalize the event, make one service call, return."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import wraps
from typing import Any

from chalice.app import Blueprint, CloudWatchEvent, Rate

from chalicelib import wiring
from chalicelib.config import get_settings
from chalicelib.observability import correlate
from chalicelib.processing.events import (
    endpoint_change,
    object_created,
    training_job_change,
    tuning_job_change,
)

SAGEMAKER = "aws.sagemaker"
events = Blueprint(__name__)


def _observed(handler: Callable[[CloudWatchEvent], Any]) -> Callable[[CloudWatchEvent], Any]:
    """One invocation per event: the event's and Lambda's request ids on every log line, a
    failure logged (and raised, for Lambda to retry), the metrics flushed once."""

    @wraps(handler)
    def observe(event: CloudWatchEvent) -> Any:
        scope = wiring.container().observability.invocation(
            handler.__name__, event.context, correlation_id=event.event_id
        )
        with scope:
            return handler(event)

    return observe


@events.on_cw_event(
    {"source": [SAGEMAKER], "detail-type": ["SageMaker Training Job State Change"]},
    name="on_training_job_state_change",
)
@_observed
def on_training_job_state_change(event: CloudWatchEvent) -> Any:
    change = training_job_change(event.to_dict())
    correlate(training_job=change.name)
    return wiring.container().event_handlers.training_job(
        event.context, change, cause=f"event:{event.event_id}"
    )


@events.on_cw_event(
    {"source": [SAGEMAKER], "detail-type": ["SageMaker HyperParameter Tuning Job State Change"]},
    name="on_tuning_job_state_change",
)
@_observed
def on_tuning_job_state_change(event: CloudWatchEvent) -> Any:
    change = tuning_job_change(event.to_dict())
    correlate(tuning_job=change.name)
    return wiring.container().event_handlers.tuning_job(
        event.context, change, cause=f"event:{event.event_id}"
    )


@events.on_cw_event(
    {
        "source": [SAGEMAKER],
        "detail-type": [
            "SageMaker Endpoint State Change",
            "SageMaker Endpoint Deployment State Change",
        ],
    },
    name="on_endpoint_state_change",
)
@_observed
def on_endpoint_state_change(event: CloudWatchEvent) -> Any:
    change = endpoint_change(event.to_dict())
    correlate(endpoint=change.name)
    return wiring.container().event_handlers.endpoint(event.context, change)


S3 = "aws.s3"
# Event patterns are fixed when the app is packaged, so the bucket and prefixes are read here, at
# import (get_settings() reads the environment once per process).
_STORAGE = get_settings()


def _object_created(prefix: str) -> dict[str, Any]:
    """S3 -> EventBridge: `chalice package` refuses @on_s3_event in CloudFormation form."""
    return {
        "source": [S3],
        "detail-type": ["Object Created"],
        "detail": {
            "bucket": {"name": [_STORAGE.bucket_name]},
            "object": {"key": [{"prefix": prefix}]},
        },
    }


@events.on_cw_event(_object_created(_STORAGE.datasets_prefix), name="on_dataset_object")
@_observed
def on_dataset_object(event: CloudWatchEvent) -> Any:
    change = object_created(event.to_dict())
    return wiring.container().object_event_handlers.dataset_object(event.context, change)


@events.on_cw_event(_object_created(_STORAGE.batch_input_prefix), name="on_batch_object")
@_observed
def on_batch_object(event: CloudWatchEvent) -> Any:
    change = object_created(event.to_dict())
    return wiring.container().object_event_handlers.batch_object(event.context, change)


@events.schedule(Rate(10, unit=Rate.MINUTES), name="reconcile")
@_observed
def reconcile(event: CloudWatchEvent) -> Any:
    return wiring.container().event_handlers.reconcile()


@events.schedule(Rate(1, unit=Rate.DAYS), name="lineage_report")
@_observed
def lineage_report(event: CloudWatchEvent) -> Any:
    keys = wiring.container().reports.write(datetime.now(UTC))
    return {"dated": list(keys.dated), "latest": list(keys.latest)}
