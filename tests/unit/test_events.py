"""Normalizing SageMaker's events: every documented quirk, and only MalformedInput otherwise."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.errors import MalformedInput
from chalicelib.processing.events import (
    endpoint_change,
    event_time,
    model_package_change,
    training_job_change,
    tuning_job_change,
)

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "events"


def fixture(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return event


def test_the_training_fixture_normalizes() -> None:
    change = training_job_change(fixture("training-job-completed.json"))
    assert change.name == "linear-mbs-100"
    assert change.status == "Completed"
    assert change.last_modified_at == datetime.fromtimestamp(1763641573, tz=UTC)
    assert change.tags == {"Project": "Project_Binary_Classifier"}


def test_the_tuning_fixture_normalizes() -> None:
    change = tuning_job_change(fixture("tuning-job-completed.json"))
    assert (change.name, change.status, change.tags) == ("pytorch-mnist-hpo", "Completed", {})


def test_the_endpoint_fixture_normalizes_in_service_spelling() -> None:
    change = endpoint_change(fixture("endpoint-state-change.json"))
    assert change.status == "InService"
    assert change.config_name == "mnist-zero-linear-mbs-100-3f2a9c"
    assert change.last_modified_at == datetime.fromtimestamp(1763642400, tz=UTC)


@pytest.mark.parametrize(
    "value",
    [
        1763641573000,
        "1763641573000",
        1763641573000.0,
        "2025-11-20T12:26:13+00:00",
        "2025-11-20T12:26:13",
    ],
)
def test_times_in_every_shape_are_one_utc_instant(value: object) -> None:
    assert event_time(value, "t") == datetime(2025, 11, 20, 12, 26, 13, tzinfo=UTC)


@pytest.mark.parametrize("status", ["IN_SERVICE", "InService", "inservice", "In_Service"])
def test_status_spellings_are_one_status(status: str) -> None:
    event = fixture("endpoint-state-change.json")
    event["detail"]["EndpointStatus"] = status
    assert endpoint_change(event).status == "InService"


def test_tags_in_the_api_list_form_are_a_map() -> None:
    event = fixture("training-job-completed.json")
    event["detail"]["Tags"] = [{"Key": "Project", "Value": "P"}]
    assert training_job_change(event).tags == {"Project": "P"}


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=20), children, max_size=4)
    ),
    max_leaves=15,
)


@given(json_values)
def test_any_event_is_parsed_or_refused_with_malformed_input(event: Any) -> None:
    for parse in (training_job_change, tuning_job_change, endpoint_change, model_package_change):
        with contextlib.suppress(MalformedInput):
            parse(event if isinstance(event, dict) else {"detail": event})


@given(
    st.sampled_from(["TrainingJobStatus", "LastModifiedTime", "TrainingJobName", "Tags"]),
    json_values,
)
def test_any_field_value_is_parsed_or_refused(field: str, value: Any) -> None:
    event = fixture("training-job-completed.json")
    event["detail"][field] = value
    with contextlib.suppress(MalformedInput):
        training_job_change(event)


OWN_FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "events"


def package_event() -> dict[str, Any]:
    event: dict[str, Any] = json.loads(
        (OWN_FIXTURES / "model-package-state-change.json").read_text()
    )
    return event


def test_the_model_package_fixture_normalizes() -> None:
    change = model_package_change(package_event())
    assert change.arn == "arn:aws:sagemaker:us-east-1:123456789012:model-package/mnist-zero/1"
    assert change.group == "mnist-zero"
    assert change.approval == "Approved"
    assert change.last_modified_at == datetime.fromtimestamp(1763642400, tz=UTC)


@pytest.mark.parametrize(
    ("spelling", "status"),
    [("APPROVED", "Approved"), ("PENDING_MANUAL_APPROVAL", "PendingManualApproval")],
)
def test_approval_statuses_in_either_spelling(spelling: str, status: str) -> None:
    event = package_event()
    event["detail"]["ModelApprovalStatus"] = spelling
    assert model_package_change(event).approval == status


def test_a_package_without_last_modified_time_is_keyed_by_the_events_time() -> None:
    event = package_event()
    del event["detail"]["LastModifiedTime"]
    assert model_package_change(event).last_modified_at == datetime(
        2026, 11, 20, 12, 40, tzinfo=UTC
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("ModelPackageArn", "arn:aws:sagemaker:us-east-1:123456789012:model/m"),
        ("ModelPackageGroupName", None),
        ("ModelApprovalStatus", "Maybe"),
    ],
)
def test_a_package_event_without_its_fields_is_malformed(field: str, value: Any) -> None:
    event = package_event()
    event["detail"][field] = value
    with pytest.raises(MalformedInput):
        model_package_change(event)


@given(
    st.sampled_from(
        ["ModelPackageArn", "ModelPackageGroupName", "ModelApprovalStatus", "LastModifiedTime"]
    ),
    json_values,
)
def test_any_package_field_value_is_parsed_or_refused(field: str, value: Any) -> None:
    event = package_event()
    event["detail"][field] = value
    with contextlib.suppress(MalformedInput):
        model_package_change(event)
