"""Tuning plans: a HyperParameterTuningJobConfig's ranges and strategy to training jobs' values."""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

# The hyperparameter SageMaker adds to each of a tuning job's training jobs: the objective's name.
TUNING_OBJECTIVE_METRIC = "_tuning_objective_metric"
Strategy = Literal["Random", "Grid", "Bayesian", "Hyperband"]
Scaling = Literal["Auto", "Linear", "Logarithmic", "ReverseLogarithmic"]
STRATEGIES: tuple[Strategy, ...] = ("Random", "Grid", "Bayesian", "Hyperband")
# What runs here for each strategy: Bayesian optimization and Hyperband's early stopping are not
# reproduced; both search at random (the README says so).
SEARCH: dict[Strategy, Literal["random", "grid"]] = {
    "Random": "random",
    "Bayesian": "random",
    "Hyperband": "random",
    "Grid": "grid",
}


class TuningError(ValueError):
    """A configuration SageMaker refuses with a ValidationException."""


@dataclass(frozen=True)
class NumericRange:
    name: str
    low: float
    high: float
    integer: bool
    scaling: Scaling

    def sample(self, rng: random.Random) -> str:
        if self.scaling == "Logarithmic":
            value = math.exp(rng.uniform(math.log(self.low), math.log(self.high)))
        elif self.scaling == "ReverseLogarithmic":
            value = 1 - math.exp(rng.uniform(math.log(1 - self.high), math.log(1 - self.low)))
        else:
            value = rng.uniform(self.low, self.high)
        if self.integer:
            return str(min(max(round(value), int(self.low)), int(self.high)))
        return repr(min(max(value, self.low), self.high))


@dataclass(frozen=True)
class CategoricalRange:
    name: str
    values: tuple[str, ...]

    def sample(self, rng: random.Random) -> str:
        return rng.choice(self.values)


Range = NumericRange | CategoricalRange


def _number(value: Any, what: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise TuningError(f"{what} must be a number, not {value!r}") from None
    if not math.isfinite(number):
        raise TuningError(f"{what} must be finite")
    return number


def _numeric(spec: Mapping[str, Any], integer: bool) -> NumericRange:
    name = str(spec.get("Name", ""))
    low = _number(spec.get("MinValue"), f"MinValue of {name}")
    high = _number(spec.get("MaxValue"), f"MaxValue of {name}")
    scaling: Scaling = spec.get("ScalingType", "Auto")
    if scaling not in ("Auto", "Linear", "Logarithmic", "ReverseLogarithmic"):
        raise TuningError(
            f"ScalingType of {name} must be Auto, Linear, Logarithmic or ReverseLogarithmic"
        )
    if integer and not (low.is_integer() and high.is_integer()):
        raise TuningError(f"the integer range {name} needs integer bounds")
    if low > high:
        raise TuningError(f"MinValue of {name} is greater than its MaxValue")
    if scaling == "Logarithmic" and low <= 0:
        raise TuningError(f"logarithmic scaling of {name} needs MinValue > 0")
    if scaling == "ReverseLogarithmic" and (integer or not 0 <= low <= high < 1):
        raise TuningError(
            f"reverse logarithmic scaling of {name} needs a continuous range within [0, 1)"
        )
    return NumericRange(name, low, high, integer, scaling)


def ranges(parameter_ranges: Mapping[str, Any]) -> list[Range]:
    """The ranges of a ParameterRanges structure, checked as SageMaker checks them."""
    found: list[Range] = [
        _numeric(spec, integer=False)
        for spec in parameter_ranges.get("ContinuousParameterRanges", [])
    ]
    found += [
        _numeric(spec, integer=True) for spec in parameter_ranges.get("IntegerParameterRanges", [])
    ]
    for spec in parameter_ranges.get("CategoricalParameterRanges", []):
        values = tuple(str(value) for value in spec.get("Values", []))
        if not values:
            raise TuningError(f"the categorical range {spec.get('Name')} has no values")
        found.append(CategoricalRange(str(spec.get("Name", "")), values))
    names = [item.name for item in found]
    if len(set(names)) != len(names):
        raise TuningError("a hyperparameter appears in more than one range")
    return found


def plan(
    strategy: Strategy, parameter_ranges: Sequence[Range], max_jobs: int | None, seed: str
) -> list[dict[str, str]]:
    """The tuned values of each training job, in launch order. Grid: every combination of
    categorical values (SageMaker's grid takes categorical ranges only), at most `max_jobs`;
    random search: `max_jobs` draws, seeded by the tuning job's name so a replay repeats."""
    if strategy not in SEARCH:
        raise TuningError(f"Strategy must be one of {', '.join(STRATEGIES)}")
    if SEARCH[strategy] == "grid":
        if not all(isinstance(item, CategoricalRange) for item in parameter_ranges):
            raise TuningError("the Grid strategy supports categorical parameter ranges only")
        names = [item.name for item in parameter_ranges]
        grid = itertools.product(
            *(item.values for item in parameter_ranges if isinstance(item, CategoricalRange))
        )
        combinations = [dict(zip(names, values, strict=True)) for values in grid]
        return combinations if max_jobs is None else combinations[:max_jobs]
    if max_jobs is None or max_jobs < 1:
        raise TuningError(f"the {strategy} strategy needs MaxNumberOfTrainingJobs of at least 1")
    rng = random.Random(seed)
    return [{item.name: item.sample(rng) for item in parameter_ranges} for _ in range(max_jobs)]
