"""An objective's statistic: the value a run competes with, and selection by it."""

from __future__ import annotations

from dataclasses import replace

import pytest

from chalicelib.definitions import parse_project
from chalicelib.models import Objective, Project, Statistic
from chalicelib.objectives import metric_value, objective_metric
from chalicelib.records import Run
from chalicelib.services.selection import cannot_compete_because, objective_value
from tests.factories import project_document
from tests.fakes import EPOCH

ACCURACY = "test:accuracy"
LOGGED = {"max": 0.99, "min": 0.42, "avg": 0.81, "last": 0.9, "count": 10.0, "std_dev": 0.1}


def run(**changes: object) -> Run:
    base = Run(
        name="cnn-lr-01",
        arn="arn:aws:sagemaker:us-east-1:123456789012:training-job/cnn-lr-01",
        status="Completed",
        last_modified_at=EPOCH,
        metrics={ACCURACY: 0.9, "validation:binary_f_beta": 0.9},
        model_artifact="s3://bucket/cnn-lr-01/output/model.tar.gz",
        training_image="763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-training:2.1",
        experiment_name="mnist",
        trial_name="cnn-lr-01",
        metric_statistics={ACCURACY: LOGGED},
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def project(statistic: Statistic) -> Project:
    definition = parse_project(project_document("digits-zero"))
    return replace(
        definition, objective=Objective(ACCURACY, "maximize", statistic=statistic), guards=()
    )


@pytest.mark.parametrize(
    ("statistic", "expected"), [("last", 0.9), ("max", 0.99), ("min", 0.42), ("avg", 0.81)]
)
def test_the_objective_is_its_statistic_over_the_logged_values(
    statistic: Statistic, expected: float
) -> None:
    assert objective_metric(run(), Objective(ACCURACY, statistic=statistic)) == expected
    assert objective_value(project(statistic), run()) == expected
    assert cannot_compete_because(project(statistic), run()) is None


@pytest.mark.parametrize("statistic", ["last", "max", "min", "avg"])
def test_without_statistics_every_statistic_is_the_final_value(statistic: Statistic) -> None:
    outside = run(metric_statistics={}, experiment_name=None, trial_name=None)
    assert metric_value(outside, ACCURACY, statistic) == 0.9
    assert objective_value(project(statistic), outside) == 0.9


def test_last_is_the_final_value_else_the_last_logged_one() -> None:
    assert metric_value(run(metrics={ACCURACY: 0.7}), ACCURACY) == 0.7
    assert metric_value(run(metrics={}), ACCURACY) == 0.9
    assert metric_value(run(metrics={}), ACCURACY, "max") == 0.99
    only_count = run(metric_statistics={ACCURACY: {"count": 3.0}})
    assert metric_value(only_count, ACCURACY, "max") == 0.9


@pytest.mark.parametrize("statistic", ["last", "max"])
def test_a_run_without_the_metric_cannot_compete(statistic: Statistic) -> None:
    bare = run(metrics={}, metric_statistics={})
    assert metric_value(bare, ACCURACY, statistic) is None
    assert objective_value(project(statistic), bare) is None
    reason = cannot_compete_because(project(statistic), bare)
    assert reason == (
        f"the run has no finite {ACCURACY}"
        if statistic == "last"
        else f"the run has no finite {ACCURACY} ({statistic})"
    )
