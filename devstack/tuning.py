"""The stack's own tuning jobs: a grid over the bundled digits, run as real training jobs."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from devstack import algorithms, images, trainer, tuning_plans
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
from devstack.tuning_jobs import TUNING_NAME, Goal, Objective, TuningReport, TuningRun


@dataclass(frozen=True)
class TuningRequest:
    name: str
    algorithm: str
    ranges: Mapping[str, list[str]]
    objective: str
    goal: Goal
    static: Mapping[str, str] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)


class LocalTuning:
    """Grid-search tuning jobs of the stack's algorithms on its digits, one job at a time."""

    def __init__(self, jobs: LocalSageMaker) -> None:
        self._jobs = jobs

    def tune(self, request: TuningRequest) -> TuningReport:
        """CreateHyperParameterTuningJob, then one training job per combination and the real
        best one, as `python -m devstack tune` and the demo ask."""
        if not TUNING_NAME.fullmatch(request.name):
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
        grid = [
            dict(zip(request.ranges, values, strict=True))
            for values in itertools.product(*request.ranges.values())
        ]
        static = {**request.static, tuning_plans.TUNING_OBJECTIVE_METRIC: request.objective}
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
        with self._jobs.owning(request.name):
            self._jobs.sagemaker.create_hyper_parameter_tuning_job(
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
            )

        def train(name: str, values: Mapping[str, str]) -> JobReport:
            job = trainer.TrainingJob(
                name, request.algorithm, {**static, **values}, dict(request.tags)
            )
            return self._jobs.train(job, tuning_job_arn=tuning.arn)

        self._jobs.events.begin()
        try:
            tuning = TuningRun(
                self._jobs,
                request.name,
                Objective(request.objective, request.goal),
                grid,
                parallel=1,
                tags=tags(request.tags),
            )
            return tuning.run(train)
        finally:
            self._jobs.events.end()
