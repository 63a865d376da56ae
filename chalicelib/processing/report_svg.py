"""The report's charts as inline SVG: the objective against each numeric hyperparameter (small
multiples, log scale where values span decades) and the champion over time."""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from chalicelib.processing.report_ticks import (
    log_ticks,
    nice_ticks,
    tick_label,
    time_labels,
    time_ticks,
    uses_log_scale,
)

_W, _H = 340, 230
# The timeline spans its card: wider, and taller at the bottom for two-line time labels.
_TIMELINE_W, _TIMELINE_H, _TIMELINE_BOTTOM, _TIME_TICKS = 960, 250, 58, 8
_LEFT, _RIGHT, _TOP, _BOTTOM = 62, 14, 14, 44
# At most this many small charts per project: the hyperparameters with most distinct values.
MAX_CHARTS = 8


@dataclass(frozen=True)
class Point:
    run: str
    x: float
    y: float
    champion: bool


@dataclass(frozen=True)
class Axis:
    ticks: tuple[float, ...]
    log: bool
    place: Callable[[float], float]


def _esc(value: object) -> str:
    return html.escape(str(value))


def axis(values: Sequence[float], start: float, end: float) -> Axis:
    """Ticks covering the values, and where a value falls between pixels `start` and `end`."""
    log = uses_log_scale(list(values))
    ticks = log_ticks(min(values), max(values)) if log else nice_ticks(min(values), max(values), 5)
    low, high = (math.log10(ticks[0]), math.log10(ticks[-1])) if log else (ticks[0], ticks[-1])

    def place(value: float) -> float:
        share = ((math.log10(value) if log else value) - low) / (high - low)
        return start + share * (end - start)

    return Axis(ticks, log, place)


def _y_grid(y: Axis, right: float) -> list[str]:
    parts = []
    for tick in y.ticks:
        at = y.place(tick)
        parts += [
            f'<line class="grid" x1="{_LEFT}" y1="{at:.1f}" x2="{right}" y2="{at:.1f}"/>',
            f'<text x="{_LEFT - 6}" y="{at + 4:.1f}" text-anchor="end">{tick_label(tick)}</text>',
        ]
    return parts


def _frame(x_name: str, y_name: str, x: Axis, y: Axis) -> list[str]:
    bottom, right = _H - _BOTTOM, _W - _RIGHT
    x_title = f"{x_name} (log scale)" if x.log else x_name
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="plot" viewBox="0 0 {_W} {_H}" '
        f'width="{_W}" height="{_H}" role="img" aria-label="{_esc(y_name)} against '
        f'{_esc(x_name)}">',
        f'<rect class="area" x="{_LEFT}" y="{_TOP}" width="{right - _LEFT}" '
        f'height="{bottom - _TOP}"/>',
    ]
    for tick in x.ticks:
        at = x.place(tick)
        parts += [
            f'<line class="grid" x1="{at:.1f}" y1="{_TOP}" x2="{at:.1f}" y2="{bottom}"/>',
            f'<text x="{at:.1f}" y="{bottom + 17}" text-anchor="middle">{tick_label(tick)}</text>',
        ]
    parts += _y_grid(y, right)
    parts += [
        f'<text class="axis" x="{(_LEFT + right) / 2:.0f}" y="{_H - 8}" text-anchor="middle">'
        f"{_esc(x_title)}</text>",
        f'<text class="axis" x="12" y="{(_TOP + bottom) / 2:.0f}" text-anchor="middle" '
        f'transform="rotate(-90 12 {(_TOP + bottom) / 2:.0f})">{_esc(y_name)}</text>',
    ]
    return parts


def scatter_svg(x_name: str, y_name: str, points: Sequence[Point]) -> str:
    """One small chart: the objective (y) against one hyperparameter (x), the champion a larger
    ringed point named in its tooltip."""
    x = axis([p.x for p in points], _LEFT, _W - _RIGHT)
    y = axis([p.y for p in points], _H - _BOTTOM, _TOP)
    parts = _frame(x_name, y_name, x, y)
    for point in sorted(points, key=lambda p: p.champion):
        kind, radius = ("dot champion", 7) if point.champion else ("dot", 4.5)
        label = " (champion)" if point.champion else ""
        parts.append(
            f'<circle class="{kind}" cx="{x.place(point.x):.1f}" cy="{y.place(point.y):.1f}" '
            f'r="{radius}"><title>{_esc(point.run)}{label}: {_esc(x_name)}='
            f"{point.x:.6g}, {_esc(y_name)}={point.y:.6g}</title></circle>"
        )
    parts.append("</svg>")
    return "".join(parts)


def numeric(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def charted_hyperparameters(
    runs: Sequence[tuple[str, dict[str, str]]], limit: int = MAX_CHARTS
) -> list[str]:
    """The hyperparameters with at least two distinct numeric values among the runs, most
    distinct values first (ties: by name)."""
    distinct: dict[str, set[float]] = {}
    for _, hyperparameters in runs:
        for name, text in hyperparameters.items():
            value = numeric(text)
            if value is not None:
                distinct.setdefault(name, set()).add(value)
    names = [name for name, values in distinct.items() if len(values) > 1]
    return sorted(names, key=lambda name: (-len(distinct[name]), name))[:limit]


@dataclass(frozen=True)
class Step:
    """A promotion in the champion's timeline; `objective` None when the run has none."""

    at: datetime
    run: str
    objective: float | None
    outcome: str

    @property
    def crowned(self) -> bool:
        """Whether the run was the champion from then on: deployed, or recorded (a manual or
        fronted project's winner, which an operator deploys)."""
        return self.outcome in ("succeeded", "recorded") and self.objective is not None


def _time_axis(start: datetime, end: datetime, x_at: Callable[[datetime], float]) -> list[str]:
    """Vertical grid lines and labels at readable times, the date under the first and wherever
    the day changes."""
    bottom = _TIMELINE_H - _TIMELINE_BOTTOM
    ticks = time_ticks(start, end, _TIME_TICKS)
    parts = []
    for tick, (clock, date) in zip(ticks, time_labels(ticks), strict=True):
        at = x_at(tick)
        under = f'<tspan x="{at:.1f}" dy="14">{date}</tspan>' if date else ""
        parts += [
            f'<line class="grid" x1="{at:.1f}" y1="{_TOP}" x2="{at:.1f}" y2="{bottom}"/>',
            f'<text x="{at:.1f}" y="{bottom + 16}" text-anchor="middle">{clock}{under}</text>',
        ]
    return parts


def timeline_svg(y_name: str, steps: Sequence[Step]) -> str:
    """The champion's objective over time as a step line through the promotions that crowned a
    run; the others are marks on the time axis: a cross when they failed, a ring otherwise."""
    width, height = _TIMELINE_W, _TIMELINE_H
    times = [s.at for s in steps]
    right, bottom = width - _RIGHT, height - _TIMELINE_BOTTOM
    # A margin either side keeps the first and last marks off the frame.
    margin = (max(times) - min(times)) * 0.03 or timedelta(seconds=1)
    start, end = min(times) - margin, max(times) + margin

    def x_at(at: datetime) -> float:
        return _LEFT + (at - start) / (end - start) * (right - _LEFT)

    good = [s for s in steps if s.crowned]
    values = [s.objective for s in good if s.objective is not None] or [0.0]
    y = axis(values, bottom, _TOP)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="plot wide" viewBox="0 0 {width} '
        f'{height}" width="{width}" height="{height}" role="img" aria-label="champion '
        f'{_esc(y_name)} over time">',
        f'<rect class="area" x="{_LEFT}" y="{_TOP}" width="{right - _LEFT}" '
        f'height="{bottom - _TOP}"/>',
        *_time_axis(start, end, x_at),
    ]
    if good:
        parts += _y_grid(y, right)
    middle = (_TOP + bottom) / 2
    parts += [
        f'<text class="axis" x="{(_LEFT + right) / 2:.0f}" y="{height - 8}" '
        f'text-anchor="middle">{len(steps)} promotion{"" if len(steps) == 1 else "s"} (UTC): '
        "● champion from then on, ✕ failed, ○ other</text>",
    ]
    if good:
        parts.append(
            f'<text class="axis" x="12" y="{middle:.0f}" text-anchor="middle" '
            f'transform="rotate(-90 12 {middle:.0f})">{_esc(y_name)}</text>'
        )
        first, *rest = ((x_at(s.at), y.place(s.objective or 0.0)) for s in good)
        line = "".join(f"H{px:.1f}V{py:.1f}" for px, py in rest)
        parts.append(f'<path class="step" d="M{first[0]:.1f} {first[1]:.1f}{line}H{right}"/>')
    for step in steps:
        x = x_at(step.at)
        tip = f"<title>{_esc(step.run)}: {_esc(step.outcome)} {step.at:%Y-%m-%d %H:%M:%S}</title>"
        if step.crowned and step.objective is not None:
            parts.append(
                f'<circle class="dot champion" cx="{x:.1f}" cy="{y.place(step.objective):.1f}" '
                f'r="5">{tip}</circle>'
            )
        elif step.outcome in ("failed", "rejected"):
            parts.append(
                f'<path class="cross" d="M{x - 4:.1f} {bottom - 4} l8 8 m0 -8 l-8 8">{tip}</path>'
            )
        else:
            parts.append(f'<circle class="ring" cx="{x:.1f}" cy="{bottom}" r="4">{tip}</circle>')
    parts.append("</svg>")
    return "".join(parts)
