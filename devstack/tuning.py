"""Local SageMaker tuning jobs: a grid of real training jobs and the real best one."""

from __future__ import annotations

import itertools
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from devstack import algorithms, images, sagemaker_events, trainer
from devstack.events import Delivery
from devstack.jobs import (
    MODEL_PREFIX,
    ROLE_ARN,
    STOPPING,
    JobError,
    JobReport,
    LocalSageMaker,
    metric_definitions,
    tags,
)

# SageMaker: tuning job names are at most 32 characters (the training jobs get a suffix).
_TUNING_NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,31}")

Goal = Literal["Maximize", "Minimize"]


@dataclass(frozen=True)
class TuningRequest:
    name: str
    algorithm: str
    ranges: Mapping[str, list[str]]
    objective: str
    goal: Goal
    static: Mapping[str, str] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TuningReport:
    name: str
    arn: str
    status: str
    best: JobReport | None
    jobs: list[JobReport]
    deliveries: list[Delivery] = field(default_factory=list, repr=False)


class LocalTuning:
    """Tuning jobs on the stack's LocalSageMaker."""

    def __init__(self, jobs: LocalSageMaker) -> None:
        self._jobs = jobs

    def tune(self, request: TuningRequest) -> TuningReport:
        """A grid-search tuning job: one training job per combination, then the real best one."""
        if not _TUNING_NAME.fullmatch(request.name):
            raise JobError(
                f"invalid tuning job name {request.name!r} (at most 32 characters, "
                "letters, digits and hyphens)"
            )
        if request.algorithm not in algorithms.ALGORITHMS:
            raise JobError(f"unknown algorithm {request.algorithm!r}")
        if request.objective not in algorithms.METRIC_NAMES[request.algorithm]:
            known = ", ".join(algorithms.METRIC_NAMES[request.algorithm])
            raise JobError(f"{request.algorithm} does not report {request.objective!r}; {known}")
        if not request.ranges or not all(request.ranges.values()):
            raise JobError("a tuning job needs at least one range with values")
        if request.name in self._jobs.backend.hyper_parameter_tuning_jobs:
            raise JobError(f"tuning job {request.name} already exists")
        grid = list(itertools.product(*request.ranges.values()))
        static = {**request.static, "_tuning_objective_metric": request.objective}
        definition: dict[str, Any] = {
            "StaticHyperParameters": static,
            "AlgorithmSpecification": {
                "TrainingImage": images.image_uri(request.algorithm, self._jobs.region),
                "TrainingInputMode": "File",
                "MetricDefinitions": metric_definitions(request.algorithm),
            },
            "RoleArn": ROLE_ARN,
            "InputDataConfig": self._jobs.channels(),
            "OutputDataConfig": {"S3OutputPath": f"s3://{self._jobs.bucket}/{MODEL_PREFIX}"},
            "ResourceConfig": trainer.RESOURCES,
            "StoppingCondition": STOPPING,
        }
        arn = self._jobs.sagemaker.create_hyper_parameter_tuning_job(
            HyperParameterTuningJobName=request.name,
            HyperParameterTuningJobConfig={
                "Strategy": "Grid",
                "HyperParameterTuningJobObjective": {
                    "Type": request.goal,
                    "MetricName": request.objective,
                },
                "ResourceLimits": {
                    "MaxNumberOfTrainingJobs": len(grid),
                    "MaxParallelTrainingJobs": 1,
                },
                "ParameterRanges": {
                    "CategoricalParameterRanges": [
                        {"Name": name, "Values": list(values)}
                        for name, values in request.ranges.items()
                    ]
                },
            },
            TrainingJobDefinition=definition,  # type: ignore[arg-type]
            Tags=tags(request.tags),
        )["HyperParameterTuningJobArn"]
        record = self._jobs.backend.hyper_parameter_tuning_jobs[request.name]
        now = datetime.now(UTC)
        vars(record).update(
            hyper_parameter_tuning_job_status="InProgress",
            creation_time=now,
            last_modified_time=now,
            hyper_parameter_tuning_end_time=None,
            training_job_status_counters=self._counters(0, 0, len(grid)),
            objective_status_counters={"Succeeded": 0, "Pending": len(grid), "Failed": 0},
            best_training_job=None,
            OverallBestTrainingJob=None,
            tuning_job_completion_details=None,
            consumed_resources=None,
            failure_reason=None,
        )
        deliveries: list[Delivery] = []
        self._jobs.events.begin()
        try:
            self._publish_tuning(record, request.tags, deliveries)
            reports = []
            for index, combination in enumerate(grid, start=1):
                name = f"{request.name}-{index:03d}-{uuid.uuid4().hex[:8]}"
                tuned = dict(zip(request.ranges, combination, strict=True))
                job = trainer.TrainingJob(
                    name, request.algorithm, {**static, **tuned}, dict(request.tags)
                )
                reports.append(self._jobs.train(job, tuning_job_arn=arn))
                done = sum(r.status == "Completed" for r in reports)
                vars(record).update(
                    training_job_status_counters=self._counters(
                        done, len(reports) - done, len(grid) - len(reports)
                    ),
                    objective_status_counters={
                        "Succeeded": done,
                        "Pending": len(grid) - len(reports),
                        "Failed": len(reports) - done,
                    },
                    last_modified_time=datetime.now(UTC),
                )
            best = self._best(request, reports)
            self._finish_tuning(record, request, best)
            self._publish_tuning(record, request.tags, deliveries)
        finally:
            self._jobs.events.end()
        status = record.hyper_parameter_tuning_job_status
        return TuningReport(request.name, arn, status, best, reports, deliveries)

    @staticmethod
    def _counters(completed: int, failed: int, pending: int) -> dict[str, int]:
        return {
            "Completed": completed,
            "InProgress": 1 if pending else 0,
            "RetryableError": 0,
            "NonRetryableError": failed,
            "Stopped": 0,
        }

    @staticmethod
    def _best(request: TuningRequest, reports: list[JobReport]) -> JobReport | None:
        scored = [r for r in reports if request.objective in r.metrics]
        if not scored:
            return None
        sign = 1.0 if request.goal == "Maximize" else -1.0
        # Ties go to the earlier job, as SageMaker keeps the first best it saw.
        return max(scored, key=lambda r: (sign * r.metrics[request.objective], -reports.index(r)))

    def _finish_tuning(self, record: Any, request: TuningRequest, best: JobReport | None) -> None:
        now = datetime.now(UTC)
        record.last_modified_time = record.hyper_parameter_tuning_end_time = now
        if best is None:
            record.hyper_parameter_tuning_job_status = "Failed"
            record.failure_reason = "No training job reported the objective metric."
            return
        described = self._jobs.backend.training_jobs[best.name]
        summary = {
            "TrainingJobName": best.name,
            "TrainingJobArn": best.arn,
            "TuningJobName": request.name,
            "CreationTime": described.creation_time,
            "TrainingStartTime": described.training_start_time,
            "TrainingEndTime": described.training_end_time,
            "TrainingJobStatus": "Completed",
            "TunedHyperParameters": {name: best.hyperparameters[name] for name in request.ranges},
            "FinalHyperParameterTuningJobObjectiveMetric": {
                "Type": request.goal,
                "MetricName": request.objective,
                "Value": best.metrics[request.objective],
            },
            "ObjectiveStatus": "Succeeded",
        }
        record.hyper_parameter_tuning_job_status = "Completed"
        record.best_training_job = summary
        record.OverallBestTrainingJob = summary

    def _publish_tuning(
        self, record: Any, job_tags: Mapping[str, str], deliveries: list[Delivery]
    ) -> None:
        event = sagemaker_events.tuning_job_event(
            record.describe(), tags(job_tags), self._jobs.region
        )
        deliveries.append(self._jobs.events.publish(event))
