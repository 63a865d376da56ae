"""The API's documents as the plain-text tables and fields the `sagewire` command prints."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any


def cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, dict):
        return ", ".join(f"{key}={cell(item)}" for key, item in value.items())
    if isinstance(value, list):
        return ", ".join(cell(item) for item in value) or "-"
    return str(value)


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """Columns as wide as their widest cell, two spaces apart; no trailing spaces."""
    text = [[cell(value) for value in row] for row in rows]
    widths = [max([len(h), *(len(row[i]) for row in text)]) for i, h in enumerate(headers)]
    lines = [list(headers), *text]
    return "\n".join(
        "  ".join(value.ljust(width) for value, width in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def fields(pairs: Iterable[tuple[str, Any]]) -> str:
    """`name:  value` lines, the values aligned."""
    pairs = list(pairs)
    width = max((len(name) for name, _ in pairs), default=0) + 1
    return "\n".join(f"{(name + ':').ljust(width)}  {cell(value)}" for name, value in pairs)


def _sections(*parts: str) -> str:
    return "\n\n".join(part for part in parts if part)


def _titled(title: str, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    return f"{title}\n{table(headers, rows)}" if rows else ""


def projects(document: Any) -> str:
    rows = []
    for project in document.get("projects", []):
        objective = project.get("objective") or {}
        endpoint = project.get("endpoint") or {}
        strategy = (endpoint.get("strategy") or {}).get("type")
        rows.append(
            (
                project.get("name"),
                endpoint.get("name"),
                f"{objective.get('metric')} ({objective.get('goal')})",
                strategy,
            )
        )
    if not rows:
        return "no projects"
    return table(("PROJECT", "ENDPOINT", "OBJECTIVE", "STRATEGY"), rows)


def definition(document: Any) -> str:
    """A project definition is a nested document: as indented JSON."""
    return json.dumps(document, indent=2)


def deletion(document: Any) -> str:
    return fields(
        [
            ("project", document.get("project")),
            ("endpoint", document.get("endpoint")),
            ("teardown", document.get("teardown")),
            ("deleted", document.get("deleted")),
            ("kept", document.get("kept")),
            ("message", document.get("message")),
        ]
    )


def _top_k(choices: Any) -> str:
    return ", ".join(
        f"{choice.get('label')} ({cell(choice.get('probability'))})" for choice in choices or []
    )


def prediction(source: str, document: Any) -> str:
    predictions = document.get("predictions") or []
    columns = list(dict.fromkeys(key for item in predictions for key in item))
    rows = [
        [_top_k(item.get(name)) if name == "top_k" else item.get(name) for name in columns]
        for item in predictions
    ]
    where = f"{document.get('project')} -> {document.get('endpoint')} ({document.get('variant')})"
    return f"{source}: {where}\n{table(['#', *[c.upper() for c in columns]], _numbered(rows))}"


def _numbered(rows: list[list[Any]], start: int = 1) -> list[list[Any]]:
    return [[index, *row] for index, row in enumerate(rows, start)]


def _sort_value(run: dict[str, Any], sort: str) -> Any:
    """The run's value of the page's sort key (`Metrics.<name>` or `Metrics.<name>.<stat>`)."""
    name = sort.removeprefix("Metrics.")
    metrics = run.get("metrics") or {}
    if name in metrics:
        return metrics[name]
    base, _, statistic = name.rpartition(".")
    return ((run.get("metric_statistics") or {}).get(base) or {}).get(statistic)


def leaderboard(pages: list[Any]) -> str:
    first = pages[0]
    sort = first.get("sort", "")
    rows = []
    for run in (run for page in pages for run in page.get("runs", [])):
        eligibility = run.get("eligibility") or {}
        promotable = eligibility.get("promotable")
        rows.append(
            [
                run.get("name"),
                run.get("status"),
                _sort_value(run, sort),
                "yes" if promotable else f"no: {eligibility.get('reason')}",
            ]
        )
    heading = f"{first.get('project')}: by {sort} ({first.get('order')})"
    body = (
        table(("#", "RUN", "STATUS", sort.removeprefix("Metrics."), "PROMOTABLE"), _numbered(rows))
        if rows
        else "no runs"
    )
    cursor = pages[-1].get("next_cursor")
    more = f"\nmore: --cursor {cursor}" if cursor else ""
    return f"{heading}\n{body}{more}"


def champion(document: Any) -> str:
    holder = document.get("champion")
    promotion = document.get("promotion") or {}
    serving = document.get("serving") or {}
    summary = fields(
        [
            ("project", document.get("project")),
            ("champion", holder.get("run_name") if holder else "none yet"),
            ("objective", holder.get("objective_value") if holder else None),
            ("since", holder.get("changed_at") if holder else None),
            ("outcome", promotion.get("outcome")),
            ("serving", f"{serving.get('status')} {cell(serving.get('config_name'))}"),
            ("serving run", document.get("serving_run_name")),
            ("drift", document.get("drift")),
            ("managed", document.get("managed")),
        ]
    )
    variants = [
        (
            v.get("name"),
            v.get("run_name"),
            v.get("initial_weight"),
            v.get("current_weight"),
            v.get("desired_weight"),
            v.get("invocations"),
        )
        for v in document.get("variants") or []
    ]
    headers = ("VARIANT", "RUN", "WEIGHT", "CURRENT", "DESIRED", "INVOCATIONS (1 h)")
    return _sections(summary, _titled("variants", headers, list(variants)))


def promotions(document: Any) -> str:
    rows = [
        (
            p.get("created_at"),
            p.get("run_name"),
            p.get("previous_run_name"),
            p.get("strategy"),
            p.get("outcome"),
            p.get("cause"),
        )
        for p in document.get("promotions") or []
    ]
    if not rows:
        return f"{document.get('project')}: no promotions"
    return table(("CREATED", "RUN", "PREVIOUS", "STRATEGY", "OUTCOME", "CAUSE"), rows)


def promotion(document: Any) -> str:
    return fields(
        (name, document.get(name))
        for name in (
            "project",
            "promotion_id",
            "run_name",
            "previous_run_name",
            "strategy",
            "outcome",
            "cause",
            "message",
        )
    )


def _inputs(inputs: list[Any]) -> list[Sequence[Any]]:
    return [
        (
            channel.get("name"),
            channel.get("s3_uri"),
            channel.get("provenance"),
            len(channel.get("versions") or []),
        )
        for channel in inputs
    ]


def _deployments(deployments: list[Any]) -> list[Sequence[Any]]:
    return [
        (d.get("project"), d.get("endpoint"), d.get("outcome"), d.get("serving"))
        for d in deployments
    ]


_INPUT_HEADERS = ("CHANNEL", "S3 URI", "PROVENANCE", "VERSIONS")
_DEPLOYMENT_HEADERS = ("PROJECT", "ENDPOINT", "OUTCOME", "SERVING")


def run(document: Any) -> str:
    record = document.get("run") or {}
    summary = fields(
        [
            ("run", record.get("name")),
            ("status", record.get("status")),
            ("created", record.get("created_at")),
            ("ended", record.get("ended_at")),
            ("image", record.get("training_image")),
            ("artifact", record.get("model_artifact")),
            ("tuning job", record.get("tuning_job_name")),
            ("failure", record.get("failure_reason")),
        ]
    )
    metrics = sorted((record.get("metrics") or {}).items())
    hyperparameters = sorted((record.get("hyperparameters") or {}).items())
    eligibility = [
        (e.get("project"), e.get("promotable"), e.get("reason"))
        for e in document.get("eligibility") or []
    ]
    return _sections(
        summary,
        _titled("metrics", ("METRIC", "VALUE"), list(metrics)),
        _titled("hyperparameters", ("NAME", "VALUE"), list(hyperparameters)),
        _titled("inputs", _INPUT_HEADERS, _inputs(document.get("inputs") or [])),
        _titled(
            "deployments", _DEPLOYMENT_HEADERS, _deployments(document.get("deployments") or [])
        ),
        _titled("projects", ("PROJECT", "PROMOTABLE", "REASON"), list(eligibility)),
    )


def endpoint_lineage(document: Any) -> str:
    summary = fields(
        [
            ("endpoint", document.get("endpoint")),
            ("project", document.get("project")),
            ("status", document.get("status")),
            ("config", document.get("config_name")),
            ("pending config", document.get("pending_config_name")),
        ]
    )
    variants, inputs = [], []
    for variant in document.get("variants") or []:
        model = variant.get("model") or {}
        variants.append(
            (
                variant.get("name"),
                variant.get("traffic_share"),
                model.get("name"),
                model.get("run_name"),
            )
        )
        training = model.get("training") or {}
        inputs += [(variant.get("name"), *row) for row in _inputs(training.get("inputs") or [])]
    return _sections(
        summary,
        _titled("variants", ("VARIANT", "TRAFFIC", "MODEL", "RUN"), variants),
        _titled("inputs", ("VARIANT", *_INPUT_HEADERS), inputs),
    )


def dataset_lineage(document: Any) -> str:
    rows = [
        (
            r.get("run_name"),
            r.get("status"),
            [c.get("name") for c in r.get("channels") or []],
            [
                f"{d.get('endpoint')} ({d.get('outcome')}{', serving' if d.get('serving') else ''})"
                for d in r.get("deployments") or []
            ],
        )
        for r in document.get("runs") or []
    ]
    body = table(("RUN", "STATUS", "CHANNELS", "DEPLOYED TO"), rows) if rows else "no runs"
    return f"{document.get('uri')}\n{body}"
