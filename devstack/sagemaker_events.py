"""SageMaker's EventBridge events in their documented shape, built from moto's backend objects."""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from devstack.events import ACCOUNT_ID

SOURCE = "aws.sagemaker"
TRAINING_JOB_STATE_CHANGE = "SageMaker Training Job State Change"
TUNING_JOB_STATE_CHANGE = "SageMaker HyperParameter Tuning Job State Change"
ENDPOINT_STATE_CHANGE = "SageMaker Endpoint State Change"
TRANSFORM_JOB_STATE_CHANGE = "SageMaker Transform Job State Change"
MODEL_PACKAGE_STATE_CHANGE = "SageMaker Model Package State Change"
# What the model package event's detail carries: DescribeModelPackage's fields.
_PACKAGE_FIELDS = (
    "ModelPackageGroupName",
    "ModelPackageVersion",
    "ModelPackageArn",
    "ModelPackageDescription",
    "CreationTime",
    "InferenceSpecification",
    "ModelPackageStatus",
    "ModelPackageStatusDetails",
    "CertifyForMarketplace",
    "ModelApprovalStatus",
    "ApprovalDescription",
    "CustomerMetadataProperties",
    "LastModifiedTime",
)
_CAMEL_WORD = re.compile(r"(?<=[a-z])(?=[A-Z])")
# What the training event's detail carries: DescribeTrainingJob without metrics or artifacts.
_TRAINING_FIELDS = (
    "TrainingJobName",
    "TrainingJobArn",
    "TrainingJobStatus",
    "SecondaryStatus",
    "FailureReason",
    "HyperParameters",
    "AlgorithmSpecification",
    "RoleArn",
    "InputDataConfig",
    "OutputDataConfig",
    "ResourceConfig",
    "VpcConfig",
    "StoppingCondition",
    "CreationTime",
    "TrainingStartTime",
    "TrainingEndTime",
    "LastModifiedTime",
    "SecondaryStatusTransitions",
)


def epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _event(detail_type: str, resource: str, region: str, detail: dict[str, Any]) -> dict[str, Any]:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": SOURCE,
        "account": ACCOUNT_ID,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [resource],
        "detail": detail,
    }


def tag_map(tags: Any) -> dict[str, str]:
    """SageMaker's tag list as the `Tags` map its events carry."""
    return {str(tag["Key"]): str(tag["Value"]) for tag in tags or []}


def _ms_strings(value: Any) -> Any:
    """Times in the training and tuning events are epoch milliseconds, as strings."""
    if isinstance(value, datetime):
        return str(epoch_ms(value))
    if isinstance(value, Mapping):
        return {key: _ms_strings(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_ms_strings(item) for item in value]
    return value


def training_job_event(described: Mapping[str, Any], region: str) -> dict[str, Any]:
    """From a DescribeTrainingJob-shaped mapping (moto's `response_object`)."""
    detail = {key: described[key] for key in _TRAINING_FIELDS if described.get(key) is not None}
    algorithm = detail.get("AlgorithmSpecification", {})
    detail["AlgorithmSpecification"] = {
        key: algorithm[key] for key in ("TrainingImage", "TrainingInputMode") if key in algorithm
    }
    detail = _ms_strings(detail)
    detail["Tags"] = tag_map(described.get("Tags"))
    return _event(TRAINING_JOB_STATE_CHANGE, described["TrainingJobArn"], region, detail)


def tuning_job_event(described: Mapping[str, Any], tags: Any, region: str) -> dict[str, Any]:
    """From a DescribeHyperParameterTuningJob-shaped mapping; no BestTrainingJob, like SageMaker."""
    keys = (
        "HyperParameterTuningJobName",
        "HyperParameterTuningJobArn",
        "TrainingJobDefinition",
        "HyperParameterTuningJobStatus",
        "FailureReason",
        "CreationTime",
        "LastModifiedTime",
        "TrainingJobStatusCounters",
        "ObjectiveStatusCounters",
    )
    detail = _ms_strings({key: described[key] for key in keys if described.get(key)})
    detail["Tags"] = tag_map(tags)
    return _event(TUNING_JOB_STATE_CHANGE, described["HyperParameterTuningJobArn"], region, detail)


def endpoint_status(status: str) -> str:
    """`InService` -> `IN_SERVICE`: the endpoint event's spelling of the status."""
    return _CAMEL_WORD.sub("_", status).upper()


def endpoint_event(
    *,
    name: str,
    arn: str,
    config_name: str,
    variants: list[dict[str, Any]],
    status: str,
    created: datetime,
    modified: datetime,
    tags: Any,
    region: str,
    failure_reason: str | None = None,
) -> dict[str, Any]:
    detail: dict[str, Any] = {
        "EndpointName": name,
        "EndpointArn": arn,
        "EndpointConfigName": config_name,
        "ProductionVariants": [
            {
                "VariantName": variant["VariantName"],
                "DesiredWeight": float(variant.get("InitialVariantWeight", 1.0)),
                "DesiredInstanceCount": float(variant.get("InitialInstanceCount", 1)),
            }
            for variant in variants
        ],
        "EndpointStatus": endpoint_status(status),
        "CreationTime": epoch_ms(created),
        "LastModifiedTime": epoch_ms(modified),
        "Tags": tag_map(tags),
    }
    if failure_reason:
        detail["FailureReason"] = failure_reason
    return _event(ENDPOINT_STATE_CHANGE, arn, region, detail)


def transform_job_event(described: Mapping[str, Any], tags: Any, region: str) -> dict[str, Any]:
    """From a DescribeTransformJob-shaped mapping (moto's `response_object`)."""
    detail = _ms_strings(
        {key: value for key, value in described.items() if value not in ("", None)}
    )
    detail["Tags"] = tag_map(tags)
    return _event(TRANSFORM_JOB_STATE_CHANGE, described["TransformJobArn"], region, detail)


def model_package_event(described: Mapping[str, Any], region: str) -> dict[str, Any]:
    """From a DescribeModelPackage-shaped mapping (moto's `gen_response_object`); times in
    epoch milliseconds, as strings."""
    detail = {key: described[key] for key in _PACKAGE_FIELDS if described.get(key) is not None}
    arn = str(described["ModelPackageArn"])
    return _event(MODEL_PACKAGE_STATE_CHANGE, arn, region, _ms_strings(detail))
