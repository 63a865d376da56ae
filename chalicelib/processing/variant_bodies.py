"""The bodies of PUT and PATCH /v1/projects/{project}/variants, read into values."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from chalicelib.errors import InvalidParameter

# SageMaker's VariantName (and training job name) pattern: at most 63 characters.
VARIANT_NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")
RUN_NAME = VARIANT_NAME
MAX_VARIANTS = 10  # production variants SageMaker allows in one endpoint config
PUT_SHAPE = '{"variants": [{"name": "A", "run": "<training job>", "weight": 1.0}, ...]}'
PATCH_SHAPE = '{"weights": {"<variant>": <weight>, ...}}'


@dataclass(frozen=True)
class VariantChoice:
    """One variant an operator asks for: its name, the run behind its model, its weight."""

    name: str
    run: str
    weight: float


def parse_variants(body: Any) -> tuple[VariantChoice, ...]:
    """`{"variants": [...]}` (or the bare list): 1 to 10 variants, names SageMaker accepts and
    unique whatever their case, weights finite and at least 0, at least one above 0."""
    if isinstance(body, dict) and body.keys() == {"variants"}:
        body = body["variants"]
    if not isinstance(body, list) or not 1 <= len(body) <= MAX_VARIANTS:
        raise InvalidParameter(f"the body must be {PUT_SHAPE} with 1 to {MAX_VARIANTS} variants")
    choices = []
    for index, item in enumerate(body):
        where = f"variants[{index}]"
        if not isinstance(item, dict) or item.keys() != {"name", "run", "weight"}:
            raise InvalidParameter(f"{where} must be {{name, run, weight}} and nothing else")
        name = _name(item["name"], VARIANT_NAME, f"{where}.name")
        run = _name(item["run"], RUN_NAME, f"{where}.run")
        choices.append(VariantChoice(name, run, _weight(item["weight"], f"{where}.weight")))
    _distinct(choice.name for choice in choices)
    if not any(choice.weight > 0 for choice in choices):
        raise InvalidParameter("at least one variant must have a weight above 0")
    return tuple(choices)


def parse_weights(body: Any) -> dict[str, float]:
    """`{"weights": {"<variant>": <weight>, ...}}`: at least one variant, each weight finite and
    at least 0 (which variants exist, and the total, the endpoint decides)."""
    weights = body.get("weights") if isinstance(body, dict) and body.keys() == {"weights"} else None
    if not isinstance(weights, dict) or not 1 <= len(weights) <= MAX_VARIANTS:
        raise InvalidParameter(f"the body must be {PATCH_SHAPE} with 1 to {MAX_VARIANTS} weights")
    parsed = {
        _name(name, VARIANT_NAME, "weights"): _weight(weight, f"weights.{name}")
        for name, weight in weights.items()
    }
    _distinct(parsed)
    return parsed


def _name(value: Any, pattern: re.Pattern[str], where: str) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise InvalidParameter(
            f"{where} must be 1 to 63 letters, digits and hyphens, starting and ending with a "
            "letter or digit"
        )
    return value


def _weight(value: Any, where: str) -> float:
    # JSON true is a Python int: a weight is a number, never a boolean.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidParameter(f"{where} must be a number")
    try:
        weight = float(value)
    except OverflowError:
        weight = math.inf
    if not math.isfinite(weight) or weight < 0:
        raise InvalidParameter(f"{where} must be a finite number of at least 0")
    return weight


def _distinct(names: Any) -> None:
    """SageMaker tells variant names apart whatever their case."""
    seen: set[str] = set()
    for name in names:
        if name.lower() in seen:
            raise InvalidParameter(f"variant name {name!r} is given twice (case is ignored)")
        seen.add(name.lower())
