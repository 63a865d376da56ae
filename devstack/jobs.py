"""Local SageMaker training jobs: recorded in moto, trained for real, told as events."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from moto.sagemaker.models import FakeTrainingJob, sagemaker_backends

from devstack import algorithms, digits, experiments, images, sagemaker_events, trainer, training
from devstack.create_shim import Refusal
from devstack.events import ACCOUNT_ID, Delivery, EventSink

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client
    from mypy_boto3_sagemaker.client import SageMakerClient
    from mypy_boto3_sagemaker.type_defs import (
        ChannelTypeDef,
        MetricDefinitionTypeDef,
        StoppingConditionTypeDef,
        TagTypeDef,
    )

ROLE_ARN = "arn:aws:iam::123456789012:role/SageMakerExecution"
DATASET_PREFIX = "datasets/digits"
MODEL_PREFIX = "models"
STOPPING: StoppingConditionTypeDef = {"MaxRuntimeInSeconds": 3600}


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


def metric_definitions(algorithm: str) -> list[MetricDefinitionTypeDef]:
    return [
        {"Name": name, "Regex": f"{re.escape(name)}=([0-9.eE+-]+)"}
        for name in algorithms.METRIC_NAMES[algorithm]
    ]


def tags(tags: Mapping[str, str]) -> list[TagTypeDef]:
    return [{"Key": key, "Value": value} for key, value in tags.items()]


def _blame(error: Exception) -> str:
    """SageMaker's FailureReason prefix: the caller's fault (image, data, hyperparameters),
    the algorithm's, or the service's."""
    if isinstance(error, algorithms.HyperparameterError | training.ClientFault):
        return "ClientError"
    return "AlgorithmError" if isinstance(error, ValueError) else "InternalServerError"


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
        self._experiments = experiments.Experiments(sagemaker, lambda: self.backend, self.channels)
        self._lock = threading.Lock()
        self._channels: list[ChannelTypeDef] | None = None
        # Jobs train() is creating: the CreateTrainingJob shim leaves them to it.
        self._own: set[str] = set()

    @property
    def region(self) -> str:
        return self._region

    @property
    def bucket(self) -> str:
        return self._bucket

    @property
    def sagemaker(self) -> SageMakerClient:
        return self._sagemaker

    @property
    def events(self) -> EventSink:
        return self._events

    @property
    def backend(self) -> Any:
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
        if job.name in self.backend.training_jobs:
            raise JobError(f"training job {job.name} already exists")
        started = time.perf_counter()
        extra: dict[str, Any] = {}
        if job.experiment:
            extra["ExperimentConfig"] = self._experiments.config(
                job.experiment, job.trial or job.name
            )
        with self.owning(job.name):
            self._create(job, extra)
        record: FakeTrainingJob = self.backend.training_jobs[job.name]
        self._begin(record, tuning_job_arn, metric_definitions(job.algorithm))
        if job.experiment:
            self._experiments.start_training(job, record, job.trial or job.name)
        deliveries: list[Delivery] = []
        self._events.begin()  # the job will report its end
        try:
            self._publish_job(record, deliveries)
            # SageMaker-reserved hyperparameters (_tuning_objective_metric) are not the script's.
            visible = trainer.TrainingJob(
                job.name,
                job.algorithm,
                {k: v for k, v in job.hyperparameters.items() if not k.startswith("_")},
                job.tags,
            )
            return self._run(
                job,
                record,
                started,
                deliveries,
                lambda: trainer.run(visible, self._s3, self._output_path(job)),
            )
        finally:
            self._events.end()

    def check_new(self, params: Mapping[str, Any]) -> None:
        """CreateTrainingJob's checks before moto records the job (moto makes neither)."""
        name = str(params.get("TrainingJobName"))
        if not trainer.JOB_NAME.fullmatch(name):
            raise Refusal(
                "ValidationException",
                f"1 validation error detected: Value '{name}' at 'trainingJobName' failed to "
                "satisfy constraint: Member must satisfy regular expression pattern: "
                f"{trainer.JOB_NAME.pattern}",
            )
        existing = self.backend.training_jobs.get(name)
        if existing is not None:
            raise Refusal(
                "ResourceInUse",
                "Training job names must be unique within an AWS account and region, and a "
                f"training job with this name already exists ({existing.arn})",
            )

    @contextmanager
    def owning(self, name: str) -> Iterator[None]:
        """While a job or tuning job of this name is being created here, the Create shims
        leave it to the caller."""
        with self._lock:
            self._own.add(name)
        try:
            yield
        finally:
            with self._lock:
                self._own.discard(name)

    def owns(self, name: str) -> bool:
        with self._lock:
            return name in self._own

    def created(self, params: Mapping[str, Any], checked: None) -> None:
        """A job another client created: InProgress now, trained on a background thread."""
        name = str(params["TrainingJobName"])
        if self.owns(name):
            return
        train = self._start(params, None)
        threading.Thread(target=train, name=f"devstack-train-{name}", daemon=True).start()

    def train_request(self, params: Mapping[str, Any], tuning_job_arn: str) -> JobReport:
        """A tuning job's training job: CreateTrainingJob with `params`, trained here and now."""
        with self.owning(str(params["TrainingJobName"])):
            self._sagemaker.create_training_job(**params)
        return self._start(params, tuning_job_arn)()

    def _start(
        self, params: Mapping[str, Any], tuning_job_arn: str | None
    ) -> Callable[[], JobReport]:
        """The recorded job InProgress, its event published, and what trains it."""
        name = str(params["TrainingJobName"])
        record: FakeTrainingJob = self.backend.training_jobs[name]
        specification = params.get("AlgorithmSpecification") or {}
        self._begin(record, tuning_job_arn, list(specification.get("MetricDefinitions") or []))
        spec = training.JobSpec(
            name=name,
            image=str(specification.get("TrainingImage", "")),
            hyperparameters=dict(params.get("HyperParameters") or {}),
            input_data_config=list(params.get("InputDataConfig") or []),
            output_path=str((params.get("OutputDataConfig") or {}).get("S3OutputPath", "")),
            metric_definitions=[
                (str(metric.get("Name")), str(metric.get("Regex")))
                for metric in specification.get("MetricDefinitions") or []
            ],
            max_runtime_seconds=int(
                (params.get("StoppingCondition") or {}).get("MaxRuntimeInSeconds", 24 * 3600)
            ),
        )
        # SageMaker gives a job run in a trial its trial component, in that trial.
        trial = (params.get("ExperimentConfig") or {}).get("TrialName")
        experiment = self.backend.trials.get(trial)
        job = trainer.TrainingJob(
            name,
            "",
            spec.hyperparameters,
            {tag["Key"]: tag["Value"] for tag in record.tags},
            experiment=None if experiment is None else experiment.experiment_name,
            trial=None if experiment is None else trial,
            image=spec.image,
            role=record.role_arn,
            output=spec.output_path,
        )
        if job.experiment is not None and job.trial is not None:
            self._experiments.start_training(job, record, job.trial)
        deliveries: list[Delivery] = []
        self._events.begin()  # the job will report its end
        self._publish_job(record, deliveries)

        def train() -> JobReport:
            try:
                return self._run(
                    job,
                    record,
                    time.perf_counter(),
                    deliveries,
                    lambda: training.run(spec, self._s3, self._region),
                )
            finally:
                self._events.end()

        return train

    def _create(self, job: trainer.TrainingJob, extra: dict[str, Any]) -> None:
        self._sagemaker.create_training_job(
            TrainingJobName=job.name,
            HyperParameters=dict(job.hyperparameters),
            AlgorithmSpecification={
                "TrainingImage": job.image or images.image_uri(job.algorithm, self._region),
                "TrainingInputMode": "File",
                "MetricDefinitions": metric_definitions(job.algorithm),
            },
            RoleArn=job.role or ROLE_ARN,
            InputDataConfig=self.channels(),
            OutputDataConfig={"S3OutputPath": self._output_path(job)},
            ResourceConfig=trainer.RESOURCES,
            StoppingCondition=STOPPING,
            Tags=tags(job.tags),
            **extra,
        )

    def _begin(
        self,
        record: FakeTrainingJob,
        tuning_job_arn: str | None,
        metric_definitions: list[MetricDefinitionTypeDef],
    ) -> None:
        """What moto recorded as Completed becomes InProgress, Starting, as on SageMaker."""
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
        record.algorithm_specification["MetricDefinitions"] = metric_definitions

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
        work: Callable[[], trainer.TrainingResult],
    ) -> JobReport:
        """Runs `work` (the training) and records its outcome on the job, with the event."""
        begun = datetime.now(UTC)
        try:
            result = work()
        except Exception as error:  # a job that breaks fails; it never stays InProgress
            ended = datetime.now(UTC)
            vars(record).update(
                training_job_status="Failed",
                secondary_status="Failed",
                failure_reason=f"{_blame(error)}: {error}",
                training_start_time=begun,
                training_end_time=ended,
                last_modified_time=ended,
            )
            record.secondary_status_transitions += [
                {"Status": "Failed", "StartTime": ended, "StatusMessage": str(error)}
            ]
            if job.experiment:
                self._experiments.end_training(job, "Failed", ended, str(error))
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
            self._experiments.end_training(
                job, "Completed", ended, "Training job completed", result.model_data_url
            )
            self._experiments.log_metrics(job.name + experiments.TRAINING_COMPONENT_SUFFIX, result)
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
