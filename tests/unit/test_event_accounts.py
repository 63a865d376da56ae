"""Events pinned to the stage's account: the patterns the app registers and the handlers' check."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.processing.events import foreign_account
from deploy.stages import PROJECT_DIR, load_config, stage_environment
from devstack import patterns
from devstack.events import ACCOUNT_ID as DEVSTACK_ACCOUNT

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "events"
# Events the shared fixtures lack, in the documented shape.
OWN_FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "events"
EVENTS = [
    "training-job-completed.json",
    "tuning-job-completed.json",
    "endpoint-state-change.json",
    "s3-object-created.json",
    "model-package-state-change.json",
]
OURS, THEIRS = "123456789012", "210987654321"


def fixture(name: str) -> dict[str, Any]:
    path = FIXTURES / name if (FIXTURES / name).exists() else OWN_FIXTURES / name
    event: dict[str, Any] = json.loads(path.read_text())
    return event


@pytest.mark.parametrize("name", EVENTS)
def test_the_fixtures_are_of_our_account(name: str) -> None:
    assert foreign_account(fixture(name), OURS) is None


@pytest.mark.parametrize("name", EVENTS)
def test_an_event_of_another_account_is_foreign(name: str) -> None:
    event = fixture(name) | {"account": THEIRS}
    assert foreign_account(event, OURS) == f"the event's account is not {OURS}"


@pytest.mark.parametrize(
    ("name", "field"),
    [
        ("training-job-completed.json", "TrainingJobArn"),
        ("tuning-job-completed.json", "HyperParameterTuningJobArn"),
        ("endpoint-state-change.json", "EndpointArn"),
        ("model-package-state-change.json", "ModelPackageArn"),
    ],
)
def test_a_resource_arn_of_another_account_is_foreign(name: str, field: str) -> None:
    in_detail = fixture(name)
    in_detail["detail"][field] = in_detail["detail"][field].replace(OURS, THEIRS)
    in_resources = fixture(name)
    in_resources["resources"] = [arn.replace(OURS, THEIRS) for arn in in_resources["resources"]]

    for event in (in_detail, in_resources):
        assert foreign_account(event, OURS) == f"a resource of the event is not in account {OURS}"


def test_without_a_stage_account_nothing_is_foreign() -> None:
    assert (
        foreign_account(fixture("training-job-completed.json") | {"account": THEIRS}, None) is None
    )


ANY_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)


@given(
    st.fixed_dictionaries(
        {"account": st.just(OURS) | ANY_JSON},
        optional={"resources": ANY_JSON, "detail": ANY_JSON},
    )
)
def test_any_event_shape_is_judged_without_raising(event: dict[str, Any]) -> None:
    reason = foreign_account(event, OURS)
    assert reason is None or reason.startswith(("the event's", "a resource of the event"))


PATTERNS = """
import json
from app import app
found = {s.name: getattr(s, "event_pattern", None) for s in app.event_sources}
print(json.dumps({name: pattern for name, pattern in found.items() if pattern}))
"""


def app_patterns(environment: dict[str, str]) -> dict[str, dict[str, Any]]:
    """The app's event patterns, imported in a fresh process as `chalice package` imports it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAGEWIRE_")} | environment
    out = subprocess.run(
        [sys.executable, "-c", PATTERNS], cwd=PROJECT_DIR, env=env, capture_output=True, check=True
    )
    found: dict[str, dict[str, Any]] = json.loads(out.stdout)
    return found


def test_every_event_pattern_of_the_local_stage_is_pinned_and_matches_the_devstacks_events() -> (
    None
):
    environment = stage_environment(load_config(), "local")
    assert environment["SAGEWIRE_ACCOUNT_ID"] == DEVSTACK_ACCOUNT

    found = app_patterns(environment)

    assert set(found) == {
        "on_training_job_state_change",
        "on_tuning_job_state_change",
        "on_endpoint_state_change",
        "on_dataset_object",
        "on_batch_object",
        "on_run_import",
        "on_model_package_state_change",
    }
    assert {json.dumps(p["account"]) for p in found.values()} == {json.dumps([DEVSTACK_ACCOUNT])}
    request = {
        "source": "sagewire",
        "detail-type": "Run Import Requested",
        "account": DEVSTACK_ACCOUNT,
        "detail": {"project": "p", "import_id": "i"},
    }
    assert patterns.matches(found["on_run_import"], request)
    assert not patterns.matches(found["on_run_import"], request | {"account": THEIRS})
    package = fixture("model-package-state-change.json")
    assert patterns.matches(found["on_model_package_state_change"], package)
    assert not patterns.matches(
        found["on_model_package_state_change"], package | {"account": THEIRS}
    )
    training = fixture("training-job-completed.json")
    assert patterns.matches(found["on_training_job_state_change"], training)
    assert not patterns.matches(
        found["on_training_job_state_change"], training | {"account": THEIRS}
    )
