"""Who may use a project: Cognito groups and API keys per project; the stage's endpoints, role."""

from __future__ import annotations

import pytest

from chalicelib.definitions import parse_project
from chalicelib.entrypoints.http import _STATUS as STATUS_OF_ERROR
from chalicelib.entrypoints.http_auth import groups as _groups
from chalicelib.errors import InvalidDefinition, ProjectNotFound, SagewireError
from chalicelib.models import Access, Caller
from chalicelib.services.inference import InferenceService
from chalicelib.services.projects import ProjectService
from tests.factories import project_document
from tests.fakes import FakeProjects, FakeRuntime

ROLE = "arn:aws:iam::123456789012:role/sagewire-prod-sagemaker-execution"
CSV = b",".join([b"1"] * 64)


def guarded(name: str, groups: list[str], api_keys: list[str]) -> dict[str, object]:
    document = project_document(name)
    document["access"] = {"groups": groups, "api_keys": api_keys}
    return document


@pytest.fixture
def world() -> tuple[InferenceService, FakeRuntime]:
    projects = FakeProjects(
        parse_project(guarded("team-a", ["team-a"], ["akeyofteama"])),
        parse_project(guarded("team-b", ["team-b"], ["akeyofteamb"])),
    )
    runtime = FakeRuntime()
    return InferenceService(ProjectService(projects), runtime, 6 * 1024 * 1024), runtime


@pytest.mark.parametrize(
    "caller",
    [
        Caller("cognito", "user-1", frozenset({"team-a"})),
        Caller("cognito", "user-2", frozenset({"other", "team-a"})),
        Caller("api_key", "akeyofteama"),
        Caller("iam", "arn:aws:iam::123456789012:user/alice"),
        Caller("local"),
    ],
)
def test_callers_of_the_project_reach_its_endpoint(
    world: tuple[InferenceService, FakeRuntime], caller: Caller
) -> None:
    inference, runtime = world
    result = inference.predict("team-a", CSV, "text/csv", caller)
    assert result.endpoint == "team-a"
    assert [call["endpoint"] for call in runtime.calls] == ["team-a"]


@pytest.mark.parametrize(
    "caller",
    [
        Caller("cognito", "user-3", frozenset({"team-b"})),
        Caller("cognito", "user-4", frozenset()),
        Caller("cognito", ""),
        Caller("api_key", "akeyofteamb"),
        Caller("api_key", ""),
    ],
)
def test_other_projects_callers_are_refused_before_any_sagemaker_call(
    world: tuple[InferenceService, FakeRuntime], caller: Caller
) -> None:
    inference, runtime = world
    with pytest.raises(ProjectNotFound) as refused:
        inference.predict("team-a", CSV, "text/csv", caller)
    with pytest.raises(ProjectNotFound) as absent:
        inference.predict("team-z", CSV, "text/csv", caller)
    # The same error, code and message but for the name asked for: nothing tells them apart.
    assert type(refused.value) is type(absent.value)
    assert refused.value.code == absent.value.code == "ProjectNotFound"
    assert refused.value.message.replace("team-a", "team-z") == absent.value.message
    assert runtime.calls == []


def test_a_project_without_access_admits_no_cognito_or_key_caller() -> None:
    project = parse_project(project_document("open"))
    assert project.access == Access()
    inference = InferenceService(ProjectService(FakeProjects(project)), FakeRuntime(), 1024)
    for caller in (Caller("cognito", "u", frozenset({"open"})), Caller("api_key", "open")):
        with pytest.raises(ProjectNotFound):
            inference.predict("open", CSV, "text/csv", caller)


@pytest.mark.parametrize(
    ("claim", "groups"),
    [
        (["team-a", "team-b"], {"team-a", "team-b"}),
        ("[team-a, team-b]", {"team-a", "team-b"}),
        ("team-a,team-b", {"team-a", "team-b"}),
        ("team-a", {"team-a"}),
        ("", set()),
        (None, set()),
        (7, set()),
    ],
)
def test_the_groups_claim_is_read_in_every_shape_api_gateway_passes_it(
    claim: object, groups: set[str]
) -> None:
    assert _groups(claim) == groups


@pytest.mark.parametrize(
    ("access", "field"),
    [
        ({"groups": "team-a"}, "access.groups"),
        ({"groups": ["a,b"]}, "access.groups[0]"),
        ({"api_keys": ["not a key"]}, "access.api_keys[0]"),
        ({"users": []}, "access.users"),
    ],
)
def test_access_lists_are_validated(access: dict[str, object], field: str) -> None:
    document = project_document()
    document["access"] = access
    with pytest.raises(InvalidDefinition) as raised:
        parse_project(document)
    assert raised.value.field == field


def stage(prefix: str = "sagewire-prod-", role: str | None = ROLE) -> ProjectService:
    return ProjectService(FakeProjects(), endpoint_prefix=prefix, execution_role_arn=role)


def test_a_stage_manages_only_endpoints_under_its_prefix() -> None:
    with pytest.raises(InvalidDefinition) as raised:
        stage().put("digits-zero", project_document("digits-zero"))
    assert raised.value.field == "endpoint.name"
    project, created, _ = stage().put(
        "digits-zero", project_document("digits-zero", "sagewire-prod-digits-zero")
    )
    assert created
    assert project.endpoint.name == "sagewire-prod-digits-zero"


def test_a_stage_passes_only_its_execution_role_and_uses_it_by_default() -> None:
    document = project_document("digits-zero", "sagewire-prod-digits-zero")
    project, _, _ = stage().put("digits-zero", document)
    assert project.endpoint.execution_role_arn == ROLE
    document["endpoint"]["execution_role_arn"] = "arn:aws:iam::123456789012:role/Admin"
    with pytest.raises(InvalidDefinition) as raised:
        stage().put("digits-zero", document)
    assert raised.value.field == "endpoint.execution_role_arn"
    document["endpoint"]["execution_role_arn"] = ROLE
    assert stage().put("digits-zero", document)[0].endpoint.execution_role_arn == ROLE


def all_subclasses(kind: type[SagewireError]) -> list[type[SagewireError]]:
    return [kind, *(sub for child in kind.__subclasses__() for sub in all_subclasses(child))]


def test_every_domain_error_has_an_http_status() -> None:
    """An error without one would escape as Chalice's own 500, outside the error envelope."""
    for kind in all_subclasses(SagewireError):
        if kind is not SagewireError:
            assert any(base in STATUS_OF_ERROR for base in kind.__mro__), kind.__name__
