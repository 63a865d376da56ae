"""Local SageMaker training and tuning jobs: recorded in moto, trained for real, told as events."""

from __future__ import annotations

import itertools
import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

import boto3
from botocore.exceptions import ClientError
from moto.sagemaker.models import FakeTrainingJob, sagemaker_backends

from devstack import algorithms, digits, sagemaker_events, trainer
from devstack.events import ACCOUNT_ID, Delivery, EventSink

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client
    from mypy_boto3_sagemaker.client import SageMakerClient
    from mypy_boto3_sagemaker.type_defs import (
        ChannelTypeDef,
        MetricDefinitionTypeDef,
        ResourceConfigTypeDef,
        StoppingConditionTypeDef,
        TagTypeDef,
        TrialComponentParameterValueTypeDef,
    )

ROLE_ARN = "arn:aws:iam::123456789012:role/SageMakerExecution"
PREPROCESSING = "Preprocessing"
TRAINING = "Training"
# SageMaker names the trial component it makes for a training job run in an experiment so.
TRAINING_COMPONENT_SUFFIX = "-aws-training-job"
DATASET_PREFIX = "datasets/digits"
MODEL_PREFIX = "models"
# SageMaker: tuning job names are at most 32 characters (the training jobs get a suffix).
_TUNING_NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,31}")
_RESOURCES: ResourceConfigTypeDef = {
    "InstanceType": "ml.m5.large",
    "InstanceCount": 1,
    "VolumeSizeInGB": 10,
}
_STOPPING: StoppingConditionTypeDef = {"MaxRuntimeInSeconds": 3600}

Goal = Literal["Maximize", "Minimize"]


class JobError(ValueError):
    """A job SageMaker would refuse to start (bad name, duplicate, unknown objective ...)."""


@dataclass(frozen=True)
class JobReport:
    name: str
    arn: str
    status: str
    metrics: dict[str, float]
    hyperparameters: dict[str, str]
    artifact: str | None
    failure: str | None
    seconds: float
    deliveries: list[Delivery] = field(default_factory=list, repr=False)


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


def _metric_definitions(algorithm: str) -> list[MetricDefinitionTypeDef]:
    return [
        {"Name": name, "Regex": f"{re.escape(name)}=([0-9.eE+-]+)"}
        for name in algorithms.METRIC_NAMES[algorithm]
    ]


def _tags(tags: Mapping[str, str]) -> list[TagTypeDef]:
    return [{"Key": key, "Value": value} for key, value in tags.items()]


def _parameters(
    values: Mapping[str, str | float],
) -> dict[str, TrialComponentParameterValueTypeDef]:
    """Trial component parameters: numbers as NumberValue, anything else as StringValue."""
    parameters: dict[str, TrialComponentParameterValueTypeDef] = {}
    for name, value in values.items():
        try:
            parameters[name] = {"NumberValue": float(value)}
        except ValueError:
            parameters[name] = {"StringValue": str(value)}
    return parameters


def preprocessing_component_name(experiment: str) -> str:
    """The experiment's one preprocessing component, shared by all of its trials."""
    return f"{experiment}-preprocessing"


class LocalSageMaker:
    """Starts jobs through the SageMaker API (moto) and gives them SageMaker's lifecycle.

    moto completes a job the moment it is created, with made-up metrics; here the job is
    InProgress while the trainer runs, then Completed (real FinalMetricDataList, ModelArtifacts,
    times) or Failed, and each of those states is published like SageMaker's own events.
    """

    def __init__(
        self,
        sagemaker: SageMakerClient,
        s3: S3Client,
        bucket: str,
        events: EventSink,
    ) -> None:
        self._sagemaker = sagemaker
        self._s3 = s3
        self._bucket = bucket
        self._region = sagemaker.meta.region_name
        self._events = events
        # Untyped: boto3-stubs for sagemaker-metrics are not among the dev requirements.
        self._metrics: Any = boto3.session.Session(region_name=self._region).client(
            "sagemaker-metrics", endpoint_url=sagemaker.meta.endpoint_url
        )
        self._lock = threading.Lock()
        self._channels: list[ChannelTypeDef] | None = None

    @property
    def _backend(self) -> Any:
        return sagemaker_backends[ACCOUNT_ID][self._region]

    def channels(self) -> list[ChannelTypeDef]:
        """The digits split as CSV (label first) under s3://bucket/datasets/digits/, once."""
        with self._lock:
            if self._channels is None:
                split = digits.load_split()
                channels: list[ChannelTypeDef] = []
                for channel, x, y in (
                    ("train", split.x_train, split.y_train),
                    ("validation", split.x_test, split.y_test),
                ):
                    rows = "".join(
                        f"{label}," + ",".join(str(int(v)) for v in row) + "\n"
                        for label, row in zip(y, x, strict=True)
                    )
                    key = f"{DATASET_PREFIX}/{channel}/digits.csv"
                    self._s3.put_object(Bucket=self._bucket, Key=key, Body=rows.encode())
                    channels.append(
                        {
                            "ChannelName": channel,
                            "DataSource": {
                                "S3DataSource": {
                                    "S3DataType": "S3Prefix",
                                    "S3Uri": f"s3://{self._bucket}/{DATASET_PREFIX}/{channel}/",
                                    "S3DataDistributionType": "FullyReplicated",
                                }
                            },
                            "ContentType": "text/csv",
                            "CompressionType": "None",
                            "RecordWrapperType": "None",
                        }
                    )
                self._channels = channels
            return self._channels

    def _publish_job(self, job: FakeTrainingJob, deliveries: list[Delivery]) -> None:
        event = sagemaker_events.training_job_event(job.response_object, self._region)
        deliveries.append(self._events.publish(event))

    def train(self, job: trainer.TrainingJob, tuning_job_arn: str | None = None) -> JobReport:
        """CreateTrainingJob, train for real, then Completed or Failed; events for each state."""
        if job.algorithm not in algorithms.ALGORITHMS:
            raise JobError(
                f"unknown algorithm {job.algorithm!r}; known: {', '.join(algorithms.ALGORITHMS)}"
            )
        if not trainer.JOB_NAME.fullmatch(job.name):
            raise JobError(f"invalid training job name {job.name!r} (SageMaker name pattern)")
        if job.name in self._backend.training_jobs:
            raise JobError(f"training job {job.name} already exists")
        started = time.perf_counter()
        extra: dict[str, Any] = {}
        if job.experiment:
            extra["ExperimentConfig"] = self._experiment(job.experiment, job.trial or job.name)
        self._sagemaker.create_training_job(
            TrainingJobName=job.name,
            HyperParameters=dict(job.hyperparameters),
            AlgorithmSpecification={
                "TrainingImage": job.image or trainer.image_uri(job.algorithm, self._region),
                "TrainingInputMode": "File",
                "MetricDefinitions": _metric_definitions(job.algorithm),
            },
            RoleArn=job.role or ROLE_ARN,
            InputDataConfig=self.channels(),
            OutputDataConfig={"S3OutputPath": self._output_path(job)},
            ResourceConfig=_RESOURCES,
            StoppingCondition=_STOPPING,
            Tags=_tags(job.tags),
            **extra,
        )
        record: FakeTrainingJob = self._backend.training_jobs[job.name]
        created = datetime.now(UTC)
        vars(record).update(
            training_job_status="InProgress",
            secondary_status="Starting",
            creation_time=created,
            last_modified_time=created,
            training_start_time=None,
            training_end_time=None,
            model_artifacts=None,
            final_metric_data_list=None,
            tuning_job_arn=tuning_job_arn,
            secondary_status_transitions=[
                {
                    "Status": "Starting",
                    "StartTime": created,
                    "StatusMessage": "Preparing the instances for training",
                }
            ],
        )
        record.algorithm_specification["MetricDefinitions"] = _metric_definitions(job.algorithm)
        if job.experiment:
            self._start_training_component(job, record, job.trial or job.name)
        deliveries: list[Delivery] = []
        self._events.begin()  # the job will report its end
        try:
            self._publish_job(record, deliveries)
            return self._run(job, record, started, deliveries)
        finally:
            self._events.end()

    def _output_path(self, job: trainer.TrainingJob) -> str:
        """The job's S3OutputPath; a bucket the stack lacks is made, as its owner would have."""
        if job.output is None:
            return f"s3://{self._bucket}/{MODEL_PREFIX}"
        bucket, _ = trainer.output_location(job.output)
        if bucket not in self._s3_buckets():
            self._s3.create_bucket(Bucket=bucket)
        return job.output

    def _s3_buckets(self) -> set[str]:
        return {bucket["Name"] for bucket in self._s3.list_buckets().get("Buckets", [])}

    def _run(
        self,
        job: trainer.TrainingJob,
        record: FakeTrainingJob,
        started: float,
        deliveries: list[Delivery],
    ) -> JobReport:
        begun = datetime.now(UTC)
        # SageMaker-reserved hyperparameters (e.g. _tuning_objective_metric) are not the script's.
        hyperparameters = {k: v for k, v in job.hyperparameters.items() if not k.startswith("_")}
        try:
            result = trainer.run(
                trainer.TrainingJob(job.name, job.algorithm, hyperparameters, job.tags),
                self._s3,
                self._output_path(job),
            )
        except (algorithms.HyperparameterError, ValueError) as error:
            ended = datetime.now(UTC)
            vars(record).update(
                training_job_status="Failed",
                secondary_status="Failed",
                failure_reason=f"AlgorithmError: {error}",
                training_start_time=begun,
                training_end_time=ended,
                last_modified_time=ended,
            )
            record.secondary_status_transitions += [
                {"Status": "Failed", "StartTime": ended, "StatusMessage": str(error)}
            ]
            if job.experiment:
                self._end_training_component(job, "Failed", ended, str(error))
            self._publish_job(record, deliveries)
            return JobReport(
                job.name,
                record.arn,
                "Failed",
                {},
                dict(job.hyperparameters),
                None,
                str(error),
                time.perf_counter() - started,
                deliveries,
            )
        ended = result.ended
        vars(record).update(
            training_job_status="Completed",
            secondary_status="Completed",
            training_start_time=result.started,
            training_end_time=ended,
            last_modified_time=ended,
            model_artifacts={"S3ModelArtifacts": result.model_data_url},
            final_metric_data_list=[
                {"MetricName": name, "Value": value, "Timestamp": ended}
                for name, value in result.metrics.items()
            ],
            billable_time_in_seconds=max(1, round((ended - begun).total_seconds())),
        )
        record.secondary_status_transitions[0]["EndTime"] = result.started
        record.secondary_status_transitions += [
            {
                "Status": "Training",
                "StartTime": result.started,
                "EndTime": ended,
                "StatusMessage": "Training image download completed. Training in progress.",
            },
            {"Status": "Completed", "StartTime": ended, "StatusMessage": "Training job completed"},
        ]
        if job.experiment:
            self._end_training_component(
                job, "Completed", ended, "Training job completed", result.model_data_url
            )
            self._log_metrics(job.name + TRAINING_COMPONENT_SUFFIX, result.metrics, ended)
        self._publish_job(record, deliveries)
        return JobReport(
            job.name,
            record.arn,
            "Completed",
            dict(result.metrics),
            dict(job.hyperparameters),
            result.model_data_url,
            None,
            time.perf_counter() - started,
            deliveries,
        )

    @staticmethod
    def _ignore_existing(create: Callable[[], object]) -> None:
        try:
            create()
        except ClientError as error:
            if error.response["Error"]["Code"] not in ("ResourceInUse", "ValidationException"):
                raise

    def _experiment(self, experiment: str, trial: str) -> dict[str, str]:
        """Experiment and trial are made if missing, as the SageMaker SDK's `Run` does; the
        experiment's preprocessing component is made once and associated with every trial."""
        self._ignore_existing(lambda: self._sagemaker.create_experiment(ExperimentName=experiment))
        self._ignore_existing(
            lambda: self._sagemaker.create_trial(TrialName=trial, ExperimentName=experiment)
        )
        preprocessing = preprocessing_component_name(experiment)
        if preprocessing not in self._backend.trial_components:
            self._create_preprocessing_component(preprocessing)
        associated = self._backend.trials[trial].trial_components
        if preprocessing not in associated:
            self._sagemaker.associate_trial_component(
                TrialComponentName=preprocessing, TrialName=trial
            )
        return {
            "ExperimentName": experiment,
            "TrialName": trial,
            "TrialComponentDisplayName": TRAINING,
        }

    def _create_preprocessing_component(self, name: str) -> None:
        """What the notebook computes before training: the training data's mean and std (of
        pixel / scale), and the input scale, recorded with the data it was computed from."""
        channels = self.channels()
        mean, std = digits.normalization()
        now = datetime.now(UTC)
        self._sagemaker.create_trial_component(
            TrialComponentName=name,
            DisplayName=PREPROCESSING,
            Status={"PrimaryStatus": "Completed"},
            StartTime=now,
            EndTime=now,
            Parameters=_parameters({"mean": mean, "std": std, "scale": digits.PIXEL_SCALE}),
            InputArtifacts={
                channel["ChannelName"]: {
                    "Value": channel["DataSource"]["S3DataSource"]["S3Uri"],
                    "MediaType": "text/csv",
                }
                for channel in channels
                if channel["ChannelName"] == "train"
            },
        )

    def _start_training_component(
        self, job: trainer.TrainingJob, record: FakeTrainingJob, trial: str
    ) -> None:
        """The component SageMaker makes for a training job in an experiment, in the trial."""
        name = job.name + TRAINING_COMPONENT_SUFFIX
        image = trainer.image_uri(job.algorithm, self._region)
        hyperparameters = {k: v for k, v in job.hyperparameters.items() if not k.startswith("_")}
        self._sagemaker.create_trial_component(
            TrialComponentName=name,
            DisplayName=TRAINING,
            Status={"PrimaryStatus": "InProgress"},
            StartTime=record.creation_time,
            Parameters=_parameters(
                {
                    **hyperparameters,
                    "SageMaker.InstanceType": _RESOURCES["InstanceType"],
                    "SageMaker.InstanceCount": _RESOURCES["InstanceCount"],
                }
            ),
            InputArtifacts={
                "SageMaker.ImageUri": {"Value": image},
                **{
                    channel["ChannelName"]: {
                        "Value": channel["DataSource"]["S3DataSource"]["S3Uri"],
                        "MediaType": "text/csv",
                    }
                    for channel in self.channels()
                },
            },
        )
        vars(self._backend.trial_components[name])["source"] = {
            "SourceArn": record.arn,
            "SourceType": "SageMakerTrainingJob",
        }
        self._sagemaker.associate_trial_component(TrialComponentName=name, TrialName=trial)

    def _end_training_component(
        self,
        job: trainer.TrainingJob,
        status: Literal["Completed", "Failed"],
        ended: datetime,
        message: str,
        model_data_url: str | None = None,
    ) -> None:
        extra: dict[str, Any] = {}
        if model_data_url is not None:
            extra["OutputArtifacts"] = {"SageMaker.ModelArtifact": {"Value": model_data_url}}
        self._sagemaker.update_trial_component(
            TrialComponentName=job.name + TRAINING_COMPONENT_SUFFIX,
            Status={"PrimaryStatus": status, "Message": message},
            EndTime=ended,
            **extra,
        )

    def _log_metrics(self, component: str, metrics: Mapping[str, float], ended: datetime) -> None:
        """The final metrics on the training job's component (SageMaker Metrics' BatchPutMetrics,
        as the training container's SDK reports them)."""
        self._metrics.batch_put_metrics(
            TrialComponentName=component,
            MetricData=[
                {"MetricName": name, "Value": value, "Step": 0, "Timestamp": ended}
                for name, value in metrics.items()
            ],
        )

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
        if request.name in self._backend.hyper_parameter_tuning_jobs:
            raise JobError(f"tuning job {request.name} already exists")
        grid = list(itertools.product(*request.ranges.values()))
        static = {**request.static, "_tuning_objective_metric": request.objective}
        definition: dict[str, Any] = {
            "StaticHyperParameters": static,
            "AlgorithmSpecification": {
                "TrainingImage": trainer.image_uri(request.algorithm, self._region),
                "TrainingInputMode": "File",
                "MetricDefinitions": _metric_definitions(request.algorithm),
            },
            "RoleArn": ROLE_ARN,
            "InputDataConfig": self.channels(),
            "OutputDataConfig": {"S3OutputPath": f"s3://{self._bucket}/{MODEL_PREFIX}"},
            "ResourceConfig": _RESOURCES,
            "StoppingCondition": _STOPPING,
        }
        arn = self._sagemaker.create_hyper_parameter_tuning_job(
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
            Tags=_tags(request.tags),
        )["HyperParameterTuningJobArn"]
        record = self._backend.hyper_parameter_tuning_jobs[request.name]
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
        self._events.begin()
        try:
            self._publish_tuning(record, request.tags, deliveries)
            reports = []
            for index, combination in enumerate(grid, start=1):
                name = f"{request.name}-{index:03d}-{uuid.uuid4().hex[:8]}"
                tuned = dict(zip(request.ranges, combination, strict=True))
                job = trainer.TrainingJob(
                    name, request.algorithm, {**static, **tuned}, dict(request.tags)
                )
                reports.append(self.train(job, tuning_job_arn=arn))
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
            self._events.end()
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
        described = self._backend.training_jobs[best.name]
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
        self, record: Any, tags: Mapping[str, str], deliveries: list[Delivery]
    ) -> None:
        event = sagemaker_events.tuning_job_event(record.describe(), _tags(tags), self._region)
        deliveries.append(self._events.publish(event))
