"""Readable axis ticks for the report's charts: 1-2-5 steps, decades on a log scale."""

from __future__ import annotations

import math
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
    first = math.floor(math.log10(lo))
    last = math.ceil(math.log10(hi))
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
