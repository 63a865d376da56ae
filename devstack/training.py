"""A CreateTrainingJob request, run as its image would: channels from S3, artifact to S3."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from botocore.exceptions import ClientError

from devstack import (
    algorithms,
    channels,
    images,
    script_mode,
    trainer,
    tuning_plans,
    xgboost_builtin,
)

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

# Each algorithm's trainer: hyperparameters and channels in, (model.tar.gz, metrics) out.
Train = Callable[[Mapping[str, str], Mapping[str, channels.Data]], tuple[bytes, dict[str, float]]]
# Formats a channel without a ContentType is read as (SageMaker's documented defaults).
_DEFAULT_TYPES = {
    images.KMEANS: channels.RECORDIO,
    images.LINEAR_LEARNER: channels.RECORDIO,
    images.SOFTMAX: channels.CSV,
    images.XGBOOST: channels.CSV,
}
_UNLABELED_OK = (images.KMEANS,)
# Channel names each algorithm reads; SageMaker fails a job that sends it others.
_CHANNELS = {
    images.KMEANS: ("train", "test"),
    images.LINEAR_LEARNER: ("train", "validation", "test"),
    images.SOFTMAX: ("train", "validation"),
    images.XGBOOST: ("train", "validation"),
}


# The framework containers that run a user's entry point (script mode), by ECR repository.
_FRAMEWORK_IMAGE = re.compile(
    r"\d{12}\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com/"
    r"(?P<repository>sagemaker-scikit-learn|pytorch-training|tensorflow-training|mxnet-training"
    r"|huggingface-pytorch-training)(?::[\w.-]+|@sha256:[0-9a-f]{64})"
)


class ClientFault(ValueError):
    """A job SageMaker fails with a ClientError (bad image, data or hyperparameters)."""


@dataclass(frozen=True)
class JobSpec:
    """What CreateTrainingJob said (as moto recorded it)."""

    name: str
    image: str
    hyperparameters: Mapping[str, str]
    input_data_config: list[Mapping[str, Any]]
    output_path: str
    metric_definitions: Sequence[tuple[str, str]] = ()
    max_runtime_seconds: int = 24 * 3600


def _numpy_channels(algorithm: str, data: Mapping[str, channels.Data]) -> algorithms.Channels:
    def labels(name: str) -> Any:
        part = data[name]
        if part.y is not None:
            return part.y
        if algorithm in _UNLABELED_OK:
            return np.zeros(len(part.x))
        raise ClientFault(f"channel {name}: {algorithm} needs labelled records")

    held: dict[str, Any] = {}
    for name in ("validation", "test"):
        if name in data:
            held[f"x_{name}"], held[f"y_{name}"] = data[name].x, labels(name)
    return algorithms.Channels(data["train"].x, labels("train"), **held)


def _builtin(algorithm: str) -> Train:
    def run(
        hyperparameters: Mapping[str, str], data: Mapping[str, channels.Data]
    ) -> tuple[bytes, dict[str, float]]:
        trained = algorithms.train(algorithm, hyperparameters, _numpy_channels(algorithm, data))
        return algorithms.pack(trained.model), trained.metrics

    return run


_TRAINERS: dict[str, Train] = {
    images.KMEANS: _builtin(images.KMEANS),
    images.LINEAR_LEARNER: _builtin(images.LINEAR_LEARNER),
    images.SOFTMAX: _builtin(images.SOFTMAX),
    images.XGBOOST: xgboost_builtin.train,
}


def _script(spec: JobSpec, s3: S3Client) -> trainer.TrainingResult:
    """A framework image's script mode: the user's entry point, run by script_mode."""
    started = datetime.now(UTC)
    job = script_mode.ScriptJob(
        name=spec.name,
        hyperparameters=spec.hyperparameters,
        channels={
            str(channel.get("ChannelName")): str(
                channel.get("DataSource", {}).get("S3DataSource", {}).get("S3Uri", "")
            )
            for channel in spec.input_data_config
        },
        metric_definitions=spec.metric_definitions,
        output_path=spec.output_path,
        max_runtime_seconds=spec.max_runtime_seconds,
    )
    with tempfile.TemporaryDirectory(prefix=f"devstack-{spec.name}-") as root:
        try:
            result = script_mode.run(job, s3, Path(root))
        except script_mode.ScriptClientError as error:
            raise ClientFault(str(error)) from None
    return trainer.TrainingResult(
        job=trainer.TrainingJob(spec.name, "script", spec.hyperparameters),
        model_data_url=result.model_data_url,
        metrics=result.metrics,
        started=started,
        ended=datetime.now(UTC),
    )


def run(spec: JobSpec, s3: S3Client, region: str) -> trainer.TrainingResult:
    """Trains as the image would and uploads <output>/<job>/output/model.tar.gz; ClientFault
    (and HyperparameterError) for what SageMaker reports as a ClientError."""
    framework = _FRAMEWORK_IMAGE.fullmatch(spec.image)
    if framework is not None and script_mode.is_script_job(spec.hyperparameters):
        if framework["region"] != region:
            raise ClientFault(f"Requested image {spec.image} not found.")
        return _script(spec, s3)
    started = datetime.now(UTC)
    try:
        algorithm = images.algorithm_of(spec.image, region)
    except images.ImageError as error:
        raise ClientFault(str(error)) from None
    if algorithm not in _TRAINERS:
        raise ClientFault(f"Requested image {spec.image} cannot train here.")
    allowed = _CHANNELS[algorithm]
    names = [str(channel.get("ChannelName")) for channel in spec.input_data_config]
    if "train" not in names or not set(names) <= set(allowed):
        raise ClientFault(
            f"{algorithm} reads the channels {', '.join(allowed)} (train required), "
            f"not {', '.join(names)}"
        )
    try:
        bucket, prefix = trainer.output_location(spec.output_path)
    except ValueError as error:
        raise ClientFault(str(error)) from None
    try:
        data = channels.read_channels(s3, spec.input_data_config, _DEFAULT_TYPES[algorithm])
        # SageMaker-reserved hyperparameters (_tuning_objective_metric) are not the algorithm's.
        values = {k: v for k, v in spec.hyperparameters.items() if not k.startswith("_")}
        if algorithm == images.XGBOOST:
            objective = spec.hyperparameters.get(tuning_plans.TUNING_OBJECTIVE_METRIC)
            values = xgboost_builtin.with_objective_metric(values, objective)
        artifact, metrics = _TRAINERS[algorithm](values, data)
        key = f"{prefix}/{spec.name}/output/model.tar.gz".lstrip("/")
        s3.put_object(Bucket=bucket, Key=key, Body=artifact)
    except (channels.ChannelError, ClientError) as error:
        raise ClientFault(str(error)) from None
    return trainer.TrainingResult(
        job=trainer.TrainingJob(spec.name, algorithm, spec.hyperparameters),
        model_data_url=f"s3://{bucket}/{key}",
        metrics=metrics,
        started=started,
        ended=datetime.now(UTC),
    )
