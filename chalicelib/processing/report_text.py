"""The report's text renderings, a piece at a time: JSON, CSV rows, OpenLineage events."""

from __future__ import annotations

import csv
import io
import math
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import orjson

from chalicelib.processing.report_values import (
    ERROR_MESSAGE_SCHEMA,
    JOB_TYPE_SCHEMA,
    PARENT_SCHEMA,
    PRODUCER,
    REPORT_SCHEMA_VERSION,
    RUN_EVENT_SCHEMA,
    SCHEMA_URL,
    LeaderboardRow,
    ProjectReport,
    ReportSummary,
    RunRecord,
    iso,
)
from chalicelib.records import Champion, Promotion, Run, RunStatus

_JSON = orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2
# Spreadsheets run a cell that starts with one of these as a formula.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _number(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _optional_iso(value: datetime | None) -> str | None:
    return None if value is None else iso(value)


def run_document(record: RunRecord) -> dict[str, Any]:
    """One element of the report's `runs`."""
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


def project_document(project: ProjectReport) -> dict[str, Any]:
    """One element of the report's `projects` (docs/report-schema.json)."""
    return {
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


def summary_document(summary: ReportSummary) -> dict[str, Any]:
    """The report's document with empty `projects` and `runs`, which are streamed in."""
    changes = summary.changes
    return {
        "schema_version": REPORT_SCHEMA_VERSION,
        "generated_at": iso(summary.generated_at),
        "region": summary.region,
        "projects": [],
        "runs": [],
        "drift": [
            {
                "project": row.project,
                "endpoint": row.endpoint,
                "champion_config": row.champion_config,
                "serving_config": row.serving_config,
            }
            for row in summary.drift
        ],
        "orphans": {
            "models": list(summary.orphans.models),
            "endpoint_configs": list(summary.orphans.endpoint_configs),
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


def json_frame(summary: ReportSummary) -> tuple[bytes, bytes, bytes]:
    """The indented JSON document cut where its `projects` and `runs` items go: what comes
    before the first project, between the last project and the first run, after the last run.

    The keys are sorted, so `projects` and `runs` are the only top-level keys with those names at
    two spaces' indent after a newline; no string value holds a raw newline."""
    whole = orjson.dumps(summary_document(summary), option=_JSON) + b"\n"
    head, _, rest = whole.partition(b'\n  "projects": []')
    middle, _, tail = rest.partition(b'\n  "runs": []')
    return head + b'\n  "projects": ', middle + b'\n  "runs": ', tail


class JsonArray:
    """A top-level array of the indented document (json_frame), an element at a time."""

    def __init__(self, write: Callable[[bytes], None]) -> None:
        self._write = write
        self._empty = True

    def add(self, value: dict[str, Any]) -> None:
        body = orjson.dumps(value, option=_JSON).replace(b"\n", b"\n    ")
        self._write((b"[\n    " if self._empty else b",\n    ") + body)
        self._empty = False

    def close(self) -> None:
        self._write(b"[]" if self._empty else b"\n  ]")


def _cell(value: str | float | int | None) -> str | float | int:
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def _csv_line(cells: list[str | float | int]) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerow(cells)
    return out.getvalue().encode()


def csv_header(metrics: Sequence[str], hyperparameters: Sequence[str]) -> bytes:
    """The CSV's columns: a row per (project, run) and a column per metric and hyperparameter
    of any run of the report (`metric:<name>`, `hp:<name>`)."""
    return _csv_line(
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


def csv_cells(project: ProjectReport, row: LeaderboardRow, run: Run) -> list[Any]:
    """A CSV row's values before the report's metric and hyperparameter names are known: the
    fixed columns, then the run's metrics and hyperparameters (csv_row places them)."""
    champion = project.champion.run_name if project.champion else None
    return [
        project.name,
        row.rank,
        run.name,
        run.status,
        project.objective_metric,
        _number(row.objective),
        "yes" if run.name == champion else "",
        {name: _number(value) for name, value in run.metrics.items()},
        dict(run.hyperparameters),
    ]


def csv_row(cells: list[Any], metrics: Sequence[str], hyperparameters: Sequence[str]) -> bytes:
    *fixed, champion, run_metrics, run_hyperparameters = cells
    return _csv_line(
        [
            *(_cell(value) for value in fixed),
            champion,
            *(_cell(run_metrics.get(name)) for name in metrics),
            *(_cell(run_hyperparameters.get(name)) for name in hyperparameters),
        ]
    )


def _split_s3(uri: str) -> tuple[str, str]:
    """`s3://bucket/key/prefix/` -> ("s3://bucket", "key/prefix")."""
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return f"s3://{bucket}", key.rstrip("/") or "/"


def _facet(name: str, **fields: Any) -> dict[str, Any]:
    return {"_producer": PRODUCER, "_schemaURL": f"{SCHEMA_URL}#/$defs/{name}", **fields}


# The report is a snapshot: a run still going is RUNNING, a finished one its terminal event.
_EVENT_TYPES: dict[RunStatus, str] = {
    "InProgress": "RUNNING",
    "Stopping": "RUNNING",
    "Completed": "COMPLETE",
    "Failed": "FAIL",
    "Stopped": "ABORT",
}
_JOB_TYPE = {
    "_producer": PRODUCER,
    "_schemaURL": JOB_TYPE_SCHEMA,
    "processingType": "BATCH",
    "integration": "SAGEMAKER",
    "jobType": "TRAINING_JOB",
}


def _run_id(arn: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, arn))


def _tuning_parent(run: Run, namespace: str) -> dict[str, Any]:
    """The `parent` facet of a tuning job's training job: the tuning job, its runId the UUIDv5 of
    its ARN (the training job's partition, region and account; SageMaker's ARNs are lower case)."""
    name = run.tuning_job_name or ""
    prefix = run.arn.rsplit(":", 1)[0]
    arn = f"{prefix}:hyper-parameter-tuning-job/{name.lower()}"
    return {
        "_producer": PRODUCER,
        "_schemaURL": PARENT_SCHEMA,
        "run": {"runId": _run_id(arn)},
        "job": {"namespace": namespace, "name": name},
    }


def _run_facets(record: RunRecord, namespace: str) -> dict[str, Any]:
    run = record.run
    facets = {
        "sagewire_hyperparameters": _facet(
            "HyperparametersRunFacet", hyperparameters=dict(run.hyperparameters)
        ),
        "sagewire_metrics": _facet(
            # Left out, not null, when not finite: the client drops nulls from what it sends.
            "MetricsRunFacet",
            metrics={k: v for k, v in run.metrics.items() if math.isfinite(v)},
        ),
        "sagewire_preprocessing": _facet(
            "PreprocessingRunFacet", parameters=dict(record.preprocessing)
        ),
    }
    if run.tuning_job_name:
        facets["parent"] = _tuning_parent(run, namespace)
    if run.failure_reason and run.status in ("Failed", "Stopped"):
        # The facet requires a language; what SageMaker reports is not any program's own error.
        facets["errorMessage"] = {
            "_producer": PRODUCER,
            "_schemaURL": ERROR_MESSAGE_SCHEMA,
            "message": run.failure_reason,
            "programmingLanguage": "SageMaker",
        }
    return facets


def openlineage_event(record: RunRecord, region: str) -> dict[str, Any]:
    """The RunEvent of one training run in its state now: RUNNING, COMPLETE, FAIL or ABORT."""
    run = record.run
    inputs = []
    for channel in run.channels:
        namespace, name = _split_s3(channel.s3_uri)
        inputs.append({"namespace": namespace, "name": name, "facets": {}})
    outputs = []
    # A failed job wrote no model where its artifact would have gone; a stopped one may have.
    if run.model_artifact and run.status != "Failed":
        namespace, name = _split_s3(run.model_artifact)
        outputs.append({"namespace": namespace, "name": name, "facets": {}})
    namespace = f"sagemaker://{region}"
    return {
        "eventType": _EVENT_TYPES[run.status],
        "eventTime": iso(run.ended_at or run.last_modified_at),
        "producer": PRODUCER,
        "schemaURL": RUN_EVENT_SCHEMA,
        "run": {"runId": _run_id(run.arn), "facets": _run_facets(record, namespace)},
        "job": {
            "namespace": namespace,
            "name": run.name,
            "facets": {"jobType": dict(_JOB_TYPE)},
        },
        "inputs": inputs,
        "outputs": outputs,
    }


def openlineage_line(record: RunRecord, region: str) -> bytes:
    """One line of the JSON Lines file: the report's runs' events, in run-name order."""
    return orjson.dumps(openlineage_event(record, region), option=orjson.OPT_SORT_KEYS) + b"\n"
