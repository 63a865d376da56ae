"""The report as one self-contained HTML page (inline CSS, SVG and one hashed script), a section
at a time: the head with its navigation and summary, then each project's section."""

from __future__ import annotations

import html
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from chalicelib.processing.report_assets import CONTENT_SECURITY_POLICY, CSS, SCRIPT
from chalicelib.processing.report_graph import graph_svg, lineage_graph
from chalicelib.processing.report_svg import (
    Point,
    Step,
    charted_hyperparameters,
    numeric,
    scatter_svg,
    timeline_svg,
)
from chalicelib.processing.report_values import ProjectReport, ReportSummary, iso
from chalicelib.records import Run

# (key, label): a column's key names it in the sort fragment (#sort=<table>:<key>:<dir>).
Column = tuple[str, str]
# (CSS class of the row, cells as HTML already escaped).
Row = tuple[str, Sequence[str]]
_STATUS = {"Completed": "ok", "Failed": "bad", "Stopped": "warn", "Stopping": "warn"}
_OUTCOME = {"succeeded": "ok", "failed": "bad", "rejected": "bad", "superseded": "info"}
_MARK = {"ok": "✓ ", "bad": "✕ ", "warn": "! ", "info": ""}


@dataclass(frozen=True)
class ProjectGlance:
    """What the navigation says of a project, kept while the later projects are gathered."""

    name: str
    runs: int
    failed: int
    champion: str | None


def _esc(value: object) -> str:
    return html.escape("" if value is None else str(value))


def _fmt(value: float | None) -> str:
    return "" if value is None or not math.isfinite(value) else f"{value:.6g}"


def anchor(name: str) -> str:
    """An id for a project's name: letters, digits, `-` and `_` kept, others as `.<hex>.`."""
    return "p-" + re.sub(r"[^A-Za-z0-9_-]", lambda m: f".{ord(m.group()):x}.", name)


def badge(kind: str, text: str, tip: str | None = None) -> str:
    """A label whose text says what its colour says (a mark, then the word)."""
    title = "" if tip is None else f' title="{_esc(tip)}"'
    return f'<span class="badge {kind}"{title}>{_MARK.get(kind, "")}{_esc(text)}</span>'


def _header(label: str) -> str:
    """A column's label, breakable after `:` and `_` so that long metric names wrap."""
    return re.sub(r"([:_])", r"\1<wbr>", _esc(label))


def table(
    table_id: str,
    columns: Sequence[Column],
    rows: Iterable[Row],
    empty: str,
    what: str,
    classes: Mapping[str, str] | None = None,
) -> str:
    """A sortable table (the page's script) with its filter box, which the script shows;
    `classes` gives a column (by key) a class for its header and cells: `num` (right-aligned),
    `wrap` (long text) or `id` (small monospace)."""
    kinds = [(classes or {}).get(key, "") for key, _ in columns]
    attributes = [f' class="{kind}"' if kind else "" for kind in kinds]
    opens = [f"<td{attribute}>" for attribute in attributes]
    body = "".join(
        (f'<tr class="{kind}">' if kind else "<tr>")
        + "".join(f"{opens[index]}{cell}</td>" for index, cell in enumerate(cells))
        + "</tr>"
        for kind, cells in rows
    )
    if not body:
        return f'<p class="none">{_esc(empty)}</p>'
    head = "".join(
        f'<th data-key="{_esc(key)}"{attribute}>{_header(label)}</th>'
        for (key, label), attribute in zip(columns, attributes, strict=True)
    )
    return (
        f'<input class="filter" type="search" data-table="{_esc(table_id)}" hidden '
        f'placeholder="Filter {_esc(what)}…" aria-label="Filter {_esc(what)}">'
        f'<div class="scroll"><table class="sortable" id="{_esc(table_id)}"><thead><tr>{head}'
        f"</tr></thead><tbody>{body}</tbody></table></div>"
    )


def _runs_table(project: ProjectReport, runs: Mapping[str, Run], table_id: str) -> str:
    board = [runs[row.run_name] for row in project.leaderboard]
    metrics = sorted({m for run in board for m in run.metrics} - {project.objective_metric})
    hyperparameters = sorted({h for run in board for h in run.hyperparameters})
    champion = project.champion.run_name if project.champion else None
    columns = [
        ("rank", "rank"),
        ("run", "run"),
        ("status", "status"),
        ("champion", "champion"),
        ("objective", f"{project.objective_metric} ({project.goal})"),
        *((f"m:{m}", m) for m in metrics),
        *((f"hp:{h}", h) for h in hyperparameters),
    ]

    def row(rank: int | None, run: Run, objective: float | None) -> Row:
        status = _STATUS.get(run.status, "info")
        is_champion = run.name == champion
        cells = [
            "" if rank is None else str(rank),
            _esc(run.name),
            badge(status, run.status, run.failure_reason),
            badge("star", "★ champion") if is_champion else "",
            _fmt(objective),
            *(_fmt(run.metrics.get(m)) for m in metrics),
            *(_esc(run.hyperparameters.get(h, "")) for h in hyperparameters),
        ]
        kind = "failed" if status == "bad" else "champion" if is_champion else ""
        return kind, cells

    rows = (row(r.rank, runs[r.run_name], r.objective) for r in project.leaderboard)
    numbers = [
        f"hp:{h}"
        for h in hyperparameters
        if all(numeric(v) is not None for run in board if (v := run.hyperparameters.get(h)))
    ]
    right = dict.fromkeys(["rank", "objective", *(f"m:{m}" for m in metrics), *numbers], "num")
    return table(table_id, columns, rows, "No runs yet.", "runs", right)


def _charts(project: ProjectReport, runs: Mapping[str, Run]) -> str:
    champion = project.champion.run_name if project.champion else None
    scored = [
        (runs[row.run_name], row.objective)
        for row in project.leaderboard
        if row.objective is not None and math.isfinite(row.objective)
    ]
    names = charted_hyperparameters([(run.name, run.hyperparameters) for run, _ in scored])
    figures = []
    for name in names:
        points = [
            Point(run.name, x, y, run.name == champion)
            for run, y in scored
            if y is not None and (x := numeric(run.hyperparameters.get(name, ""))) is not None
        ]
        svg = scatter_svg(name, project.objective_metric, points)
        figures.append(f"<figure>{svg}</figure>")
    if not figures:
        return '<p class="none">No hyperparameter with two numeric values among scored runs.</p>'
    return f'<div class="charts">{"".join(figures)}</div>'


def _history(project: ProjectReport, table_id: str) -> str:
    objectives = {row.run_name: row.objective for row in project.leaderboard}
    ledger = sorted(project.promotions, key=lambda p: (p.created_at, p.promotion_id))
    chart = (
        timeline_svg(
            project.objective_metric,
            [Step(p.created_at, p.run_name, objectives.get(p.run_name), p.outcome) for p in ledger],
        )
        if ledger
        else ""
    )
    columns = [
        ("when", "when"),
        ("run", "run"),
        ("previous", "previous"),
        ("strategy", "strategy"),
        ("outcome", "outcome"),
        ("cause", "cause"),
        ("message", "message"),
        ("promotion", "promotion id"),
    ]
    rows = (
        (
            "failed" if _OUTCOME.get(p.outcome) == "bad" else "",
            [
                f'<time datetime="{_esc(iso(p.created_at))}">'
                f"{_esc(iso(p.created_at)[:19].replace('T', ' '))}</time>",
                _esc(p.run_name),
                _esc(p.previous_run_name),
                _esc(p.strategy),
                badge(_OUTCOME.get(p.outcome, "info"), p.outcome),
                _esc(p.cause),
                _esc(p.message),
                "<wbr>".join(f"<span>{_esc(part)}</span>" for part in _id_parts(p.promotion_id)),
            ],
        )
        for p in reversed(ledger)
    )
    kinds = {"message": "wrap", "promotion": "id"}
    return chart + table(table_id, columns, rows, "No promotions yet.", "promotions", kinds)


def _id_parts(promotion_id: str) -> list[str]:
    """A promotion id (`<time>#<run>`) in two parts that each stay on one line."""
    when, mark, run = promotion_id.partition("#")
    return [when + mark, run] if mark else [when]


def project_glance(project: ProjectReport, runs: Mapping[str, Run]) -> ProjectGlance:
    failed = sum(1 for row in project.leaderboard if runs[row.run_name].status == "Failed")
    champion = project.champion.run_name if project.champion else None
    return ProjectGlance(project.name, len(project.leaderboard), failed, champion)


def project_html(project: ProjectReport, runs: Mapping[str, Run]) -> bytes:
    """One project's section of the page; `runs` holds at least the project's runs."""
    slug = anchor(project.name)
    champion = project.champion
    glance = project_glance(project, runs)
    current = (
        f"champion {badge('star', '★ ' + champion.run_name)} {_esc(project.objective_metric)} "
        f"<b>{_fmt(champion.objective_value)}</b> (version {champion.version})"
        if champion
        else badge("warn", "no champion yet")
    )
    failed = badge("bad", f"{glance.failed} failed") if glance.failed else ""
    datasets = {
        row.run_name: [c.s3_uri for c in runs[row.run_name].channels] for row in project.leaderboard
    }
    graph = lineage_graph(project.lineage, champion, datasets)
    return (
        f'<section class="project" id="{_esc(slug)}"><h2>{_esc(project.name)}</h2>'
        f'<div class="facts"><span>{current}</span><span>{_esc(project.goal)} '
        f"{_esc(project.objective_metric)}</span><span>endpoint <b>{_esc(project.endpoint)}</b>"
        f"</span><span>{glance.runs} run{'' if glance.runs == 1 else 's'} {failed}</span></div>"
        f'<h3>Runs</h3><div class="card">{_runs_table(project, runs, slug + "-runs")}</div>'
        f"<h3>Objective by hyperparameter</h3>{_charts(project, runs)}"
        f'<h3>Champion timeline</h3><div class="card graphbox">'
        f"{_history(project, slug + '-promotions')}"
        f'</div><h3>Endpoint lineage</h3><div class="card graphbox">'
        f"{graph_svg(graph, f'lineage of {project.endpoint}')}</div></section>"
    ).encode()


HTML_END = (
    f"</main><footer>sagewire lineage report</footer><script>{SCRIPT}</script></body></html>\n"
).encode()


def _stat(value: int, label: str, kind: str = "") -> str:
    return (
        f'<div class="stat {kind if value else ""}"><b>{value}</b><span>{_esc(label)}</span></div>'
    )


def _nav_link(glance: ProjectGlance, drifting: bool) -> str:
    """A project's link; marks for drift (⚠) and failed runs (✕n), spelled out in its title."""
    marks = (" ⚠" if drifting else "") + (f" ✕{glance.failed}" if glance.failed else "")
    words = [
        *(["drift"] if drifting else []),
        *([f"{glance.failed} failed"] if glance.failed else []),
    ]
    title = f"{glance.name}: {', '.join(words)}" if words else glance.name
    link = f'href="#{_esc(anchor(glance.name))}" title="{_esc(title)}"'
    return f"<a {link}>{_esc(glance.name)}{marks}</a>"


def html_head(summary: ReportSummary, glances: Sequence[ProjectGlance]) -> bytes:
    """The page up to its first project's section (project_html), which HTML_END closes."""
    changes = summary.changes
    since = (
        f"Since {_esc(changes.since)} ({_esc(changes.since_key)})."
        if changes.since_key
        else "No earlier report to compare with."
    )
    drifting = {row.project for row in summary.drift}
    change_rows = [
        *(
            ("", ["champion", _esc(c.project), _esc(f"{c.before or '-'} → {c.after or '-'}")])
            for c in changes.champions_changed
        ),
        *(("", ["new run", _esc(i.project), _esc(i.name)]) for i in changes.new_runs),
        *(("", ["new promotion", _esc(i.project), _esc(i.name)]) for i in changes.new_promotions),
        *(
            ("drift", [badge("warn", "drift appeared"), "", _esc(e)])
            for e in changes.drift_appeared
        ),
        *(("", [badge("ok", "drift resolved"), "", _esc(e)]) for e in changes.drift_resolved),
    ]
    links = "".join(_nav_link(g, g.name in drifting) for g in glances)
    failed = sum(g.failed for g in glances)
    page = [
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
        # An S3 object cannot carry the header; the page carries its policy wherever it goes.
        f'<meta http-equiv="Content-Security-Policy" content="{_esc(CONTENT_SECURITY_POLICY)}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>sagewire lineage report {_esc(iso(summary.generated_at))}</title>",
        f"<style>{CSS}</style></head><body>",
        '<header class="top" id="top"><h1>sagewire lineage report</h1>'
        f"<p>Generated {_esc(iso(summary.generated_at))} in {_esc(summary.region)}.</p></header>",
        f'<nav aria-label="sections"><a href="#top">Overview</a><a href="#changes">Changes</a>'
        f'<a href="#drift">Drift</a><a href="#orphans">Orphans</a>{links}</nav><main>',
        '<div class="stats">',
        _stat(len(glances), "projects"),
        _stat(sum(g.runs for g in glances), "runs"),
        _stat(failed, "failed runs", "bad"),
        _stat(len(summary.drift), "endpoints drifting", "warn"),
        _stat(len(changes.champions_changed), "champion changes"),
        "</div>",
        f'<section id="changes"><h2>Changes</h2><p>{since}</p><div class="card">',
        table(
            "changes-table",
            [("change", "change"), ("project", "project"), ("what", "what")],
            change_rows,
            "Nothing changed.",
            "changes",
        ),
        '</div></section><section id="drift"><h2>Drift</h2><div class="card">',
        table(
            "drift-table",
            [
                ("state", "state"),
                ("project", "project"),
                ("endpoint", "endpoint"),
                ("champion", "champion config"),
                ("serving", "serving config"),
            ],
            (
                (
                    "drift",
                    [
                        badge("warn", "drift"),
                        _esc(d.project),
                        _esc(d.endpoint),
                        _esc(d.champion_config),
                        _esc(d.serving_config),
                    ],
                )
                for d in summary.drift
            ),
            "Every endpoint serves its champion.",
            "drift",
        ),
        '</div></section><section id="orphans"><h2>Orphans</h2><div class="card">',
        table(
            "orphans-table",
            [("kind", "kind"), ("name", "name")],
            [
                *(("", ["model", _esc(name)]) for name in summary.orphans.models),
                *(("", ["endpoint config", _esc(n)]) for n in summary.orphans.endpoint_configs),
            ],
            "No orphaned models or endpoint configs.",
            "orphans",
        ),
        "</div></section>",
    ]
    return "".join(page).encode()
