"""CreateTrainingJob from plain boto3 on the devstack: trained for real, in the background."""

from __future__ import annotations

import contextlib
import io
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
from botocore.exceptions import ClientError, WaiterError

from chalicelib.processing.codecs import serialize
from devstack import algorithms, digits, images
from devstack.events import EventRouter
from tests.local_aws import local_aws

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client
    from mypy_boto3_sagemaker.client import SageMakerClient

REGION = "us-east-1"
BUCKET = "devstack-training-unit"
ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
RESOURCES: Any = {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5}
# Waiters poll quickly here; the limit only bounds a broken test.
POLL: Any = {"Delay": 0.2, "MaxAttempts": 600}


@dataclass(frozen=True)
class Local:
    sagemaker: SageMakerClient
    s3: S3Client
    router: EventRouter


@pytest.fixture(scope="module")
def local() -> Iterator[Local]:
    with local_aws(BUCKET, REGION) as aws:
        aws.control.training.attach(aws.jobs)
        yield Local(aws.sagemaker, aws.s3, aws.router)


def _channel(name: str, prefix: str, content_type: str) -> Any:
    return {
        "ChannelName": name,
        "DataSource": {
            "S3DataSource": {
                "S3DataType": "S3Prefix",
                "S3Uri": f"s3://{BUCKET}/{prefix}",
                "S3DataDistributionType": "FullyReplicated",
            }
        },
        "ContentType": content_type,
    }


def _create(
    local: Local,
    name: str,
    image: str,
    hyperparameters: dict[str, str],
    channels: list[Any],
) -> dict[str, Any]:
    local.sagemaker.create_training_job(
        TrainingJobName=name,
        AlgorithmSpecification={"TrainingImage": image, "TrainingInputMode": "File"},
        RoleArn=ROLE,
        HyperParameters=hyperparameters,
        InputDataConfig=channels,
        OutputDataConfig={"S3OutputPath": f"s3://{BUCKET}/output"},
        ResourceConfig=RESOURCES,
        StoppingCondition={"MaxRuntimeInSeconds": 3600},
    )
    # The waiter raises on Failed, as on AWS; the tests read the status themselves.
    with contextlib.suppress(WaiterError):
        local.sagemaker.get_waiter("training_job_completed_or_stopped").wait(
            TrainingJobName=name, WaiterConfig=POLL
        )
    return dict(local.sagemaker.describe_training_job(TrainingJobName=name))


def _metrics(described: dict[str, Any]) -> dict[str, float]:
    return {m["MetricName"]: m["Value"] for m in described.get("FinalMetricDataList", [])}


def _digits_recordio(local: Local) -> None:
    split = digits.load_split()
    for channel, x in (("train", split.x_train), ("test", split.x_test)):
        body = serialize(digits.features(x).astype(np.float32), "application/x-recordio-protobuf")
        local.s3.put_object(Bucket=BUCKET, Key=f"kmeans/{channel}/data.rec", Body=body)


def test_kmeans_by_plain_boto3_trains_on_recordio(local: Local) -> None:
    _digits_recordio(local)
    mark = local.router.mark()
    described = _create(
        local,
        "unit-kmeans-boto3",
        images.image_uri(images.KMEANS, REGION),
        {"k": "10", "feature_dim": "64", "mini_batch_size": "500", "force_dense": "True"},
        [
            _channel("train", "kmeans/train/", "application/x-recordio-protobuf"),
            _channel("test", "kmeans/test/", "application/x-recordio-protobuf"),
        ],
    )
    assert described["TrainingJobStatus"] == "Completed"
    metrics = _metrics(described)
    assert set(metrics) == {"train:msd", "test:msd"}
    assert 0 < metrics["test:msd"] < 5
    artifact = described["ModelArtifacts"]["S3ModelArtifacts"]
    assert artifact == f"s3://{BUCKET}/output/unit-kmeans-boto3/output/model.tar.gz"
    body = local.s3.get_object(Bucket=BUCKET, Key=artifact.split("/", 3)[3])["Body"].read()
    model = algorithms.unpack(body)
    assert model.params["centroids"].shape == (10, 64)
    statuses = [t["Status"] for t in described["SecondaryStatusTransitions"]]
    assert statuses == ["Starting", "Training", "Completed"]
    assert local.router.wait_idle(10)
    events = [d.event["detail"] for d in local.router.published_since(mark)]
    assert [e["TrainingJobStatus"] for e in events] == ["InProgress", "Completed"]
    assert {e["TrainingJobName"] for e in events} == {"unit-kmeans-boto3"}


def test_linear_learner_regressor_on_csv(local: Local) -> None:
    from sklearn.datasets import load_diabetes

    x, y = load_diabetes(return_X_y=True)
    rows = np.column_stack([y, x])
    text = "\n".join(",".join(repr(float(v)) for v in row) for row in rows)
    local.s3.put_object(Bucket=BUCKET, Key="diabetes/train/diabetes.csv", Body=text.encode())
    described = _create(
        local,
        "unit-linear-regressor",
        images.image_uri(images.LINEAR_LEARNER, REGION),
        {"predictor_type": "regressor", "feature_dim": "10", "epochs": "30"},
        [_channel("train", "diabetes/train/", "text/csv")],
    )
    assert described["TrainingJobStatus"] == "Completed", described.get("FailureReason")
    # The mean predictor's MSE is the variance of y (about 5930); a linear model does far better.
    assert _metrics(described)["train:mse"] < 0.6 * float(np.var(y))


@pytest.mark.parametrize(
    ("image", "hyperparameters", "reason"),
    [
        (
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/my-algorithm:latest",
            {"k": "3"},
            "ClientError: Requested image 123456789012.dkr.ecr.us-east-1.amazonaws.com/"
            "my-algorithm:latest not found.",
        ),
        (
            images.image_uri(images.KMEANS, "eu-west-1"),
            {"k": "3"},
            "ClientError: Requested image",
        ),
        (
            images.image_uri(images.KMEANS, REGION),
            {"k": "3", "learning_rate": "0.1"},
            "ClientError: kmeans does not know hyperparameter(s) learning_rate",
        ),
        (
            images.image_uri(images.KMEANS, REGION),
            {"k": "3", "feature_dim": "784"},
            "ClientError: kmeans: feature_dim=784 does not match the data's 64 features",
        ),
    ],
)
def test_jobs_sagemaker_would_fail_fail_with_its_reason(
    local: Local, image: str, hyperparameters: dict[str, str], reason: str
) -> None:
    _digits_recordio(local)
    name = f"unit-failing-{abs(hash((image, tuple(hyperparameters)))) % 10**8}"
    described = _create(
        local,
        name,
        image,
        hyperparameters,
        [_channel("train", "kmeans/train/", "application/x-recordio-protobuf")],
    )
    assert described["TrainingJobStatus"] == "Failed"
    assert described["FailureReason"].startswith(reason)
    assert "ModelArtifacts" not in described or not described["ModelArtifacts"]


def test_a_job_name_is_used_once(local: Local) -> None:
    _digits_recordio(local)
    channels = [_channel("train", "kmeans/train/", "application/x-recordio-protobuf")]
    image = images.image_uri(images.KMEANS, REGION)
    _create(local, "unit-kmeans-once", image, {"k": "2"}, channels)
    with pytest.raises(ClientError) as raised:
        _create(local, "unit-kmeans-once", image, {"k": "2"}, channels)
    assert raised.value.response["Error"]["Code"] == "ResourceInUse"


def test_artifact_is_a_gzipped_tar(local: Local) -> None:
    _digits_recordio(local)
    described = _create(
        local,
        "unit-kmeans-tar",
        images.image_uri(images.KMEANS, REGION),
        {"k": "4"},
        [_channel("train", "kmeans/train/", "application/x-recordio-protobuf")],
    )
    key = described["ModelArtifacts"]["S3ModelArtifacts"].split("/", 3)[3]
    body = local.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as tar:
        assert sorted(tar.getnames()) == ["meta.json", "model.npz"]


def test_xgboost_by_plain_boto3_trains_on_csv_channels(local: Local) -> None:
    from sklearn.datasets import load_breast_cancer

    x, y = load_breast_cancer(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(x))
    for channel, rows in (("train", order[:450]), ("validation", order[450:])):
        text = "".join(
            f"{int(y[i])}," + ",".join(repr(float(v)) for v in x[i]) + "\n" for i in rows
        )
        local.s3.put_object(Bucket=BUCKET, Key=f"cancer/{channel}/data.csv", Body=text.encode())
    described = _create(
        local,
        "unit-xgboost-binary",
        images.image_uri(images.XGBOOST, REGION, "1.7-1"),
        {"num_round": "20", "objective": "binary:logistic", "eval_metric": "auc"},
        [
            _channel("train", "cancer/train/", "text/csv"),
            _channel("validation", "cancer/validation/", "text/csv"),
        ],
    )
    assert described["TrainingJobStatus"] == "Completed", described.get("FailureReason")
    metrics = _metrics(described)
    assert set(metrics) == {"train:auc", "validation:auc"}
    assert metrics["validation:auc"] > 0.97
    key = described["ModelArtifacts"]["S3ModelArtifacts"].split("/", 3)[3]
    body = local.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as tar:
        assert tar.getnames() == ["xgboost-model"]
