"""k-means in numpy: k-means++ or random seeding, then Lloyd's iterations; documented metrics."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

import numpy as np

from devstack.channels import Channels
from devstack.hyperparameters import HyperparameterError, Hyperparameters
from devstack.recordio import FloatMatrix

NAME: Final = "kmeans"
# Every hyperparameter SageMaker documents for k-means; the streaming ones (mini_batch_size,
# epochs, half_life_time_size, extra_center_factor, local_lloyd_num_trials, force_dense) are
# validated and accepted, but the whole channel fits in memory here, so they change nothing.
KNOWN: Final = frozenset(
    {
        "k", "feature_dim", "mini_batch_size", "epochs", "init_method", "local_lloyd_max_iter",
        "local_lloyd_tol", "local_lloyd_init_method", "local_lloyd_num_trials",
        "half_life_time_size", "extra_center_factor", "eval_metrics", "force_dense",
    }
)  # fmt: skip
_INITS: Final = ("kmeans++", "random")


def squared_distances(x: FloatMatrix, centers: FloatMatrix) -> FloatMatrix:
    d: FloatMatrix = (
        (x * x).sum(1)[:, None] - 2 * x @ centers.T + (centers * centers).sum(1)[None, :]
    )
    return np.maximum(d, 0.0)


def _seed(x: FloatMatrix, k: int, init: str, rng: np.random.Generator) -> FloatMatrix:
    if init == "random":
        out: FloatMatrix = x[rng.choice(len(x), size=k, replace=False)].copy()
        return out
    centers = x[[int(rng.integers(len(x)))]].copy()
    while len(centers) < k:
        nearest = squared_distances(x, centers).min(1)
        total = nearest.sum()
        pick = rng.choice(len(x), p=nearest / total) if total > 0 else int(rng.integers(len(x)))
        centers = np.vstack([centers, x[pick]])
    return centers


def train(
    values: Mapping[str, str], channels: Channels
) -> tuple[dict[str, FloatMatrix], dict[str, float]]:
    hp = Hyperparameters(NAME, values, KNOWN)
    x = channels.x_train
    hp.feature_dim(x.shape[1])
    k = hp.integer("k", 10)
    init = hp.choice("init_method", "kmeans++", _INITS)
    hp.choice("local_lloyd_init_method", "kmeans++", _INITS)
    max_iter = hp.integer("local_lloyd_max_iter", 300)
    tol = hp.number("local_lloyd_tol", 1e-4)
    for name in ("mini_batch_size", "epochs", "extra_center_factor", "local_lloyd_num_trials"):
        hp.integer(name, 1)
    hp.number("half_life_time_size", 0.0, allow_zero=True)
    hp.flag("force_dense", True)
    evaluated = hp.names("eval_metrics", ("msd",), ("msd", "ssd"))
    if k > len(x):
        raise HyperparameterError(f"{NAME}: k={k} exceeds the {len(x)} training records")
    rng = np.random.default_rng(0)
    centers = _seed(x, k, init, rng)
    for _ in range(max_iter):
        assignment = squared_distances(x, centers).argmin(1)
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
    metrics = {"train:msd": float(squared_distances(x, centers).min(1).mean())}
    if channels.x_test is not None:
        nearest = squared_distances(channels.x_test, centers).min(1)
        metrics.update(
            {
                f"test:{name}": float(nearest.mean() if name == "msd" else nearest.sum())
                for name in evaluated
            }
        )
    return {"centroids": centers}, metrics
