"""The leaderboard query language: filters, sorts and cursors parse strictly and round-trip."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.errors import InvalidParameter
from chalicelib.processing.leaderboard_query import (
    OPS,
    STATUSES,
    Cursor,
    Filter,
    SortKey,
    decode_cursor,
    encode_cursor,
    format_filter,
    format_sort,
    matches,
    parse_filter,
    parse_filters,
    parse_sort,
)
from chalicelib.records import Run

T = TypeVar("T")

names = st.text(st.characters(exclude_characters="=!<>", codec="utf-8"), min_size=1, max_size=12)
numbers = st.floats(allow_nan=False, allow_infinity=False).map(repr) | st.integers().map(str)
texts = st.text(st.characters(codec="utf-8"), max_size=12)
filters = st.one_of(
    st.builds(Filter, st.just("Metrics"), names, st.sampled_from(list(OPS)), numbers),
    st.builds(Filter, st.just("HyperParameters"), names, st.sampled_from(["=", "!="]), texts),
    st.builds(Filter, st.just("HyperParameters"), names, st.sampled_from(list(OPS)), numbers),
    st.builds(Filter, st.just("Tags"), names, st.sampled_from(["=", "!="]), texts),
    st.builds(
        Filter,
        st.just("Status"),
        st.just(""),
        st.sampled_from(["=", "!="]),
        st.sampled_from(STATUSES),
    ),
)
cursors = st.builds(
    Cursor,
    st.text(max_size=16),
    st.sampled_from(["ranked", "unranked"]),
    st.just(0),
    st.none() | st.dictionaries(st.text(max_size=8), st.text(max_size=20), max_size=4),
) | st.builds(Cursor, st.text(max_size=16), st.just("sorted"), st.integers(0, 10**9))


def outcome(parse: Callable[[str], T], text: str) -> T | InvalidParameter:
    try:
        return parse(text)
    except InvalidParameter as error:
        return error


@given(st.text())
def test_any_text_is_a_filter_or_an_invalid_parameter_naming_it(text: str) -> None:
    parsed = outcome(parse_filter, text)
    if isinstance(parsed, InvalidParameter):
        assert "filter" in parsed.message
    else:
        assert parse_filter(format_filter(parsed)) == parsed


@given(filters)
def test_filters_round_trip(condition: Filter) -> None:
    assert parse_filter(format_filter(condition)) == condition


@given(cursors)
def test_cursors_round_trip(cursor: Cursor) -> None:
    text = encode_cursor(cursor)
    assert text.replace("-", "").replace("_", "").isalnum()
    assert decode_cursor(text) == cursor


@given(st.text(max_size=3000))
def test_any_text_is_a_cursor_or_an_invalid_parameter(text: str) -> None:
    cursor = outcome(decode_cursor, text)
    if isinstance(cursor, InvalidParameter):
        assert "cursor" in cursor.message
    else:
        assert encode_cursor(cursor) == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "HyperParameters.mini_batch_size>=200",
            Filter("HyperParameters", "mini_batch_size", ">=", "200"),
        ),
        (
            "Metrics.train:objective_loss:final<0.1",
            Filter("Metrics", "train:objective_loss:final", "<", "0.1"),
        ),
        ("Tags.Team=vision", Filter("Tags", "Team", "=", "vision")),
        ("Tags.Team=", Filter("Tags", "Team", "=", "")),
        ("Tags.a==b", Filter("Tags", "a", "=", "=b")),
        ("Metrics.a.b!=-1e-3", Filter("Metrics", "a.b", "!=", "-1e-3")),
        ("Status!=Failed", Filter("Status", "", "!=", "Failed")),
    ],
)
def test_documented_filters(text: str, expected: Filter) -> None:
    assert parse_filter(text) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("Metrics.loss", "no operator"),
        ("Metrics.loss!5", "is not an operator"),
        ("Accuracy.loss<1", "the field must be"),
        ("Metrics.<1", "needs a name"),
        ("Metrics.loss<low", "not a finite number"),
        ("Metrics.loss<nan", "not a finite number"),
        ("Metrics.loss<1e999", "not a finite number"),
        ("HyperParameters.optimizer>adam", "needs a number"),
        ("Tags.Team>1", "only with = or !="),
        ("Status=Done", "the status must be"),
        ("Status.x=Failed", "takes no name"),
        ("Status<Failed", "only with = or !="),
    ],
)
def test_bad_filters_say_which_and_why(text: str, reason: str) -> None:
    with pytest.raises(InvalidParameter, match=reason) as raised:
        parse_filter(text)
    assert repr(text) in raised.value.message


def test_too_many_filters() -> None:
    with pytest.raises(InvalidParameter, match="at most 20"):
        parse_filters(["Status=Completed"] * 21)


def test_sort_names_a_metric() -> None:
    assert parse_sort("Metrics.validation:accuracy") == SortKey("validation:accuracy")
    for bad in ("validation:accuracy", "Metrics.", "Tags.Team", "Metrics..max"):
        with pytest.raises(InvalidParameter, match=r"Metrics\.<name>"):
            parse_sort(bad)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("Metrics.test:accuracy.max", SortKey("test:accuracy", "max")),
        ("Metrics.test:accuracy.min", SortKey("test:accuracy", "min")),
        ("Metrics.test:accuracy.avg", SortKey("test:accuracy", "avg")),
        ("Metrics.test:accuracy.last", SortKey("test:accuracy")),
        # Only the four statistics are suffixes: other dotted names are the metric's own.
        ("Metrics.train.loss", SortKey("train.loss")),
        ("Metrics.eval.max.value", SortKey("eval.max.value")),
        ("Metrics.test:accuracy.MAX", SortKey("test:accuracy.MAX")),
        ("Metrics.max", SortKey("max")),
        ("Metrics.x.max.last", SortKey("x.max")),
    ],
)
def test_sort_takes_a_statistic_suffix(text: str, key: SortKey) -> None:
    assert parse_sort(text) == key
    assert parse_sort(format_sort(key)) == key


def test_a_sort_is_written_back_without_last_unless_the_name_needs_it() -> None:
    assert format_sort(SortKey("test:accuracy")) == "Metrics.test:accuracy"
    assert format_sort(SortKey("test:accuracy", "max")) == "Metrics.test:accuracy.max"
    assert format_sort(SortKey("x.max")) == "Metrics.x.max.last"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "%%%",
        "e30",  # {} with padding stripped: a JSON object without the fields
        encode_cursor(Cursor("q", "sorted", 3)) + "A",
        encode_cursor(Cursor("q", "sorted", 3)) + "=",
    ],
)
def test_garbage_cursors_are_refused(text: str) -> None:
    with pytest.raises(InvalidParameter, match="cursor"):
        decode_cursor(text)


def run(**values: object) -> Run:
    fields: dict[str, object] = {
        "name": "r",
        "arn": "arn:r",
        "status": "Completed",
        "last_modified_at": datetime(2026, 11, 23, tzinfo=UTC),
        "metrics": {"loss": 0.5, "gap": float("nan")},
        "hyperparameters": {"mini_batch_size": "200", "optimizer": "adam", "lr": "1e-3"},
        "tags": {"Team": "vision"},
    }
    return Run(**{**fields, **values})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Metrics.loss<0.6", True),
        ("Metrics.loss>=0.6", False),
        ("Metrics.missing!=1", False),
        ("Metrics.gap!=1", True),
        ("Metrics.gap<1", False),
        ("HyperParameters.mini_batch_size>=200", True),
        ("HyperParameters.mini_batch_size=200.0", True),
        ("HyperParameters.lr=0.001", True),
        ("HyperParameters.optimizer=adam", True),
        ("HyperParameters.optimizer!=sgd", True),
        ("HyperParameters.optimizer<1", False),
        ("HyperParameters.missing!=x", False),
        ("Tags.Team=vision", True),
        ("Tags.Team!=vision", False),
        ("Tags.Owner!=me", False),
        ("Status=Completed", True),
        ("Status!=Completed", False),
    ],
)
def test_matches(text: str, expected: bool) -> None:
    assert matches(run(), parse_filter(text)) is expected
