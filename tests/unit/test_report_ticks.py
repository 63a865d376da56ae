"""Axis ticks: 1-2-5 steps covering the range, labels without float noise, log scale choice."""

from __future__ import annotations

import itertools
import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import assume, given
from hypothesis import strategies as st

from chalicelib.processing.report_ticks import (
    log_ticks,
    nice_ticks,
    tick_label,
    time_labels,
    time_ticks,
    uses_log_scale,
)
from tests.fakes import EPOCH

finite = st.floats(-1e9, 1e9, allow_nan=False, allow_infinity=False)


def test_known_ranges_get_round_ticks() -> None:
    assert nice_ticks(0, 175, 5) == (0, 50, 100, 150, 200)
    assert nice_ticks(0.1035, 0.19425, 5) == (0.1, 0.12, 0.14, 0.16, 0.18, 0.2)
    assert [tick_label(t) for t in nice_ticks(0.1, 0.3, 5)] == ["0.1", "0.15", "0.2", "0.25", "0.3"]
    assert nice_ticks(400, 400, 5) == (396, 398, 400, 402, 404)


@given(finite, finite, st.integers(2, 10))
def test_ticks_cover_the_range_in_1_2_5_steps(lo: float, hi: float, n: int) -> None:
    low, high = min(lo, hi), max(lo, hi)
    assume(high - low > 1e-6 * max(1.0, abs(low), abs(high)))
    ticks = nice_ticks(lo, hi, n)
    assert ticks[0] <= low
    assert ticks[-1] >= high
    # Not too many: at most about twice what was asked for, plus the two ends.
    assert len(ticks) <= 2 * n + 2
    labels = [Decimal(tick_label(t)) for t in ticks]
    steps = {b - a for a, b in itertools.pairwise(labels)}
    assert len(steps) == 1
    [step] = steps
    mantissa = step.scaleb(-step.adjusted()).normalize()
    assert mantissa in {Decimal(1), Decimal(2), Decimal(5)}


@given(finite, finite, st.integers(2, 10))
def test_labels_read_back_as_the_ticks_without_noise(lo: float, hi: float, n: int) -> None:
    low, high = min(lo, hi), max(lo, hi)
    assume(high - low > 1e-6 * max(1.0, abs(low), abs(high)))
    for tick in nice_ticks(lo, hi, n):
        label = tick_label(tick)
        assert float(label) == tick
        digits = Decimal(label).normalize().as_tuple().digits
        # A short decimal: no 0.30000000000000004 or 37.5000001.
        assert len(digits) <= 12


def test_labels_use_exponents_only_for_very_small_or_large_values() -> None:
    assert [tick_label(v) for v in (0, 150, 0.25, 1e-05, 2e8, -0.001)] == [
        "0",
        "150",
        "0.25",
        "1e-05",
        "2e+08",
        "-0.001",
    ]


def test_log_scale_only_for_positive_values_spanning_two_decades() -> None:
    assert uses_log_scale([1e-4, 0.1])
    assert not uses_log_scale([0.01, 1.0])  # exactly two decades
    assert not uses_log_scale([0.0, 1.0, 1000.0])
    assert not uses_log_scale([-1.0, 1000.0])
    assert not uses_log_scale([])


@given(st.floats(1e-12, 1e12), st.floats(1e-12, 1e12))
def test_log_ticks_are_powers_of_ten_around_the_values(a: float, b: float) -> None:
    lo, hi = min(a, b), max(a, b)
    ticks = log_ticks(lo, hi)
    assert ticks[0] <= lo
    assert ticks[-1] >= hi * (1 - 1e-12)
    assert len(ticks) <= 8
    for tick in ticks:
        assert math.isclose(math.log10(tick), round(math.log10(tick)), abs_tol=1e-9)
        assert "1" in tick_label(tick)


def _at(seconds: float) -> datetime:
    return EPOCH + timedelta(seconds=seconds)


def test_time_ticks_fall_on_readable_times() -> None:
    # Promotions 12 seconds apart: every 2 seconds, the date under the first tick only.
    ticks = time_ticks(_at(3), _at(15), 8)
    assert [f"{t:%S}" for t in ticks] == ["04", "06", "08", "10", "12", "14"]
    labels = time_labels(ticks)
    assert labels[0] == ("00:00:04", "2026-11-23")
    assert [date for _, date in labels[1:]] == [""] * 5
    # Across midnight: hours, the new date under its first tick.
    evening = time_labels(time_ticks(_at(20 * 3600 + 70), _at(30 * 3600), 6))
    assert evening[0] == ("22:00", "2026-11-23")
    assert evening[1] == ("00:00", "2026-11-24")
    assert [clock for clock, _ in evening[2:]] == ["02:00", "04:00", "06:00"]
    # Whole days read as dates alone.
    days = time_labels(time_ticks(_at(-3600), _at(10 * 86400), 6))
    assert [date for date, _ in days] == [
        *(f"2026-11-{d}" for d in (23, 25, 27, 29)),
        "2026-12-01",
        "2026-12-03",
    ]
    assert {under for _, under in days} == {""}
    assert time_ticks(_at(0.5), _at(0.7)) == ()
    # Never more than asked for: 2-second steps would give 7 ticks here.
    assert time_ticks(_at(0), _at(12), 6) == (_at(0), _at(5), _at(10))


@given(
    st.datetimes(datetime(2000, 1, 1), datetime(2100, 1, 1), timezones=st.just(UTC)),
    st.timedeltas(timedelta(seconds=1), timedelta(days=20000)),
    st.integers(2, 12),
)
def test_time_ticks_are_few_evenly_spaced_and_within_the_range(
    start: datetime, span: timedelta, n: int
) -> None:
    ticks = time_ticks(start, start + span, n)
    assert len(ticks) <= n
    assert all(start <= t <= start + span for t in ticks)
    assert len({b - a for a, b in itertools.pairwise(ticks)}) <= 1
    # Not wastefully few: the next smaller step (at most 3.5 times smaller) gave n or more.
    if span >= timedelta(seconds=n):
        assert len(ticks) >= int(n / 3.5)
    assert len(time_labels(ticks)) == len(ticks)
