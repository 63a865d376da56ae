"""The local stack's container table: which models SageMaker could serve, and how they answer."""

from __future__ import annotations

import io
import json
from pathlib import Path

import joblib
import numpy as np
import pytest
import xgboost
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression

from devstack import algorithms, containers, images, xgboost_builtin
from tests.factories import tar_gz

EXAMPLE = Path(__file__).parents[2] / "devstack" / "examples" / "sklearn_digits" / "train.py"

REGION = "eu-west-1"
ZEROS = {
    algorithms.LINEAR_LEARNER: {"weights": np.zeros(3), "bias": np.zeros(1)},
    algorithms.KMEANS: {"centroids": np.array([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]])},
    algorithms.SOFTMAX: {"w2": np.eye(3), "b2": np.zeros(3)},
}
SCRIPT = {
    "SAGEMAKER_PROGRAM": "inference.py",
    "SAGEMAKER_SUBMIT_DIRECTORY": "s3://bucket/code/sourcedir.tar.gz",
}


def _artifact(algorithm: str) -> bytes:
    return algorithms.pack(algorithms.Model(algorithm, 3, ZEROS[algorithm], {}))


def _no_code(uri: str) -> bytes:
    raise FileNotFoundError(uri)


@pytest.mark.parametrize("algorithm", algorithms.ALGORITHMS)
def test_each_trainer_image_serves_its_own_artifact(algorithm: str) -> None:
    served = containers.load(
        images.serving_image_uri(algorithm, REGION), {}, _artifact(algorithm), _no_code
    )
    assert isinstance(served.model, algorithms.Model)
    assert served.container.artifact == served.model.algorithm == algorithm


@pytest.mark.parametrize(
    ("image", "repository"),
    [
        ("382416733822.dkr.ecr.us-east-1.amazonaws.com/kmeans:1", "kmeans"),
        ("664544806723.dkr.ecr.eu-central-1.amazonaws.com/linear-learner:latest", "linear-learner"),
        (
            "763104351884.dkr.ecr.us-west-2.amazonaws.com/pytorch-inference@sha256:" + "a" * 64,
            "pytorch-inference",
        ),
        ("390948362332.dkr.ecr.cn-north-1.amazonaws.com.cn/kmeans:1", "kmeans"),
        ("docker.io/library/kmeans:1", None),
        ("kmeans", None),
        ("382416733822.dkr.ecr.us-east-1.amazonaws.com/kmeans:1\n", None),
    ],
)
def test_repository_is_read_from_sagemakers_image_uris(image: str, repository: str | None) -> None:
    assert containers.repository(image) == repository


@pytest.mark.parametrize(
    ("image", "environment", "artifact", "reason"),
    [
        ("local", {}, algorithms.KMEANS, "not one the local stack serves"),
        ("123456789012.dkr.ecr.us-east-1.amazonaws.com/mine:1", {}, algorithms.KMEANS, "known: "),
        (
            "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.1-cpu-py310",
            {},
            algorithms.KMEANS,
            "holds a kmeans model, not the softmax model the pytorch-inference image loads",
        ),
        (
            "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-training:2.1-cpu-py310",
            {},
            algorithms.SOFTMAX,
            "pytorch-training is a training image: it has no serve command",
        ),
        (
            "763104351884.dkr.ecr.us-east-1.amazonaws.com/tensorflow-training:2.14-cpu-py310",
            SCRIPT,
            algorithms.SOFTMAX,
            "its inference twin is tensorflow-inference",
        ),
        (
            "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.1-cpu-py310",
            {"SAGEMAKER_SUBMIT_DIRECTORY": "s3://bucket/code/sourcedir.tar.gz"},
            algorithms.SOFTMAX,
            "needs SAGEMAKER_PROGRAM",
        ),
        (
            "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1",
            {"SAGEMAKER_PROGRAM": "inference.py"},
            algorithms.SOFTMAX,
            "needs SAGEMAKER_SUBMIT_DIRECTORY",
        ),
        (
            "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.1-cpu-py310",
            SCRIPT,
            algorithms.SOFTMAX,
            "inference code s3://bucket/code/sourcedir.tar.gz could not be downloaded",
        ),
        (
            "382416733822.dkr.ecr.us-east-1.amazonaws.com/linear-learner:1",
            {},
            algorithms.KMEANS,
            "holds a kmeans model, not the linear-learner model",
        ),
        (
            "382416733822.dkr.ecr.us-east-1.amazonaws.com/kmeans:1",
            {},
            algorithms.SOFTMAX,
            "holds a softmax model",
        ),
    ],
)
def test_models_sagemaker_could_not_serve_are_refused(
    image: str, environment: dict[str, str], artifact: str, reason: str
) -> None:
    with pytest.raises(containers.Unservable, match=reason):
        containers.load(image, environment, _artifact(artifact), _no_code)


def test_an_artifact_that_is_no_model_is_refused() -> None:
    image = images.image_uri(algorithms.KMEANS, REGION)
    with pytest.raises(containers.Unservable, match="cannot load the model artifact"):
        containers.load(image, {}, b"not a tarball", _no_code)


def _served(algorithm: str) -> containers.Served:
    image = images.serving_image_uri(algorithm, REGION)
    return containers.load(image, {}, _artifact(algorithm), _no_code)


def test_pytorch_inference_without_an_entry_point_serves_the_artifacts_saved_model() -> None:
    # The toolkit's default handler: no SAGEMAKER_PROGRAM, the artifact's model (the stand-in).
    image = f"763104351884.dkr.ecr.{REGION}.amazonaws.com/pytorch-inference:2.1-cpu-py310"
    assert images.serving_image_uri(algorithms.SOFTMAX, REGION) == image
    served = containers.load(image, {}, _artifact(algorithms.SOFTMAX), _no_code)
    assert served.container == containers.PYTORCH_DEFAULT


def test_kmeans_answers_closest_cluster_and_distance() -> None:
    body, content_type = containers.invoke(
        _served(algorithms.KMEANS), b"1,1,1\n0,0,0.5\n", "text/csv", "application/json"
    )
    assert content_type == "application/json"
    assert json.loads(body) == {
        "predictions": [
            {"closest_cluster": 1.0, "distance_to_cluster": 0.0},
            {"closest_cluster": 0.0, "distance_to_cluster": 0.5},
        ]
    }


def test_linear_learner_answers_predicted_label_and_score() -> None:
    body, content_type = containers.invoke(
        _served(algorithms.LINEAR_LEARNER), b"[[1, 2, 3]]", "application/json", "*/*"
    )
    assert content_type == "application/json"
    assert json.loads(body) == {"predictions": [{"score": 0.5, "predicted_label": 1}]}


def test_the_softmax_stand_in_answers_logits_as_npy_when_asked() -> None:
    body, content_type = containers.invoke(
        _served(algorithms.SOFTMAX), b"[[1, 2, 3]]", "application/json", "application/x-npy"
    )
    assert content_type == "application/x-npy"
    assert body.startswith(b"\x93NUMPY")


@pytest.mark.parametrize(
    ("body", "content_type", "accept", "status"),
    [
        (b"1,2,3\n", "image/png", "application/json", 415),
        (b"1,2,3\n", "text/csv", "text/csv", 406),
        (b"1,2\n", "text/csv", "application/json", 400),
        (b"1,x,3\n", "text/csv", "application/json", 400),
    ],
)
def test_requests_the_container_cannot_read_are_its_4xx(
    body: bytes, content_type: str, accept: str, status: int
) -> None:
    with pytest.raises(containers.ContainerError) as raised:
        containers.invoke(_served(algorithms.KMEANS), body, content_type, accept)
    assert raised.value.status == status


def test_a_framework_model_is_served_by_its_own_model_fn_and_the_default_handlers() -> None:
    digits = load_digits()
    model = LogisticRegression(max_iter=2000).fit(digits.data[:1000], digits.target[:1000])
    saved = io.BytesIO()
    joblib.dump(model, saved)
    artifact = tar_gz({"model.joblib": saved.getvalue()})
    code = tar_gz({"train.py": EXAMPLE.read_bytes()})
    image = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
    environment = {
        "SAGEMAKER_PROGRAM": "train.py",
        "SAGEMAKER_SUBMIT_DIRECTORY": "s3://bucket/code/sourcedir.tar.gz",
    }

    served = containers.load(
        image, environment, artifact, {environment["SAGEMAKER_SUBMIT_DIRECTORY"]: code}.__getitem__
    )
    rows = "\n".join(",".join(f"{v:g}" for v in row) for row in digits.data[1000:1010])
    body, content_type = containers.invoke(served, rows.encode(), "text/csv", "application/json")

    assert content_type == "application/json"
    assert json.loads(body) == model.predict(digits.data[1000:1010]).tolist()
    with pytest.raises(containers.ContainerError) as refused:
        containers.invoke(served, b"x", "image/png", "application/json")
    assert refused.value.status == 415


def test_under_network_isolation_code_comes_only_from_the_artifact() -> None:
    image = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
    code = {"train.py": EXAMPLE.read_bytes()}
    model = LogisticRegression(max_iter=200).fit(
        load_digits().data[:100], load_digits().target[:100]
    )
    saved = io.BytesIO()
    joblib.dump(model, saved)
    downloads = {"s3://bucket/code/sourcedir.tar.gz": tar_gz(code)}.__getitem__

    from_s3 = {**SCRIPT, "SAGEMAKER_PROGRAM": "train.py"}
    with pytest.raises(containers.Unservable, match="network isolation"):
        containers.load(image, from_s3, tar_gz({"model.joblib": saved.getvalue()}), downloads, True)

    packed = tar_gz({"model.joblib": saved.getvalue(), "code/train.py": code["train.py"]})
    in_artifact = {**from_s3, "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code"}
    served = containers.load(image, in_artifact, packed, _no_code, True)
    body, _ = containers.invoke(served, b",".join([b"0"] * 64), "text/csv", "application/json")
    assert len(json.loads(body)) == 1
    with pytest.raises(containers.Unservable, match="no code/"):
        containers.load(image, in_artifact, tar_gz({"model.joblib": b""}), _no_code, True)


def test_a_framework_model_without_model_fn_is_unservable() -> None:
    code = tar_gz({"inference.py": b"print('no model_fn here')\n"})
    image = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"

    with pytest.raises(containers.Unservable, match="no model_fn"):
        containers.load(image, SCRIPT, tar_gz({}), lambda uri: code)


def test_an_xgboost_model_answers_csv_rows_in_csv_or_json() -> None:
    digits = load_digits()
    x, y = digits.data[:300], (digits.target[:300] == 0).astype(float)
    booster = xgboost.train(
        {"objective": "binary:logistic"}, xgboost.DMatrix(x, label=y), num_boost_round=5
    )
    image = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
    served = containers.load(image, {}, xgboost_builtin.pack(booster), _no_code)
    rows = "\n".join(",".join(f"{v:g}" for v in row) for row in digits.data[300:310]).encode()

    csv_body, csv_type = containers.invoke(served, rows, "text/csv", "text/csv")
    json_body, json_type = containers.invoke(served, rows, "text/csv", "application/json")

    expected = booster.predict(xgboost.DMatrix(digits.data[300:310]))
    assert csv_type == "text/csv"
    assert [float(line) for line in csv_body.decode().split()] == pytest.approx(expected)
    assert json_type == "application/json"
    scores = [p["score"] for p in json.loads(json_body)["predictions"]]
    assert scores == pytest.approx(expected)
    with pytest.raises(containers.ContainerError) as refused:
        containers.invoke(served, b"1,2\n", "text/csv", "text/csv")
    assert refused.value.status == 400
    with pytest.raises(containers.Unservable, match="sagemaker-xgboost cannot load"):
        containers.load(image, {}, _artifact(algorithms.KMEANS), _no_code)
