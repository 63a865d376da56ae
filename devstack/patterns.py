"""EventBridge event patterns: literals, nested fields, prefix, suffix, anything-but, exists."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

_NUMERIC: dict[str, Callable[[float, float], bool]] = {
    "=": operator.eq,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_MISSING = object()


class PatternError(ValueError):
    """A pattern EventBridge would refuse (PutRule: InvalidEventPatternException)."""


def validate(pattern: Any, path: str = "$") -> None:
    """Raises PatternError unless every leaf of the pattern is an array of matchers."""
    if not isinstance(pattern, Mapping) or not pattern:
        raise PatternError(f"{path}: a pattern must be a non-empty object")
    for key, value in pattern.items():
        where = f"{path}.{key}"
        if isinstance(value, Mapping):
            validate(value, where)
        elif isinstance(value, list) and value:
            for matcher in value:
                _validate_matcher(matcher, where)
        else:
            raise PatternError(f"{where}: must be an object or a non-empty array")


def _validate_matcher(matcher: Any, where: str) -> None:
    if matcher is None or isinstance(matcher, str | int | float | bool):
        return
    if not isinstance(matcher, Mapping) or len(matcher) != 1:
        raise PatternError(f"{where}: {matcher!r} is not a matcher")
    ((kind, argument),) = matcher.items()
    if kind in ("prefix", "suffix"):
        if not (isinstance(argument, str) or _is_ignore_case(argument)):
            raise PatternError(f"{where}: {kind} takes a string")
    elif kind in ("equals-ignore-case", "wildcard"):
        if not isinstance(argument, str):
            raise PatternError(f"{where}: {kind} takes a string")
    elif kind == "exists":
        if not isinstance(argument, bool):
            raise PatternError(f"{where}: exists takes true or false")
    elif kind == "anything-but":
        _validate_anything_but(argument, where)
    elif kind == "numeric":
        _validate_numeric(argument, where)
    else:
        raise PatternError(f"{where}: unknown matcher {kind!r}")


def _is_ignore_case(argument: Any) -> bool:
    return (
        isinstance(argument, Mapping)
        and list(argument) == ["equals-ignore-case"]
        and isinstance(argument["equals-ignore-case"], str)
    )


def _validate_anything_but(argument: Any, where: str) -> None:
    if isinstance(argument, Mapping):
        if len(argument) != 1 or next(iter(argument)) not in ("prefix", "suffix"):
            raise PatternError(f"{where}: anything-but takes values, a prefix or a suffix")
        _validate_matcher(dict(argument), where)
        return
    values = argument if isinstance(argument, list) else [argument]
    if not values or not all(isinstance(v, str | int | float) for v in values):
        raise PatternError(f"{where}: anything-but takes strings or numbers")


def _validate_numeric(argument: Any, where: str) -> None:
    if not isinstance(argument, list) or not argument or len(argument) % 2:
        raise PatternError(f"{where}: numeric takes [op, number, ...]")
    for op, bound in zip(argument[::2], argument[1::2], strict=True):
        if op not in _NUMERIC or not _is_number(bound):
            raise PatternError(f"{where}: numeric {op!r} {bound!r} is not a comparison")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def matches(pattern: Mapping[str, Any], event: Any) -> bool:
    """True when the event matches: every field of the pattern matches (AND), a field matches when
    any of its matchers matches any of its values (OR; an array in the event is a set of values)."""
    if not isinstance(event, Mapping):
        return False
    for key, expected in pattern.items():
        value = event.get(key, _MISSING)
        if isinstance(expected, Mapping):
            if not matches(expected, value):
                return False
        elif not any(_field_matches(matcher, value) for matcher in expected):
            return False
    return True


def _field_matches(matcher: Any, value: Any) -> bool:
    if isinstance(matcher, Mapping) and "exists" in matcher:
        present = value is not _MISSING and not isinstance(value, Mapping)
        if isinstance(value, list):
            present = bool(value)
        return present is matcher["exists"]
    if value is _MISSING or isinstance(value, Mapping):
        return False
    values: Sequence[Any] = value if isinstance(value, list) else [value]
    return any(_leaf_matches(matcher, item) for item in values)


def _equal(expected: Any, actual: Any) -> bool:
    """JSON equality: booleans are not numbers, 5 equals 5.0, null only equals null."""
    if expected is None or actual is None:
        return expected is actual
    if isinstance(expected, bool) or isinstance(actual, bool):
        return isinstance(expected, bool) and isinstance(actual, bool) and expected is actual
    if _is_number(expected) and _is_number(actual):
        return float(expected) == float(actual)
    return type(expected) is type(actual) and bool(expected == actual)


def _string_test(kind: str, argument: Any, actual: Any) -> bool:
    if not isinstance(actual, str):
        return False
    if isinstance(argument, Mapping):
        needle, text = argument["equals-ignore-case"].casefold(), actual.casefold()
    else:
        needle, text = argument, actual
    return text.startswith(needle) if kind == "prefix" else text.endswith(needle)


def _leaf_matches(matcher: Any, actual: Any) -> bool:
    if not isinstance(matcher, Mapping):
        return _equal(matcher, actual)
    ((kind, argument),) = matcher.items()
    if kind in ("prefix", "suffix"):
        return _string_test(kind, argument, actual)
    if kind == "equals-ignore-case":
        return isinstance(actual, str) and actual.casefold() == argument.casefold()
    if kind == "wildcard":
        return isinstance(actual, str) and _wildcard(argument).fullmatch(actual) is not None
    if kind == "numeric":
        return _is_number(actual) and all(
            _NUMERIC[op](float(actual), float(bound))
            for op, bound in zip(argument[::2], argument[1::2], strict=True)
        )
    # anything-but
    if isinstance(argument, Mapping):
        ((inner, needle),) = argument.items()
        return isinstance(actual, str) and not _string_test(inner, needle, actual)
    excluded = argument if isinstance(argument, list) else [argument]
    return not any(_equal(item, actual) for item in excluded)


def _wildcard(pattern: str) -> re.Pattern[str]:
    """EventBridge wildcards: `*` matches any run of characters; nothing else is special."""
    return re.compile(".*".join(re.escape(part) for part in pattern.split("*")), re.DOTALL)
