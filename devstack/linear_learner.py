"""linear-learner in numpy: binary, multiclass and regression by mini-batch SGD, as documented."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from devstack.channels import Channels
from devstack.hyperparameters import HyperparameterError, Hyperparameters
from devstack.recordio import FloatMatrix

NAME: Final = "linear-learner"
PREDICTOR_TYPES: Final = ("binary_classifier", "multiclass_classifier", "regressor")
# Every hyperparameter SageMaker documents for linear-learner; those not implemented here are
# accepted (and validated as SageMaker would not refuse them) but change nothing.
KNOWN: Final = frozenset(
    {
        "feature_dim", "predictor_type", "num_classes", "mini_batch_size", "epochs",
        "learning_rate", "l1", "wd", "normalize_data", "normalize_label", "use_bias", "f_beta",
        "accuracy_top_k", "balance_multiclass_weights", "beta_1", "beta_2", "bias_lr_mult",
        "bias_wd_mult", "binary_classifier_model_selection_criteria", "early_stopping_patience",
        "early_stopping_tolerance", "huber_delta", "init_bias", "init_method", "init_scale",
        "init_sigma", "loss", "loss_insensitivity", "lr_scheduler_factor",
        "lr_scheduler_minimum_lr", "lr_scheduler_step", "margin", "momentum",
        "num_calibration_samples", "num_models", "num_point_for_scaler", "optimizer",
        "positive_example_weight_mult", "quantile", "target_precision", "target_recall",
        "unbias_data", "unbias_label", "use_lr_scheduler",
    }
)  # fmt: skip

Params = dict[str, FloatMatrix]


def sigmoid(z: FloatMatrix) -> FloatMatrix:
    out: FloatMatrix = 1.0 / (1.0 + np.exp(-np.clip(z, -30.0, 30.0)))
    return out


def softmax(z: FloatMatrix) -> FloatMatrix:
    shifted = np.exp(z - z.max(1, keepdims=True))
    out: FloatMatrix = shifted / shifted.sum(1, keepdims=True)
    return out


def _log_loss(p: FloatMatrix, y: FloatMatrix) -> float:
    p = np.clip(p, 1e-12, 1 - 1e-12)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def scores(params: Mapping[str, FloatMatrix], x: FloatMatrix) -> FloatMatrix:
    """The raw linear output: one column per class for multiclass, else a vector."""
    out: FloatMatrix = x @ params["weights"] + params["bias"]
    return out


def _metrics(
    kind: str, prefix: str, z: FloatMatrix, y: npt.NDArray[Any], beta: float
) -> dict[str, float]:
    if kind == "regressor":
        error = z - y
        mse = float(np.mean(error**2))
        return {
            f"{prefix}:objective_loss": mse,
            f"{prefix}:mse": mse,
            f"{prefix}:absolute_loss": float(np.mean(np.abs(error))),
        }
    if kind == "multiclass_classifier":
        p = softmax(z)
        labels = y.astype(np.int64)
        loss = float(-np.mean(np.log(np.clip(p[np.arange(len(y)), labels], 1e-12, 1.0))))
        accuracy = float(np.mean(p.argmax(1) == labels))
        return {f"{prefix}:objective_loss": loss, f"{prefix}:multiclass_accuracy": accuracy}
    p = sigmoid(z)
    predicted, positive = p >= 0.5, y == 1
    tp = float(np.sum(predicted & positive))
    precision = tp / max(float(predicted.sum()), 1.0)
    recall = tp / max(float(positive.sum()), 1.0)
    b2 = beta * beta
    denominator = b2 * precision + recall
    return {
        f"{prefix}:objective_loss": _log_loss(p, y.astype(np.float64)),
        f"{prefix}:binary_f_beta": (1 + b2) * precision * recall / denominator
        if denominator
        else 0.0,
        f"{prefix}:binary_classification_accuracy": float(np.mean(predicted == positive)),
        f"{prefix}:precision": precision,
        f"{prefix}:recall": recall,
    }


def _targets(kind: str, y: npt.NDArray[Any], classes: int) -> FloatMatrix:
    if kind == "multiclass_classifier":
        labels = y.astype(np.int64)
        if labels.min() < 0 or labels.max() >= classes or not np.array_equal(labels, y):
            raise HyperparameterError(
                f"{NAME}: multiclass labels must be integers 0..num_classes-1 ({classes})"
            )
        out: FloatMatrix = np.eye(classes)[labels]
        return out
    if kind == "binary_classifier" and not np.isin(y, (0.0, 1.0)).all():
        raise HyperparameterError(f"{NAME}: binary_classifier labels must be 0 or 1")
    return y.astype(np.float64)


def train(values: Mapping[str, str], channels: Channels) -> tuple[Params, dict[str, float]]:
    hp = Hyperparameters(NAME, values, KNOWN)
    kind = hp.choice("predictor_type", "binary_classifier", PREDICTOR_TYPES)
    x_raw, y_raw = channels.x_train, channels.y_train
    hp.feature_dim(x_raw.shape[1])
    classes = 1
    if kind == "multiclass_classifier":
        if not hp.given("num_classes"):
            raise HyperparameterError(f"{NAME}: num_classes is required for multiclass_classifier")
        classes = hp.integer("num_classes", 3, minimum=3)
    batch = hp.integer("mini_batch_size", 100)
    epochs = hp.integer("epochs", 15)
    rate = hp.number("learning_rate", 0.5 if kind == "binary_classifier" else 0.1)
    decay = hp.number("wd", 0.0, allow_zero=True)
    l1 = hp.number("l1", 0.0, allow_zero=True)
    beta = hp.number("f_beta", 1.0)
    use_bias = hp.flag("use_bias", True)
    # normalize_data: features standardized for training, folded back into the weights so
    # the artifact takes raw features (as SageMaker's model does).
    mean = x_raw.mean(0) if hp.flag("normalize_data", kind != "binary_classifier") else 0.0
    std = np.where(x_raw.std(0) > 0, x_raw.std(0), 1.0) if np.ndim(mean) else 1.0
    label_mean, label_std = 0.0, 1.0
    if kind == "regressor" and hp.flag("normalize_label", True):
        label_mean, label_std = float(y_raw.mean()), float(y_raw.std()) or 1.0
    x = (x_raw - mean) / std
    targets = _targets(kind, (y_raw - label_mean) / label_std, classes)
    rng = np.random.default_rng(0)
    shape = (x.shape[1], classes) if kind == "multiclass_classifier" else (x.shape[1],)
    weights = np.zeros(shape)
    bias = np.zeros(shape[1:])
    for _ in range(epochs):
        order = rng.permutation(len(x))
        for start in range(0, len(x), batch):
            rows = order[start : start + batch]
            z = x[rows] @ weights + bias
            if kind == "binary_classifier":
                error = sigmoid(z) - targets[rows]
            elif kind == "multiclass_classifier":
                error = softmax(z) - targets[rows]
            else:
                error = z - targets[rows]
            weights -= rate * (
                x[rows].T @ error / len(rows) + decay * weights + l1 * np.sign(weights)
            )
            if use_bias:
                bias = bias - rate * error.mean(0)
    weights = weights / (std if weights.ndim == 1 else np.reshape(std, (-1, 1)))
    bias = bias - np.asarray(mean) @ weights if np.ndim(mean) else bias
    weights, bias = weights * label_std, bias * label_std + label_mean
    params: Params = {"weights": weights, "bias": np.atleast_1d(bias)}
    z_train = scores(params, x_raw)
    train_metrics = _metrics(kind, "train", z_train, y_raw, beta)
    metrics = {"train:objective_loss:final": train_metrics["train:objective_loss"]}
    if kind == "regressor":
        metrics["train:mse"] = train_metrics["train:mse"]
    for prefix, x_held, y_held in channels.held_out():
        measured = _metrics(kind, prefix, scores(params, x_held), y_held, beta)
        if prefix == "validation":
            measured["validation:objective_loss:final"] = measured["validation:objective_loss"]
        metrics.update(measured)
    return params, metrics
