"""The SageMaker XGBoost container's training and CSV inference, with the real xgboost library."""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Mapping
from typing import Any, Final

import numpy as np
import xgboost

from devstack.channels import Data
from devstack.hyperparameters import HyperparameterError, Hyperparameters

NAME: Final = "xgboost"
# The container saves the booster under this name at the root of model.tar.gz.
MODEL_FILE: Final = "xgboost-model"
OBJECTIVES: Final = ("binary:logistic", "multi:softprob", "reg:squarederror")
# The metrics each objective reports when eval_metric is not set (xgboost's defaults).
_DEFAULT_METRIC: Final = {
    "binary:logistic": "logloss",
    "multi:softprob": "mlogloss",
    "reg:squarederror": "rmse",
}
_METRICS: Final = ("rmse", "mae", "logloss", "error", "auc", "aucpr", "merror", "mlogloss")
# What a tuning job may name as its objective: each metric on the train or validation channel.
METRIC_NAMES: Final = tuple(f"{c}:{m}" for c in ("train", "validation") for m in _METRICS)
# The container's documented hyperparameters; those not read below pass to xgboost unchanged.
KNOWN: Final = frozenset(
    {
        "num_round", "objective", "eta", "gamma", "max_depth", "min_child_weight", "subsample",
        "eval_metric", "num_class", "early_stopping_rounds", "verbosity", "alpha", "lambda",
        "colsample_bytree", "colsample_bylevel", "colsample_bynode", "max_delta_step",
        "scale_pos_weight", "base_score", "seed", "tree_method", "max_bin", "max_leaves",
        "grow_policy", "sampling_method", "num_parallel_tree", "nthread", "sketch_eps",
        "csv_weights", "interaction_constraints", "monotone_constraints", "tweedie_variance_power",
        "huber_slope", "max_cat_to_onehot", "process_type", "refresh_leaf", "updater",
        "save_model_on_termination", "seed_per_iteration", "single_precision_histogram",
        "deterministic_histogram", "aft_loss_distribution", "aft_loss_distribution_scale",
    }
)  # fmt: skip
_READ: Final = frozenset(
    {"num_round", "objective", "eval_metric", "num_class", "early_stopping_rounds", "csv_weights"}
)
_MAX_ROUNDS: Final = 10_000


def _parameters(hp: Hyperparameters, values: Mapping[str, str]) -> dict[str, Any]:
    objective = hp.choice("objective", "reg:squarederror", OBJECTIVES)
    params: dict[str, Any] = {k: v for k, v in values.items() if k not in _READ}
    params.update(objective=objective, nthread=values.get("nthread", "2"))
    for name in ("eta", "gamma", "min_child_weight", "subsample", "alpha", "lambda"):
        if hp.given(name):
            params[name] = hp.number(name, 0.0, allow_zero=True)
    if hp.given("max_depth"):
        params["max_depth"] = hp.integer("max_depth", 6, minimum=0)
    if objective == "multi:softprob":
        if not hp.given("num_class"):
            raise HyperparameterError(f"{NAME}: num_class is required for multi:softprob")
        params["num_class"] = hp.integer("num_class", 2, minimum=2)
    metrics = [m for m in values.get("eval_metric", "").split(",") if m]
    if not set(metrics) <= set(_METRICS):
        raise HyperparameterError(f"{NAME}: eval_metric must be among {', '.join(_METRICS)}")
    params["eval_metric"] = metrics or [_DEFAULT_METRIC[objective]]
    return params


def _matrix(data: Data, objective: str, classes: int) -> xgboost.DMatrix:
    if data.y is None:
        raise HyperparameterError(f"{NAME}: training data needs a label column")
    if objective == "binary:logistic" and not np.isin(data.y, (0.0, 1.0)).all():
        raise HyperparameterError(f"{NAME}: binary:logistic labels must be 0 or 1")
    if objective == "multi:softprob" and not (np.isin(data.y, np.arange(classes)).all()):
        raise HyperparameterError(f"{NAME}: multi:softprob labels must be 0..num_class-1")
    return xgboost.DMatrix(data.x, label=data.y)


def with_objective_metric(values: Mapping[str, str], objective: str | None) -> dict[str, str]:
    """A tuning job's training job: its objective's metric is evaluated whatever eval_metric
    says, as the SageMaker XGBoost container does with `_tuning_objective_metric`."""
    metric = (objective or "").partition(":")[2]
    if metric not in _METRICS:
        return dict(values)
    evaluated = [m for m in values.get("eval_metric", "").split(",") if m]
    default = _DEFAULT_METRIC.get(values.get("objective", "reg:squarederror"))
    if not evaluated and default is not None:
        evaluated = [default]
    if metric not in evaluated:
        evaluated.append(metric)
    return {**values, "eval_metric": ",".join(evaluated)}


def train(
    values: Mapping[str, str], channels: Mapping[str, Data]
) -> tuple[bytes, dict[str, float]]:
    """Trains on `train` (and evaluates on `validation`): model.tar.gz holding xgboost-model,
    and the last round's `<channel>:<metric>` values (the best round's with early stopping)."""
    hp = Hyperparameters(NAME, values, KNOWN)
    if not hp.given("num_round"):
        raise HyperparameterError(f"{NAME}: num_round is a required hyperparameter")
    rounds = hp.integer("num_round", 1)
    if rounds > _MAX_ROUNDS:
        raise HyperparameterError(f"{NAME}: num_round must be <= {_MAX_ROUNDS} here")
    params = _parameters(hp, values)
    classes = int(params.get("num_class", 2))
    evals = [(_matrix(channels[name], params["objective"], classes), name)
             for name in ("train", "validation") if name in channels]  # fmt: skip
    early = None
    if hp.given("early_stopping_rounds"):
        if "validation" not in channels:
            raise HyperparameterError(f"{NAME}: early_stopping_rounds needs a validation channel")
        early = hp.integer("early_stopping_rounds", 1)
    history: dict[str, dict[str, list[float]]] = {}
    try:
        booster = xgboost.train(
            params,
            evals[0][0],
            num_boost_round=rounds,
            evals=evals,
            evals_result=history,
            early_stopping_rounds=early,
            verbose_eval=False,
        )
    except xgboost.core.XGBoostError as error:
        raise HyperparameterError(f"{NAME}: {str(error).splitlines()[0]}") from None
    best = booster.best_iteration if early is not None else rounds - 1
    metrics = {
        f"{channel}:{metric}": float(per_round[min(best, len(per_round) - 1)])
        for channel, by_metric in history.items()
        for metric, per_round in by_metric.items()
    }
    return pack(booster), metrics


def pack(booster: xgboost.Booster) -> bytes:
    # What save_model writes to a file without a known extension (xgboost >= 2: UBJSON).
    model = bytes(booster.save_raw(raw_format="ubj"))
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        info = tarfile.TarInfo(MODEL_FILE)
        info.size = len(model)
        tar.addfile(info, io.BytesIO(model))
    return out.getvalue()


def load(artifact: bytes) -> xgboost.Booster:
    """The booster in a model.tar.gz as the container writes it (nothing extracted to disk)."""
    with tarfile.open(fileobj=io.BytesIO(artifact), mode="r:gz") as tar:
        info = tar.getmember(MODEL_FILE)
        handle = tar.extractfile(info) if info.isfile() else None
        if handle is None:
            raise ValueError(f"{MODEL_FILE} in model.tar.gz is not a regular file")
        booster = xgboost.Booster()
        booster.load_model(bytearray(handle.read()))
        return booster


def predict(booster: xgboost.Booster, body: bytes) -> Any:
    """The booster's predictions for text/csv rows (no label column): one value per row, or
    for multi:softprob a row of class probabilities."""
    try:
        rows = np.loadtxt(io.StringIO(body.decode("utf-8")), delimiter=",", ndmin=2)
    except (UnicodeDecodeError, ValueError) as error:
        raise ValueError(f"unreadable CSV rows: {error}") from None
    if rows.size == 0 or rows.shape[1] != booster.num_features():
        raise ValueError(f"expected rows of {booster.num_features()} features")
    return booster.predict(xgboost.DMatrix(rows))


def predict_csv(booster: xgboost.Booster, body: bytes) -> bytes:
    """What the container answers to text/csv rows with Accept text/csv: one prediction per
    line, or for multi:softprob the class probabilities of each row, comma-separated."""
    lines = (
        ",".join(repr(float(v)) for v in row) if np.ndim(row) else repr(float(row))
        for row in predict(booster, body)
    )
    return ("\n".join(lines) + "\n").encode()


def predict_json(booster: xgboost.Booster, body: bytes) -> bytes:
    """Accept application/json: {"predictions": [{"score": ...}, ...]}, as the container."""
    scores = [{"score": np.asarray(row).tolist()} for row in predict(booster, body)]
    return json.dumps({"predictions": scores}).encode()
