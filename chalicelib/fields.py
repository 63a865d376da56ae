"""A JSON object read field by field, each error naming the field's full path."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from chalicelib.errors import InvalidDefinition

FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


class Fields:
    """Reads one JSON object, naming the full path of any offending field."""

    def __init__(self, value: Any, path: str, allowed: tuple[str, ...]) -> None:
        if not isinstance(value, Mapping):
            raise InvalidDefinition(path or "$", "must be an object")
        unknown = sorted(set(value) - set(allowed))
        if unknown:
            raise InvalidDefinition(self._join(path, str(unknown[0])), "unknown field")
        self._value = value
        self._path = path

    @staticmethod
    def _join(path: str, key: str) -> str:
        if not FIELD_NAME.fullmatch(key):
            return f"{path}[{json.dumps(key)}]"
        return f"{path}.{key}" if path else key

    def path(self, key: str) -> str:
        return self._join(self._path, key)

    def has(self, key: str) -> bool:
        return key in self._value and self._value[key] is not None

    def raw(self, key: str) -> Any:
        return self._value.get(key)

    def obj(self, key: str, allowed: tuple[str, ...], required: bool = False) -> Fields:
        if not self.has(key):
            if required:
                raise InvalidDefinition(self.path(key), "is required")
            return Fields({}, self.path(key), allowed)
        return Fields(self._value[key], self.path(key), allowed)

    def string(
        self, key: str, pattern: re.Pattern[str] | None = None, default: str | None = None
    ) -> str:
        if not self.has(key):
            if default is None:
                raise InvalidDefinition(self.path(key), "is required")
            return default
        value = self._value[key]
        if not isinstance(value, str) or not value:
            raise InvalidDefinition(self.path(key), "must be a non-empty string")
        if pattern is not None and not pattern.fullmatch(value):
            raise InvalidDefinition(self.path(key), f"must match {pattern.pattern}")
        return value

    def optional_string(self, key: str, pattern: re.Pattern[str] | None = None) -> str | None:
        return self.string(key, pattern) if self.has(key) else None

    def choice(self, key: str, choices: tuple[str, ...], default: str) -> str:
        value = self.string(key, default=default)
        if value not in choices:
            raise InvalidDefinition(self.path(key), f"must be one of {', '.join(choices)}")
        return value

    def number(
        self,
        key: str,
        default: float | None = None,
        minimum: float | None = None,
        maximum: float | None = None,
        exclusive_minimum: float | None = None,
    ) -> float:
        if not self.has(key):
            if default is None:
                raise InvalidDefinition(self.path(key), "is required")
            return default
        value = self._value[key]
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
        ):
            raise InvalidDefinition(self.path(key), "must be a finite number")
        if minimum is not None and value < minimum:
            raise InvalidDefinition(self.path(key), f"must be >= {minimum}")
        if maximum is not None and value > maximum:
            raise InvalidDefinition(self.path(key), f"must be <= {maximum}")
        if exclusive_minimum is not None and value <= exclusive_minimum:
            raise InvalidDefinition(self.path(key), f"must be > {exclusive_minimum}")
        return float(value)

    def integer(self, key: str, default: int | None, minimum: int, maximum: int) -> int:
        if not self.has(key):
            if default is None:
                raise InvalidDefinition(self.path(key), "is required")
            return default
        value = integral(self._value[key])
        if value is None:
            raise InvalidDefinition(self.path(key), "must be an integer")
        if not minimum <= value <= maximum:
            raise InvalidDefinition(self.path(key), f"must be between {minimum} and {maximum}")
        return value

    def optional_integer(self, key: str, minimum: int, maximum: int) -> int | None:
        return self.integer(key, None, minimum, maximum) if self.has(key) else None

    def boolean(self, key: str, default: bool) -> bool:
        if not self.has(key):
            return default
        value = self._value[key]
        if not isinstance(value, bool):
            raise InvalidDefinition(self.path(key), "must be true or false")
        return value

    def items(self, key: str, max_items: int) -> list[tuple[str, Any]]:
        if not self.has(key):
            return []
        values = self._value[key]
        if not isinstance(values, list):
            raise InvalidDefinition(self.path(key), "must be an array")
        if len(values) > max_items:
            raise InvalidDefinition(self.path(key), f"must have at most {max_items} items")
        return [(f"{self.path(key)}[{index}]", value) for index, value in enumerate(values)]


def integral(value: Any) -> int | None:
    """An integer as JSON Schema counts them: 3 and 3.0 alike (JSON has one number type)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None if isinstance(value, bool) or not isinstance(value, int) else value
