"""Lambda's side of the local stack: the Invoke API for the app's functions, and the on-failure
destination that sends dead letters to an SQS queue, as the packaged stack does."""

from __future__ import annotations

import json
import logging
import re
import traceback
import uuid
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import parse_qs

from devstack.events import DeadLetter, Delivery, Rule, destination_record
from devstack.wsgi import WsgiApp

if TYPE_CHECKING:
    from mypy_boto3_sqs.client import SQSClient

logger = logging.getLogger("devstack.functions")

# Lambda's REST path for Invoke; the function name is a name, a partial or a full ARN.
_INVOKE = re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)/invocations$")
INVOCATION_TYPES = ("Event", "RequestResponse", "DryRun")


def dead_letter_queue_name(app_name: str, stage: str) -> str:
    """The queue the packaged stack creates for the stage's dead letters."""
    return f"{app_name}-{stage}-dlq"


class SqsDestination:
    """Lambda's on-failure destination: each dead letter as an invocation record on SQS."""

    def __init__(self, sqs: SQSClient, queue_url: str) -> None:
        self._sqs = sqs
        self.queue_url = queue_url

    def __call__(self, letter: DeadLetter) -> None:
        body = json.dumps(destination_record(letter), default=str)
        self._sqs.send_message(QueueUrl=self.queue_url, MessageBody=body)


class FunctionHost(Protocol):
    """What runs the app's functions (devstack.events.EventRouter)."""

    def function(self, name: str) -> Rule | None: ...

    def function_arn(self, rule: Rule) -> str: ...

    def invoke_async(self, rule: Rule, event: Mapping[str, Any]) -> Delivery: ...

    def invoke_sync(self, rule: Rule, event: Any) -> Any: ...


def _answer(
    start_response: Callable[..., Any],
    status: str,
    body: bytes,
    headers: Mapping[str, str] | None = None,
) -> list[bytes]:
    start_response(
        status,
        [
            ("Content-Type", "application/json"),
            ("Content-Length", str(len(body))),
            ("x-amzn-RequestId", str(uuid.uuid4())),
            *(headers or {}).items(),
        ],
    )
    return [body]


def _error(start_response: Callable[..., Any], status: str, code: str, message: str) -> list[bytes]:
    body = json.dumps({"Type": "User", "message": message}).encode()
    return _answer(start_response, status, body, {"x-amzn-ErrorType": code})


class LambdaInvokeShim:
    """WSGI middleware before moto: `POST /2015-03-31/functions/{name}/invocations` runs the
    app's function (`sagewire-<stage>-<handler>`, `<handler>` or its ARN) with the request's
    payload. `X-Amz-Invocation-Type: Event` queues it with Lambda's retries and on-failure
    destination (202); `RequestResponse` (the default) answers with the handler's result, or
    with `X-Amz-Function-Error: Unhandled` and the error; `DryRun` answers 204. Every other
    request reaches moto untouched."""

    def __init__(self, app: WsgiApp) -> None:
        self._app = app
        self._functions: FunctionHost | None = None

    def attach(self, functions: FunctionHost) -> None:
        self._functions = functions

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        match = _INVOKE.match(environ.get("PATH_INFO", ""))
        if match is None or environ.get("REQUEST_METHOD") != "POST":
            return self._app(environ, start_response)
        if self._functions is None:
            return _error(start_response, "503 Service Unavailable", "ServiceException", "starting")
        length = int(environ.get("CONTENT_LENGTH") or 0)
        payload = environ["wsgi.input"].read(length)
        name = match["name"]
        qualifier = parse_qs(environ.get("QUERY_STRING", "")).get("Qualifier", [None])[0]
        rule = self._functions.function(name if qualifier is None else f"{name}:{qualifier}")
        if rule is None:
            return _error(
                start_response,
                "404 Not Found",
                "ResourceNotFoundException",
                f"Function not found: {name}",
            )
        kind = environ.get("HTTP_X_AMZ_INVOCATION_TYPE") or "RequestResponse"
        if kind not in INVOCATION_TYPES:
            return _error(
                start_response,
                "400 Bad Request",
                "InvalidParameterValueException",
                f"Unsupported invocation type {kind}",
            )
        try:
            event = json.loads(payload) if payload.strip() else {}
        except ValueError:
            return _error(
                start_response,
                "400 Bad Request",
                "InvalidRequestContentException",
                "Could not parse request body into json",
            )
        if kind == "DryRun":
            return _answer(start_response, "204 No Content", b"")
        if kind == "Event":
            if not isinstance(event, dict):
                return _error(
                    start_response,
                    "400 Bad Request",
                    "InvalidRequestContentException",
                    "the local stack queues JSON objects only (the app's functions take events)",
                )
            self._functions.invoke_async(rule, event)
            logger.info("devstack: Invoke (Event) of %s accepted", rule.name)
            return _answer(start_response, "202 Accepted", b"")
        return self._request_response(start_response, rule, event)

    def _request_response(
        self, start_response: Callable[..., Any], rule: Rule, event: Any
    ) -> list[bytes]:
        assert self._functions is not None
        headers = {"X-Amz-Executed-Version": "$LATEST"}
        try:
            result = self._functions.invoke_sync(rule, event)
        except Exception as error:
            logger.warning("devstack: Invoke of %s failed: %s", rule.name, type(error).__name__)
            body = {
                "errorMessage": str(error),
                "errorType": type(error).__name__,
                "stackTrace": [
                    line.rstrip("\n") for line in traceback.format_tb(error.__traceback__)
                ],
            }
            headers["X-Amz-Function-Error"] = "Unhandled"
            return _answer(start_response, "200 OK", json.dumps(body).encode(), headers)
        return _answer(start_response, "200 OK", json.dumps(result, default=str).encode(), headers)
