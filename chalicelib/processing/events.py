"""EventBridge events, checked for their account and normalized before any service."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, cast, get_args

from chalicelib.errors import MalformedInput
from chalicelib.records import (
    EndpointChange,
    EndpointStatus,
    ObjectCreated,
    RunStatus,
    TrainingJobChange,
    TuningJobChange,
)
from chalicelib.registry import APPROVAL_STATUSES, ModelPackageChange

_ENDPOINT_STATUSES = {status.upper(): status for status in get_args(EndpointStatus)}
_RUN_STATUSES = {status.upper(): status for status in get_args(RunStatus)}
_APPROVALS = {status.upper(): status for status in APPROVAL_STATUSES}


# The resource ARNs a SageMaker event names in its detail; S3's bucket ARNs carry no account.
_DETAIL_ARNS = ("TrainingJobArn", "HyperParameterTuningJobArn", "EndpointArn", "ModelPackageArn")


def foreign_account(event: Mapping[str, Any], account: str | None) -> str | None:
    """Why the event is not about the stage's own account (its `account`, or the account of a
    resource ARN it names), or None when it is, or when the stage names no account."""
    if account is None:
        return None
    if event.get("account") != account:
        return f"the event's account is not {account}"
    detail, resources = event.get("detail"), event.get("resources", [])
    if not isinstance(resources, list):
        return "the event's resources are not a list"
    arns = list(resources)
    if isinstance(detail, Mapping):
        arns += [detail.get(field) for field in _DETAIL_ARNS if field in detail]
    for arn in arns:
        parts = arn.split(":", 5) if isinstance(arn, str) else []
        if len(parts) != 6 or parts[0] != "arn":
            return "a resource of the event is not an ARN"
        if parts[4] not in ("", account):
            return f"a resource of the event is not in account {account}"
    return None


def event_time(value: Any, field: str) -> datetime:
    """Epoch milliseconds (number or digit string) or ISO-8601, as an aware UTC datetime."""
    if isinstance(value, bool):
        raise MalformedInput(f"{field} is not a time")
    if isinstance(value, int | float) or (isinstance(value, str) and value.isdigit()):
        try:
            return datetime.fromtimestamp(float(value) / 1000, tz=UTC)
        except (OverflowError, OSError, ValueError):
            raise MalformedInput(f"{field} is out of range") from None
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise MalformedInput(f"{field} is not a time") from None
        if parsed.tzinfo is None:
            return parsed.replace(tzinfo=UTC)
        try:
            return parsed.astimezone(UTC)
        except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00 is in year 0 in UTC
            raise MalformedInput(f"{field} is out of range") from None
    raise MalformedInput(f"{field} is not a time")


def _status(value: Any, table: Mapping[str, str], field: str) -> str:
    """`IN_SERVICE`, `InService` and `inservice` are one status."""
    if not isinstance(value, str):
        raise MalformedInput(f"{field} is missing")
    status = table.get(value.replace("_", "").upper())
    if status is None:
        raise MalformedInput(f"{field} {value[:40]!r} is unknown")
    return status


def _detail(event: Mapping[str, Any]) -> Mapping[str, Any]:
    detail = event.get("detail")
    if not isinstance(detail, Mapping):
        raise MalformedInput("the event has no detail")
    return detail


def _text(detail: Mapping[str, Any], field: str) -> str:
    value = detail.get(field)
    if not isinstance(value, str) or not value:
        raise MalformedInput(f"{field} is missing")
    return value


def _tags(detail: Mapping[str, Any]) -> dict[str, str]:
    tags = detail.get("Tags") or {}
    if isinstance(tags, list):  # the API's [{"Key", "Value"}] form
        tags = {tag.get("Key"): tag.get("Value") for tag in tags if isinstance(tag, Mapping)}
    if not isinstance(tags, Mapping):
        raise MalformedInput("Tags is not a map")
    return {str(key): str(value) for key, value in tags.items() if key is not None}


def _modified(event: Mapping[str, Any], detail: Mapping[str, Any]) -> datetime:
    value = detail.get("LastModifiedTime", event.get("time"))
    return event_time(value, "LastModifiedTime")


def training_job_change(event: Mapping[str, Any]) -> TrainingJobChange:
    detail = _detail(event)
    return TrainingJobChange(
        name=_text(detail, "TrainingJobName"),
        arn=_text(detail, "TrainingJobArn"),
        status=cast(RunStatus, _status(detail.get("TrainingJobStatus"), _RUN_STATUSES, "status")),
        last_modified_at=_modified(event, detail),
        tags=_tags(detail),
    )


def tuning_job_change(event: Mapping[str, Any]) -> TuningJobChange:
    detail = _detail(event)
    return TuningJobChange(
        name=_text(detail, "HyperParameterTuningJobName"),
        arn=_text(detail, "HyperParameterTuningJobArn"),
        status=_text(detail, "HyperParameterTuningJobStatus"),
        last_modified_at=_modified(event, detail),
        tags=_tags(detail),
    )


def endpoint_change(event: Mapping[str, Any]) -> EndpointChange:
    detail = _detail(event)
    config = detail.get("EndpointConfigName")
    return EndpointChange(
        name=_text(detail, "EndpointName"),
        arn=_text(detail, "EndpointArn"),
        status=cast(
            EndpointStatus,
            _status(detail.get("EndpointStatus"), _ENDPOINT_STATUSES, "EndpointStatus"),
        ),
        last_modified_at=_modified(event, detail),
        config_name=config if isinstance(config, str) and config else None,
    )


def model_package_change(event: Mapping[str, Any]) -> ModelPackageChange:
    """A versioned package's state change; an unversioned one (no group) is MalformedInput."""
    detail = _detail(event)
    arn = _text(detail, "ModelPackageArn")
    if not arn.startswith("arn:") or ":model-package/" not in arn:
        raise MalformedInput("ModelPackageArn is not a model package ARN")
    return ModelPackageChange(
        arn=arn,
        group=_text(detail, "ModelPackageGroupName"),
        approval=_status(detail.get("ModelApprovalStatus"), _APPROVALS, "ModelApprovalStatus"),
        last_modified_at=_modified(event, detail),
    )


# S3 keys are at most 1,024 bytes of UTF-8; sequencers are hexadecimal.
_MAX_KEY_BYTES = 1024
_SEQUENCER = re.compile(r"[0-9A-Fa-f]{1,64}")


def _mapping(parent: Mapping[str, Any], field: str) -> Mapping[str, Any]:
    value = parent.get(field)
    if not isinstance(value, Mapping):
        raise MalformedInput(f"{field} is missing")
    return value


def _optional_text(detail: Mapping[str, Any], field: str) -> str | None:
    value = detail.get(field)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise MalformedInput(f"{field} is not a string")
    return value


def object_created(event: Mapping[str, Any]) -> ObjectCreated:
    """An S3 "Object Created" event from EventBridge, whose keys (unlike S3's own notifications)
    are not URL-encoded: the key is used as sent."""
    detail = _detail(event)
    stored = _mapping(detail, "object")
    key = _text(stored, "key")
    try:
        too_long = len(key.encode()) > _MAX_KEY_BYTES
    except UnicodeEncodeError:
        raise MalformedInput("key is not valid UTF-8") from None
    if too_long:
        raise MalformedInput(f"key is longer than {_MAX_KEY_BYTES} bytes")
    size = stored.get("size")
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise MalformedInput("size is not a byte count")
    etag = _text(stored, "etag").strip('"')
    if not etag:
        raise MalformedInput("etag is missing")
    sequencer = _optional_text(stored, "sequencer")
    if sequencer is not None and not _SEQUENCER.fullmatch(sequencer):
        raise MalformedInput("sequencer is not hexadecimal")
    return ObjectCreated(
        bucket=_text(_mapping(detail, "bucket"), "name"),
        key=key,
        etag=etag,
        size=size,
        time=event_time(event.get("time"), "time"),
        version_id=_optional_text(stored, "version-id"),
        sequencer=sequencer,
    )
