"""The report as one self-contained HTML page (inline CSS, SVG plots), a section at a time."""

from __future__ import annotations

import base64
import hashlib
import html
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from chalicelib.processing.report_values import ProjectReport, ReportSummary, iso
from chalicelib.records import Run

_PLOT_WIDTH, _PLOT_HEIGHT, _MARGIN = 560, 320, 56
# Room left of the plot for the y tick labels (up to ~9 characters) beside the axis title.
_GUTTER = 48
_TICKS = 5


def _esc(value: object) -> str:
    return html.escape("" if value is None else str(value))


def _fmt(value: float | None) -> str:
    return "" if value is None or not math.isfinite(value) else f"{value:.6g}"


def _table(headers: Sequence[str], rows: Iterable[Sequence[object]], empty: str) -> str:
    body = "".join(
        "<tr>" + "".join(f"<td>{_esc(cell)}</td>" for cell in row) + "</tr>" for row in rows
    )
    if not body:
        return f'<p class="none">{_esc(empty)}</p>'
    head = "".join(f"<th>{_esc(h)}</th>" for h in headers)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _numeric(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def plot_hyperparameter(runs: Sequence[tuple[Run, float]]) -> str | None:
    """The hyperparameter with the most distinct numeric values among ranked runs (ties: name)."""
    distinct: dict[str, set[float]] = {}
    for run, _ in runs:
        for name, text in run.hyperparameters.items():
            value = _numeric(text)
            if value is not None:
                distinct.setdefault(name, set()).add(value)
    if not distinct:
        return None
    return min(distinct, key=lambda name: (-len(distinct[name]), name))


def _scale(
    low: float, high: float, size: float, flip: bool
) -> tuple[float, float, Callable[[float], float]]:
    if low == high:
        low, high = low - 1, high + 1
    # A margin inside the axes, so that no point sits on an axis.
    pad = (high - low) * 0.05
    low, high = low - pad, high + pad

    def place(value: float) -> float:
        share = (value - low) / (high - low)
        return _MARGIN + (1 - share if flip else share) * size

    return low, high, place


def scatter_svg(project: ProjectReport, runs: Mapping[str, Run]) -> str:
    """An inline SVG scatter plot of one hyperparameter against the objective, with axes."""
    points = [
        (runs[row.run_name], row.objective)
        for row in project.leaderboard
        if row.objective is not None and math.isfinite(row.objective)
    ]
    name = plot_hyperparameter(points)
    if name is None:
        return '<p class="none">No run with a numeric hyperparameter and the objective.</p>'
    data = [
        (run.name, x, y)
        for run, y in points
        if (x := _numeric(run.hyperparameters.get(name, ""))) is not None
    ]
    inner_w = _PLOT_WIDTH - 2 * _MARGIN
    inner_h = _PLOT_HEIGHT - 2 * _MARGIN
    x_low, x_high, x_at = _scale(min(d[1] for d in data), max(d[1] for d in data), inner_w, False)
    y_low, y_high, y_at = _scale(min(d[2] for d in data), max(d[2] for d in data), inner_h, True)
    bottom, right = _PLOT_HEIGHT - _MARGIN, _PLOT_WIDTH - _MARGIN
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="plot" width="{_PLOT_WIDTH + _GUTTER}" '
        f'height="{_PLOT_HEIGHT}" viewBox="0 0 {_PLOT_WIDTH + _GUTTER} {_PLOT_HEIGHT}" '
        f'role="img" aria-label="{_esc(name)} against {_esc(project.objective_metric)}">',
        f'<text x="14" y="{_MARGIN + inner_h / 2:.1f}" text-anchor="middle" class="axis" '
        f'transform="rotate(-90 14 {_MARGIN + inner_h / 2:.1f})">'
        f"{_esc(project.objective_metric)}</text>",
        f'<g transform="translate({_GUTTER} 0)">',
        f'<rect x="{_MARGIN}" y="{_MARGIN}" width="{inner_w}" height="{inner_h}" fill="#f7fafc"/>',
        f'<line x1="{_MARGIN}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="#333"/>',
        f'<line x1="{_MARGIN}" y1="{_MARGIN}" x2="{_MARGIN}" y2="{bottom}" stroke="#333"/>',
    ]
    for step in range(_TICKS):
        x_value = x_low + (x_high - x_low) * step / (_TICKS - 1)
        y_value = y_low + (y_high - y_low) * step / (_TICKS - 1)
        x, y = x_at(x_value), y_at(y_value)
        parts += [
            f'<line x1="{x:.1f}" y1="{bottom}" x2="{x:.1f}" y2="{bottom + 5}" stroke="#333"/>',
            f'<text x="{x:.1f}" y="{bottom + 18}" text-anchor="middle">{_fmt(x_value)}</text>',
            f'<line x1="{_MARGIN - 5}" y1="{y:.1f}" x2="{_MARGIN}" y2="{y:.1f}" stroke="#333"/>',
            f'<text x="{_MARGIN - 8}" y="{y + 4:.1f}" text-anchor="end">{_fmt(y_value)}</text>',
        ]
    parts += [
        f'<text x="{_MARGIN + inner_w / 2:.1f}" y="{_PLOT_HEIGHT - 12}" text-anchor="middle" '
        f'class="axis">{_esc(name)}</text>',
    ]
    champion = project.champion.run_name if project.champion else None
    for run_name, x_value, y_value in data:
        color, radius = ("#d53f8c", 7) if run_name == champion else ("#2b6cb0", 5)
        parts.append(
            f'<circle cx="{x_at(x_value):.1f}" cy="{y_at(y_value):.1f}" r="{radius}" '
            f'fill="{color}"><title>{_esc(run_name)}: {_esc(name)}={_fmt(x_value)}, '
            f"{_esc(project.objective_metric)}={_fmt(y_value)}</title></circle>"
        )
    parts.append("</g></svg>")
    return "".join(parts)


def _tree(value: Any) -> str:
    """A lineage chain of any shape as nested lists, every leaf escaped."""
    if isinstance(value, Mapping):
        items = "".join(
            f"<dt>{_esc(key)}</dt><dd>{_tree(item)}</dd>" for key, item in value.items()
        )
        return f"<dl>{items}</dl>"
    if isinstance(value, list | tuple):
        return "<ol>" + "".join(f"<li>{_tree(item)}</li>" for item in value) + "</ol>"
    return _esc(value)


_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#1a202c}
h1{font-size:22px}h2{font-size:18px;border-bottom:1px solid #cbd5e0;margin-top:32px}
h3{font-size:15px}table{border-collapse:collapse;margin:8px 0}
th,td{border:1px solid #cbd5e0;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#edf2f7}.none{color:#718096;font-style:italic}
svg text{font-size:11px;fill:#2d3748}svg .axis{font-size:12px;font-weight:600}
dl{margin:0 0 0 12px}dt{font-weight:600}dd{margin:0 0 4px 16px}
"""
_CSS_HASH = base64.b64encode(hashlib.sha256(_CSS.encode()).digest()).decode()
# Nothing may load or run: the page's one stylesheet is allowed by its hash, so a value that
# slipped past escaping could neither run a script nor inject a style, a form or a base URL.
# SVG presentation attributes (fill, stroke) are not styles and need no source.
CONTENT_SECURITY_POLICY = (
    f"default-src 'none'; style-src 'sha256-{_CSS_HASH}'; base-uri 'none'; form-action 'none'"
)
# Browsers ignore frame-ancestors in a <meta> policy: it is only in the served header.
CONTENT_SECURITY_POLICY_HEADER = f"{CONTENT_SECURITY_POLICY}; frame-ancestors 'none'"


def project_html(project: ProjectReport, runs: Mapping[str, Run]) -> bytes:
    """One project's section of the page; `runs` holds at least the project's runs."""
    hyperparameters = sorted(
        {n for row in project.leaderboard for n in runs[row.run_name].hyperparameters}
    )
    champion = project.champion
    leaderboard = _table(
        ["rank", "run", "status", project.objective_metric, *hyperparameters],
        (
            [
                "" if row.rank is None else row.rank,
                row.run_name,
                runs[row.run_name].status,
                _fmt(row.objective),
                *(runs[row.run_name].hyperparameters.get(n, "") for n in hyperparameters),
            ]
            for row in project.leaderboard
        ),
        "No runs yet.",
    )
    history = _table(
        ["promotion", "run", "previous", "strategy", "outcome", "cause", "message"],
        (
            [
                p.promotion_id,
                p.run_name,
                p.previous_run_name,
                p.strategy,
                p.outcome,
                p.cause,
                p.message,
            ]
            for p in project.promotions
        ),
        "No promotions yet.",
    )
    current = (
        f"<p>Champion: <b>{_esc(champion.run_name)}</b> ({_esc(project.objective_metric)} "
        f"{_fmt(champion.objective_value)}, version {champion.version})</p>"
        if champion
        else '<p class="none">No champion yet.</p>'
    )
    lineage = (
        '<p class="none">No lineage: the endpoint does not exist.</p>'
        if project.lineage is None
        else _tree(project.lineage)
    )
    return (
        f'<section class="project"><h2>{_esc(project.name)}</h2>'
        f"<p>Objective: {_esc(project.goal)} {_esc(project.objective_metric)}; "
        f"endpoint {_esc(project.endpoint)}</p>{current}"
        f"<h3>Leaderboard</h3>{leaderboard}"
        f"<h3>Objective by hyperparameter</h3>{scatter_svg(project, runs)}"
        f"<h3>Champion history</h3>{history}"
        f"<h3>Endpoint lineage</h3>{lineage}</section>"
    ).encode()


HTML_END = b"</body></html>\n"


def html_head(summary: ReportSummary) -> bytes:
    """The page up to its first project's section (project_html), which HTML_END closes:
    inline CSS and SVG, no scripts, no external assets."""
    changes = summary.changes
    since = (
        f"Since {_esc(changes.since)} ({_esc(changes.since_key)})."
        if changes.since_key
        else "No earlier report to compare with."
    )
    change_rows = [
        *(
            ["champion", c.project, f"{c.before or '-'} → {c.after or '-'}"]
            for c in changes.champions_changed
        ),
        *(["new run", i.project, i.name] for i in changes.new_runs),
        *(["new promotion", i.project, i.name] for i in changes.new_promotions),
        *(["drift appeared", "", e] for e in changes.drift_appeared),
        *(["drift resolved", "", e] for e in changes.drift_resolved),
    ]
    page = [
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
        # An S3 object cannot carry the header; the page carries its policy wherever it goes.
        f'<meta http-equiv="Content-Security-Policy" content="{_esc(CONTENT_SECURITY_POLICY)}">',
        f"<title>sagewire lineage report {_esc(iso(summary.generated_at))}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>sagewire lineage report</h1><p>Generated {_esc(iso(summary.generated_at))} "
        f"in {_esc(summary.region)}.</p>",
        f"<h2>Changes</h2><p>{since}</p>",
        _table(["change", "project", "what"], change_rows, "Nothing changed."),
        "<h2>Drift</h2>",
        _table(
            ["project", "endpoint", "champion config", "serving config"],
            ([d.project, d.endpoint, d.champion_config, d.serving_config] for d in summary.drift),
            "Every endpoint serves its champion.",
        ),
        "<h2>Orphans</h2>",
        _table(
            ["kind", "name"],
            [
                *(["model", name] for name in summary.orphans.models),
                *(["endpoint config", name] for name in summary.orphans.endpoint_configs),
            ],
            "No orphaned models or endpoint configs.",
        ),
    ]
    return "".join(page).encode()
