"""The demo algorithms in numpy: real training and metrics, model.tar.gz artifacts, inference."""

from __future__ import annotations

import io
import json
import math
import tarfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

Matrix = npt.NDArray[np.float64]
Labels = npt.NDArray[np.int64]

LINEAR_LEARNER: Final = "linear-learner"
KMEANS: Final = "kmeans"
SOFTMAX: Final = "softmax"
ALGORITHMS: Final = (LINEAR_LEARNER, KMEANS, SOFTMAX)
# What each algorithm reports (SageMaker's FinalMetricDataList names).
METRIC_NAMES: Final = {
    LINEAR_LEARNER: (
        "train:objective_loss:final",
        "validation:objective_loss:final",
        "validation:binary_f_beta",
        "validation:binary_classification_accuracy",
    ),
    KMEANS: ("train:msd", "test:msd"),
    SOFTMAX: ("train:loss", "validation:loss", "validation:accuracy"),
}

_MODEL_FILE = "model.npz"
_META_FILE = "meta.json"
_MAX_ARTIFACT_MEMBER_BYTES = 64 * 1024 * 1024


class HyperparameterError(ValueError):
    """A hyperparameter the algorithm does not know or cannot use."""


class ArtifactError(ValueError):
    """A model.tar.gz that is not one of ours."""


@dataclass(frozen=True, eq=False)
class Channels:
    """Training and validation data, already in the model's feature space."""

    x_train: Matrix
    y_train: Labels
    x_validation: Matrix
    y_validation: Labels


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


class _Hyperparameters:
    """SageMaker passes hyperparameters as strings; this reads them typed and rejects strays."""

    def __init__(self, algorithm: str, values: Mapping[str, str], known: set[str]) -> None:
        unknown = sorted(set(values) - known)
        if unknown:
            raise HyperparameterError(
                f"{algorithm} does not know hyperparameter(s) {', '.join(unknown)}; "
                f"known: {', '.join(sorted(known))}"
            )
        self._algorithm = algorithm
        self._values = values

    def _read(self, name: str, default: float, cast: Callable[[str], float]) -> float:
        raw = self._values.get(name)
        if raw is None:
            return default
        try:
            value = cast(raw)
        except ValueError:
            raise HyperparameterError(
                f"{self._algorithm}: {name}={raw!r} is not a number"
            ) from None
        if not math.isfinite(value) or value < 0:
            raise HyperparameterError(f"{self._algorithm}: {name}={raw!r} must be >= 0")
        return value

    def integer(self, name: str, default: int, minimum: int = 1) -> int:
        value = int(self._read(name, default, int))
        if value < minimum:
            raise HyperparameterError(f"{self._algorithm}: {name} must be >= {minimum}")
        return value

    def number(self, name: str, default: float, allow_zero: bool = False) -> float:
        value = self._read(name, default, float)
        if value == 0 and not allow_zero:
            raise HyperparameterError(f"{self._algorithm}: {name} must be > 0")
        return value

    def choice(self, name: str, default: str, allowed: tuple[str, ...]) -> str:
        value = self._values.get(name, default)
        if value not in allowed:
            raise HyperparameterError(f"{self._algorithm}: {name} must be one of {allowed}")
        return value


def train(algorithm: str, hyperparameters: Mapping[str, str], channels: Channels) -> Trained:
    trainers = {
        LINEAR_LEARNER: _train_linear_learner,
        KMEANS: _train_kmeans,
        SOFTMAX: _train_softmax,
    }
    if algorithm not in trainers:
        raise HyperparameterError(f"unknown algorithm {algorithm!r}; known: {', '.join(trainers)}")
    params, metrics = trainers[algorithm](hyperparameters, channels)
    model = Model(
        algorithm=algorithm,
        feature_dim=channels.x_train.shape[1],
        params=params,
        hyperparameters=dict(hyperparameters),
    )
    return Trained(model=model, metrics={name: round(v, 6) for name, v in metrics.items()})


# --- linear-learner (predictor_type binary_classifier): logistic regression, mini-batch SGD ---


def _sigmoid(z: Matrix) -> Matrix:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -30.0, 30.0)))


def _logistic_loss(p: Matrix, y: Matrix) -> float:
    p = np.clip(p, 1e-12, 1 - 1e-12)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def _train_linear_learner(
    values: Mapping[str, str], channels: Channels
) -> tuple[dict[str, Matrix], dict[str, float]]:
    known = {"predictor_type", "feature_dim", "mini_batch_size", "epochs", "learning_rate", "wd"}
    hp = _Hyperparameters(LINEAR_LEARNER, values, known)
    hp.choice("predictor_type", "binary_classifier", ("binary_classifier",))
    batch = hp.integer("mini_batch_size", 100)
    epochs = hp.integer("epochs", 15)
    rate = hp.number("learning_rate", 0.5)
    decay = hp.number("wd", 0.0, allow_zero=True)
    x, y = channels.x_train, channels.y_train.astype(np.float64)
    rng = np.random.default_rng(0)
    weights = np.zeros(x.shape[1])
    bias = 0.0
    for _ in range(epochs):
        order = rng.permutation(len(x))
        for start in range(0, len(x), batch):
            rows = order[start : start + batch]
            error = _sigmoid(x[rows] @ weights + bias) - y[rows]
            weights -= rate * (x[rows].T @ error / len(rows) + decay * weights)
            bias -= rate * float(error.mean())
    params = {"weights": weights, "bias": np.array([bias])}
    x_val, y_val = channels.x_validation, channels.y_validation.astype(np.float64)
    p_val = _sigmoid(x_val @ weights + bias)
    predicted = p_val >= 0.5
    positive = y_val == 1
    tp = float(np.sum(predicted & positive))
    precision = tp / max(float(predicted.sum()), 1.0)
    recall = tp / max(float(positive.sum()), 1.0)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    metrics = {
        "train:objective_loss:final": _logistic_loss(_sigmoid(x @ weights + bias), y),
        "validation:objective_loss:final": _logistic_loss(p_val, y_val),
        "validation:binary_f_beta": f1,
        "validation:binary_classification_accuracy": float(np.mean(predicted == positive)),
    }
    return params, metrics


def predict_linear_learner(model: Model, x: Matrix) -> list[dict[str, Any]]:
    scores = _sigmoid(x @ model.params["weights"] + float(model.params["bias"][0]))
    return [{"score": float(s), "predicted_label": int(s >= 0.5)} for s in scores]


# --- kmeans: seeded k-means++ initialisation, then Lloyd's iterations ---


def _squared_distances(x: Matrix, centers: Matrix) -> Matrix:
    d: Matrix = (x * x).sum(1)[:, None] - 2 * x @ centers.T + (centers * centers).sum(1)[None, :]
    return np.maximum(d, 0.0)


def _train_kmeans(
    values: Mapping[str, str], channels: Channels
) -> tuple[dict[str, Matrix], dict[str, float]]:
    known = {"k", "feature_dim", "init_method", "local_lloyd_max_iter", "local_lloyd_tol"}
    hp = _Hyperparameters(KMEANS, values, known)
    k = hp.integer("k", 10)
    init = hp.choice("init_method", "kmeans++", ("kmeans++", "random"))
    max_iter = hp.integer("local_lloyd_max_iter", 300)
    tol = hp.number("local_lloyd_tol", 1e-4)
    x = channels.x_train
    if k > len(x):
        raise HyperparameterError(f"kmeans: k={k} exceeds the {len(x)} training records")
    rng = np.random.default_rng(0)
    if init == "random":
        centers = x[rng.choice(len(x), size=k, replace=False)].copy()
    else:
        centers = x[[int(rng.integers(len(x)))]].copy()
        while len(centers) < k:
            nearest = _squared_distances(x, centers).min(1)
            pick = rng.choice(len(x), p=nearest / nearest.sum())
            centers = np.vstack([centers, x[pick]])
    for _ in range(max_iter):
        assignment = _squared_distances(x, centers).argmin(1)
        moved = np.array(
            [
                x[assignment == c].mean(0) if np.any(assignment == c) else centers[c]
                for c in range(k)
            ]
        )
        shift = float(np.abs(moved - centers).max())
        centers = moved
        if shift < tol:
            break
    metrics = {
        "train:msd": float(_squared_distances(x, centers).min(1).mean()),
        "test:msd": float(_squared_distances(channels.x_validation, centers).min(1).mean()),
    }
    return {"centroids": centers}, metrics


def predict_kmeans(model: Model, x: Matrix) -> list[dict[str, Any]]:
    distances = _squared_distances(x, model.params["centroids"])
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


def _train_softmax(
    values: Mapping[str, str], channels: Channels
) -> tuple[dict[str, Matrix], dict[str, float]]:
    known = {"hidden_channels", "lr", "batch-size", "epochs", "momentum", "seed"}
    hp = _Hyperparameters(SOFTMAX, values, known)
    hidden = hp.integer("hidden_channels", 32, minimum=0)
    rate = hp.number("lr", 0.05)
    batch = hp.integer("batch-size", 32)
    epochs = hp.integer("epochs", 30)
    momentum = hp.number("momentum", 0.9, allow_zero=True)
    rng = np.random.default_rng(hp.integer("seed", 0, minimum=0))
    x, y = channels.x_train, channels.y_train
    classes = int(max(y.max(), channels.y_validation.max())) + 1
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
    model = Model(SOFTMAX, x.shape[1], params, {})
    train_log = _log_softmax(softmax_logits(model, x))
    validation_log = _log_softmax(softmax_logits(model, channels.x_validation))
    y_val = channels.y_validation
    metrics = {
        "train:loss": float(-train_log[np.arange(len(y)), y].mean()),
        "validation:loss": float(-validation_log[np.arange(len(y_val)), y_val].mean()),
        "validation:accuracy": float(np.mean(validation_log.argmax(1) == y_val)),
    }
    return params, metrics


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
