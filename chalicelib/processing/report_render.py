"""The lineage report as a value and its pure renderings: JSON, CSV, HTML, OpenLineage."""

from __future__ import annotations

import csv
import html
import io
import math
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from chalicelib.models import Champion, Goal, Promotion, Run

REPORT_SCHEMA_VERSION = "1"
PRODUCER = "https://github.com/sagewire/sagewire"
SCHEMA_URL = f"{PRODUCER}/blob/main/docs/report-schema.json"
RUN_EVENT_SCHEMA = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
_JSON = orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2
# Spreadsheets run a cell that starts with one of these as a formula.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLOT_WIDTH, _PLOT_HEIGHT, _MARGIN = 560, 320, 56
# Room left of the plot for the y tick labels (up to ~9 characters) beside the axis title.
_GUTTER = 48
_TICKS = 5


@dataclass(frozen=True)
class RunRecord:
    """One training run and the parameters of the preprocessing steps of its trial."""

    run: Run
    preprocessing: dict[str, str | float] = field(default_factory=dict)


@dataclass(frozen=True)
class LeaderboardRow:
    """A run's place in a project: ranked when it may compete, unranked (None) otherwise."""

    rank: int | None
    run_name: str
    objective: float | None


@dataclass(frozen=True)
class ProjectReport:
    name: str
    objective_metric: str
    goal: Goal
    endpoint: str
    leaderboard: tuple[LeaderboardRow, ...]
    champion: Champion | None
    promotions: tuple[Promotion, ...]
    lineage: Mapping[str, Any] | None


@dataclass(frozen=True)
class DriftRow:
    project: str
    endpoint: str
    champion_config: str
    serving_config: str | None


@dataclass(frozen=True)
class Orphans:
    """Models and endpoint configs sagewire created that no endpoint's current config uses."""

    models: tuple[str, ...] = ()
    endpoint_configs: tuple[str, ...] = ()


@dataclass(frozen=True)
class ChampionChange:
    project: str
    before: str | None
    after: str | None


@dataclass(frozen=True)
class ProjectItem:
    """A (project, name) pair: a new run or a new promotion id."""

    project: str
    name: str


@dataclass(frozen=True)
class Changes:
    """What changed since the report at `since_key` (None: no earlier report to compare with)."""

    since_key: str | None = None
    since: str | None = None
    champions_changed: tuple[ChampionChange, ...] = ()
    new_runs: tuple[ProjectItem, ...] = ()
    new_promotions: tuple[ProjectItem, ...] = ()
    drift_appeared: tuple[str, ...] = ()
    drift_resolved: tuple[str, ...] = ()


@dataclass(frozen=True)
class Report:
    generated_at: datetime
    region: str
    projects: tuple[ProjectReport, ...]
    runs: tuple[RunRecord, ...]
    drift: tuple[DriftRow, ...]
    orphans: Orphans
    changes: Changes


def iso(value: datetime) -> str:
    """UTC, microseconds, `Z`: the one time format of the report."""
    return value.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _number(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _optional_iso(value: datetime | None) -> str | None:
    return None if value is None else iso(value)


def _run_document(record: RunRecord) -> dict[str, Any]:
    run = record.run
    return {
        "name": run.name,
        "arn": run.arn,
        "status": run.status,
        "last_modified_at": iso(run.last_modified_at),
        "ended_at": _optional_iso(run.ended_at),
        "metrics": {name: _number(value) for name, value in run.metrics.items()},
        "hyperparameters": dict(run.hyperparameters),
        "preprocessing": dict(record.preprocessing),
        "inputs": [{"channel": c.name, "uri": c.s3_uri} for c in run.channels],
        "model_artifact": run.model_artifact,
        "training_image": run.training_image,
        "tags": dict(run.tags),
        "experiment_name": run.experiment_name,
        "trial_name": run.trial_name,
        "tuning_job_name": run.tuning_job_name,
    }


def _champion_document(champion: Champion | None) -> dict[str, Any] | None:
    if champion is None:
        return None
    return {
        "run": champion.run_name,
        "objective": _number(champion.objective_value),
        "version": champion.version,
        "model": champion.model_name,
        "endpoint_config": champion.endpoint_config_name,
        "promotion_id": champion.promotion_id,
        "changed_at": iso(champion.changed_at),
    }


def _promotion_document(promotion: Promotion) -> dict[str, Any]:
    return {
        "promotion_id": promotion.promotion_id,
        "run": promotion.run_name,
        "previous_run": promotion.previous_run_name,
        "cause": promotion.cause,
        "strategy": promotion.strategy,
        "outcome": promotion.outcome,
        "model": promotion.model_name,
        "endpoint_config": promotion.endpoint_config_name,
        "created_at": iso(promotion.created_at),
        "updated_at": iso(promotion.updated_at),
        "message": promotion.message,
    }


def report_document(report: Report) -> dict[str, Any]:
    """The report as JSON-safe data in the shape of docs/report-schema.json."""
    changes = report.changes
    return {
        "schema_version": REPORT_SCHEMA_VERSION,
        "generated_at": iso(report.generated_at),
        "region": report.region,
        "projects": [
            {
                "name": project.name,
                "objective": {"metric": project.objective_metric, "goal": project.goal},
                "endpoint": project.endpoint,
                "leaderboard": [
                    {"rank": row.rank, "run": row.run_name, "objective": _number(row.objective)}
                    for row in project.leaderboard
                ],
                "champion": _champion_document(project.champion),
                "promotions": [_promotion_document(p) for p in project.promotions],
                "lineage": None if project.lineage is None else dict(project.lineage),
            }
            for project in report.projects
        ],
        "runs": [_run_document(record) for record in report.runs],
        "drift": [
            {
                "project": row.project,
                "endpoint": row.endpoint,
                "champion_config": row.champion_config,
                "serving_config": row.serving_config,
            }
            for row in report.drift
        ],
        "orphans": {
            "models": list(report.orphans.models),
            "endpoint_configs": list(report.orphans.endpoint_configs),
        },
        "changes": {
            "since_key": changes.since_key,
            "since": changes.since,
            "champions_changed": [
                {"project": c.project, "before": c.before, "after": c.after}
                for c in changes.champions_changed
            ],
            "new_runs": [{"project": i.project, "run": i.name} for i in changes.new_runs],
            "new_promotions": [
                {"project": i.project, "promotion_id": i.name} for i in changes.new_promotions
            ],
            "drift_appeared": list(changes.drift_appeared),
            "drift_resolved": list(changes.drift_resolved),
        },
    }


def render_json(report: Report) -> bytes:
    return orjson.dumps(report_document(report), option=_JSON) + b"\n"


def _cell(value: str | float | int | None) -> str | float | int:
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def render_csv(report: Report) -> bytes:
    """Every project's leaderboard: one row per (project, run), a column per metric and
    hyperparameter (`metric:<name>`, `hp:<name>`)."""
    runs = {record.run.name: record.run for record in report.runs}
    metrics = sorted({name for run in runs.values() for name in run.metrics})
    hyperparameters = sorted({name for run in runs.values() for name in run.hyperparameters})
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [
            "project",
            "rank",
            "run",
            "status",
            "objective_metric",
            "objective",
            "champion",
            *(f"metric:{name}" for name in metrics),
            *(f"hp:{name}" for name in hyperparameters),
        ]
    )
    for project in report.projects:
        champion = project.champion.run_name if project.champion else None
        for row in project.leaderboard:
            run = runs[row.run_name]
            writer.writerow(
                [
                    _cell(project.name),
                    _cell(row.rank),
                    _cell(run.name),
                    _cell(run.status),
                    _cell(project.objective_metric),
                    _cell(_number(row.objective)),
                    "yes" if run.name == champion else "",
                    *(_cell(_number(run.metrics.get(name))) for name in metrics),
                    *(_cell(run.hyperparameters.get(name)) for name in hyperparameters),
                ]
            )
    return out.getvalue().encode()


def _split_s3(uri: str) -> tuple[str, str]:
    """`s3://bucket/key/prefix/` -> ("s3://bucket", "key/prefix")."""
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return f"s3://{bucket}", key.rstrip("/") or "/"


def _facet(name: str, **fields: Any) -> dict[str, Any]:
    return {"_producer": PRODUCER, "_schemaURL": f"{SCHEMA_URL}#/$defs/{name}", **fields}


def openlineage_events(report: Report) -> list[dict[str, Any]]:
    """One COMPLETE RunEvent per training run, in run-name order."""
    events = []
    for record in report.runs:
        run = record.run
        inputs = []
        for channel in run.channels:
            namespace, name = _split_s3(channel.s3_uri)
            inputs.append({"namespace": namespace, "name": name, "facets": {}})
        outputs = []
        if run.model_artifact:
            namespace, name = _split_s3(run.model_artifact)
            outputs.append({"namespace": namespace, "name": name, "facets": {}})
        events.append(
            {
                "eventType": "COMPLETE",
                "eventTime": iso(run.ended_at or run.last_modified_at),
                "producer": PRODUCER,
                "schemaURL": RUN_EVENT_SCHEMA,
                "run": {
                    "runId": str(uuid.uuid5(uuid.NAMESPACE_URL, run.arn)),
                    "facets": {
                        "sagewire_hyperparameters": _facet(
                            "HyperparametersRunFacet", hyperparameters=dict(run.hyperparameters)
                        ),
                        "sagewire_metrics": _facet(
                            "MetricsRunFacet",
                            metrics={k: _number(v) for k, v in run.metrics.items()},
                        ),
                        "sagewire_preprocessing": _facet(
                            "PreprocessingRunFacet", parameters=dict(record.preprocessing)
                        ),
                    },
                },
                "job": {
                    "namespace": f"sagemaker://{report.region}",
                    "name": run.name,
                    "facets": {},
                },
                "inputs": inputs,
                "outputs": outputs,
            }
        )
    return events


def render_openlineage(report: Report) -> bytes:
    return b"".join(
        orjson.dumps(event, option=orjson.OPT_SORT_KEYS) + b"\n"
        for event in openlineage_events(report)
    )


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


def _project_html(project: ProjectReport, runs: Mapping[str, Run]) -> str:
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
    )


def render_html(report: Report) -> bytes:
    """One self-contained page: inline CSS and SVG, no scripts, no external assets."""
    runs = {record.run.name: record.run for record in report.runs}
    changes = report.changes
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
        f"<title>sagewire lineage report {_esc(iso(report.generated_at))}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>sagewire lineage report</h1><p>Generated {_esc(iso(report.generated_at))} "
        f"in {_esc(report.region)}.</p>",
        f"<h2>Changes</h2><p>{since}</p>",
        _table(["change", "project", "what"], change_rows, "Nothing changed."),
        "<h2>Drift</h2>",
        _table(
            ["project", "endpoint", "champion config", "serving config"],
            ([d.project, d.endpoint, d.champion_config, d.serving_config] for d in report.drift),
            "Every endpoint serves its champion.",
        ),
        "<h2>Orphans</h2>",
        _table(
            ["kind", "name"],
            [
                *(["model", name] for name in report.orphans.models),
                *(["endpoint config", name] for name in report.orphans.endpoint_configs),
            ],
            "No orphaned models or endpoint configs.",
        ),
        *(_project_html(project, runs) for project in report.projects),
        "</body></html>\n",
    ]
    return "".join(page).encode()
