"""Project definition parsing: only InvalidDefinition for bad documents, stable round trips."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.definitions import parse_project, project_to_document
from chalicelib.errors import InvalidDefinition
from chalicelib.models import Project
from tests.factories import project_document

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)
FIELDS = [
    ("name",),
    ("objective", "metric"),
    ("objective", "goal"),
    ("objective", "min_improvement"),
    ("endpoint", "name"),
    ("endpoint", "managed"),
    ("endpoint", "instance_count"),
    ("endpoint", "strategy"),
    ("inference", "input", "shape"),
    ("inference", "input", "scale"),
    ("inference", "input", "std"),
    ("inference", "request", "content_type"),
    ("inference", "response", "postprocess"),
    ("inference", "response", "labels"),
    ("match", "tags"),
    ("guards",),
    ("access",),
    ("access", "groups"),
    ("access", "api_keys"),
]


def outcome(document: Any) -> Project | InvalidDefinition:
    try:
        return parse_project(document)
    except InvalidDefinition as error:
        return error


@given(json_values)
def test_any_json_value_is_a_project_or_invalid_definition(document: Any) -> None:
    result = outcome(document)
    assert isinstance(result, Project) or result.field


@settings(max_examples=300)
@given(st.sampled_from(FIELDS), json_values)
def test_any_field_value_is_accepted_or_named_in_the_error(
    path: tuple[str, ...], value: Any
) -> None:
    document = project_document()
    target = document
    for key in path[:-1]:
        target = target.setdefault(key, {})
    target[path[-1]] = value
    result = outcome(document)
    if isinstance(result, Project):
        assert parse_project(project_to_document(result)) == result
    else:
        assert result.field.startswith(path[0])


def test_the_canonical_document_round_trips_and_fills_defaults() -> None:
    project = parse_project(project_document())
    document = project_to_document(project)
    assert parse_project(copy.deepcopy(document)) == project
    assert document["inference"]["input"]["resize_filter"] == "box"
    assert document["inference"]["request"]["json_layout"] == "list"
    assert document["endpoint"]["strategy"]["type"] == "all_at_once"


def test_the_design_documents_example_is_valid() -> None:
    example = {
        "name": "mnist-zero",
        "match": {"tags": {"Project": "Project_Binary_Classifier"}},
        "objective": {
            "metric": "train:objective_loss:final",
            "goal": "minimize",
            "min_improvement": 0.0,
        },
        "guards": [{"metric": "validation:binary_f_beta", "op": ">=", "value": 0.9}],
        "endpoint": {
            "name": "mnist-zero",
            "instance_type": "ml.m5.large",
            "instance_count": 1,
            "execution_role_arn": "arn:aws:iam::123456789012:role/SageMakerExecution",
            "strategy": {
                "type": "canary",
                "canary_percent": 10,
                "wait_seconds": 600,
                "rollback_alarms": ["mnist-zero-5xx"],
            },
        },
        "inference": {
            "input": {"shape": [28, 28], "scale": 255.0, "mean": 0.0, "std": 1.0, "flatten": True},
            "request": {"content_type": "text/csv"},
            "response": {"accept": "application/json", "postprocess": "linear_learner"},
        },
    }
    project = parse_project(example, "mnist-zero")
    assert project.endpoint.strategy.canary_percent == 10
    assert project.guards[0].value == 0.9


@pytest.mark.parametrize("name", ["", "-a", "a-", "a_b", "x" * 64, "a b"])
def test_names_follow_sagemakers_pattern(name: str) -> None:
    document = project_document()
    document["name"] = name
    with pytest.raises(InvalidDefinition) as raised:
        parse_project(document)
    assert raised.value.field == "name"


def test_a_fronted_endpoint_is_its_name_alone_and_round_trips() -> None:
    document = project_document(endpoint="KMeansEndpoint-2026-01-01")
    document["endpoint"] = {"name": "KMeansEndpoint-2026-01-01", "managed": False}

    project = parse_project(document)
    stored = project_to_document(project)

    assert not project.endpoint.managed
    # Its winners are recorded, never deployed: a manual project's behaviour, and more.
    assert project.endpoint.strategy.type == "manual"
    assert stored["endpoint"] == {"name": "KMeansEndpoint-2026-01-01", "managed": False}
    assert parse_project(copy.deepcopy(stored)) == project
    assert project_to_document(parse_project(project_document()))["endpoint"]["managed"] is True


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("instance_type", "ml.m5.large"),
        ("instance_count", 2),
        ("execution_role_arn", "arn:aws:iam::123456789012:role/Execution"),
        ("strategy", {"type": "manual"}),
        ("network_isolation", True),
        ("model", {"environment": {}}),
    ],
)
def test_a_fronted_endpoint_refuses_what_only_deploying_uses(field: str, value: Any) -> None:
    document = project_document()
    document["endpoint"] = {"name": "KMeansEndpoint-1", "managed": False, field: value}

    with pytest.raises(InvalidDefinition) as raised:
        parse_project(document)

    assert raised.value.field == f"endpoint.{field}"
    assert "managed: false" in raised.value.message


@given(st.booleans(), st.sampled_from(["KMeansEndpoint-2026-01-01", "xgb", "A1-b2"]))
def test_managed_or_not_any_endpoint_round_trips(managed: bool, name: str) -> None:
    document = project_document()
    document["endpoint"] = {"name": name, "managed": managed}

    project = parse_project(document)

    assert project.endpoint.managed is managed
    assert parse_project(project_to_document(project)) == project
