"""Tuning plans: ranges checked as SageMaker checks them, grid and random search."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devstack.tuning_plans import CategoricalRange, TuningError, plan, ranges

XGBOOST_RANGES = {
    "ContinuousParameterRanges": [
        {"Name": "eta", "MinValue": "0", "MaxValue": "1", "ScalingType": "Auto"},
        {"Name": "min_child_weight", "MinValue": "1", "MaxValue": "10", "ScalingType": "Auto"},
        {"Name": "alpha", "MinValue": "0.01", "MaxValue": "2", "ScalingType": "Logarithmic"},
    ],
    "IntegerParameterRanges": [
        {"Name": "max_depth", "MinValue": "1", "MaxValue": "10", "ScalingType": "Auto"}
    ],
}


def test_random_search_draws_each_range_within_its_bounds_repeatably() -> None:
    parsed = ranges(XGBOOST_RANGES)

    first = plan("Random", parsed, 20, seed="xgb-tuning")

    assert len(first) == 20
    assert first == plan("Random", parsed, 20, seed="xgb-tuning")
    for values in first:
        assert 0 <= float(values["eta"]) <= 1
        assert 0.01 <= float(values["alpha"]) <= 2
        assert values["max_depth"].isdigit()
        assert 1 <= int(values["max_depth"]) <= 10
    assert first != plan("Random", parsed, 20, seed="another-job")


def test_bayesian_runs_as_random_search_here() -> None:
    parsed = ranges(XGBOOST_RANGES)

    assert plan("Bayesian", parsed, 5, seed="s") == plan("Random", parsed, 5, seed="s")


def test_grid_is_every_combination_of_categorical_values() -> None:
    parsed = ranges(
        {
            "CategoricalParameterRanges": [
                {"Name": "mini_batch_size", "Values": ["100", "200"]},
                {"Name": "optimizer", "Values": ["sgd", "adam", "rmsprop"]},
            ]
        }
    )

    combinations = plan("Grid", parsed, None, seed="s")

    assert len(combinations) == 6
    assert {"mini_batch_size": "200", "optimizer": "adam"} in combinations
    assert plan("Grid", parsed, 4, seed="s") == combinations[:4]


@pytest.mark.parametrize(
    ("parameter_ranges", "strategy", "message"),
    [
        (XGBOOST_RANGES, "Grid", "categorical parameter ranges only"),
        (
            {
                "ContinuousParameterRanges": [
                    {"Name": "lr", "MinValue": "0", "MaxValue": "1", "ScalingType": "Logarithmic"}
                ]
            },
            "Random",
            "needs MinValue > 0",
        ),
        (
            {"IntegerParameterRanges": [{"Name": "k", "MinValue": "10", "MaxValue": "2"}]},
            "Random",
            "greater than its MaxValue",
        ),
        (
            {"IntegerParameterRanges": [{"Name": "k", "MinValue": "1.5", "MaxValue": "4"}]},
            "Random",
            "integer bounds",
        ),
        (
            {
                "ContinuousParameterRanges": [
                    {
                        "Name": "m",
                        "MinValue": "0.5",
                        "MaxValue": "1",
                        "ScalingType": "ReverseLogarithmic",
                    }
                ]
            },
            "Random",
            "within \\[0, 1\\)",
        ),
        ({"CategoricalParameterRanges": [{"Name": "opt", "Values": []}]}, "Random", "no values"),
        (
            {
                "CategoricalParameterRanges": [{"Name": "k", "Values": ["1"]}],
                "IntegerParameterRanges": [{"Name": "k", "MinValue": "1", "MaxValue": "2"}],
            },
            "Random",
            "more than one range",
        ),
    ],
)
def test_what_sagemaker_refuses_is_refused(
    parameter_ranges: dict[str, Any], strategy: Any, message: str
) -> None:
    with pytest.raises(TuningError, match=message):
        plan(strategy, ranges(parameter_ranges), 3, seed="s")


def test_random_search_needs_a_job_count() -> None:
    with pytest.raises(TuningError, match="MaxNumberOfTrainingJobs"):
        plan("Random", [CategoricalRange("a", ("1",))], None, seed="s")


@given(
    low=st.floats(1e-6, 1e3),
    span=st.floats(0, 1e3),
    scaling=st.sampled_from(["Auto", "Linear", "Logarithmic"]),
    integer=st.booleans(),
    seed=st.text(max_size=10),
)
def test_every_draw_is_within_its_range(
    low: float, span: float, scaling: str, integer: bool, seed: str
) -> None:
    if integer:
        low, span = float(math.ceil(low)), float(math.floor(span))
    kind = "IntegerParameterRanges" if integer else "ContinuousParameterRanges"
    spec = {"Name": "p", "MinValue": str(low), "MaxValue": str(low + span), "ScalingType": scaling}

    for values in plan("Random", ranges({kind: [spec]}), 10, seed=seed):
        value = float(values["p"])
        assert low <= value <= low + span
        assert not integer or values["p"].lstrip("-").isdigit()
