"""Local training jobs: real training on the bundled digits, model.tar.gz uploaded to local S3."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import numpy as np

from devstack import algorithms, digits

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

JOB_NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")
# The training images these algorithms stand in for (the notebooks deploy the same image); the
# local runtime reads the artifact instead.
_IMAGES = {
    algorithms.LINEAR_LEARNER: "382416733822.dkr.ecr.{region}.amazonaws.com/linear-learner:1",
    algorithms.KMEANS: "382416733822.dkr.ecr.{region}.amazonaws.com/kmeans:1",
    algorithms.SOFTMAX: (
        "763104351884.dkr.ecr.{region}.amazonaws.com/pytorch-training:2.1-cpu-py310"
    ),
}


@dataclass(frozen=True)
class TrainingJob:
    name: str
    algorithm: str
    hyperparameters: Mapping[str, str] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    experiment: str | None = None
    trial: str | None = None


@dataclass(frozen=True)
class TrainingResult:
    job: TrainingJob
    model_data_url: str
    metrics: dict[str, float]
    started: datetime
    ended: datetime


def image_uri(algorithm: str, region: str) -> str:
    return _IMAGES[algorithm].format(region=region)


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
    return algorithms.Channels(x_train, y_train, x_test, y_test)


def run(job: TrainingJob, s3: S3Client, bucket: str) -> TrainingResult:
    """Trains, uploads s3://bucket/models/<job>/output/model.tar.gz, and returns the metrics."""
    if not JOB_NAME.fullmatch(job.name):
        raise ValueError(f"invalid training job name {job.name!r} (SageMaker name pattern)")
    if job.algorithm not in algorithms.ALGORITHMS:
        raise ValueError(
            f"unknown algorithm {job.algorithm!r}; known: {', '.join(algorithms.ALGORITHMS)}"
        )
    started = datetime.now(UTC)
    trained = algorithms.train(job.algorithm, job.hyperparameters, channels(job.algorithm))
    key = f"models/{job.name}/output/model.tar.gz"
    s3.put_object(Bucket=bucket, Key=key, Body=algorithms.pack(trained.model))
    return TrainingResult(
        job=job,
        model_data_url=f"s3://{bucket}/{key}",
        metrics=trained.metrics,
        started=started,
        ended=datetime.now(UTC),
    )
