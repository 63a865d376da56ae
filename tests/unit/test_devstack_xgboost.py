"""The SageMaker XGBoost container's training and CSV inference on the devstack."""

from __future__ import annotations

import io
import tarfile
from typing import Any

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes

from devstack import digits, xgboost_builtin
from devstack.channels import Data
from devstack.hyperparameters import HyperparameterError


def _split(x: Any, y: Any) -> dict[str, Data]:
    order = np.random.default_rng(0).permutation(len(x))
    cut = len(x) * 4 // 5
    return {
        "train": Data(x[order[:cut]], y[order[:cut]].astype(np.float64)),
        "validation": Data(x[order[cut:]], y[order[cut:]].astype(np.float64)),
    }


def _csv(x: Any) -> bytes:
    return "".join(",".join(repr(float(v)) for v in row) + "\n" for row in x).encode()


def test_regression_reports_rmse_and_predicts_one_value_per_row() -> None:
    channels = _split(*load_diabetes(return_X_y=True))
    hyperparameters = {"num_round": "50", "max_depth": "3", "eta": "0.1", "subsample": "0.8"}
    artifact, metrics = xgboost_builtin.train(hyperparameters, channels)
    assert set(metrics) == {"train:rmse", "validation:rmse"}
    held_out = channels["validation"]
    assert held_out.y is not None
    # Predicting the mean would score the standard deviation (about 70); trees do better.
    assert metrics["validation:rmse"] < 0.85 * float(np.std(held_out.y))
    booster = xgboost_builtin.load(artifact)
    lines = xgboost_builtin.predict_csv(booster, _csv(held_out.x)).decode().splitlines()
    assert len(lines) == len(held_out.x)
    rmse = float(np.sqrt(np.mean((np.array(lines, dtype=float) - held_out.y) ** 2)))
    assert rmse == pytest.approx(metrics["validation:rmse"], rel=1e-4)


def test_binary_logistic_reports_the_asked_metrics() -> None:
    channels = _split(*load_breast_cancer(return_X_y=True))
    hyperparameters = {
        "num_round": "30",
        "objective": "binary:logistic",
        "eval_metric": "auc,logloss,error",
    }
    artifact, metrics = xgboost_builtin.train(hyperparameters, channels)
    assert metrics["validation:auc"] > 0.97
    assert metrics["validation:error"] < 0.08
    assert metrics["validation:logloss"] < 0.2
    lines = xgboost_builtin.predict_csv(
        xgboost_builtin.load(artifact), _csv(channels["validation"].x[:5])
    )
    scores = np.array(lines.decode().split(), dtype=float)
    assert scores.shape == (5,)
    assert ((scores >= 0) & (scores <= 1)).all()


def test_softprob_classifies_digits_with_a_probability_per_class() -> None:
    split = digits.load_split()
    channels = {
        "train": Data(split.x_train, split.y_train.astype(np.float64)),
        "validation": Data(split.x_test, split.y_test.astype(np.float64)),
    }
    hyperparameters = {
        "num_round": "200",
        "objective": "multi:softprob",
        "num_class": "10",
        "eval_metric": "merror",
        "early_stopping_rounds": "5",
        "max_depth": "4",
    }
    artifact, metrics = xgboost_builtin.train(hyperparameters, channels)
    assert metrics["validation:merror"] < 0.08
    body = xgboost_builtin.predict_csv(xgboost_builtin.load(artifact), _csv(split.x_test[:3]))
    rows = np.array([line.split(",") for line in body.decode().splitlines()], dtype=float)
    assert rows.shape == (3, 10)
    np.testing.assert_allclose(rows.sum(1), 1.0, rtol=1e-5)
    assert list(rows.argmax(1)) == list(split.y_test[:3])


def test_the_artifact_is_the_containers() -> None:
    artifact, _ = xgboost_builtin.train({"num_round": "2"}, _split(*load_diabetes(return_X_y=True)))
    with tarfile.open(fileobj=io.BytesIO(artifact), mode="r:gz") as tar:
        assert tar.getnames() == ["xgboost-model"]


@pytest.mark.parametrize(
    ("hyperparameters", "message"),
    [
        ({}, "num_round is a required"),
        ({"num_round": "5", "max_depht": "3"}, "does not know hyperparameter"),
        ({"num_round": "5", "objective": "multi:softprob"}, "num_class is required"),
        ({"num_round": "5", "objective": "binary:logistic"}, "labels must be 0 or 1"),
        ({"num_round": "5", "eval_metric": "accuracy"}, "eval_metric"),
        ({"num_round": "0"}, "must be >= 1"),
        ({"num_round": "5", "eta": "fast"}, "not a number"),
    ],
)
def test_what_the_container_refuses_is_refused(
    hyperparameters: dict[str, str], message: str
) -> None:
    with pytest.raises(HyperparameterError, match=message):
        xgboost_builtin.train(hyperparameters, _split(*load_diabetes(return_X_y=True)))


def test_early_stopping_needs_a_validation_channel() -> None:
    channels = {"train": _split(*load_diabetes(return_X_y=True))["train"]}
    with pytest.raises(HyperparameterError, match="validation channel"):
        xgboost_builtin.train({"num_round": "5", "early_stopping_rounds": "2"}, channels)


def test_rows_of_another_width_are_refused() -> None:
    artifact, _ = xgboost_builtin.train({"num_round": "2"}, _split(*load_diabetes(return_X_y=True)))
    with pytest.raises(ValueError, match="10 features"):
        xgboost_builtin.predict_csv(xgboost_builtin.load(artifact), b"1,2,3\n")
