"""The devstack's algorithms, artifacts, local sagemaker-runtime and UpdateEndpoint shim."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3
import numpy as np
import pytest
from botocore.exceptions import ClientError

from devstack import algorithms, digits, images, trainer
from devstack.aws import ControlPlane
from devstack.runtime import RuntimeServer
from tests.clock import ManualClock
from tests.factories import tar_gz

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client
    from mypy_boto3_sagemaker.client import SageMakerClient
    from mypy_boto3_sagemaker_runtime.client import SageMakerRuntimeClient

BUCKET = "devstack-unit"
UPDATE_DELAY = 60.0  # on a manual clock: the endpoint is Updating until a test advances it


@pytest.fixture(scope="module")
def trained() -> dict[str, algorithms.Trained]:
    return {
        algorithm: algorithms.train(algorithm, {}, trainer.channels(algorithm))
        for algorithm in algorithms.ALGORITHMS
    }


def test_each_algorithm_learns_the_digits(trained: dict[str, algorithms.Trained]) -> None:
    linear = trained[algorithms.LINEAR_LEARNER].metrics
    assert linear["validation:binary_classification_accuracy"] > 0.97
    assert linear["validation:binary_f_beta"] > 0.9
    assert linear["train:objective_loss:final"] < linear["validation:objective_loss:final"] * 2
    assert trained[algorithms.SOFTMAX].metrics["validation:accuracy"] > 0.95
    assert trained[algorithms.SOFTMAX].metrics["train:loss"] < 0.1
    assert 0 < trained[algorithms.KMEANS].metrics["train:msd"] < 5


def test_training_is_deterministic() -> None:
    channels = trainer.channels(algorithms.KMEANS)
    first = algorithms.train(algorithms.KMEANS, {"k": "4"}, channels)
    second = algorithms.train(algorithms.KMEANS, {"k": "4"}, channels)
    assert first.metrics == second.metrics


def test_smaller_batches_reach_a_lower_training_loss() -> None:
    channels = trainer.channels(algorithms.LINEAR_LEARNER)
    losses = [
        algorithms.train(algorithms.LINEAR_LEARNER, {"mini_batch_size": size}, channels).metrics[
            "train:objective_loss:final"
        ]
        for size in ("10", "100", "500")
    ]
    assert losses == sorted(losses)


@pytest.mark.parametrize(
    ("algorithm", "hyperparameters", "message"),
    [
        (algorithms.KMEANS, {"bogus": "1"}, "does not know"),
        (algorithms.SOFTMAX, {"lr": "fast"}, "not a number"),
        (algorithms.LINEAR_LEARNER, {"predictor_type": "ranker"}, "must be one of"),
        (algorithms.KMEANS, {"k": "0"}, "must be >= 1"),
        ("xgboost", {}, "unknown algorithm"),
    ],
)
def test_bad_hyperparameters_are_refused(
    algorithm: str, hyperparameters: dict[str, str], message: str
) -> None:
    with pytest.raises(algorithms.HyperparameterError, match=message):
        algorithms.train(algorithm, hyperparameters, trainer.channels(algorithms.KMEANS))


def test_artifacts_round_trip(trained: dict[str, algorithms.Trained]) -> None:
    _, held_out, _ = trainer.channels(algorithms.SOFTMAX).held_out()[0]
    x = held_out[:5]
    model = trained[algorithms.SOFTMAX].model
    restored = algorithms.unpack(algorithms.pack(model))
    assert (restored.algorithm, restored.feature_dim) == (algorithms.SOFTMAX, digits.FEATURES)
    np.testing.assert_allclose(
        algorithms.softmax_logits(restored, x), algorithms.softmax_logits(model, x), rtol=1e-4
    )


@pytest.mark.parametrize(
    "artifact",
    [
        b"not a tarball",
        tar_gz({"meta.json": b"{}"}),
        tar_gz({"model.npz": b"junk", "meta.json": b'{"algorithm": "kmeans", "feature_dim": 2}'}),
    ],
)
def test_foreign_artifacts_are_refused(artifact: bytes) -> None:
    with pytest.raises(algorithms.ArtifactError):
        algorithms.unpack(artifact)


# --- the local runtime and the shim, over HTTP, against moto in-process ---


@dataclass(frozen=True)
class Local:
    sagemaker: SageMakerClient
    runtime: SageMakerRuntimeClient
    s3: S3Client
    models: dict[str, str]
    clock: ManualClock


@pytest.fixture(scope="module")
def local(trained: dict[str, algorithms.Trained]) -> Iterator[Local]:
    clock = ManualClock()
    control = ControlPlane(update_delay_seconds=UPDATE_DELAY, timer=clock.timer)
    runtime = RuntimeServer("us-east-1")
    control.start()
    runtime.start()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_ENDPOINT_URL", control.url)
        patch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", runtime.url)
        session = boto3.session.Session(region_name="us-east-1")
        s3, sagemaker = session.client("s3"), session.client("sagemaker")
        s3.create_bucket(Bucket=BUCKET)
        models = {}
        for algorithm, result in trained.items():
            key = f"models/{algorithm}/model.tar.gz"
            s3.put_object(Bucket=BUCKET, Key=key, Body=algorithms.pack(result.model))
            sagemaker.create_model(
                ModelName=algorithm,
                ExecutionRoleArn="arn:aws:iam::123456789012:role/Unit",
                PrimaryContainer={
                    "Image": images.serving_image_uri(algorithm, "us-east-1"),
                    "ModelDataUrl": f"s3://{BUCKET}/{key}",
                },
            )
            _config(sagemaker, algorithm, [("AllTraffic", algorithm, 1.0)])
            sagemaker.create_endpoint(EndpointName=algorithm, EndpointConfigName=algorithm)
            models[algorithm] = key
        try:
            yield Local(sagemaker, session.client("sagemaker-runtime"), s3, models, clock)
        finally:
            runtime.stop()
            control.stop()


def _config(sagemaker: SageMakerClient, name: str, variants: list[tuple[str, str, float]]) -> None:
    sagemaker.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[
            {
                "VariantName": variant,
                "ModelName": model,
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
                "InitialVariantWeight": weight,
            }
            for variant, model, weight in variants
        ],
    )


def _rows(count: int, algorithm: str = algorithms.LINEAR_LEARNER) -> np.ndarray[Any, Any]:
    _, held_out, _ = trainer.channels(algorithm).held_out()[0]
    return held_out[:count]


def _csv(rows: np.ndarray[Any, Any]) -> bytes:
    return "".join(",".join(f"{v:.6f}" for v in row) + "\n" for row in rows).encode()


def _invoke(local: Local, endpoint: str, body: bytes, content_type: str, **extra: Any) -> Any:
    response = local.runtime.invoke_endpoint(
        EndpointName=endpoint, Body=body, ContentType=content_type, **extra
    )
    return response, response["Body"].read()


def test_linear_learner_answers_like_linear_learner(local: Local) -> None:
    response, body = _invoke(local, algorithms.LINEAR_LEARNER, _csv(_rows(3)), "text/csv")
    predictions = json.loads(body)["predictions"]
    assert response["ContentType"] == "application/json"
    assert response["InvokedProductionVariant"] == "AllTraffic"
    assert [sorted(p) for p in predictions] == [["predicted_label", "score"]] * 3
    assert all(p["predicted_label"] in (0, 1) and 0 <= p["score"] <= 1 for p in predictions)


def test_kmeans_reads_json_instances(local: Local) -> None:
    document = {"instances": [{"features": row.tolist()} for row in _rows(2, algorithms.KMEANS)]}
    _, body = _invoke(local, algorithms.KMEANS, json.dumps(document).encode(), "application/json")
    for prediction in json.loads(body)["predictions"]:
        assert float(prediction["closest_cluster"]).is_integer()
        assert prediction["distance_to_cluster"] >= 0


def test_the_classifier_answers_logits_as_json_or_npy(local: Local) -> None:
    rows = _rows(4, algorithms.SOFTMAX)
    request = json.dumps(rows.tolist()).encode()
    _, body = _invoke(local, algorithms.SOFTMAX, request, "application/json")
    logits = np.array(json.loads(body))
    assert logits.shape == (4, 10)
    response, body = _invoke(
        local, algorithms.SOFTMAX, request, "application/json", Accept="application/x-npy"
    )
    assert response["ContentType"] == "application/x-npy"
    np.testing.assert_allclose(np.load(io.BytesIO(body)), logits, rtol=1e-5)


def _error(local: Local, endpoint: str, body: bytes, content_type: str, **extra: Any) -> Any:
    with pytest.raises(ClientError) as caught:
        _invoke(local, endpoint, body, content_type, **extra)
    return caught.value.response


def test_an_unknown_endpoint_is_a_validation_error(local: Local) -> None:
    error = _error(local, "nope", b"1", "text/csv")
    assert error["Error"]["Code"] == "ValidationError"
    assert error["Error"]["Message"] == "Endpoint nope of account 123456789012 not found."
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b"1,2,3\n", "text/csv", 400),
        (b"{not json", "application/json", 400),
        (b"\x00\x01", "image/png", 415),
    ],
)
def test_bad_payloads_are_model_errors(
    local: Local, body: bytes, content_type: str, status: int
) -> None:
    error = _error(local, algorithms.LINEAR_LEARNER, body, content_type)
    assert error["Error"]["Code"] == "ModelError"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert error["OriginalStatusCode"] == status
    assert error["OriginalMessage"]
    assert error["LogStreamArn"].endswith(f"/aws/sagemaker/Endpoints/{algorithms.LINEAR_LEARNER}")


def test_an_unknown_target_variant_is_named(local: Local) -> None:
    error = _error(local, algorithms.KMEANS, _csv(_rows(1)), "text/csv", TargetVariant="Blue")
    assert error["Error"]["Code"] == "ValidationError"
    assert "Blue" in error["Error"]["Message"]


def test_traffic_follows_weights_and_the_target_header(local: Local) -> None:
    name = "weighted"
    _config(
        local.sagemaker,
        name,
        [("Champion", algorithms.KMEANS, 1.0), ("Challenger", algorithms.KMEANS, 0.0)],
    )
    local.sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=name)
    body = _csv(_rows(1))
    seen = {_invoke(local, name, body, "text/csv")[0]["InvokedProductionVariant"] for _ in range(8)}
    assert seen == {"Champion"}
    response, _ = _invoke(local, name, body, "text/csv", TargetVariant="Challenger")
    assert response["InvokedProductionVariant"] == "Challenger"


def test_update_endpoint_switches_models_after_a_delay(local: Local) -> None:
    name = "updated"
    _config(local.sagemaker, f"{name}-v2", [("AllTraffic", algorithms.KMEANS, 1.0)])
    _config(local.sagemaker, f"{name}-v1", [("AllTraffic", algorithms.LINEAR_LEARNER, 1.0)])
    local.sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=f"{name}-v1")
    body = _csv(_rows(1))

    local.sagemaker.update_endpoint(EndpointName=name, EndpointConfigName=f"{name}-v2")
    described = local.sagemaker.describe_endpoint(EndpointName=name)
    assert described["EndpointStatus"] == "Updating"
    assert described["EndpointConfigName"] == f"{name}-v1"
    assert described["PendingDeploymentSummary"]["EndpointConfigName"] == f"{name}-v2"
    # SageMaker keeps serving the old config while it updates.
    assert "score" in json.loads(_invoke(local, name, body, "text/csv")[1])["predictions"][0]
    with pytest.raises(ClientError) as busy:
        local.sagemaker.update_endpoint(EndpointName=name, EndpointConfigName=f"{name}-v2")
    assert busy.value.response["Error"]["Code"] == "ValidationException"
    assert "Cannot update in-progress endpoint" in busy.value.response["Error"]["Message"]

    local.clock.advance(UPDATE_DELAY)
    described = local.sagemaker.describe_endpoint(EndpointName=name)
    assert described["EndpointConfigName"] == f"{name}-v2"
    assert "PendingDeploymentSummary" not in described
    answer = json.loads(_invoke(local, name, body, "text/csv")[1])
    assert "closest_cluster" in answer["predictions"][0]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"EndpointName": "missing", "EndpointConfigName": "kmeans"}, "Could not find endpoint"),
        (
            {"EndpointName": "kmeans", "EndpointConfigName": "missing"},
            "Could not find endpoint configuration",
        ),
    ],
)
def test_update_endpoint_validates_names(
    local: Local, params: dict[str, str], message: str
) -> None:
    with pytest.raises(ClientError) as caught:
        local.sagemaker.update_endpoint(**params)  # type: ignore[arg-type]
    assert caught.value.response["Error"]["Code"] == "ValidationException"
    assert message in caught.value.response["Error"]["Message"]


def test_a_replaced_artifact_is_reloaded(local: Local, trained: dict[str, Any]) -> None:
    key = local.models[algorithms.KMEANS]
    model = trained[algorithms.KMEANS].model
    shifted = algorithms.Model(
        model.algorithm,
        model.feature_dim,
        {"centroids": model.params["centroids"][::-1].copy()},
        {},
    )
    row = _csv(_rows(1))
    before = json.loads(_invoke(local, algorithms.KMEANS, row, "text/csv")[1])
    local.s3.put_object(Bucket=BUCKET, Key=key, Body=algorithms.pack(shifted))
    try:
        after = json.loads(_invoke(local, algorithms.KMEANS, row, "text/csv")[1])
    finally:
        local.s3.put_object(Bucket=BUCKET, Key=key, Body=algorithms.pack(model))
    cluster = int(before["predictions"][0]["closest_cluster"])
    assert int(after["predictions"][0]["closest_cluster"]) == 9 - cluster
