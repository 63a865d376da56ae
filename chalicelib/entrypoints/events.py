"""EventBridge and scheduled handlers: normalize the event, make one service call, return."""

from __future__ import annotations

from typing import Any

from chalice.app import Blueprint, CloudWatchEvent, Rate

from chalicelib import wiring
from chalicelib.processing.events import endpoint_change, training_job_change, tuning_job_change

SAGEMAKER = "aws.sagemaker"
events = Blueprint(__name__)


def _key(arn: str, status: str, last_modified: Any) -> dict[str, str]:
    """SageMaker may send one state change several times, under different event ids."""
    return {"arn": arn, "status": status, "last_modified": last_modified.isoformat()}


@events.on_cw_event(
    {"source": [SAGEMAKER], "detail-type": ["SageMaker Training Job State Change"]},
    name="on_training_job_state_change",
)
def on_training_job_state_change(event: CloudWatchEvent) -> Any:
    change = training_job_change(event.to_dict())
    return wiring.container().event_handlers.training_job(
        event.context,
        key=_key(change.arn, change.status, change.last_modified_at),
        change=change,
        cause=f"event:{event.event_id}",
    )


@events.on_cw_event(
    {"source": [SAGEMAKER], "detail-type": ["SageMaker HyperParameter Tuning Job State Change"]},
    name="on_tuning_job_state_change",
)
def on_tuning_job_state_change(event: CloudWatchEvent) -> Any:
    change = tuning_job_change(event.to_dict())
    return wiring.container().event_handlers.tuning_job(
        event.context,
        key=_key(change.arn, change.status, change.last_modified_at),
        change=change,
        cause=f"event:{event.event_id}",
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
def on_endpoint_state_change(event: CloudWatchEvent) -> Any:
    change = endpoint_change(event.to_dict())
    return wiring.container().event_handlers.endpoint(
        event.context, key=_key(change.arn, change.status, change.last_modified_at), change=change
    )


@events.schedule(Rate(10, unit=Rate.MINUTES), name="reconcile")
def reconcile(event: CloudWatchEvent) -> Any:
    return wiring.container().event_handlers.reconcile()
