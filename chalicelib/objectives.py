"""The value a run has for a metric: its final value, or a statistic over the values it logged."""

from __future__ import annotations

from typing import Final, get_args

from chalicelib.models import Objective, Statistic
from chalicelib.records import Run

STATISTICS: Final[tuple[Statistic, ...]] = get_args(Statistic)


def metric_value(run: Run, metric: str, statistic: Statistic = "last") -> float | None:
    """The run's `statistic` of `metric`, None when it has no value for the metric.

    "last" is the job's final value (FinalMetricDataList), else the last value its trial
    component logged. "max", "min" and "avg" come from the trial component's statistics; a run
    without them (not run in an experiment, or the metric not logged there) has only its final
    value, which is then the statistic of its one value."""
    logged = run.metric_statistics.get(metric, {})
    if statistic != "last" and statistic in logged:
        return logged[statistic]
    final = run.metrics.get(metric)
    return logged.get("last") if final is None else final


def objective_metric(run: Run, objective: Objective) -> float | None:
    """The run's value for the objective: its metric, by the objective's statistic."""
    return metric_value(run, objective.metric, objective.statistic)


def describe(objective: Objective) -> str:
    """The objective's metric, with its statistic unless it is the final value."""
    if objective.statistic == "last":
        return objective.metric
    return f"{objective.metric} ({objective.statistic})"
