"""Leaderboard query language: filters, sort keys and opaque cursors, as pure functions."""

from __future__ import annotations

import base64
import binascii
import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, get_args

import orjson

from chalicelib.errors import InvalidParameter
from chalicelib.models import Statistic
from chalicelib.objectives import STATISTICS
from chalicelib.records import Run, RunStatus

Op = Literal["=", "!=", "<", "<=", ">", ">="]
Field = Literal["Metrics", "HyperParameters", "Tags", "Status"]
Phase = Literal["ranked", "unranked", "sorted"]

MAX_FILTERS = 20
MAX_FILTER_CHARS = 512
MAX_CURSOR_CHARS = 2048
MAX_OFFSET = 10**9
SORT_PREFIX = "Metrics."
OPS: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
EQUALITY_OPS = ("=", "!=")
FIELDS: tuple[Field, ...] = get_args(Field)
STATUSES: tuple[RunStatus, ...] = get_args(RunStatus)
_OP_CHARS = "=!<>"
_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_CURSOR = re.compile(r"[A-Za-z0-9_-]+")
_CURSOR_KEYS = {"q", "p", "s", "k"}


@dataclass(frozen=True)
class Filter:
    """One condition on a run; `name` is empty for `Status`."""

    field: Field
    name: str
    op: Op
    value: str


@dataclass(frozen=True)
class SortKey:
    """What a leaderboard is sorted by: a metric's final value (`last`) or a statistic (`max`,
    `min`, `avg`) over the values the run logged."""

    metric: str
    statistic: Statistic = "last"


@dataclass(frozen=True)
class Cursor:
    """A position in one query's result: after the store's `key` in the `ranked` (by the
    objective) or `unranked` phase, or after `offset` results in the `sorted` phase;
    `fingerprint` names the query."""

    fingerprint: str
    phase: Phase
    offset: int = 0
    key: dict[str, str] | None = None


def number(text: str) -> float | None:
    """The finite number a text spells in decimal or scientific notation, else None."""
    if _NUMBER.fullmatch(text) is None:
        return None
    value = float(text)
    return value if math.isfinite(value) else None


def parse_filter(text: str) -> Filter:
    """`Metrics.<name><op><number>`, `HyperParameters.<name><op><value>`,
    `Tags.<key><op><value>` or `Status<op><status>`; InvalidParameter names the bad filter."""
    if len(text) > MAX_FILTER_CHARS:
        raise InvalidParameter(f"filter {text[:40]!r}...: longer than {MAX_FILTER_CHARS} chars")
    at = next((i for i, char in enumerate(text) if char in _OP_CHARS), -1)
    if at < 0:
        raise InvalidParameter(f"filter {text!r}: no operator (one of {', '.join(OPS)})")
    op = text[at : at + 2] if text[at : at + 2] in OPS else text[at]
    if op not in OPS:
        raise InvalidParameter(f"filter {text!r}: {op!r} is not an operator")
    subject, value = text[:at], text[at + len(op) :]
    field, dot, name = subject.partition(".")
    if field not in FIELDS:
        raise InvalidParameter(f"filter {text!r}: the field must be one of {', '.join(FIELDS)}")
    if field == "Status" and dot:
        raise InvalidParameter(f"filter {text!r}: Status takes no name")
    if field != "Status" and not name:
        raise InvalidParameter(f"filter {text!r}: {field}.<name> needs a name")
    if field in ("Status", "Tags") and op not in EQUALITY_OPS:
        raise InvalidParameter(f"filter {text!r}: {field} compares only with = or !=")
    if field == "Status" and value not in STATUSES:
        raise InvalidParameter(f"filter {text!r}: the status must be one of {', '.join(STATUSES)}")
    if field == "Metrics" and number(value) is None:
        raise InvalidParameter(f"filter {text!r}: {value!r} is not a finite number")
    if op not in EQUALITY_OPS and number(value) is None:
        raise InvalidParameter(f"filter {text!r}: {op} needs a number, not {value!r}")
    return Filter(field, name, op, value)  # type: ignore[arg-type]


def format_filter(condition: Filter) -> str:
    """The text `parse_filter` reads back as the same filter."""
    subject = (
        condition.field if condition.field == "Status" else f"{condition.field}.{condition.name}"
    )
    return f"{subject}{condition.op}{condition.value}"


def parse_filters(texts: list[str]) -> tuple[Filter, ...]:
    if len(texts) > MAX_FILTERS:
        raise InvalidParameter(f"at most {MAX_FILTERS} filters")
    return tuple(parse_filter(text) for text in texts)


def parse_sort(text: str) -> SortKey:
    """`Metrics.<name>` (the final value) or `Metrics.<name>.<statistic>`, the statistic one of
    `last`, `max`, `min`, `avg`. Metric names may hold dots and colons, so only those four
    suffixes are read as a statistic: `Metrics.a.b` sorts by the final value of `a.b`, and a
    metric whose name ends in one (`x.max`) is sorted by its final value with `Metrics.x.max.last`.
    """
    name = text.removeprefix(SORT_PREFIX)
    if not text.startswith(SORT_PREFIX) or not name or len(text) > MAX_FILTER_CHARS:
        raise InvalidParameter(f"sort {text[:40]!r}: must be Metrics.<name>[.<statistic>]")
    metric, dot, suffix = name.rpartition(".")
    if not dot or suffix not in STATISTICS:
        return SortKey(name)
    if not metric:
        raise InvalidParameter(f"sort {text[:40]!r}: must be Metrics.<name>[.<statistic>]")
    return SortKey(metric, suffix)


def format_sort(key: SortKey) -> str:
    """The text `parse_sort` reads back as the same key (no suffix for a final value, unless
    the metric's name ends in a statistic's)."""
    _, dot, suffix = key.metric.rpartition(".")
    ambiguous = bool(dot) and suffix in STATISTICS
    statistic = f".{key.statistic}" if key.statistic != "last" or ambiguous else ""
    return f"{SORT_PREFIX}{key.metric}{statistic}"


def matches(run: Run, condition: Filter) -> bool:
    """Whether a run meets a condition; a run lacking the named value never does."""
    compare = OPS[condition.op]
    if condition.field == "Status":
        return compare(run.status, condition.value)
    if condition.field == "Metrics":
        metric = run.metrics.get(condition.name)
        return metric is not None and compare(metric, float(condition.value))
    if condition.field == "Tags":
        tag = run.tags.get(condition.name)
        return tag is not None and compare(tag, condition.value)
    actual = run.hyperparameters.get(condition.name)
    if actual is None:
        return False
    left, right = number(actual), number(condition.value)
    if left is not None and right is not None:
        return compare(left, right)
    return condition.op in EQUALITY_OPS and compare(actual, condition.value)


def encode_cursor(cursor: Cursor) -> str:
    state = {"q": cursor.fingerprint, "p": cursor.phase, "s": cursor.offset, "k": cursor.key}
    return base64.urlsafe_b64encode(orjson.dumps(state)).rstrip(b"=").decode()


def decode_cursor(text: str) -> Cursor:
    """The cursor `encode_cursor` wrote; InvalidParameter for anything else."""
    invalid = InvalidParameter("cursor is not valid: pass back a next_cursor unchanged")
    if len(text) > MAX_CURSOR_CHARS or _CURSOR.fullmatch(text) is None:
        raise invalid
    try:
        state = orjson.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    except (binascii.Error, orjson.JSONDecodeError):
        raise invalid from None
    if not isinstance(state, dict) or state.keys() != _CURSOR_KEYS:
        raise invalid
    fingerprint, phase, offset, key = state["q"], state["p"], state["s"], state["k"]
    if (
        not isinstance(fingerprint, str)
        or phase not in get_args(Phase)
        or type(offset) is not int
        or not 0 <= offset <= MAX_OFFSET
        or not (key is None or _string_map(key))
        or (phase == "sorted" and key is not None)
        or (phase != "sorted" and offset != 0)
    ):
        raise invalid
    cursor = Cursor(fingerprint, phase, offset, key)
    if encode_cursor(cursor) != text:
        raise invalid
    return cursor


def _string_map(value: Any) -> bool:
    return isinstance(value, dict) and all(isinstance(v, str) for v in value.values())
