"""API Gateway's own error answers (401, 403, 429, ...) in sagewire's error envelope."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

# What API Gateway calls the swagger extension SAM writes `GatewayResponses` into.
EXTENSION = "x-amazon-apigateway-gateway-responses"
# API Gateway substitutes these (no VTL); `messageString` is the message already JSON-quoted.
MESSAGE = "$context.error.messageString"
REQUEST_ID = "$context.requestId"
# What sagewire's own answers carry (chalicelib/entrypoints/http.py, `_json_errors`).
HEADERS = {"X-Content-Type-Options": "nosniff"}
# API Gateway's throttles refill within a second (the usage plan's rate is per second).
THROTTLED_RETRY_AFTER_SECONDS = 1


@dataclass(frozen=True)
class GatewayResponse:
    """One response type: its status (None: API Gateway's own, for the defaults), the stable
    `error.code` (chalicelib/errors.py's style) and any headers beyond `HEADERS`."""

    status: str | None
    code: str
    headers: dict[str, str] = field(default_factory=dict)


RESPONSES = {
    # Cognito: no token, or one the user pool does not accept.
    "UNAUTHORIZED": GatewayResponse("401", "Unauthorized"),
    # IAM: a signature whose principal may not invoke the route.
    "ACCESS_DENIED": GatewayResponse("403", "AccessDenied"),
    # No Authorization header; also what a path or method the API does not have answers.
    "MISSING_AUTHENTICATION_TOKEN": GatewayResponse("403", "MissingAuthenticationToken"),
    "INVALID_SIGNATURE": GatewayResponse("403", "InvalidSignature"),
    "EXPIRED_TOKEN": GatewayResponse("403", "ExpiredToken"),
    "INVALID_API_KEY": GatewayResponse("403", "InvalidApiKey"),
    "THROTTLED": GatewayResponse(
        "429", "Throttled", {"Retry-After": str(THROTTLED_RETRY_AFTER_SECONDS)}
    ),
    "QUOTA_EXCEEDED": GatewayResponse("429", "QuotaExceeded"),
    # sagewire's own code for a body over its limit: the same for API Gateway's 10 MB.
    "REQUEST_TOO_LARGE": GatewayResponse("413", "InputTooLarge"),
    # API Gateway's 29 s: the function did not answer in time.
    "INTEGRATION_TIMEOUT": GatewayResponse("504", "Timeout"),
    "DEFAULT_4XX": GatewayResponse(None, "RequestRejected"),
    "DEFAULT_5XX": GatewayResponse(None, "InternalError"),
}


def body_template(code: str) -> str:
    """The `application/json` template: sagewire's envelope, filled by API Gateway."""
    return f'{{"error": {{"code": "{code}", "message": {MESSAGE}, "request_id": "{REQUEST_ID}"}}}}'


def render(template: str, message: str, request_id: str) -> str:
    """What API Gateway answers from `template` for `message` (tests and docs)."""
    return template.replace(MESSAGE, json.dumps(message)).replace(REQUEST_ID, request_id)


def _headers(response: GatewayResponse) -> dict[str, str]:
    """Its headers' values, static ones single-quoted (API Gateway's parameter mapping)."""
    return {name: f"'{value}'" for name, value in {**HEADERS, **response.headers}.items()}


def sam_gateway_responses() -> dict[str, Any]:
    """The `GatewayResponses` property of the API (AWS::Serverless::Api). SAM writes them into
    the API's definition, so every deployment of it carries them; standalone
    AWS::ApiGateway::GatewayResponse resources are dropped when SAM redeploys the definition."""
    responses: dict[str, Any] = {}
    for kind, response in RESPONSES.items():
        responses[kind] = {
            "ResponseParameters": {"Headers": _headers(response)},
            "ResponseTemplates": {"application/json": body_template(response.code)},
        }
        if response.status is not None:
            responses[kind]["StatusCode"] = response.status
    return responses


def api_gateway_responses() -> dict[str, dict[str, Any]]:
    """Each response type as API Gateway's PutGatewayResponse takes it (without `restApiId`
    and `responseType`) and GetGatewayResponses answers it: `python -m deploy harden`'s."""
    responses: dict[str, dict[str, Any]] = {}
    for kind, response in RESPONSES.items():
        responses[kind] = {
            "responseParameters": {
                f"gatewayresponse.header.{name}": value
                for name, value in _headers(response).items()
            },
            "responseTemplates": {"application/json": body_template(response.code)},
        }
        if response.status is not None:
            responses[kind]["statusCode"] = response.status
    return responses


def missing(definition: dict[str, Any]) -> list[str]:
    """The response types an API definition (swagger, as SAM expands it) lacks or gets wrong."""
    found = definition.get(EXTENSION, {})
    wrong = []
    for kind, response in RESPONSES.items():
        current = found.get(kind, {})
        template = current.get("responseTemplates", {}).get("application/json")
        status = current.get("statusCode")
        if template != body_template(response.code) or status != response.status:
            wrong.append(kind)
    return wrong
