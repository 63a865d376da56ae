"""The model containers the local stack serves, keyed by the image's repository as SageMaker's."""

from __future__ import annotations

import functools
import io
import re
import tarfile
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import orjson

from chalicelib.errors import SagewireError
from devstack import algorithms, script_serving
from devstack.container_codecs import parse_request, serialize_response

# <account>.dkr.ecr.<region>.amazonaws.com[.cn]/<repository>(:<tag>|@<digest>)
_IMAGE = re.compile(
    r"\d{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(?:\.cn)?/"
    r"(?P<repository>[a-z0-9][a-z0-9._/-]*)(?::[\w.-]+|@sha256:[0-9a-f]{64})?"
)
ENTRY_POINT_VARIABLES: Final = ("SAGEMAKER_PROGRAM", "SAGEMAKER_SUBMIT_DIRECTORY")
# Where SageMaker unpacks the artifact's code/ (the SDK's repacked models name it).
PACKED_CODE: Final = "/opt/ml/model/code"
# Framework images serve only through the user's inference script (model_fn, ...).
FRAMEWORK_REPOSITORIES: Final = frozenset(
    {
        "pytorch-inference",
        "sagemaker-scikit-learn",
        "tensorflow-inference",
        "mxnet-inference",
        "huggingface-pytorch-inference",
    }
)
JSON: Final = "application/json"
CSV: Final = "text/csv"
RECORDIO: Final = "application/x-recordio-protobuf"
NPY: Final = "application/x-npy"
JSONLINES: Final = "application/jsonlines"

# (model, float64 batch, the accepted response type) -> the object its response serializes
Predict = Callable[[algorithms.Model, algorithms.Matrix, str], Any]
# An s3:// URI's bytes (the model's code, for framework images).
Fetch = Callable[[str], bytes]
SCRIPT: Final = "script"
XGBOOST: Final = "xgboost"


class Unservable(Exception):
    """A model SageMaker could not start: its container would fail the ping health check."""


class ContainerError(Exception):
    """What a model container answers with a 4xx/5xx; the runtime wraps it as ModelError 424."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Container:
    """One image: the artifact kind it loads, what it reads and writes (the first response type
    is its default), and its inference."""

    repository: str
    artifact: str
    request_types: tuple[str, ...]
    response_types: tuple[str, ...]
    predict: Predict


@dataclass(frozen=True, eq=False)
class Served:
    container: Container
    # A built-in algorithm's model, an inference script, or an xgboost Booster.
    model: algorithms.Model | script_serving.ScriptModel | Any


def _records(predictions: list[dict[str, Any]], accept: str) -> Any:
    """The built-in algorithms' JSON: one document, or JSON Lines with one record per line."""
    return predictions if accept == JSONLINES else {"predictions": predictions}


def _linear_learner(model: algorithms.Model, batch: algorithms.Matrix, accept: str) -> Any:
    return _records(algorithms.predict_linear_learner(model, batch), accept)


def _kmeans(model: algorithms.Model, batch: algorithms.Matrix, accept: str) -> Any:
    return _records(algorithms.predict_kmeans(model, batch), accept)


def _softmax(model: algorithms.Model, batch: algorithms.Matrix, _: str) -> Any:
    return algorithms.softmax_logits(model, batch).astype(np.float32)


CONTAINERS: Final[Mapping[str, Container]] = {
    c.repository: c
    for c in (
        Container(
            "linear-learner",
            algorithms.LINEAR_LEARNER,
            (CSV, JSON, RECORDIO),
            (JSON,),
            _linear_learner,
        ),
        Container("kmeans", algorithms.KMEANS, (CSV, JSON, RECORDIO), (JSON, JSONLINES), _kmeans),
    )
}
# The PyTorch inference toolkit's default handler (no SAGEMAKER_PROGRAM): it loads the saved
# model in the artifact; here the devstack trainer's softmax stand-in for the notebooks' CNN.
PYTORCH_DEFAULT: Final = Container(
    "pytorch-inference", algorithms.SOFTMAX, (JSON, CSV, NPY), (JSON, NPY), _softmax
)


def repository(image: str) -> str | None:
    """The repository of an ECR image URI as SageMaker publishes them, or None."""
    match = _IMAGE.fullmatch(image)
    return match["repository"] if match else None


def container_for(image: str, environment: Mapping[str, str]) -> Container:
    """The container that serves `image`, or why SageMaker could not start it."""
    name = repository(image)
    if name is not None and name.endswith("-training"):
        raise Unservable(
            f"{name} is a training image: it has no serve command (its inference twin is "
            f"{name.removesuffix('-training')}-inference)"
        )
    if name == PYTORCH_DEFAULT.repository and not any(
        environment.get(v) for v in ENTRY_POINT_VARIABLES
    ):
        return PYTORCH_DEFAULT
    if name in FRAMEWORK_REPOSITORIES:
        missing = [v for v in ENTRY_POINT_VARIABLES if not environment.get(v)]
        if missing:
            raise Unservable(
                f"framework image {name} needs {' and '.join(missing)} in the container's "
                "Environment to find the inference script"
            )
        return Container(
            name, SCRIPT, script_serving.CONTENT_TYPES, script_serving.CONTENT_TYPES, _no_batch
        )
    if name == "sagemaker-xgboost":
        return Container(name, XGBOOST, (CSV,), (CSV, JSON), _no_batch)
    container = CONTAINERS.get(name or "")
    if container is None:
        known = ", ".join(sorted(CONTAINERS))
        raise Unservable(
            f"image {image[:200]!r} is not one the local stack serves (known: {known})"
        )
    return container


def _no_batch(model: algorithms.Model, batch: algorithms.Matrix, accept: str) -> Any:
    raise AssertionError("a framework model is served by its own handlers")


def _unpacked(archive: bytes, into: Path, what: str) -> Path:
    try:
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:*") as tar:
            tar.extractall(into, filter="data")
    except (tarfile.TarError, OSError) as error:
        raise Unservable(f"{what} is not a readable tar.gz: {error}") from None
    return into


@functools.cache
def _served_models() -> tempfile.TemporaryDirectory[str]:
    """One directory for the code and models of every served script, removed with everything in
    it when the stack's process ends (the cache keeps it until then; its finalizer removes it)."""
    return tempfile.TemporaryDirectory(prefix="devstack-served-")


def _script_model(
    container: Container,
    environment: Mapping[str, str],
    artifact: bytes,
    fetch: Fetch,
    isolated: bool,
) -> Served:
    """The user's inference script (the code from SAGEMAKER_SUBMIT_DIRECTORY, or packed in the
    artifact under code/; the model from the artifact) on disk for the life of the stack, as a
    container holds them. Under network isolation the container cannot download code."""
    submitted = environment["SAGEMAKER_SUBMIT_DIRECTORY"]
    root = Path(tempfile.mkdtemp(prefix="model-", dir=_served_models().name))
    model_dir = _unpacked(artifact, root / "model", "the model artifact")
    if submitted == PACKED_CODE:
        code_dir = model_dir / "code"
        if not code_dir.is_dir():
            raise Unservable(f"the model artifact has no code/ for {PACKED_CODE}")
    elif isolated:
        raise Unservable(
            f"the inference code {submitted[:200]} could not be downloaded: the model runs with "
            f"network isolation (pack the code into the artifact, SAGEMAKER_SUBMIT_DIRECTORY="
            f"{PACKED_CODE}, as the SDK does)"
        )
    else:
        try:
            code = fetch(submitted)
        except Exception:  # any S3 failure: the container could not download its code
            raise Unservable(
                f"the inference code {submitted[:200]} could not be downloaded"
            ) from None
        code_dir = _unpacked(code, root / "code", "SAGEMAKER_SUBMIT_DIRECTORY")
    try:
        model = script_serving.load(model_dir, code_dir, environment["SAGEMAKER_PROGRAM"])
    except script_serving.HandlerError as error:
        raise Unservable(str(error)) from None
    return Served(container, model)


def load(
    image: str,
    environment: Mapping[str, str],
    artifact: bytes,
    fetch: Fetch,
    isolated: bool = False,
) -> Served:
    """The container for `image` with the model.tar.gz loaded, as its ping would need it."""
    container = container_for(image, environment)
    if container.artifact == SCRIPT:
        return _script_model(container, environment, artifact, fetch, isolated)
    if container.artifact == XGBOOST:
        from devstack import xgboost_builtin  # xgboost takes a while to import: on first use

        try:
            return Served(container, xgboost_builtin.load(artifact))
        except Exception as error:  # xgboost raises its own XGBoostError and more
            raise Unservable(f"sagemaker-xgboost cannot load the model artifact: {error}") from None
    try:
        model = algorithms.unpack(artifact)
    except algorithms.ArtifactError as error:
        raise Unservable(
            f"{container.repository} cannot load the model artifact: {error}"
        ) from None
    if model.algorithm != container.artifact:
        raise Unservable(
            f"the model artifact holds a {model.algorithm} model, not the {container.artifact} "
            f"model the {container.repository} image loads"
        )
    return Served(container, model)


def _xgboost(booster: Any, body: bytes, accepted: str) -> bytes:
    from devstack import xgboost_builtin

    answer = xgboost_builtin.predict_json if accepted == JSON else xgboost_builtin.predict_csv
    try:
        return answer(booster, body)
    except ValueError as error:
        raise ContainerError(400, f"Unable to evaluate the payload: {error}") from None


def _media_type(value: str) -> str:
    return value.split(";", 1)[0].strip().lower()


def invoke(served: Served, body: bytes, content_type: str, accept: str) -> tuple[bytes, str]:
    """What the container answers to one request: the response body and its content type."""
    container, model = served.container, served.model
    if isinstance(model, script_serving.ScriptModel):
        try:
            return model.invoke(body, content_type, accept)
        except script_serving.UnsupportedType as error:
            raise ContainerError(415, str(error)) from None
        except script_serving.HandlerError as error:
            raise ContainerError(500, str(error)) from None
    if _media_type(content_type) not in container.request_types:
        raise ContainerError(415, f"Content type {content_type!r} is not supported.")
    accepted = _media_type(accept)
    if accepted in ("", "*/*", "application/*"):
        accepted = container.response_types[0]
    if accepted not in container.response_types:
        raise ContainerError(406, f"Accept type {accept!r} is not supported.")
    if container.artifact == XGBOOST:
        return _xgboost(model, body, accepted), accepted
    try:
        batch = parse_request(body, content_type).astype(np.float64)
    except SagewireError as error:
        raise ContainerError(400, f"Unable to parse the request: {error.message}") from None
    if batch.shape[0] == 0:
        raise ContainerError(400, "The request holds no records.")
    if batch.shape[1] != model.feature_dim:
        raise ContainerError(
            400, f"Invalid feature dimension: expected {model.feature_dim}, got {batch.shape[1]}."
        )
    answer = container.predict(model, batch, accepted)
    if accepted == JSONLINES:
        return b"".join(orjson.dumps(record) + b"\n" for record in answer), accepted
    return serialize_response(answer, accepted), accepted
