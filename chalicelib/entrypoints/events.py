"""EventBridge and scheduled handlers: normalize the event, make one service call, return."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import wraps
from typing import Any

from chalice.app import Blueprint, CloudWatchEvent, Rate

from chalicelib import wiring
from chalicelib.config import get_settings
from chalicelib.event_types import (
    IMPORT_REQUESTED,
    IMPORT_SOURCE,
    MODEL_PACKAGE_STATE_CHANGE,
    REINDEX_REQUESTED,
)
from chalicelib.observability import correlate, logger

SAGEMAKER = "aws.sagemaker"
# Each handler imports its parser (processing/events.py, with the event-side values it builds) on
# its first event: the API's function, predictions included, never loads them.
events = Blueprint(__name__)
# Event patterns are fixed when the app is packaged, so the account, the bucket and the prefixes
# are read here, at import (get_settings() reads the environment once per process).
_STAGE = get_settings()


def _pinned(pattern: dict[str, Any]) -> dict[str, Any]:
    """The pattern, matching only the stage's own account when the stage names it."""
    account = _STAGE.account_id
    return pattern if account is None else {**pattern, "account": [account]}


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


def _own_account(handler: Callable[[CloudWatchEvent], Any]) -> Callable[[CloudWatchEvent], Any]:
    """An event about another account (a rule widened by hand, a bus shared across accounts) is
    logged and dropped, not raised: a retry would not change it."""

    @wraps(handler)
    def checked(event: CloudWatchEvent) -> Any:
        from chalicelib.processing.events import foreign_account

        reason = foreign_account(event.to_dict(), wiring.container().settings.account_id)
        if reason is None:
            return handler(event)
        logger.warning("event skipped: %s", reason)
        return {"skipped": reason}

    return checked


@events.on_cw_event(
    _pinned({"source": [SAGEMAKER], "detail-type": ["SageMaker Training Job State Change"]}),
    name="on_training_job_state_change",
)
@_observed
@_own_account
def on_training_job_state_change(event: CloudWatchEvent) -> Any:
    from chalicelib.processing.events import training_job_change

    change = training_job_change(event.to_dict())
    correlate(training_job=change.name)
    return wiring.container().event_handlers.training_job(
        event.context, change, cause=f"event:{event.event_id}"
    )


@events.on_cw_event(
    _pinned(
        {"source": [SAGEMAKER], "detail-type": ["SageMaker HyperParameter Tuning Job State Change"]}
    ),
    name="on_tuning_job_state_change",
)
@_observed
@_own_account
def on_tuning_job_state_change(event: CloudWatchEvent) -> Any:
    from chalicelib.processing.events import tuning_job_change

    change = tuning_job_change(event.to_dict())
    correlate(tuning_job=change.name)
    return wiring.container().event_handlers.tuning_job(
        event.context, change, cause=f"event:{event.event_id}"
    )


@events.on_cw_event(
    _pinned(
        {
            "source": [SAGEMAKER],
            "detail-type": [
                "SageMaker Endpoint State Change",
                "SageMaker Endpoint Deployment State Change",
            ],
        }
    ),
    name="on_endpoint_state_change",
)
@_observed
@_own_account
def on_endpoint_state_change(event: CloudWatchEvent) -> Any:
    from chalicelib.processing.events import endpoint_change

    change = endpoint_change(event.to_dict())
    correlate(endpoint=change.name)
    return wiring.container().event_handlers.endpoint(event.context, change)


@events.on_cw_event(
    _pinned({"source": [SAGEMAKER], "detail-type": [MODEL_PACKAGE_STATE_CHANGE]}),
    name="on_model_package_state_change",
)
@_observed
@_own_account
def on_model_package_state_change(event: CloudWatchEvent) -> Any:
    """An approval in the Model Registry deploys; a rejection is recorded (services/registry.py)."""
    from chalicelib.processing.events import model_package_change

    change = model_package_change(event.to_dict())
    correlate(project=change.group)
    return wiring.container().event_handlers.model_package(event.context, change)


@events.on_cw_event(
    _pinned({"source": [IMPORT_SOURCE], "detail-type": [IMPORT_REQUESTED, REINDEX_REQUESTED]}),
    name="on_run_import",
)
@_observed
@_own_account
def on_run_import(event: CloudWatchEvent) -> Any:
    """Continues a run import, or a leaderboard re-index, for as long as this invocation has
    time, then requests the next."""
    detail = event.detail if isinstance(event.detail, dict) else {}
    reindex = event.detail_type == REINDEX_REQUESTED
    id_key = "job_id" if reindex else "import_id"
    project, job = detail.get("project"), detail.get(id_key)
    if not isinstance(project, str) or not isinstance(job, str):
        logger.warning("import or re-index request without a project and an id skipped")
        return {"skipped": f"no project or {id_key}"}
    correlate(project=project)
    context: Any = event.context  # Lambda's context object; Chalice annotates it as a dict
    remaining = context.get_remaining_time_in_millis if context is not None else _one_minute
    if reindex:
        index = wiring.container().leaderboard.boards.advance(project, job, remaining)
        return None if index is None else {"building": sorted(index.building), "pages": index.pages}
    run_import = wiring.container().imports.advance(project, job, remaining)
    return None if run_import is None else {"status": run_import.status, "pages": run_import.pages}


def _one_minute() -> int:
    """The time left of an invocation without a Lambda context (a test's direct call)."""
    return 60_000


S3 = "aws.s3"


def _object_created(prefix: str) -> dict[str, Any]:
    """S3 -> EventBridge: `chalice package` refuses @on_s3_event in CloudFormation form."""
    return _pinned(
        {
            "source": [S3],
            "detail-type": ["Object Created"],
            "detail": {
                "bucket": {"name": [_STAGE.bucket_name]},
                "object": {"key": [{"prefix": prefix}]},
            },
        }
    )


@events.on_cw_event(_object_created(_STAGE.datasets_prefix), name="on_dataset_object")
@_observed
@_own_account
def on_dataset_object(event: CloudWatchEvent) -> Any:
    from chalicelib.processing.events import object_created

    change = object_created(event.to_dict())
    return wiring.container().object_event_handlers.dataset_object(event.context, change)


@events.on_cw_event(_object_created(_STAGE.batch_input_prefix), name="on_batch_object")
@_observed
@_own_account
def on_batch_object(event: CloudWatchEvent) -> Any:
    from chalicelib.processing.events import object_created

    change = object_created(event.to_dict())
    return wiring.container().object_event_handlers.batch_object(event.context, change)


@events.schedule(Rate(10, unit=Rate.MINUTES), name="reconcile")
@_observed
def reconcile(event: CloudWatchEvent) -> Any:
    return wiring.container().event_handlers.reconcile()


@events.schedule(Rate(15, unit=Rate.MINUTES), name="resume_imports")
@_observed
def resume_imports(event: CloudWatchEvent) -> Any:
    container = wiring.container()
    return {
        "resumed": container.imports.resume_stalled(),
        "reindexes": container.leaderboard.boards.resume_stalled(),
    }


@events.schedule(Rate(1, unit=Rate.DAYS), name="lineage_report")
@_observed
def lineage_report(event: CloudWatchEvent) -> Any:
    keys = wiring.container().reports.write(datetime.now(UTC))
    return {"dated": list(keys.dated), "latest": list(keys.latest)}
