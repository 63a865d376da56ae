"""The demo algorithms in numpy: real training and metrics, model.tar.gz artifacts, inference."""

from __future__ import annotations

import io
import json
import math
import tarfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from devstack import kmeans, linear_learner
from devstack.channels import Channels as Channels
from devstack.hyperparameters import HyperparameterError as HyperparameterError
from devstack.hyperparameters import Hyperparameters

Matrix = npt.NDArray[np.float64]

LINEAR_LEARNER: Final = "linear-learner"
KMEANS: Final = "kmeans"
SOFTMAX: Final = "softmax"
ALGORITHMS: Final = (LINEAR_LEARNER, KMEANS, SOFTMAX)
# What each algorithm reports (SageMaker's FinalMetricDataList names).
METRIC_NAMES: Final = {
    LINEAR_LEARNER: (
        "train:objective_loss:final",
        "validation:objective_loss:final",
        "validation:objective_loss",
        "validation:binary_f_beta",
        "validation:binary_classification_accuracy",
        "validation:precision",
        "validation:recall",
    ),
    KMEANS: ("train:msd", "test:msd"),
    SOFTMAX: ("train:loss", "validation:loss", "validation:accuracy"),
}

_MODEL_FILE = "model.npz"
_META_FILE = "meta.json"
_MAX_ARTIFACT_MEMBER_BYTES = 64 * 1024 * 1024


class ArtifactError(ValueError):
    """A model.tar.gz that is not one of ours."""


@dataclass(frozen=True, eq=False)
class Model:
    algorithm: str
    feature_dim: int
    params: Mapping[str, Matrix]
    hyperparameters: Mapping[str, str]


@dataclass(frozen=True, eq=False)
class Trained:
    model: Model
    metrics: dict[str, float]
    # Each metric's value after every epoch, for the trainers that measure one per epoch (the
    # softmax classifier); the last value of each is its final metric.
    history: Mapping[str, Sequence[float]] = field(default_factory=dict)


def train(algorithm: str, hyperparameters: Mapping[str, str], channels: Channels) -> Trained:
    trainers = {LINEAR_LEARNER: linear_learner.train, KMEANS: kmeans.train}
    history: dict[str, list[float]] = {}
    if algorithm == SOFTMAX:
        params, history = _train_softmax(hyperparameters, channels)
        history = {name: [round(v, 6) for v in values] for name, values in history.items()}
        metrics = {name: values[-1] for name, values in history.items()}
    elif algorithm in trainers:
        params, metrics = trainers[algorithm](hyperparameters, channels)
    else:
        raise HyperparameterError(
            f"unknown algorithm {algorithm!r}; known: {', '.join(ALGORITHMS)}"
        )
    model = Model(
        algorithm=algorithm,
        feature_dim=channels.x_train.shape[1],
        params=params,
        hyperparameters=dict(hyperparameters),
    )
    return Trained(
        model=model, metrics={name: round(v, 6) for name, v in metrics.items()}, history=history
    )


def predict_linear_learner(model: Model, x: Matrix) -> list[dict[str, Any]]:
    """The linear-learner container's records: by the job's predictor_type, a regressor's value,
    a multiclass classifier's class probabilities and label, a binary classifier's score and
    label (at 0.5)."""
    scores = linear_learner.scores(model.params, x)
    kind = model.hyperparameters.get("predictor_type", "binary_classifier")
    if kind == "regressor":
        return [{"score": float(value)} for value in scores]
    if kind == "multiclass_classifier":
        return [
            {"score": [float(p) for p in row], "predicted_label": int(row.argmax())}
            for row in linear_learner.softmax(scores)
        ]
    return [
        {"score": float(s), "predicted_label": int(s >= 0.5)}
        for s in linear_learner.sigmoid(scores)
    ]


def predict_kmeans(model: Model, x: Matrix) -> list[dict[str, Any]]:
    distances = kmeans.squared_distances(x, model.params["centroids"])
    closest = distances.argmin(1)
    # Like SageMaker's k-means, the JSON response carries the cluster index as a float.
    return [
        {"closest_cluster": float(c), "distance_to_cluster": math.sqrt(float(distances[i, c]))}
        for i, c in enumerate(closest)
    ]


# --- softmax classifier: one hidden ReLU layer (or none), SGD with momentum ---


def _log_softmax(logits: Matrix) -> Matrix:
    shifted = logits - logits.max(1, keepdims=True)
    out: Matrix = shifted - np.log(np.exp(shifted).sum(1, keepdims=True))
    return out


def softmax_logits(model: Model, x: Matrix) -> Matrix:
    params = model.params
    if "w1" in params:
        x = np.maximum(x @ params["w1"] + params["b1"], 0.0)
    out: Matrix = x @ params["w2"] + params["b2"]
    return out


def _softmax_metrics(
    params: Mapping[str, Matrix],
    x: Matrix,
    y: npt.NDArray[Any],
    x_val: Matrix,
    y_val: npt.NDArray[Any],
) -> dict[str, float]:
    """Train loss, validation loss and validation accuracy of the parameters as they are."""
    model = Model(SOFTMAX, x.shape[1], params, {})
    train_log = _log_softmax(softmax_logits(model, x))
    validation_log = _log_softmax(softmax_logits(model, x_val))
    return {
        "train:loss": float(-train_log[np.arange(len(y)), y].mean()),
        "validation:loss": float(-validation_log[np.arange(len(y_val)), y_val].mean()),
        "validation:accuracy": float(np.mean(validation_log.argmax(1) == y_val)),
    }


def _train_softmax(
    values: Mapping[str, str], channels: Channels
) -> tuple[dict[str, Matrix], dict[str, list[float]]]:
    """The parameters, and the metrics measured after each epoch (as a training script logs
    them to its run)."""
    known = {"hidden_channels", "lr", "batch-size", "epochs", "momentum", "seed"}
    hp = Hyperparameters(SOFTMAX, values, known)
    hidden = hp.integer("hidden_channels", 32, minimum=0)
    rate = hp.number("lr", 0.05)
    batch = hp.integer("batch-size", 32)
    epochs = hp.integer("epochs", 30)
    momentum = hp.number("momentum", 0.9, allow_zero=True)
    rng = np.random.default_rng(hp.integer("seed", 0, minimum=0))
    if channels.x_validation is None or channels.y_validation is None:
        raise HyperparameterError(f"{SOFTMAX}: a validation channel is required")
    x_val, y_val = channels.x_validation, channels.y_validation.astype(np.int64)
    x, y = channels.x_train, channels.y_train.astype(np.int64)
    classes = int(max(y.max(), y_val.max())) + 1
    width = hidden or x.shape[1]
    params: dict[str, Matrix] = {
        "w2": rng.normal(0.0, math.sqrt(1.0 / width), (width, classes)),
        "b2": np.zeros(classes),
    }
    if hidden:
        params["w1"] = rng.normal(0.0, math.sqrt(2.0 / x.shape[1]), (x.shape[1], hidden))
        params["b1"] = np.zeros(hidden)
    velocity = {name: np.zeros_like(value) for name, value in params.items()}
    onehot = np.eye(classes)[y]
    history: dict[str, list[float]] = {}
    for _ in range(epochs):
        order = rng.permutation(len(x))
        for start in range(0, len(x), batch):
            rows = order[start : start + batch]
            inputs = x[rows]
            hidden_out = np.maximum(inputs @ params["w1"] + params["b1"], 0.0) if hidden else inputs
            probabilities = np.exp(_log_softmax(hidden_out @ params["w2"] + params["b2"]))
            delta = (probabilities - onehot[rows]) / len(rows)
            grads = {"w2": hidden_out.T @ delta, "b2": delta.sum(0)}
            if hidden:
                back = (delta @ params["w2"].T) * (hidden_out > 0)
                grads["w1"] = inputs.T @ back
                grads["b1"] = back.sum(0)
            for name, grad in grads.items():
                velocity[name] = momentum * velocity[name] - rate * grad
                params[name] += velocity[name]
        for name, value in _softmax_metrics(params, x, y, x_val, y_val).items():
            history.setdefault(name, []).append(value)
    return params, history


# --- artifacts: model.tar.gz holding model.npz and meta.json ---


def pack(model: Model) -> bytes:
    arrays = io.BytesIO()
    params: dict[str, Any] = {
        name: value.astype(np.float32) for name, value in model.params.items()
    }
    np.savez(arrays, **params)
    meta = {
        "algorithm": model.algorithm,
        "feature_dim": model.feature_dim,
        "hyperparameters": dict(model.hyperparameters),
    }
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, data in (
            (_MODEL_FILE, arrays.getvalue()),
            (_META_FILE, json.dumps(meta).encode()),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def unpack(artifact: bytes) -> Model:
    """Reads only the two expected regular members; nothing is extracted to disk."""
    try:
        with tarfile.open(fileobj=io.BytesIO(artifact), mode="r:gz") as tar:
            members = {}
            for name in (_MODEL_FILE, _META_FILE):
                info = tar.getmember(name)
                if not info.isfile() or info.size > _MAX_ARTIFACT_MEMBER_BYTES:
                    raise ArtifactError(f"{name} in model.tar.gz is not a small regular file")
                handle = tar.extractfile(info)
                assert handle is not None
                members[name] = handle.read()
        meta = json.loads(members[_META_FILE])
        with np.load(io.BytesIO(members[_MODEL_FILE]), allow_pickle=False) as arrays:
            params = {name: np.asarray(arrays[name], dtype=np.float64) for name in arrays.files}
        algorithm = meta["algorithm"]
        if algorithm not in ALGORITHMS:
            raise ArtifactError(f"unknown algorithm {algorithm!r} in meta.json")
        return Model(algorithm, int(meta["feature_dim"]), params, meta.get("hyperparameters", {}))
    except ArtifactError:
        raise
    except (tarfile.TarError, KeyError, ValueError, OSError) as error:
        raise ArtifactError(f"unreadable model.tar.gz: {error}") from error
