"""Leaderboard indexes: which metrics a project keeps sortable, and the state of their index."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

from chalicelib.models import Objective, Project

# Named metrics a project may keep indexed beside its objective: each costs one write per run.
MAX_SORTABLE: Final = 10
# What SageMaker's built-in algorithms report (their tuning pages' metric tables), most useful
# first: a project whose objective is one of these keeps the others sortable by default.
BUILTIN_METRICS: Final[dict[str, tuple[str, ...]]] = {
    "linear-learner": (
        "train:objective_loss:final",
        "validation:objective_loss:final",
        "validation:objective_loss",
        "validation:binary_f_beta",
        "validation:binary_classification_accuracy",
        "validation:precision",
        "validation:recall",
        "validation:multiclass_accuracy",
        "validation:mse",
        "validation:absolute_loss",
        "test:objective_loss",
        "test:binary_f_beta",
        "test:binary_classification_accuracy",
        "test:multiclass_accuracy",
        "test:mse",
    ),
    "xgboost": (
        "validation:auc",
        "validation:error",
        "validation:logloss",
        "validation:rmse",
        "validation:mae",
        "validation:accuracy",
        "validation:f1",
        "validation:merror",
        "validation:mlogloss",
        "validation:map",
        "validation:ndcg",
        "train:auc",
        "train:rmse",
    ),
    "kmeans": ("test:msd", "test:ssd", "train:msd"),
    "knn": ("test:accuracy", "test:mse"),
    "factorization-machines": (
        "test:binary_classification_accuracy",
        "test:binary_classification_cross_entropy",
        "test:binary_f_beta",
        "test:rmse",
    ),
}


@dataclass(frozen=True)
class BoardIndex:
    """A project's leaderboard indexes: those `ready` to answer (every run recorded is in them)
    and those a re-index `job_id` is `building`, through the project's runs after `cursor`;
    `pages` grows with every saved page and is the version each save is conditional on."""

    project: str
    ready: frozenset[str]
    building: frozenset[str] = frozenset()
    job_id: str | None = None
    cursor: dict[str, str] | None = None
    pages: int = 0
    updated_at: datetime | None = None


def default_metrics(objective: str) -> tuple[str, ...]:
    """The other metrics of the built-in algorithm that reports `objective`, if one does."""
    for metrics in BUILTIN_METRICS.values():
        if objective in metrics:
            return tuple(metric for metric in metrics if metric != objective)[:MAX_SORTABLE]
    return ()


def objective_board(objective: Objective) -> str:
    return f"objective:{objective.statistic}:{objective.metric}"


def metric_board(metric: str) -> str:
    return f"metric:{metric}"


def indexed_metrics(project: Project) -> tuple[str, ...]:
    """The named metrics with an index of their own (the objective's final value has its own)."""
    objective = project.objective
    served = objective.metric if objective.statistic == "last" else None
    return tuple(metric for metric in project.leaderboard_metrics if metric != served)


def boards(project: Project) -> frozenset[str]:
    """Every index the project's definition asks for."""
    return frozenset(
        {objective_board(project.objective), *map(metric_board, indexed_metrics(project))}
    )


def legacy_ready(project: Project) -> frozenset[str]:
    """What a project never re-indexed has: its objective's index, written with each run."""
    return frozenset({objective_board(project.objective)})
