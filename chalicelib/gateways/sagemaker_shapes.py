"""SageMaker API shapes to domain values and back: training jobs, variants, deployment configs."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from chalicelib.errors import DeploymentFailed, NotFound
from chalicelib.models import Strategy
from chalicelib.records import Channel, Run

if TYPE_CHECKING:
    from mypy_boto3_sagemaker.type_defs import (
        CapacitySizeTypeDef,
        DeploymentConfigTypeDef,
        DescribeTrainingJobResponseTypeDef,
        DescribeTrialComponentResponseTypeDef,
        ProductionVariantOutputTypeDef,
        ProductionVariantTypeDef,
        TrafficRoutingConfigTypeDef,
    )


def training_run(job: DescribeTrainingJobResponseTypeDef, tags: dict[str, str]) -> Run:
    """The Run of a DescribeTrainingJob answer; a job being deleted is NotFound."""
    experiment = job.get("ExperimentConfig", {})
    tuning_job_arn = job.get("TuningJobArn")
    created_at = job["CreationTime"].astimezone(UTC)
    status = job["TrainingJobStatus"]
    # DeleteTrainingJob is under way: nothing of this job is worth recording or deploying.
    if status == "Deleting":
        raise NotFound(f"training job {job['TrainingJobName']} is being deleted")
    return Run(
        name=job["TrainingJobName"],
        arn=job["TrainingJobArn"],
        status=status,
        last_modified_at=_utc(job.get("LastModifiedTime")) or created_at,
        metrics={
            metric["MetricName"]: metric["Value"]
            for metric in job.get("FinalMetricDataList", [])
            if "MetricName" in metric and math.isfinite(metric.get("Value", math.nan))
        },
        hyperparameters=dict(job.get("HyperParameters", {})),
        channels=tuple(
            Channel(channel["ChannelName"], channel["DataSource"]["S3DataSource"]["S3Uri"])
            for channel in job.get("InputDataConfig", [])
            if "S3DataSource" in channel["DataSource"]
        ),
        model_artifact=job.get("ModelArtifacts", {}).get("S3ModelArtifacts"),
        training_image=job.get("AlgorithmSpecification", {}).get("TrainingImage"),
        role_arn=job.get("RoleArn"),
        tags=dict(tags),
        experiment_name=experiment.get("ExperimentName"),
        trial_name=experiment.get("TrialName"),
        tuning_job_name=tuning_job_arn.rsplit("/", 1)[-1] if tuning_job_arn else None,
        failure_reason=job.get("FailureReason"),
        created_at=created_at,
        started_at=_utc(job.get("TrainingStartTime")),
        ended_at=_utc(job.get("TrainingEndTime")),
    )


def metric_statistics(
    component: DescribeTrialComponentResponseTypeDef,
) -> dict[str, dict[str, float]]:
    """Each metric's finite statistics (max, min, avg, last, count, std_dev) of a trial
    component, as DescribeTrialComponent computes them over the values the job logged."""
    statistics: dict[str, dict[str, float]] = {}
    for summary in component.get("Metrics", []):
        given = {
            "max": summary.get("Max"),
            "min": summary.get("Min"),
            "avg": summary.get("Avg"),
            "last": summary.get("Last"),
            "count": summary.get("Count"),
            "std_dev": summary.get("StdDev"),
        }
        values = {k: float(v) for k, v in given.items() if v is not None and math.isfinite(v)}
        name = summary.get("MetricName")
        if name and values:
            statistics[name] = values
    return statistics


def deployment_config(strategy: Strategy) -> DeploymentConfigTypeDef | None:
    """Blue/green guardrails for canary and linear shifts; None lets SageMaker swap at once."""
    routing: TrafficRoutingConfigTypeDef
    if strategy.type == "canary":
        routing = {
            "Type": "CANARY",
            "CanarySize": _percent(strategy.canary_percent, "canary_percent"),
            "WaitIntervalInSeconds": strategy.wait_seconds,
        }
    elif strategy.type == "linear":
        routing = {
            "Type": "LINEAR",
            "LinearStepSize": _percent(strategy.linear_step_percent, "linear_step_percent"),
            "WaitIntervalInSeconds": strategy.wait_seconds,
        }
    else:
        return None
    config: DeploymentConfigTypeDef = {
        "BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": routing}
    }
    if strategy.rollback_alarms:
        config["AutoRollbackConfiguration"] = {
            "Alarms": [{"AlarmName": alarm} for alarm in strategy.rollback_alarms]
        }
    return config


def _percent(value: int | None, field: str) -> CapacitySizeTypeDef:
    if value is None:
        raise DeploymentFailed(f"the strategy needs {field}")
    return {"Type": "CAPACITY_PERCENT", "Value": value}


def variant_keys(
    variants: Sequence[ProductionVariantTypeDef] | Sequence[ProductionVariantOutputTypeDef],
) -> set[tuple[str, str | None, int | None, str | None, float | None]]:
    """What makes two endpoint configs' production variants the same, as a comparable set."""
    return {
        (
            variant["VariantName"],
            variant.get("ModelName"),
            variant.get("InitialInstanceCount"),
            variant.get("InstanceType"),
            variant.get("InitialVariantWeight"),
        )
        for variant in variants
    }


def _utc(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone(UTC)
