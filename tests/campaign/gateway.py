"""What API Gateway's REST proxy integration does before and after the Lambda function, as a WSGI
app: schemathesis (through werkzeug) sends real HTTP requests to the Chalice app in-process.

Unlike `chalice local`, path parameters reach the function percent-decoded and a method that a
resource lacks is API Gateway's own 403, as on a deployed stage. Every request is counted.
"""

from __future__ import annotations

import base64
import itertools
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote

import orjson
from chalice.app import Chalice

StartResponse = Callable[[str, list[tuple[str, str]]], Any]
ACCOUNT = "123456789012"
CALLER_ARN = f"arn:aws:iam::{ACCOUNT}:user/campaign"
_STATUS_TEXT = {
    200: "OK",
    201: "Created",
    204: "No Content",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    413: "Payload Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Entity",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


@dataclass(frozen=True)
class Exchange:
    """One request that reached the app, and its response."""

    method: str
    resource: str
    parameters: dict[str, str]
    status: int
    body: bytes


class LambdaContext:
    """The attributes of Lambda's context object that Chalice and Powertools read."""

    function_name = "sagewire-dev"
    function_version = "$LATEST"
    invoked_function_arn = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:sagewire-dev"
    memory_limit_in_mb = 512
    log_group_name = "/aws/lambda/sagewire-dev"
    log_stream_name = "campaign"

    def __init__(self, request_id: str) -> None:
        self.aws_request_id = request_id

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 30_000


class ApiGateway:
    """A WSGI app in front of a Chalice app; `statuses` and `operations` count what it answered."""

    def __init__(self, app: Chalice) -> None:
        self._app = app
        self._binary = {kind.lower() for kind in app.api.binary_types}
        # API Gateway prefers a literal path segment over a parameter: literal resources first.
        self._resources = sorted(app.routes, key=lambda resource: resource.count("{"))
        # Called after each request that reached the app.
        self.after: Callable[[Exchange], None] | None = None
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.statuses: Counter[int] = Counter()
        self.operations: Counter[str] = Counter()
        self.outcomes: Counter[tuple[str, int]] = Counter()
        self.seconds: defaultdict[str, float] = defaultdict(float)

    @property
    def requests(self) -> int:
        return sum(self.statuses.values())

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        started = time.perf_counter()
        method = environ["REQUEST_METHOD"].upper()
        raw_path = (environ.get("RAW_URI") or environ.get("REQUEST_URI") or "").split("?")[0]
        match = self._match(raw_path or environ.get("PATH_INFO", "/"))
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        headers = {
            key[5:].replace("_", "-").title(): value
            for key, value in environ.items()
            if key.startswith("HTTP_")
        }
        for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            if environ.get(key):
                headers[key.replace("_", "-").title()] = environ[key]
        parameters: dict[str, str] = {}
        if match is None or method not in self._app.routes[match[0]]:
            resource = match[0] if match else "(no resource)"
            response = _gateway_error(403, "Missing Authentication Token")
        else:
            resource, parameters = match
            event = self._event(method, resource, raw_path, parameters, environ, headers, body)
            response = self._app(event, LambdaContext(event["requestContext"]["requestId"]))
        status = int(response["statusCode"])
        with self._lock:
            self.statuses[status] += 1
            self.operations[f"{method} {resource}"] += 1
            self.outcomes[f"{method} {resource}", status] += 1
            self.seconds[f"{method} {resource}"] += time.perf_counter() - started
        payload = response.get("body") or b""
        if response.get("isBase64Encoded"):
            payload = base64.b64decode(payload)
        elif isinstance(payload, str):
            payload = payload.encode()
        if self.after is not None and match is not None:
            self.after(Exchange(method, resource, parameters, status, payload))
        out = [(name, str(value)) for name, value in (response.get("headers") or {}).items()]
        for name, values in (response.get("multiValueHeaders") or {}).items():
            out.extend((name, str(value)) for value in values)
        start_response(f"{status} {_STATUS_TEXT.get(status, 'Unknown')}", out)
        return [payload]

    def _match(self, path: str) -> tuple[str, dict[str, str]] | None:
        if path != "/" and path.endswith("/"):
            path = path[:-1]
        parts = path.split("/")
        for resource in self._resources:
            pattern = resource.split("/")
            if len(pattern) != len(parts):
                continue
            captured = {}
            for part, expected in zip(parts, pattern, strict=True):
                if expected.startswith("{") and expected.endswith("}"):
                    if not part:
                        break
                    captured[expected[1:-1]] = unquote(part, errors="replace")
                elif part != expected:
                    break
            else:
                return resource, captured
        return None

    def _event(
        self,
        method: str,
        resource: str,
        raw_path: str,
        parameters: dict[str, str],
        environ: dict[str, Any],
        headers: dict[str, str],
        body: bytes,
    ) -> dict[str, Any]:
        query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True, errors="replace")
        media = headers.get("Content-Type", "").split(";")[0].strip().lower()
        binary = media in self._binary
        request_id = f"campaign-{next(self._ids)}"
        return {
            "resource": resource,
            "path": unquote(raw_path, errors="replace"),
            "httpMethod": method,
            "headers": headers or None,
            "multiValueHeaders": {name: [value] for name, value in headers.items()} or None,
            "queryStringParameters": {name: values[-1] for name, values in query.items()} or None,
            "multiValueQueryStringParameters": query or None,
            "pathParameters": parameters or None,
            "stageVariables": None,
            "requestContext": {
                "resourcePath": resource,
                "httpMethod": method,
                "path": f"/api{unquote(raw_path, errors='replace')}",
                "stage": "api",
                "requestId": request_id,
                "accountId": ACCOUNT,
                "apiId": "campaign",
                "identity": {"sourceIp": "127.0.0.1", "userArn": CALLER_ARN, "apiKeyId": None},
            },
            # Binary media types arrive base64-encoded; anything else as UTF-8 text.
            "body": (
                None
                if not body
                else base64.b64encode(body).decode()
                if binary
                else body.decode("utf-8", errors="replace")
            ),
            "isBase64Encoded": binary and bool(body),
        }


def _gateway_error(status: int, message: str) -> dict[str, Any]:
    return {
        "statusCode": status,
        "headers": {"Content-Type": "application/json"},
        "body": orjson.dumps({"message": message}).decode(),
    }
