"""Local tuning jobs: a tuning job's plan run as real training jobs, and its real best one."""

from __future__ import annotations

import os
import re
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from devstack import algorithms, images, sagemaker_events, tuning_plans, xgboost_builtin
from devstack.create_shim import Refusal
from devstack.events import Delivery
from devstack.jobs import JobReport, LocalSageMaker

# SageMaker: tuning job names are at most 32 characters (the training jobs get a suffix).
TUNING_NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,31}")
# What a TrainingJobDefinition hands each of its training jobs' CreateTrainingJob.
_PASSED_TO_TRAINING = (
    "AlgorithmSpecification",
    "RoleArn",
    "InputDataConfig",
    "VpcConfig",
    "OutputDataConfig",
    "ResourceConfig",
    "StoppingCondition",
    "EnableNetworkIsolation",
    "EnableInterContainerTrafficEncryption",
    "EnableManagedSpotTraining",
    "CheckpointConfig",
    "Environment",
    "RetryStrategy",
)
_SORT_KEYS = ("Name", "CreationTime", "Status", "FinalObjectiveMetricValue")
_PAGE_SIZE = 10

Goal = Literal["Maximize", "Minimize"]
# Trains one of the tuning job's training jobs: its name and tuned values in, its report out.
RunChild = Callable[[str, Mapping[str, str]], JobReport]


@dataclass(frozen=True)
class Objective:
    metric: str
    goal: Goal


@dataclass(frozen=True)
class TuningReport:
    name: str
    arn: str
    status: str
    best: JobReport | None
    jobs: list[JobReport]
    deliveries: list[Delivery] = field(default_factory=list, repr=False)


def best_of(objective: Objective, reports: Sequence[JobReport]) -> JobReport | None:
    """The completed job with the best objective value; ties go to the earlier job, as
    SageMaker keeps the first best it saw."""
    scored = [
        (index, r)
        for index, r in enumerate(reports)
        if r.status == "Completed" and objective.metric in r.metrics
    ]
    if not scored:
        return None
    sign = 1.0 if objective.goal == "Maximize" else -1.0
    return max(scored, key=lambda item: (sign * item[1].metrics[objective.metric], -item[0]))[1]


class TuningRun:
    """One tuning job on the stack: its training jobs run `parallel` at a time while its record
    (status, counters, BestTrainingJob) changes as SageMaker's does, with state-change events.
    The caller holds the event sink open (`events.begin()`) from before construction to the end."""

    def __init__(
        self,
        jobs: LocalSageMaker,
        name: str,
        objective: Objective,
        plan: Sequence[Mapping[str, str]],
        parallel: int,
        tags: Sequence[Mapping[str, Any]],
    ) -> None:
        self._jobs = jobs
        self._name = name
        self._objective = objective
        self._plan = plan
        self._parallel = max(1, min(parallel, len(plan)))
        self._tags = tags
        self._tuned = sorted({key for values in plan for key in values})
        self._lock = threading.Lock()
        self._finished: list[JobReport] = []
        self._deliveries: list[Delivery] = []
        self._record = jobs.backend.hyper_parameter_tuning_jobs[name]
        now = datetime.now(UTC)
        vars(self._record).update(
            hyper_parameter_tuning_job_status="InProgress",
            creation_time=now,
            last_modified_time=now,
            hyper_parameter_tuning_end_time=None,
            best_training_job=None,
            OverallBestTrainingJob=None,
            tuning_job_completion_details=None,
            consumed_resources=None,
            failure_reason=None,
        )
        self._count()
        self._publish()

    @property
    def arn(self) -> str:
        return str(self._record.arn)

    def run(self, run_child: RunChild) -> TuningReport:
        """Trains every planned job, then records the real best (or the failure) and says so."""
        started = datetime.now(UTC)
        try:
            with ThreadPoolExecutor(
                self._parallel, thread_name_prefix=f"devstack-tune-{self._name}"
            ) as pool:
                reports = list(pool.map(self._child(run_child), range(1, len(self._plan) + 1)))
            best = best_of(self._objective, reports)
        except Exception as error:  # a tuning job that breaks fails; it never stays InProgress
            reports, best = list(self._finished), None
            self._record.failure_reason = f"InternalServerError: {error}"
        self._finish(best, started)
        self._publish()
        status = str(self._record.hyper_parameter_tuning_job_status)
        return TuningReport(self._name, self.arn, status, best, reports, self._deliveries)

    def _child(self, run_child: RunChild) -> Callable[[int], JobReport]:
        def train(index: int) -> JobReport:
            name = f"{self._name}-{index:03d}-{uuid.uuid4().hex[:8]}"
            values = self._plan[index - 1]
            try:
                report = run_child(name, values)
            except Exception as error:  # CreateTrainingJob refused: the job counts as failed
                report = JobReport(name, "", "Failed", {}, dict(values), None, str(error), 0.0)
            with self._lock:
                self._finished.append(report)
                self._count()
            return report

        return train

    def _count(self) -> None:
        done = [r for r in self._finished if r.status == "Completed"]
        scored = sum(self._objective.metric in r.metrics for r in done)
        pending = len(self._plan) - len(self._finished)
        vars(self._record).update(
            training_job_status_counters={
                "Completed": len(done),
                "InProgress": min(self._parallel, pending),
                "RetryableError": 0,
                "NonRetryableError": len(self._finished) - len(done),
                "Stopped": 0,
            },
            objective_status_counters={
                "Succeeded": scored,
                "Pending": pending,
                "Failed": len(self._finished) - scored,
            },
            last_modified_time=datetime.now(UTC),
        )

    def _finish(self, best: JobReport | None, started: datetime) -> None:
        record = self._record
        now = datetime.now(UTC)
        record.last_modified_time = record.hyper_parameter_tuning_end_time = now
        record.consumed_resources = {"RuntimeInSeconds": round((now - started).total_seconds())}
        if best is None:
            record.hyper_parameter_tuning_job_status = "Failed"
            record.failure_reason = (
                record.failure_reason
                or f"No training job reported the objective metric {self._objective.metric}."
            )
            return
        described = self._jobs.backend.training_jobs[best.name]
        summary = {
            "TrainingJobName": best.name,
            "TrainingJobArn": best.arn,
            "TuningJobName": self._name,
            "CreationTime": described.creation_time,
            "TrainingStartTime": described.training_start_time,
            "TrainingEndTime": described.training_end_time,
            "TrainingJobStatus": "Completed",
            "TunedHyperParameters": {name: best.hyperparameters[name] for name in self._tuned},
            "FinalHyperParameterTuningJobObjectiveMetric": {
                "Type": self._objective.goal,
                "MetricName": self._objective.metric,
                "Value": best.metrics[self._objective.metric],
            },
            "ObjectiveStatus": "Succeeded",
        }
        record.hyper_parameter_tuning_job_status = "Completed"
        record.best_training_job = summary
        record.OverallBestTrainingJob = summary

    def _publish(self) -> None:
        event = sagemaker_events.tuning_job_event(
            self._record.describe(), list(self._tags), self._jobs.region
        )
        self._deliveries.append(self._jobs.events.publish(event))


def _refuse(message: str) -> Refusal:
    return Refusal("ValidationException", message)


def _builtin_metrics(definition: Mapping[str, Any], region: str) -> set[str] | None:
    """The metrics a built-in algorithm's image documents, or None for another image."""
    specification = definition.get("AlgorithmSpecification") or {}
    try:
        algorithm = images.algorithm_of(str(specification.get("TrainingImage", "")), region)
    except images.ImageError:
        return None
    if algorithm == images.XGBOOST:
        return set(xgboost_builtin.METRIC_NAMES)
    return set(algorithms.METRIC_NAMES.get(algorithm, ()))


@dataclass(frozen=True)
class TuningPlan:
    """A CreateHyperParameterTuningJob request as the stack runs it."""

    name: str
    objective: Objective
    values: list[dict[str, str]]
    parallel: int
    definition: Mapping[str, Any]
    tags: list[Mapping[str, Any]]


class TuningJobs:
    """CreateHyperParameterTuningJob from any client (the Create shim's Runner): checked as
    SageMaker checks it, then run on a background thread, at most `max_parallel` training jobs
    at a time whatever MaxParallelTrainingJobs asks (the stack shares one machine)."""

    def __init__(self, jobs: LocalSageMaker, max_parallel: int | None = None) -> None:
        self._jobs = jobs
        self._max_parallel = max_parallel or os.cpu_count() or 1

    def check_new(self, params: Mapping[str, Any]) -> TuningPlan:
        return self._plan(params)

    def created(self, params: Mapping[str, Any], planned: TuningPlan) -> None:
        if self._jobs.owns(planned.name):
            return
        self._jobs.events.begin()  # the tuning job will report its end
        try:
            tuning = TuningRun(
                self._jobs,
                planned.name,
                planned.objective,
                planned.values,
                planned.parallel,
                planned.tags,
            )
        except Exception:
            self._jobs.events.end()
            raise

        def train(name: str, values: Mapping[str, str]) -> JobReport:
            request = self._training_request(planned, name, values)
            return self._jobs.train_request(request, tuning.arn)

        def run() -> None:
            try:
                tuning.run(train)
            finally:
                self._jobs.events.end()

        threading.Thread(target=run, name=f"devstack-tuning-{planned.name}", daemon=True).start()

    @staticmethod
    def _training_request(
        planned: TuningPlan, name: str, values: Mapping[str, str]
    ) -> dict[str, Any]:
        """The CreateTrainingJob SageMaker makes for one of the tuning job's training jobs:
        static and tuned hyperparameters, the objective's name, the tuning job's tags."""
        definition = planned.definition
        hyperparameters = {
            **(definition.get("StaticHyperParameters") or {}),
            **values,
            tuning_plans.TUNING_OBJECTIVE_METRIC: planned.objective.metric,
        }
        request = {key: definition[key] for key in _PASSED_TO_TRAINING if key in definition}
        request.update(TrainingJobName=name, HyperParameters=hyperparameters)
        if planned.tags:
            request["Tags"] = planned.tags
        return request

    def _plan(self, params: Mapping[str, Any]) -> TuningPlan:
        name = str(params.get("HyperParameterTuningJobName"))
        if not TUNING_NAME.fullmatch(name):
            raise _refuse(
                f"1 validation error detected: Value '{name}' at 'hyperParameterTuningJobName' "
                f"failed to satisfy constraint: Member must satisfy regular expression pattern: "
                f"{TUNING_NAME.pattern}"
            )
        if name in self._jobs.backend.hyper_parameter_tuning_jobs:
            raise Refusal(
                "ResourceInUse",
                f"Hyperparameter tuning job names must be unique within an AWS account and "
                f"region, and a tuning job named {name} already exists.",
            )
        if params.get("TrainingJobDefinitions") or params.get("WarmStartConfig"):
            raise _refuse(
                "The local stack runs a tuning job of one TrainingJobDefinition, without "
                "TrainingJobDefinitions or WarmStartConfig."
            )
        definition = params.get("TrainingJobDefinition")
        if not isinstance(definition, Mapping):
            raise _refuse("TrainingJobDefinition is required.")
        config = params.get("HyperParameterTuningJobConfig") or {}
        objective = config.get("HyperParameterTuningJobObjective")
        if not isinstance(objective, Mapping):
            raise _refuse("HyperParameterTuningJobObjective is required.")
        limits = config.get("ResourceLimits") or {}
        try:
            ranges = tuning_plans.ranges(config.get("ParameterRanges") or {})
            values = tuning_plans.plan(
                config.get("Strategy", "Bayesian"),
                ranges,
                limits.get("MaxNumberOfTrainingJobs"),
                seed=name,
            )
        except tuning_plans.TuningError as error:
            raise _refuse(str(error)) from None
        static = set(definition.get("StaticHyperParameters") or {})
        both = sorted(static & {item.name for item in ranges})
        if both:
            raise _refuse(f"Hyperparameters {', '.join(both)} are both static and tuned.")
        metric = str(objective.get("MetricName"))
        specification = definition.get("AlgorithmSpecification") or {}
        defined = {str(m.get("Name")) for m in specification.get("MetricDefinitions") or []}
        builtin = _builtin_metrics(definition, self._jobs.region)
        if builtin is None and metric not in defined:
            raise _refuse(
                "A metric is required for this hyperparameter tuning job objective. Provide a "
                "metric in the metric definitions."
            )
        if builtin is not None and metric not in builtin | defined:
            raise _refuse(
                f"The objective metric {metric} is not among the algorithm's metrics "
                f"({', '.join(sorted(builtin))})."
            )
        return TuningPlan(
            name=name,
            objective=Objective(metric, objective.get("Type", "Maximize")),
            values=values,
            parallel=min(int(limits.get("MaxParallelTrainingJobs", 1)), self._max_parallel),
            definition=definition,
            tags=list(params.get("Tags") or []),
        )


def list_training_jobs(backend: Any, params: Mapping[str, Any]) -> dict[str, Any]:
    """ListTrainingJobsForHyperParameterTuningJob from moto's records (moto lacks it), sorted,
    filtered and paged as SageMaker does."""
    name = params.get("HyperParameterTuningJobName")
    record = backend.hyper_parameter_tuning_jobs.get(name)
    if record is None:
        raise Refusal("ResourceNotFound", f"Amazon SageMaker can't find a tuning job named {name}")
    config = record.hyper_parameter_tuning_job_config or {}
    objective = config.get("HyperParameterTuningJobObjective") or {}
    tuned = [
        str(item.get("Name"))
        for ranges in (config.get("ParameterRanges") or {}).values()
        for item in ranges
    ]
    metric = objective.get("MetricName")
    summaries = []
    for job in backend.training_jobs.values():
        if vars(job).get("tuning_job_arn") != record.arn:
            continue
        metrics = {m["MetricName"]: m["Value"] for m in job.final_metric_data_list or []}
        status = job.training_job_status
        summary: dict[str, Any] = {
            "TrainingJobName": job.training_job_name,
            "TrainingJobArn": job.arn,
            "TuningJobName": name,
            "CreationTime": job.creation_time,
            "TrainingStartTime": job.training_start_time,
            "TrainingEndTime": job.training_end_time,
            "TrainingJobStatus": status,
            "TunedHyperParameters": {
                key: job.hyper_parameters[key] for key in tuned if key in job.hyper_parameters
            },
            "FailureReason": vars(job).get("failure_reason"),
            "ObjectiveStatus": "Succeeded"
            if metric in metrics
            else ("Pending" if status == "InProgress" else "Failed"),
        }
        if metric in metrics:
            summary["FinalHyperParameterTuningJobObjectiveMetric"] = {
                "Type": objective.get("Type"),
                "MetricName": metric,
                "Value": metrics[metric],
            }
        summaries.append({key: value for key, value in summary.items() if value is not None})
    if params.get("StatusEquals"):
        summaries = [s for s in summaries if s["TrainingJobStatus"] == params["StatusEquals"]]
    sort_by = params.get("SortBy", "Name")
    if sort_by not in _SORT_KEYS:
        raise _refuse(f"SortBy must be one of {', '.join(_SORT_KEYS)}")
    if sort_by == "FinalObjectiveMetricValue":
        # SageMaker leaves out the jobs that reported no objective metric.
        summaries = [s for s in summaries if "FinalHyperParameterTuningJobObjectiveMetric" in s]
    key: Callable[[dict[str, Any]], Any] = {
        "Name": lambda s: s["TrainingJobName"],
        "CreationTime": lambda s: s["CreationTime"],
        "Status": lambda s: s["TrainingJobStatus"],
        "FinalObjectiveMetricValue": lambda s: s["FinalHyperParameterTuningJobObjectiveMetric"][
            "Value"
        ],
    }[sort_by]
    summaries.sort(key=key, reverse=params.get("SortOrder") == "Descending")
    size = params.get("MaxResults") or _PAGE_SIZE
    token = str(params.get("NextToken") or "0")
    if not isinstance(size, int) or not 1 <= size <= 100 or not token.isdigit():
        raise _refuse("MaxResults must be 1..100 and NextToken one we returned.")
    start = int(token)
    page: dict[str, Any] = {"TrainingJobSummaries": summaries[start : start + size]}
    if start + size < len(summaries):
        page["NextToken"] = str(start + size)
    return page
