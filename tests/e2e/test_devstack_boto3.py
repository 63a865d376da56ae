"""End to end: plain boto3 hosting code, as the SageMaker examples write it, on the stack."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3
import numpy as np
import pytest
from botocore.exceptions import ClientError, WaiterError

from devstack import algorithms, images, trainer
from devstack.stack import STATE_FILE, StackState
from tests.e2e.test_devstack import READY_TIMEOUT, ROOT, _environment, _free_port

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client
    from mypy_boto3_sagemaker.client import SageMakerClient
    from mypy_boto3_sagemaker.literals import BatchStrategyType
    from mypy_boto3_sagemaker_runtime.client import SageMakerRuntimeClient

pytestmark = pytest.mark.e2e

ROLE = "arn:aws:iam::123456789012:role/SageMakerExecution"
# The stack creates endpoints in about a second; polling each second keeps the tests short.
FAST: Any = {"Delay": 1, "MaxAttempts": 120}
PYTORCH_INFERENCE = "763104351884.dkr.ecr.{region}.amazonaws.com/pytorch-inference:2.1-cpu-py310"


@dataclass(frozen=True)
class User:
    """What a user's notebook holds: boto3 clients pointed at the stack, and the bucket."""

    sagemaker: SageMakerClient
    runtime: SageMakerRuntimeClient
    s3: S3Client
    region: str
    bucket: str

    def artifact(self, endpoint: str) -> str:
        """The ModelDataUrl a demo endpoint serves (a model trained by the stack)."""
        config = self.sagemaker.describe_endpoint(EndpointName=endpoint)["EndpointConfigName"]
        variant = self.sagemaker.describe_endpoint_config(EndpointConfigName=config)[
            "ProductionVariants"
        ][0]
        model = self.sagemaker.describe_model(ModelName=variant["ModelName"])
        return model["PrimaryContainer"]["ModelDataUrl"]

    def deploy(
        self,
        name: str,
        image: str,
        model_data_url: str,
        environment: dict[str, str] | None = None,
        variants: tuple[str, ...] = ("AllTraffic",),
    ) -> None:
        """create_model, create_endpoint_config, create_endpoint, as the low-level examples do."""
        for variant in variants:
            self.sagemaker.create_model(
                ModelName=f"{name}-{variant}".lower(),
                ExecutionRoleArn=ROLE,
                PrimaryContainer={
                    "Image": image,
                    "ModelDataUrl": model_data_url,
                    "Environment": environment or {},
                },
            )
        self.sagemaker.create_endpoint_config(
            EndpointConfigName=name,
            ProductionVariants=[
                {
                    "VariantName": variant,
                    "ModelName": f"{name}-{variant}".lower(),
                    "InitialInstanceCount": 1,
                    "InstanceType": "ml.m5.large",
                    "InitialVariantWeight": 1.0,
                }
                for variant in variants
            ],
        )
        self.sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=name)

    def invoke(self, endpoint: str, body: bytes, content_type: str = "text/csv") -> Any:
        response = self.runtime.invoke_endpoint(
            EndpointName=endpoint, Body=body, ContentType=content_type
        )
        return response["InvokedProductionVariant"], json.loads(response["Body"].read())


@pytest.fixture(scope="module")
def user(tmp_path_factory: pytest.TempPathFactory) -> Iterator[User]:
    out_dir = tmp_path_factory.mktemp("out")
    process = subprocess.Popen(
        [sys.executable, "-m", "devstack", "serve"],
        cwd=ROOT,
        env=_environment(SAGEWIRE_API_PORT=str(_free_port()), SAGEWIRE_OUT_DIR=str(out_dir)),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: list[str] = []
    ready = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if line.startswith("devstack ready"):
                ready.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        while not ready.wait(0.2):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail("devstack serve did not get ready:\n" + "".join(lines))
        state = StackState.read(out_dir / STATE_FILE)
        options: Any = {
            "region_name": state.region,
            "aws_access_key_id": "testing",
            "aws_secret_access_key": "testing",
        }
        yield User(
            boto3.client("sagemaker", endpoint_url=state.aws_endpoint_url, **options),
            boto3.client("sagemaker-runtime", endpoint_url=state.runtime_endpoint_url, **options),
            boto3.client("s3", endpoint_url=state.aws_endpoint_url, **options),
            state.region,
            state.bucket,
        )
    finally:
        process.kill()
        process.wait()
        reader.join(5)


def _held_out(algorithm: str) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """The demo's held-out split for `algorithm` (k-means's test channel, the others'
    validation channel): features and labels."""
    channels = trainer.channels(algorithm)
    x = channels.x_validation if channels.x_validation is not None else channels.x_test
    y = channels.y_validation if channels.y_validation is not None else channels.y_test
    assert x is not None
    assert y is not None
    return x, y


def _rows(x: np.ndarray[Any, Any]) -> bytes:
    return "".join(",".join(f"{v:.6f}" for v in row) + "\n" for row in x).encode()


def test_kmeans_deployed_under_new_names_answers_closest_clusters(user: User) -> None:
    image = images.image_uri(algorithms.KMEANS, user.region)
    user.deploy("boto3-kmeans", image, user.artifact("digits-kmeans"))
    assert user.sagemaker.describe_endpoint(EndpointName="boto3-kmeans")["EndpointStatus"] in (
        "Creating",
        "InService",
    )
    user.sagemaker.get_waiter("endpoint_in_service").wait(
        EndpointName="boto3-kmeans", WaiterConfig=FAST
    )
    rows = _rows(_held_out(algorithms.KMEANS)[0][:20])
    variant, answer = user.invoke("boto3-kmeans", rows)
    _, demo = user.invoke("digits-kmeans", rows)
    assert variant == "AllTraffic"
    assert answer == demo  # the same artifact: the same clusters and distances
    assert [sorted(p) for p in answer["predictions"]] == [
        ["closest_cluster", "distance_to_cluster"]
    ] * 20
    assert len({p["closest_cluster"] for p in answer["predictions"]}) > 3


def test_linear_learner_under_new_names_tells_zeros_apart(user: User) -> None:
    image = images.image_uri(algorithms.LINEAR_LEARNER, user.region)
    user.deploy("boto3-zero", image, user.artifact("digits-zero"))
    user.sagemaker.get_waiter("endpoint_in_service").wait(
        EndpointName="boto3-zero", WaiterConfig=FAST
    )
    held_x, held_y = _held_out(algorithms.LINEAR_LEARNER)
    _, answer = user.invoke("boto3-zero", _rows(held_x))
    labels = np.array([p["predicted_label"] for p in answer["predictions"]])
    assert float(np.mean(labels == held_y)) > 0.97


def test_pytorch_inference_without_a_script_serves_the_saved_model(user: User) -> None:
    # The PyTorch toolkit's default handler: the stand-in CNN's artifact, no SAGEMAKER_PROGRAM.
    image = PYTORCH_INFERENCE.format(region=user.region)
    user.deploy("boto3-default-handler", image, user.artifact("digits-classifier"))
    user.sagemaker.get_waiter("endpoint_in_service").wait(
        EndpointName="boto3-default-handler", WaiterConfig=FAST
    )
    held_x, held_y = _held_out(algorithms.SOFTMAX)
    _, logits = user.invoke("boto3-default-handler", _rows(held_x[:50]))
    assert float(np.mean(np.argmax(np.array(logits), axis=1) == held_y[:50])) > 0.9


@pytest.mark.parametrize(
    ("name", "image", "environment", "artifact_of", "reason"),
    [
        (
            "boto3-no-entry-point",
            "683313688378.dkr.ecr.{region}.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3",
            {},
            "digits-classifier",
            "needs SAGEMAKER_PROGRAM and SAGEMAKER_SUBMIT_DIRECTORY",
        ),
        (
            "boto3-training-image",
            "763104351884.dkr.ecr.{region}.amazonaws.com/pytorch-training:2.1-cpu-py310",
            {},
            "digits-classifier",
            "pytorch-training is a training image: it has no serve command",
        ),
        (
            "boto3-wrong-kind",
            "382416733822.dkr.ecr.{region}.amazonaws.com/linear-learner:1",
            {},
            "digits-kmeans",
            "holds a kmeans model, not the linear-learner model",
        ),
        (
            "boto3-unknown-image",
            "123456789012.dkr.ecr.{region}.amazonaws.com/my-own-server:3",
            {},
            "digits-kmeans",
            "is not one the local stack serves",
        ),
    ],
)
def test_a_model_sagemaker_could_not_serve_fails_its_endpoint(
    user: User, name: str, image: str, environment: dict[str, str], artifact_of: str, reason: str
) -> None:
    user.deploy(name, image.format(region=user.region), user.artifact(artifact_of), environment)
    with pytest.raises(WaiterError, match="Failed"):
        user.sagemaker.get_waiter("endpoint_in_service").wait(EndpointName=name, WaiterConfig=FAST)
    described = user.sagemaker.describe_endpoint(EndpointName=name)
    assert described["EndpointStatus"] == "Failed"
    assert described["FailureReason"].startswith(
        "The primary container for production variant AllTraffic did not pass the ping health"
    )
    assert reason in described["FailureReason"]
    with pytest.raises(ClientError, match=f"Endpoint {name} of account 123456789012 not found"):
        user.invoke(name, b"1,2\n")


def test_weights_route_traffic_and_deletes_remove_everything(user: User) -> None:
    image = images.image_uri(algorithms.KMEANS, user.region)
    user.deploy("boto3-ab", image, user.artifact("digits-kmeans"), variants=("A", "B"))
    user.sagemaker.get_waiter("endpoint_in_service").wait(
        EndpointName="boto3-ab", WaiterConfig=FAST
    )
    rows = _rows(_held_out(algorithms.KMEANS)[0][:2])
    user.sagemaker.update_endpoint_weights_and_capacities(
        EndpointName="boto3-ab",
        DesiredWeightsAndCapacities=[
            {"VariantName": "A", "DesiredWeight": 0.0},
            {"VariantName": "B", "DesiredWeight": 1.0},
        ],
    )
    user.sagemaker.get_waiter("endpoint_in_service").wait(
        EndpointName="boto3-ab", WaiterConfig=FAST
    )
    weights = {
        v["VariantName"]: v["CurrentWeight"]
        for v in user.sagemaker.describe_endpoint(EndpointName="boto3-ab")["ProductionVariants"]
    }
    assert weights == {"A": 0.0, "B": 1.0}
    assert {user.invoke("boto3-ab", rows)[0] for _ in range(20)} == {"B"}

    user.sagemaker.delete_endpoint(EndpointName="boto3-ab")
    with pytest.raises(ClientError, match="Endpoint boto3-ab of account 123456789012 not found"):
        user.invoke("boto3-ab", rows)
    user.sagemaker.delete_endpoint_config(EndpointConfigName="boto3-ab")
    for variant in ("a", "b"):
        user.sagemaker.delete_model(ModelName=f"boto3-ab-{variant}")
    for describe in (
        lambda: user.sagemaker.describe_endpoint(EndpointName="boto3-ab"),
        lambda: user.sagemaker.describe_endpoint_config(EndpointConfigName="boto3-ab"),
        lambda: user.sagemaker.describe_model(ModelName="boto3-ab-a"),
    ):
        with pytest.raises(ClientError, match="Could not find"):
            describe()
    assert "boto3-ab" not in {
        e["EndpointName"] for e in user.sagemaker.list_endpoints()["Endpoints"]
    }


def _transform(
    user: User,
    name: str,
    model: str,
    prefix: str,
    strategy: BatchStrategyType,
    accept: str,
    content_type: str = "text/csv",
) -> Any:
    """create_transform_job as the batch transform examples write it, then its waiter."""
    user.sagemaker.create_transform_job(
        TransformJobName=name,
        ModelName=model,
        BatchStrategy=strategy,
        MaxPayloadInMB=1,
        TransformInput={
            "DataSource": {
                "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{user.bucket}/{prefix}"}
            },
            "ContentType": content_type,
            "SplitType": "Line",
        },
        TransformOutput={
            "S3OutputPath": f"s3://{user.bucket}/{name}/output",
            "Accept": accept,
            "AssembleWith": "Line",
        },
        TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1},
    )
    user.sagemaker.get_waiter("transform_job_completed_or_stopped").wait(
        TransformJobName=name, WaiterConfig=FAST
    )
    return user.sagemaker.describe_transform_job(TransformJobName=name)


def _lines(user: User, key: str) -> list[Any]:
    body = user.s3.get_object(Bucket=user.bucket, Key=key)["Body"].read()
    return [json.loads(line) for line in body.decode().splitlines()]


def test_a_transform_job_writes_one_prediction_per_input_line(user: User) -> None:
    image = images.image_uri(algorithms.KMEANS, user.region)
    user.deploy("boto3-transform-kmeans", image, user.artifact("digits-kmeans"))
    x = _held_out(algorithms.KMEANS)[0]
    first, second = x[:300], x[300:]
    user.s3.put_object(Bucket=user.bucket, Key="kmeans-in/part-1.csv", Body=_rows(first))
    user.s3.put_object(Bucket=user.bucket, Key="kmeans-in/2026/part-2.csv", Body=_rows(second))

    described = _transform(
        user,
        "boto3-kmeans-batch",
        "boto3-transform-kmeans-alltraffic",
        "kmeans-in/",
        "MultiRecord",
        "application/jsonlines",
    )

    assert described["TransformJobStatus"] == "Completed", described.get("FailureReason")
    out = "boto3-kmeans-batch/output"
    one, two = _lines(user, f"{out}/part-1.csv.out"), _lines(user, f"{out}/2026/part-2.csv.out")
    assert (len(one), len(two)) == (len(first), len(second))
    _, answer = user.invoke("digits-kmeans", _rows(x))
    assert one + two == answer["predictions"]  # what the endpoint answers for the same rows
    summaries = user.sagemaker.list_transform_jobs(NameContains="boto3-kmeans-batch")
    assert [s["TransformJobStatus"] for s in summaries["TransformJobSummaries"]] == ["Completed"]


def test_single_record_transform_of_linear_learner_tells_zeros_apart(user: User) -> None:
    image = images.image_uri(algorithms.LINEAR_LEARNER, user.region)
    user.deploy("boto3-transform-zero", image, user.artifact("digits-zero"))
    held_x, held_y = _held_out(algorithms.LINEAR_LEARNER)
    user.s3.put_object(Bucket=user.bucket, Key="zero-in/held-out.csv", Body=_rows(held_x))

    described = _transform(
        user,
        "boto3-zero-batch",
        "boto3-transform-zero-alltraffic",
        "zero-in/held-out.csv",
        "SingleRecord",
        "application/json",
    )

    assert described["TransformJobStatus"] == "Completed", described.get("FailureReason")
    lines = _lines(user, "boto3-zero-batch/output/held-out.csv.out")
    assert len(lines) == len(held_y)
    labels = np.array([line["predictions"][0]["predicted_label"] for line in lines])
    assert float(np.mean(labels == held_y)) > 0.97


def test_a_transform_the_container_refuses_fails_with_its_reason(user: User) -> None:
    image = images.image_uri(algorithms.KMEANS, user.region)
    user.deploy("boto3-transform-png", image, user.artifact("digits-kmeans"))
    user.s3.put_object(Bucket=user.bucket, Key="png-in/a.csv", Body=b"1,2\n")
    with pytest.raises(WaiterError, match="Failed"):
        _transform(
            user,
            "boto3-png-batch",
            "boto3-transform-png-alltraffic",
            "png-in/",
            "MultiRecord",
            "application/json",
            content_type="image/png",
        )
    described = user.sagemaker.describe_transform_job(TransformJobName="boto3-png-batch")
    assert described["TransformJobStatus"] == "Failed"
    assert "415" in described["FailureReason"]
    assert "image/png" in described["FailureReason"]
