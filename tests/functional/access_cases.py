"""Per-project access through the API under the stage's auth (run by test_auth.py's subprocess)."""

from __future__ import annotations

import base64
import json
import os
from typing import Any

import pytest
from chalice.local import LocalGateway
from chalice.test import Client

from tests.factories import project_document, register_project
from tests.fakes import FakeRuntime

MODE = os.environ.get("SAGEWIRE_PREDICTIONS_AUTH", "iam")
CSV = b",".join([b"1"] * 64)
# API key values and the ids API Gateway's usage plan knows them by.
KEYS = {"secret-value-of-team-a": "keyteama", "secret-value-of-team-b": "keyteamb"}


def token(groups: list[str]) -> str:
    """A Cognito ID token's shape; `chalice local` reads its claims as API Gateway would."""

    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    claims = {"sub": "user-1", "cognito:username": "user-1", "cognito:groups": groups}
    return f"{part({'alg': 'none'})}.{part(claims)}.signature"


@pytest.fixture
def api_gateway_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """What API Gateway does for an `api_key_required` route: a known key's id in the context."""
    generate = LocalGateway._generate_lambda_event

    def with_key(self: LocalGateway, *args: Any, **kwargs: Any) -> Any:
        event = generate(self, *args, **kwargs)
        key = event["headers"].get("x-api-key")
        if key in KEYS:
            event["requestContext"]["identity"]["apiKeyId"] = KEYS[key]
        return event

    monkeypatch.setattr(LocalGateway, "_generate_lambda_event", with_key)


@pytest.fixture
def teams(client: Client) -> Client:
    for team in ("team-a", "team-b"):
        document = project_document(team)
        document["access"] = {"groups": [team], "api_keys": [f"key{team.replace('-', '')}"]}
        register_project(client, document)
    return client


def predict(client: Client, project: str, headers: dict[str, str]) -> tuple[int, str]:
    response = client.http.post(
        f"/v1/projects/{project}/predictions",
        headers={"Content-Type": "text/csv", **headers},
        body=CSV,
    )
    body = response.json_body
    return response.status_code, body["error"]["code"] if "error" in body else "ok"


def answer(client: Client, project: str, headers: dict[str, str]) -> tuple[int, Any, Any]:
    """All a client learns from a refusal: status, headers and body, but for the request id."""
    response = client.http.post(
        f"/v1/projects/{project}/predictions",
        headers={"Content-Type": "text/csv", **headers},
        body=CSV,
    )
    error = dict(response.json_body["error"], request_id=None)
    error["message"] = error["message"].replace(project, "<project>")
    return response.status_code, sorted(response.headers.items()), error


@pytest.mark.skipif(MODE != "cognito", reason="Cognito stages only")
def test_a_cognito_group_reaches_its_project_and_no_other(
    teams: Client, endpoint: FakeRuntime
) -> None:
    headers = {"Authorization": token(["team-a"])}
    assert predict(teams, "team-a", headers) == (200, "ok")
    # Another team's project and no project at all answer alike: nothing tells them apart.
    assert predict(teams, "team-b", headers) == (404, "ProjectNotFound")
    assert predict(teams, "team-b", {"Authorization": token([])}) == (404, "ProjectNotFound")
    assert answer(teams, "team-b", headers) == answer(teams, "team-zz", headers)
    assert [call["endpoint"] for call in endpoint.calls] == ["team-a"]


@pytest.mark.skipif(MODE != "api_key", reason="API key stages only")
@pytest.mark.usefixtures("api_gateway_keys")
def test_an_api_key_reaches_its_project_and_no_other(teams: Client, endpoint: FakeRuntime) -> None:
    headers = {"x-api-key": "secret-value-of-team-a"}
    assert predict(teams, "team-a", headers) == (200, "ok")
    # Another team's project and no project at all answer alike: nothing tells them apart.
    assert predict(teams, "team-b", headers) == (404, "ProjectNotFound")
    assert predict(teams, "team-b", {}) == (404, "ProjectNotFound")
    assert answer(teams, "team-b", headers) == answer(teams, "team-zz", headers)
    assert [call["endpoint"] for call in endpoint.calls] == ["team-a"]
