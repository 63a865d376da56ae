"""Local training jobs: real training on the bundled digits, model.tar.gz uploaded to local S3."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import numpy as np

from devstack import algorithms, digits

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client
    from mypy_boto3_sagemaker.type_defs import ResourceConfigTypeDef

JOB_NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")
# What the stack's own jobs ask for (recorded on the job and its trial component).
RESOURCES: ResourceConfigTypeDef = {
    "InstanceType": "ml.m5.large",
    "InstanceCount": 1,
    "VolumeSizeInGB": 10,
}


@dataclass(frozen=True)
class TrainingJob:
    name: str
    algorithm: str
    hyperparameters: Mapping[str, str] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    experiment: str | None = None
    trial: str | None = None
    # What the job was started with: None for the algorithm's image, the stack's role and
    # s3://<stack bucket>/models. A foreign image only names the job's image: the local
    # runtime serves the artifact whatever the image.
    image: str | None = None
    role: str | None = None
    output: str | None = None


@dataclass(frozen=True)
class TrainingResult:
    job: TrainingJob
    model_data_url: str
    metrics: dict[str, float]
    started: datetime
    ended: datetime
    # Each metric's value after every epoch, when the trainer measures one per epoch.
    history: Mapping[str, Sequence[float]] = field(default_factory=dict)


def output_location(s3_uri: str) -> tuple[str, str]:
    """Bucket and key prefix of an S3OutputPath."""
    bucket, _, prefix = s3_uri.removeprefix("s3://").partition("/")
    if not s3_uri.startswith("s3://") or not bucket:
        raise ValueError(f"the output path must be s3://<bucket>[/<prefix>], not {s3_uri!r}")
    return bucket, prefix.strip("/")


def job_name(prefix: str, now: datetime | None = None) -> str:
    """A unique job name the way the SageMaker SDK makes them: prefix plus a timestamp."""
    stamp = (now or datetime.now(UTC)).strftime("%Y-%m-%d-%H-%M-%S-%f")[:-3]
    return f"{prefix[: 62 - len(stamp)]}-{stamp}"


def channels(algorithm: str) -> algorithms.Channels:
    """The training script's data preparation for each algorithm (as in the notebooks)."""
    split = digits.load_split()
    x_train, x_test = digits.features(split.x_train), digits.features(split.x_test)
    y_train, y_test = split.y_train, split.y_test
    if algorithm == algorithms.LINEAR_LEARNER:
        # "Is it a zero?": the notebook relabels the digits before uploading them.
        y_train, y_test = (y_train == 0).astype(np.int64), (y_test == 0).astype(np.int64)
    elif algorithm == algorithms.SOFTMAX:
        x_train = (x_train - digits.CLASSIFIER_MEAN) / digits.CLASSIFIER_STD
        x_test = (x_test - digits.CLASSIFIER_MEAN) / digits.CLASSIFIER_STD
    elif algorithm == algorithms.KMEANS:
        # k-means evaluates on a "test" channel (test:msd), not a validation one.
        return algorithms.Channels(x_train, y_train, x_test=x_test, y_test=y_test)
    return algorithms.Channels(x_train, y_train, x_test, y_test)


def run(job: TrainingJob, s3: S3Client, output_path: str) -> TrainingResult:
    """Trains, uploads <output_path>/<job>/output/model.tar.gz, and returns the metrics."""
    bucket, prefix = output_location(output_path)
    if not JOB_NAME.fullmatch(job.name):
        raise ValueError(f"invalid training job name {job.name!r} (SageMaker name pattern)")
    if job.algorithm not in algorithms.ALGORITHMS:
        raise ValueError(
            f"unknown algorithm {job.algorithm!r}; known: {', '.join(algorithms.ALGORITHMS)}"
        )
    started = datetime.now(UTC)
    trained = algorithms.train(job.algorithm, job.hyperparameters, channels(job.algorithm))
    key = f"{prefix}/{job.name}/output/model.tar.gz".lstrip("/")
    s3.put_object(Bucket=bucket, Key=key, Body=algorithms.pack(trained.model))
    return TrainingResult(
        job=job,
        model_data_url=f"s3://{bucket}/{key}",
        metrics=trained.metrics,
        started=started,
        ended=datetime.now(UTC),
        history=trained.history,
    )
