"""Hyperparameters as SageMaker passes them (strings), read typed; strays refused as it does."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Collection, Mapping


class HyperparameterError(ValueError):
    """A hyperparameter the algorithm does not know or cannot use (a ClientError on SageMaker)."""


class Hyperparameters:
    """One job's hyperparameters for `algorithm`: unknown names are refused up front."""

    def __init__(self, algorithm: str, values: Mapping[str, str], known: Collection[str]) -> None:
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise HyperparameterError(
                f"{algorithm} does not know hyperparameter(s) {', '.join(unknown)}; "
                f"known: {', '.join(sorted(known))}"
            )
        self._algorithm = algorithm
        self._values = values

    def given(self, name: str) -> bool:
        return name in self._values

    def _read(self, name: str, default: float, cast: Callable[[str], float]) -> float:
        raw = self._values.get(name)
        if raw is None:
            return default
        try:
            value = cast(raw)
        except ValueError:
            raise HyperparameterError(
                f"{self._algorithm}: {name}={raw!r} is not a number"
            ) from None
        if not math.isfinite(value) or value < 0:
            raise HyperparameterError(f"{self._algorithm}: {name}={raw!r} must be >= 0")
        return value

    def integer(self, name: str, default: int, minimum: int = 1) -> int:
        value = int(self._read(name, default, int))
        if value < minimum:
            raise HyperparameterError(f"{self._algorithm}: {name} must be >= {minimum}")
        return value

    def number(self, name: str, default: float, allow_zero: bool = False) -> float:
        if self._values.get(name) == "auto":
            return default
        value = self._read(name, default, float)
        if value == 0 and not allow_zero:
            raise HyperparameterError(f"{self._algorithm}: {name} must be > 0")
        return value

    def choice(self, name: str, default: str, allowed: tuple[str, ...]) -> str:
        value = self._values.get(name, default)
        if value not in allowed:
            raise HyperparameterError(f"{self._algorithm}: {name} must be one of {allowed}")
        return value

    def flag(self, name: str, default: bool) -> bool:
        value = self._values.get(name)
        if value is None or value == "auto":
            return default
        if value.lower() not in ("true", "false"):
            raise HyperparameterError(f"{self._algorithm}: {name} must be true or false")
        return value.lower() == "true"

    def names(self, name: str, default: tuple[str, ...], allowed: tuple[str, ...]) -> list[str]:
        """A JSON list of names, as k-means' eval_metrics ('["msd", "ssd"]')."""
        raw = self._values.get(name)
        if raw is None:
            return list(default)
        try:
            value = json.loads(raw.replace("'", '"'))
        except ValueError:
            value = None
        if not isinstance(value, list) or not value or not set(value) <= set(allowed):
            raise HyperparameterError(
                f"{self._algorithm}: {name} must be a JSON list of {', '.join(allowed)}"
            )
        return [str(item) for item in value]

    def feature_dim(self, data_dim: int) -> int:
        """feature_dim, when given, must be the data's (SageMaker fails the job otherwise)."""
        if self.given("feature_dim") and self._values["feature_dim"] != "auto":
            declared = self.integer("feature_dim", data_dim)
            if declared != data_dim:
                raise HyperparameterError(
                    f"{self._algorithm}: feature_dim={declared} does not match the data's "
                    f"{data_dim} features"
                )
        return data_dim
