"""The report's text renderings: JSON (and its document), CSV and OpenLineage events."""

from __future__ import annotations

import csv
import io
import math
import uuid
from datetime import datetime
from typing import Any

import orjson

from chalicelib.processing.report_values import (
    PRODUCER,
    REPORT_SCHEMA_VERSION,
    RUN_EVENT_SCHEMA,
    SCHEMA_URL,
    Report,
    RunRecord,
    iso,
)
from chalicelib.records import Champion, Promotion

_JSON = orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2
# Spreadsheets run a cell that starts with one of these as a formula.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


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
