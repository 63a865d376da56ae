"""SageMaker Experiments' records of the stack's jobs: trials, trial components, metrics."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

import boto3
from botocore.exceptions import ClientError
from moto.sagemaker.models import FakeTrainingJob

from devstack import digits, images, trainer

if TYPE_CHECKING:
    from mypy_boto3_sagemaker.client import SageMakerClient
    from mypy_boto3_sagemaker.type_defs import (
        ChannelTypeDef,
        TrialComponentParameterValueTypeDef,
    )

PREPROCESSING = "Preprocessing"
TRAINING = "Training"
# SageMaker names the trial component it makes for a training job run in an experiment so.
TRAINING_COMPONENT_SUFFIX = "-aws-training-job"
# BatchPutMetrics takes 1 to 10 metric values a call.
_METRICS_PER_CALL = 10


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


class Experiments:
    """What SageMaker and the SageMaker SDK record for a job run in an experiment."""

    def __init__(
        self,
        sagemaker: SageMakerClient,
        backend: Callable[[], Any],
        channels: Callable[[], list[ChannelTypeDef]],
    ) -> None:
        self._sagemaker = sagemaker
        self._backend = backend
        self._channels = channels
        self._region = sagemaker.meta.region_name
        # Untyped: boto3-stubs for sagemaker-metrics are not among the dev requirements.
        self._metrics: Any = boto3.session.Session(region_name=self._region).client(
            "sagemaker-metrics", endpoint_url=sagemaker.meta.endpoint_url
        )

    @staticmethod
    def _ignore_existing(create: Callable[[], object]) -> None:
        try:
            create()
        except ClientError as error:
            if error.response["Error"]["Code"] not in ("ResourceInUse", "ValidationException"):
                raise

    def config(self, experiment: str, trial: str) -> dict[str, str]:
        """Experiment and trial are made if missing, as the SageMaker SDK's `Run` does; the
        experiment's preprocessing component is made once and associated with every trial."""
        self._ignore_existing(lambda: self._sagemaker.create_experiment(ExperimentName=experiment))
        self._ignore_existing(
            lambda: self._sagemaker.create_trial(TrialName=trial, ExperimentName=experiment)
        )
        preprocessing = preprocessing_component_name(experiment)
        if preprocessing not in self._backend().trial_components:
            self._create_preprocessing_component(preprocessing)
        associated = self._backend().trials[trial].trial_components
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
        channels = self._channels()
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

    def start_training(self, job: trainer.TrainingJob, record: FakeTrainingJob, trial: str) -> None:
        """The component SageMaker makes for a training job in an experiment, in the trial."""
        name = job.name + TRAINING_COMPONENT_SUFFIX
        image = job.image or images.image_uri(job.algorithm, self._region)
        hyperparameters = {k: v for k, v in job.hyperparameters.items() if not k.startswith("_")}
        self._sagemaker.create_trial_component(
            TrialComponentName=name,
            DisplayName=TRAINING,
            Status={"PrimaryStatus": "InProgress"},
            StartTime=record.creation_time,
            Parameters=_parameters(
                {
                    **hyperparameters,
                    "SageMaker.InstanceType": trainer.RESOURCES["InstanceType"],
                    "SageMaker.InstanceCount": trainer.RESOURCES["InstanceCount"],
                }
            ),
            InputArtifacts={
                "SageMaker.ImageUri": {"Value": image},
                **{
                    channel["ChannelName"]: {
                        "Value": channel["DataSource"]["S3DataSource"]["S3Uri"],
                        "MediaType": "text/csv",
                    }
                    for channel in self._channels()
                },
            },
        )
        vars(self._backend().trial_components[name])["source"] = {
            "SourceArn": record.arn,
            "SourceType": "SageMakerTrainingJob",
        }
        self._sagemaker.associate_trial_component(TrialComponentName=name, TrialName=trial)

    def end_training(
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

    def log_metrics(self, component: str, result: trainer.TrainingResult) -> None:
        """The job's metrics on its training component, as the training container's SDK reports
        them (SageMaker Metrics' BatchPutMetrics, at most 10 values a call): each value it
        measured, one step per epoch, spread over the training time; a metric measured only at
        the end is one step. DescribeTrialComponent then answers each metric's Max, Min, Avg,
        Last, Count and StdDev over these values (moto computes them)."""
        data: list[dict[str, Any]] = []
        for name, final in result.metrics.items():
            values = list(result.history.get(name, ())) or [final]
            span = result.ended - result.started
            data += [
                {
                    "MetricName": name,
                    "Value": value,
                    "Step": step,
                    "Timestamp": result.started + span * (step + 1) / len(values),
                }
                for step, value in enumerate(values)
            ]
        for start in range(0, len(data), _METRICS_PER_CALL):
            self._metrics.batch_put_metrics(
                TrialComponentName=component, MetricData=data[start : start + _METRICS_PER_CALL]
            )
