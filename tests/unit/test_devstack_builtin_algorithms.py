"""The built-in algorithms' documented hyperparameters and metrics (k-means, linear-learner)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes

from devstack import algorithms, digits, kmeans, linear_learner, trainer
from devstack.channels import Channels
from devstack.hyperparameters import HyperparameterError

# What the SageMaker examples pass (the k-means low-level notebook and linear-learner's MNIST).
KMEANS_EXAMPLE = {
    "k": "10",
    "feature_dim": "64",
    "mini_batch_size": "500",
    "epochs": "1",
    "init_method": "random",
    "local_lloyd_max_iter": "50",
    "local_lloyd_tol": "0.0001",
    "local_lloyd_init_method": "kmeans++",
    "local_lloyd_num_trials": "2",
    "half_life_time_size": "0",
    "extra_center_factor": "2",
    "eval_metrics": '["msd", "ssd"]',
    "force_dense": "True",
}
LINEAR_EXAMPLE = {
    "feature_dim": "64",
    "predictor_type": "binary_classifier",
    "mini_batch_size": "200",
    "epochs": "10",
    "learning_rate": "auto",
    "wd": "auto",
    "l1": "0",
    "normalize_data": "true",
    "normalize_label": "auto",
    "use_bias": "true",
    "optimizer": "auto",
    "loss": "auto",
}


def _digits(zero: bool = False) -> Channels:
    split = digits.load_split()
    y_train, y_test = split.y_train, split.y_test
    if zero:
        y_train, y_test = (y_train == 0).astype(np.int64), (y_test == 0).astype(np.int64)
    x_train, x_test = digits.features(split.x_train), digits.features(split.x_test)
    return Channels(x_train, y_train, x_test, y_test, x_test, y_test)


def _tabular(loader: object) -> Channels:
    x, y = loader(return_X_y=True)  # type: ignore[operator]
    order = np.random.default_rng(0).permutation(len(x))
    train, test = order[: len(x) * 4 // 5], order[len(x) * 4 // 5 :]
    return Channels(x[train], y[train], x[test], y[test], x[test], y[test])


def test_kmeans_takes_the_examples_hyperparameters_and_reports_test_metrics() -> None:
    params, metrics = kmeans.train(KMEANS_EXAMPLE, _digits())
    assert params["centroids"].shape == (10, 64)
    assert set(metrics) == {"train:msd", "test:msd", "test:ssd"}
    held_out = len(digits.load_split().x_test)
    assert metrics["test:ssd"] == pytest.approx(metrics["test:msd"] * held_out)


def test_linear_learner_takes_the_examples_hyperparameters() -> None:
    _, metrics = linear_learner.train(LINEAR_EXAMPLE, _digits(zero=True))
    assert metrics["test:binary_classification_accuracy"] > 0.97
    assert metrics["validation:binary_f_beta"] > 0.85
    assert {"test:objective_loss", "test:precision", "test:recall"} <= set(metrics)


@pytest.mark.parametrize(
    ("train", "hyperparameters", "message"),
    [
        (kmeans.train, {"k": "3", "learning_rate": "0.1"}, "does not know hyperparameter"),
        (kmeans.train, {"k": "3", "feature_dim": "784"}, "does not match"),
        (kmeans.train, {"k": "3", "eval_metrics": '["auc"]'}, "eval_metrics"),
        (kmeans.train, {"k": "3", "init_method": "forgy"}, "must be one of"),
        (kmeans.train, {"k": "3", "force_dense": "maybe"}, "true or false"),
        (linear_learner.train, {"predictor_type": "ranker"}, "must be one of"),
        (linear_learner.train, {"predictor_type": "multiclass_classifier"}, "num_classes"),
        (linear_learner.train, {"k": "3"}, "does not know hyperparameter"),
        (linear_learner.train, {"mini_batch_size": "0"}, "must be >= 1"),
    ],
)
def test_what_sagemaker_refuses_is_refused(
    train: object, hyperparameters: dict[str, str], message: str
) -> None:
    with pytest.raises(HyperparameterError, match=message):
        train(hyperparameters, _digits(zero=True))  # type: ignore[operator]


def test_binary_labels_must_be_zero_or_one() -> None:
    with pytest.raises(HyperparameterError, match="0 or 1"):
        linear_learner.train({"predictor_type": "binary_classifier"}, _digits())


def test_linear_learner_classifies_the_ten_digits() -> None:
    hyperparameters = {"predictor_type": "multiclass_classifier", "num_classes": "10"}
    channels = _digits()
    params, metrics = linear_learner.train(hyperparameters, channels)
    assert params["weights"].shape == (64, 10)
    assert metrics["test:multiclass_accuracy"] > 0.9
    # Served as the container answers: each class's probability, and the likeliest.
    model = algorithms.Model(algorithms.LINEAR_LEARNER, 64, params, hyperparameters)
    assert channels.x_test is not None
    served = algorithms.predict_linear_learner(model, channels.x_test)
    assert all(len(p["score"]) == 10 and sum(p["score"]) == pytest.approx(1) for p in served)
    labels = np.array([p["predicted_label"] for p in served])
    assert np.mean(labels == channels.y_test) == pytest.approx(metrics["test:multiclass_accuracy"])


def test_linear_learner_regresses_diabetes_progression() -> None:
    channels = _tabular(load_diabetes)
    hyperparameters = {"predictor_type": "regressor", "epochs": "30"}
    params, metrics = linear_learner.train(hyperparameters, channels)
    assert channels.y_test is not None
    # The mean predictor's MSE is the variance; least squares (scikit-learn's) reaches 0.654 of
    # it on this split.
    assert metrics["test:mse"] < 0.7 * float(np.var(channels.y_test))
    assert metrics["test:absolute_loss"] > 0
    model = algorithms.Model(algorithms.LINEAR_LEARNER, 10, params, hyperparameters)
    assert channels.x_test is not None
    served = algorithms.predict_linear_learner(model, channels.x_test)
    assert set(served[0]) == {"score"}  # a regressor's record has no label
    predicted = np.array([p["score"] for p in served])
    assert np.mean((predicted - channels.y_test) ** 2) == pytest.approx(metrics["test:mse"])


def test_normalized_breast_cancer_features_are_folded_into_the_weights() -> None:
    channels = _tabular(load_breast_cancer)
    params, metrics = linear_learner.train({"normalize_data": "true"}, channels)
    assert metrics["test:binary_classification_accuracy"] > 0.93
    # The artifact takes raw features, as the runtime serves it.
    model = algorithms.Model(algorithms.LINEAR_LEARNER, 30, params, {})
    assert channels.x_test is not None
    assert channels.y_test is not None
    served = algorithms.predict_linear_learner(model, channels.x_test)
    labels = np.array([p["predicted_label"] for p in served])
    assert np.mean(labels == channels.y_test) > 0.93


def test_the_cli_stand_ins_keep_their_metrics() -> None:
    trained = algorithms.train(algorithms.KMEANS, {"k": "10"}, trainer.channels(algorithms.KMEANS))
    assert set(trained.metrics) == set(algorithms.METRIC_NAMES[algorithms.KMEANS])
