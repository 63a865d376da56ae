"""Readable axis ticks for the report's charts: 1-2-5 steps, decades on a log scale."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

# Positive values spanning more than this ratio (two decades) are drawn on a log scale.
LOG_RATIO = 100.0
_MANTISSAS = (1, 2, 5)


def nice_step(span: float, intervals: int) -> Decimal:
    """The 1, 2 or 5 x 10^k step whose ticks over `span` number closest to `intervals` + 1
    (ties: the larger step), exactly as a decimal."""
    raw = span / max(intervals, 1)
    exponent = math.floor(math.log10(raw))
    candidates = [
        Decimal(mantissa).scaleb(power)
        for power in (exponent - 1, exponent, exponent + 1)
        for mantissa in _MANTISSAS
    ]
    return min(
        candidates, key=lambda step: (abs(float(Decimal(repr(span)) / step) - intervals), -step)
    ).normalize()


def nice_ticks(lo: float, hi: float, n: int = 5) -> tuple[float, ...]:
    """About `n` ticks in steps of 1, 2 or 5 x 10^k, the first at or below `lo` and the last at
    or above `hi`; each tick is the float nearest a short decimal (tick_label prints it)."""
    lo, hi = min(lo, hi), max(lo, hi)
    if lo == hi:
        pad = abs(lo) * 0.01 or 1.0
        lo, hi = lo - pad, hi + pad
    step = nice_step(hi - lo, n - 1)
    first = math.floor(Decimal(repr(lo)) / step)
    last = math.ceil(Decimal(repr(hi)) / step)
    return tuple(float(step * index) for index in range(first, last + 1))


def log_ticks(lo: float, hi: float, n: int = 6) -> tuple[float, ...]:
    """Powers of ten around [lo, hi] (both positive), every k-th decade so that at most about
    `n` remain."""
    # log10 rounds: log10(999999999999.998) is 12.0, so the decades are checked exactly.
    first = math.floor(math.log10(lo))
    first -= Decimal(1).scaleb(first) > Decimal(repr(lo))
    last = math.ceil(math.log10(hi))
    last += Decimal(1).scaleb(last) < Decimal(repr(hi))
    every = max(1, math.ceil((last - first) / max(n - 1, 1)))
    last = first + math.ceil((last - first) / every) * every
    return tuple(float(Decimal(1).scaleb(k)) for k in range(first, last + 1, every))


def uses_log_scale(values: tuple[float, ...] | list[float]) -> bool:
    """Whether the values are all positive and span more than two decades."""
    return bool(values) and min(values) > 0 and max(values) / min(values) > LOG_RATIO


def tick_label(value: float) -> str:
    """The shortest decimal that reads back as `value`, without an exponent between 1e-4 and
    1e7 and with one outside: `150`, `0.25`, `1e-05`, `2e+08`."""
    if value == 0:
        return "0"
    exact = Decimal(repr(value)).normalize()
    if 1e-4 <= abs(value) < 1e7:
        return format(exact, "f")
    precision = len(exact.as_tuple().digits) - 1
    return f"{value:.{precision}e}"


# Time steps a reader counts in: seconds, minutes and hours that divide the next unit, then days.
_TIME_STEPS = tuple(
    timedelta(seconds=s)
    for s in (
        *(1, 2, 5, 10, 15, 30),
        *(60 * m for m in (1, 2, 5, 10, 15, 30)),
        *(3600 * h for h in (1, 2, 3, 6, 12)),
        *(86400 * d for d in (1, 2, 7, 14, 30, 61, 91, 182, 365)),
    )
)


def time_ticks(start: datetime, end: datetime, n: int = 6) -> tuple[datetime, ...]:
    """At most `n` ticks within [start, end] (aware datetimes) at multiples of the smallest
    readable step that needs no more, counted from the Unix epoch (days start at 00:00 UTC)."""
    start, end = min(start, end), max(start, end)
    span = end - start
    years = (_TIME_STEPS[-1] * m * 10**k for k in itertools.count() for m in _MANTISSAS)
    step = next(s for s in itertools.chain(_TIME_STEPS, years) if span / s < n)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    first = epoch - ((epoch - start) // step) * step
    count = (end - first) // step + 1 if first <= end else 0
    return tuple(first + index * step for index in range(count))


def time_labels(ticks: Sequence[datetime]) -> tuple[tuple[str, str], ...]:
    """Each tick's (time, date) label lines in UTC: the time to the minute or second as the
    ticks need, the date under the first tick and wherever the day changes; ticks on midnights
    whole days apart read as dates alone."""
    utc = [tick.astimezone(UTC) for tick in ticks]
    if all(t.time() == time() for t in utc) and len({t.date() for t in utc}) == len(utc):
        return tuple((f"{t:%Y-%m-%d}", "") for t in utc)
    shown = "%H:%M" if all(t.second == 0 for t in utc) else "%H:%M:%S"
    dates = [f"{t:%Y-%m-%d}" for t in utc]
    return tuple(
        (f"{t:{shown}}", date if index == 0 or date != dates[index - 1] else "")
        for index, (t, date) in enumerate(zip(utc, dates, strict=True))
    )
