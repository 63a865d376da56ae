"""API Gateway's own errors in sagewire's envelope: in the packaged API's definition, valid JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from chalice.test import Client

from chalicelib import errors
from deploy import gateway_responses as gr
from deploy.checks import check_template
from deploy.sam import expand
from tests.deploy.support import make_stage, packaged

OPENAPI = Path(__file__).resolve().parents[2] / "docs" / "openapi.yaml"
# The types the issue names, and the two defaults that catch the rest.
REQUIRED = {
    "UNAUTHORIZED": "401",
    "ACCESS_DENIED": "403",
    "MISSING_AUTHENTICATION_TOKEN": "403",
    "INVALID_SIGNATURE": "403",
    "EXPIRED_TOKEN": "403",
    "THROTTLED": "429",
    "QUOTA_EXCEEDED": "429",
    "REQUEST_TOO_LARGE": "413",
    "DEFAULT_4XX": None,
    "DEFAULT_5XX": None,
}


def deployed_responses(auth: Any = "iam") -> dict[str, Any]:
    """The gateway responses of the RestApi that CloudFormation gets, after SAM's transform."""
    [api] = [
        resource["Properties"]
        for resource in expand(packaged(make_stage(auth=auth)))["Resources"].values()
        if resource["Type"] == "AWS::ApiGateway::RestApi"
    ]
    found: dict[str, Any] = api["Body"][gr.EXTENSION]
    return found


@pytest.fixture(scope="module")
def error_schema() -> dict[str, Any]:
    document = yaml.safe_load(OPENAPI.read_text())
    schema: dict[str, Any] = document["components"]["schemas"]["Error"]
    return schema


@pytest.mark.parametrize("auth", ["iam", "api_key"])
def test_every_response_type_is_in_the_deployed_definition_with_its_status(auth: str) -> None:
    responses = deployed_responses(auth)

    assert set(REQUIRED) <= set(responses)
    assert set(responses) == set(gr.RESPONSES)
    for kind, status in REQUIRED.items():
        assert responses[kind].get("statusCode") == status, kind
        template = responses[kind]["responseTemplates"]["application/json"]
        assert f'"code": "{gr.RESPONSES[kind].code}"' in template
        headers = responses[kind]["responseParameters"]
        assert headers["gatewayresponse.header.X-Content-Type-Options"] == "'nosniff'"
    throttled = responses["THROTTLED"]["responseParameters"]
    assert throttled["gatewayresponse.header.Retry-After"] == "'1'"


@pytest.mark.parametrize("kind", sorted(gr.RESPONSES))
@pytest.mark.parametrize(
    "message", ["Missing Authentication Token", 'The "signature" \\ does not match\n', "é ☃"]
)
def test_each_template_renders_to_sagewires_error_envelope(
    kind: str, message: str, error_schema: dict[str, Any]
) -> None:
    template = deployed_responses()[kind]["responseTemplates"]["application/json"]

    body = json.loads(gr.render(template, message, "c0ffee00-1234-5678-9abc-def012345678"))

    jsonschema.validate(body, error_schema)
    assert body["error"] == {
        "code": gr.RESPONSES[kind].code,
        "message": message,
        "request_id": "c0ffee00-1234-5678-9abc-def012345678",
    }


def test_the_codes_are_in_sagewires_style_and_agree_with_its_own() -> None:
    codes = [response.code for response in gr.RESPONSES.values()]

    assert all(code.isalpha() and code[0].isupper() for code in codes)
    # The same failure has the same code whether API Gateway or the app refuses it.
    assert gr.RESPONSES["REQUEST_TOO_LARGE"].code == errors.InputTooLarge.code


def test_the_headers_are_those_the_app_adds_to_its_own_answers() -> None:
    from app import app

    with Client(app) as client:
        headers = dict(client.http.get("/v1/health").headers)

    headers.pop("Content-Type")
    assert headers == gr.HEADERS


def test_the_package_checks_fail_without_the_gateway_responses() -> None:
    stage = make_stage()
    merged = packaged(stage)
    responses = merged["Resources"]["RestAPI"]["Properties"]["GatewayResponses"]
    del responses["THROTTLED"]
    responses["DEFAULT_5XX"]["ResponseTemplates"] = {"application/json": '{"message": "x"}'}

    violations = check_template(merged, stage).violations

    assert any("['THROTTLED', 'DEFAULT_5XX']" in v for v in violations), violations
