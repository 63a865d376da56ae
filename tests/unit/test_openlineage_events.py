"""The report's OpenLineage events for each run state, held to openlineage-python's models."""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openlineage.client.event_v2 import RunState
from openlineage.client.facet_v2 import error_message_run, job_type_job, parent_run
from openlineage.client.serde import Serde

from chalicelib.processing.report_text import openlineage_event, openlineage_line
from chalicelib.processing.report_values import PRODUCER, SCHEMA_URL, RunRecord
from chalicelib.records import RunStatus
from ops.openlineage import InvalidEvent, run_event
from tests.fakes import EPOCH
from tests.report_world import BUCKET, run, trained_world

REASON = "AlgorithmError: ExecuteUserScriptError: exit code 1"
STATES: list[tuple[RunStatus, RunState]] = [
    ("Completed", RunState.COMPLETE),
    ("Failed", RunState.FAIL),
    ("Stopped", RunState.ABORT),
    ("InProgress", RunState.RUNNING),
    ("Stopping", RunState.RUNNING),
]


def _event(status: RunStatus, reason: str | None = REASON) -> dict[str, Any]:
    record = RunRecord(replace(run("job-1", 0.2, 100), status=status, failure_reason=reason))
    return openlineage_event(record, "us-east-1")


@pytest.mark.parametrize(("status", "state"), STATES)
def test_each_run_state_is_its_event_type_and_the_client_sends_it_unchanged(
    status: RunStatus, state: RunState
) -> None:
    document = _event(status)
    event = run_event(document)
    assert event.eventType is state
    assert Serde.to_dict(event) == document


@pytest.mark.parametrize("status", ["Failed", "Stopped"])
def test_failed_and_stopped_runs_carry_sagemakers_failure_reason(status: RunStatus) -> None:
    facet = run_event(_event(status)).run.facets["errorMessage"]  # type: ignore[index]
    assert isinstance(facet, error_message_run.ErrorMessageRunFacet)
    assert facet.message == REASON
    assert facet.programmingLanguage == "SageMaker"
    assert facet._schemaURL == error_message_run.ErrorMessageRunFacet._get_schema()
    assert facet._producer == PRODUCER


@pytest.mark.parametrize("status", ["Completed", "InProgress"])
def test_only_a_failure_or_a_stop_has_an_error_message(status: RunStatus) -> None:
    assert "errorMessage" not in _event(status)["run"]["facets"]


def test_a_failure_without_a_recorded_reason_has_no_error_message() -> None:
    document = _event("Failed", reason=None)
    assert document["eventType"] == "FAIL"
    assert "errorMessage" not in document["run"]["facets"]
    run_event(document)


def test_a_failed_run_wrote_no_model_and_a_stopped_one_may_have() -> None:
    assert _event("Failed")["outputs"] == []
    assert [d["name"] for d in _event("Stopped")["outputs"]] == ["job-1/output/model.tar.gz"]


def test_the_job_is_a_batch_sagemaker_training_job() -> None:
    facet = run_event(_event("Completed")).job.facets["jobType"]  # type: ignore[index]
    assert isinstance(facet, job_type_job.JobTypeJobFacet)
    assert (facet.processingType, facet.integration, facet.jobType) == (
        "BATCH",
        "SAGEMAKER",
        "TRAINING_JOB",
    )
    assert facet._schemaURL == job_type_job.JobTypeJobFacet._get_schema()


def test_a_tuning_jobs_training_job_names_the_tuning_job_as_its_parent() -> None:
    tuned = replace(run("Tune-1-003-abc", 0.2, 100), tuning_job_name="Tune-1", status="Failed")
    document = openlineage_event(RunRecord(tuned), "us-east-1")
    facet = run_event(document).run.facets["parent"]  # type: ignore[index]
    assert isinstance(facet, parent_run.ParentRunFacet)
    assert facet._schemaURL == parent_run.ParentRunFacet._get_schema()
    arn = "arn:aws:sagemaker:us-east-1:123456789012:hyper-parameter-tuning-job/tune-1"
    assert facet.run.runId == str(uuid.uuid5(uuid.NAMESPACE_URL, arn))
    assert (facet.job.namespace, facet.job.name) == ("sagemaker://us-east-1", "Tune-1")
    assert "parent" not in _event("Completed")["run"]["facets"]


def test_a_metric_that_is_not_finite_is_left_out_not_null() -> None:
    odd = replace(run("job-1", 0.2, 100), metrics={"loss": float("nan"), "acc": 0.9})
    document = openlineage_event(RunRecord(odd), "us-east-1")
    assert document["run"]["facets"]["sagewire_metrics"]["metrics"] == {"acc": 0.9}
    run_event(document)


def test_every_facet_names_its_producer_and_a_versioned_schema() -> None:
    document = _event("Failed")
    facets = {**document["run"]["facets"], **document["job"]["facets"]}
    assert set(facets) >= {"errorMessage", "jobType", "sagewire_metrics"}
    for name, facet in facets.items():
        assert facet["_producer"] == PRODUCER, name
        official = facet["_schemaURL"].startswith("https://openlineage.io/spec/facets/")
        assert official or facet["_schemaURL"].startswith(f"{SCHEMA_URL}#/$defs/"), name


def test_every_event_of_a_report_passes_the_clients_models() -> None:
    world = trained_world()
    stopped = replace(run("ll-stopped", 0.4, 500), status="Stopped", failure_reason="stopped")
    world.train(replace(stopped, metrics={}))
    world.reports.write(EPOCH + timedelta(hours=1))
    body = world.objects.objects[BUCKET, "reports/latest.openlineage.jsonl"][0]
    events = [run_event(json.loads(line)) for line in body.splitlines()]
    states = {event.job.name: event.eventType for event in events}
    assert states["ll-failed"] is RunState.FAIL
    assert states["ll-stopped"] is RunState.ABORT
    assert states["ll-batch-200"] is RunState.COMPLETE


@settings(max_examples=60)
@given(
    status=st.sampled_from([status for status, _ in STATES]),
    metrics=st.dictionaries(st.text(max_size=8), st.floats(), max_size=3),
    hyperparameters=st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=3),
    reason=st.none() | st.text(max_size=20),
    tuning=st.none() | st.from_regex(r"[a-zA-Z0-9](-?[a-zA-Z0-9]){0,20}", fullmatch=True),
)
def test_any_run_makes_an_event_the_client_sends_unchanged(
    status: RunStatus,
    metrics: dict[str, float],
    hyperparameters: dict[str, str],
    reason: str | None,
    tuning: str | None,
) -> None:
    base = run("job-1", 0.2, 100)
    record = RunRecord(
        replace(
            base,
            status=status,
            metrics=metrics,
            hyperparameters=hyperparameters,
            failure_reason=reason,
            tuning_job_name=tuning,
        )
    )
    document = json.loads(openlineage_line(record, "eu-west-1"))
    assert Serde.to_dict(run_event(document)) == document


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (lambda e: e.update(eventType="DONE"), "DONE"),
        (lambda e: e["run"].update(runId="not-a-uuid"), "UUID"),
        (lambda e: e["run"]["facets"]["errorMessage"].pop("programmingLanguage"), "programming"),
        (lambda e: e["job"]["facets"]["jobType"].update(colour="red"), "colour"),
        (lambda e: e["job"]["facets"]["jobType"].update(_schemaURL="https://x/1.json"), "model"),
        (lambda e: e["run"]["facets"]["sagewire_metrics"].pop("_schemaURL"), "_schemaURL"),
        (lambda e: e["outputs"].append({"namespace": "s3://b"}), "name"),
        (lambda e: e.update(extra=1), "extra"),
    ],
)
def test_an_event_the_client_would_refuse_or_change_is_invalid(change: Any, why: str) -> None:
    document = _event("Failed")
    change(document)
    with pytest.raises(InvalidEvent, match=why):
        run_event(document)
