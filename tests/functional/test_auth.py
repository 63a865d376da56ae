"""Route authorizers per stage setting, and per-project access through the API."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
POOL = "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_Example"
SIGV4 = {
    "in": "header",
    "type": "apiKey",
    "name": "Authorization",
    "x-amazon-apigateway-authtype": "awsSigv4",
}
# Every route and its audience; a new route fails the walk until it is placed here.
AUDIENCES = {
    "GET /v1/health": "anyone",
    "POST /v1/projects/{project}/predictions": "clients",
    "GET /v1/projects": "operators",
    "GET /v1/projects/{project}": "operators",
    "PUT /v1/projects/{project}": "operators",
    "DELETE /v1/projects/{project}": "operators",
    "GET /v1/projects/{project}/leaderboard": "operators",
    "GET /v1/projects/{project}/champion": "operators",
    "GET /v1/projects/{project}/promotions": "operators",
    "POST /v1/projects/{project}/promotions": "operators",
    "GET /v1/projects/{project}/promotions/{promotion_id}": "operators",
    "PUT /v1/projects/{project}/variants": "operators",
    "PATCH /v1/projects/{project}/variants": "operators",
    "GET /v1/projects/{project}/imports/latest": "operators",
    "POST /v1/projects/{project}/imports": "operators",
    "GET /v1/runs/{training_job}": "operators",
    "GET /v1/lineage/endpoints/{endpoint}": "operators",
    "GET /v1/lineage/datasets": "operators",
    "GET /v1/reports/latest": "operators",
}
WALK = """
import json
from app import app
routes = {}
for path, methods in app.routes.items():
    for method, entry in methods.items():
        authorizer = entry.authorizer
        routes[f"{method} {path}"] = {
            "authorizer": None if authorizer is None else authorizer.to_swagger(),
            "api_key_required": bool(entry.api_key_required),
        }
print(json.dumps(routes))
"""


def run_python(code: str, **variables: str) -> subprocess.CompletedProcess[str]:
    """The app imported afresh under a stage's settings, as `chalice package` imports it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAGEWIRE_")}
    env.update(variables)
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def walk(**variables: str) -> dict[str, Any]:
    result = run_python(WALK, **variables)
    assert result.returncode == 0, result.stderr
    routes: dict[str, Any] = json.loads(result.stdout)
    return routes


def cognito(pool: str) -> dict[str, Any]:
    return {
        "in": "header",
        "type": "apiKey",
        "name": "Authorization",
        "x-amazon-apigateway-authtype": "cognito_user_pools",
        "x-amazon-apigateway-authorizer": {"type": "cognito_user_pools", "providerARNs": [pool]},
    }


@pytest.mark.parametrize(
    ("mode", "clients"),
    [
        ("iam", {"authorizer": SIGV4, "api_key_required": False}),
        ("cognito", {"authorizer": cognito(POOL), "api_key_required": False}),
        ("api_key", {"authorizer": None, "api_key_required": True}),
        ("none", {"authorizer": None, "api_key_required": False}),
    ],
)
def test_each_route_has_its_audiences_authorizer(mode: str, clients: dict[str, Any]) -> None:
    routes = walk(SAGEWIRE_PREDICTIONS_AUTH=mode, SAGEWIRE_COGNITO_USER_POOL_ARNS=POOL)
    assert set(routes) == set(AUDIENCES)
    expected = {
        "anyone": {"authorizer": None, "api_key_required": False},
        "clients": clients,
        "operators": {"authorizer": SIGV4, "api_key_required": False},
    }
    for route, audience in AUDIENCES.items():
        assert routes[route] == expected[audience], route


def test_the_default_is_iam_everywhere_but_health() -> None:
    routes = walk()
    assert routes["POST /v1/projects/{project}/predictions"]["authorizer"] == SIGV4


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"SAGEWIRE_PREDICTIONS_AUTH": "cognito"}, "SAGEWIRE_COGNITO_USER_POOL_ARNS"),
        ({"SAGEWIRE_PREDICTIONS_AUTH": "open"}, "SAGEWIRE_PREDICTIONS_AUTH must be one of"),
    ],
)
def test_a_stage_with_an_impossible_auth_setting_does_not_package(
    variables: dict[str, str], message: str
) -> None:
    result = run_python("import app", **variables)
    assert result.returncode != 0
    assert message in result.stderr


@pytest.mark.parametrize("mode", ["cognito", "api_key"])
def test_cross_project_calls_are_refused_with_no_sagemaker_call(mode: str) -> None:
    """The cases run in a fresh interpreter: the stage's authorizers are fixed at import."""
    cases = Path(__file__).with_name("access_cases.py")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", str(cases)],
        cwd=ROOT,
        env={
            **{k: v for k, v in os.environ.items() if not k.startswith("SAGEWIRE_")},
            "SAGEWIRE_PREDICTIONS_AUTH": mode,
            "SAGEWIRE_COGNITO_USER_POOL_ARNS": POOL,
        },
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed, 1 skipped" in result.stdout
