"""SageMaker Search's filter conditions over typed property values, and its sort keys."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

# How a property's values compare: as times, as numbers, or as text (numerically when both
# sides are numbers, as SageMaker compares hyperparameters).
Kind = Literal["text", "number", "time"]
SortKey = tuple[int, float, str]

_RANGE: dict[str, Callable[[int], bool]] = {
    "GreaterThan": lambda order: order > 0,
    "GreaterThanOrEqualTo": lambda order: order >= 0,
    "LessThan": lambda order: order < 0,
    "LessThanOrEqualTo": lambda order: order <= 0,
}
_PRESENCE = ("Exists", "NotExists")
_TEXT_ONLY = ("Contains", "In")
OPERATORS = ("Equals", "NotEquals", "Contains", "In", *_RANGE, *_PRESENCE)


class SearchError(ValueError):
    """A Search request SageMaker refuses with a ValidationException."""


def number(text: str) -> float | None:
    """A finite number written as text, or None."""
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def parse_time(text: str) -> float:
    """Epoch seconds of an ISO-8601 time (UTC unless it says otherwise) or of epoch seconds."""
    seconds = number(text)
    if seconds is not None:
        return seconds
    moment = datetime.fromisoformat(text)
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _scalar(kind: Kind, value: Any) -> float | str:
    """A record's value as its kind compares it (moto keeps naive datetimes in UTC)."""
    if kind == "time":
        if isinstance(value, datetime):
            return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
        return float(value)
    if kind == "number":
        return float(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _operand(kind: Kind, text: str) -> float | str:
    """A filter's Value as `kind` compares it; SearchError when it is not one."""
    try:
        if kind == "time":
            return parse_time(text)
        if kind == "number":
            value = number(text)
            if value is None:
                raise ValueError(text)
            return value
    except ValueError:
        raise SearchError(f"Value '{text}' is not a valid {kind} for this property.") from None
    return text


def _order(left: float | str, right: float | str) -> int:
    """-1, 0 or 1: numbers (and text that reads as numbers on both sides) by value, else text."""
    if isinstance(left, str) or isinstance(right, str):
        left_number, right_number = number(str(left)), number(str(right))
        if left_number is None or right_number is None:
            return (str(left) > str(right)) - (str(left) < str(right))
        left, right = left_number, right_number
    return (left > right) - (left < right)


@dataclass(frozen=True)
class Condition:
    """One Filter's operator and Value, checked against a property's kind."""

    operator: str
    kind: Kind
    operands: tuple[float | str, ...]

    @classmethod
    def parse(cls, operator: Any, kind: Kind, value: Any) -> Condition:
        operator = "Equals" if operator is None else operator
        if operator not in OPERATORS:
            raise SearchError(
                f"Value '{operator}' at 'operator' failed to satisfy constraint: "
                f"Member must satisfy enum value set: [{', '.join(OPERATORS)}]"
            )
        if operator in _PRESENCE:
            return cls(operator, kind, ())
        if not isinstance(value, str) or not value:
            raise SearchError(f"A Value is required for the {operator} operator.")
        if operator in _TEXT_ONLY and kind != "text":
            raise SearchError(f"The {operator} operator is only supported for text properties.")
        items = value.split(",") if operator == "In" else [value]
        return cls(operator, kind, tuple(_operand(kind, item.strip()) for item in items))

    def holds(self, found: Sequence[Any]) -> bool:
        """Whether a record whose property has the values `found` satisfies the condition:
        a property with several values (Parents.TrialName) satisfies it when any value does."""
        if self.operator in _PRESENCE:
            return bool(found) == (self.operator == "Exists")
        values = [_scalar(self.kind, value) for value in found]
        if self.operator == "Contains":
            return any(str(self.operands[0]) in str(value) for value in values)
        if self.operator in ("Equals", "In"):
            return any(_order(v, item) == 0 for v in values for item in self.operands)
        if self.operator == "NotEquals":
            return not any(_order(value, self.operands[0]) == 0 for value in values)
        satisfied = _RANGE[self.operator]
        return any(satisfied(_order(value, self.operands[0])) for value in values)


def sort_key(kind: Kind, found: Sequence[Any]) -> SortKey | None:
    """Where a record goes when sorted by the property (by its first value): numbers and times
    by value, text numerically when it is a number and after numbers otherwise."""
    if not found:
        return None
    value = _scalar(kind, found[0])
    if isinstance(value, float):
        return (0, value, "")
    as_number = number(value)
    return (0, as_number, "") if as_number is not None else (1, 0.0, value)
