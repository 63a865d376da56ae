"""EventBridge's PutEvents on the default bus, delivered through the stack's event router."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from devstack import accounts
from devstack.create_shim import Refusal
from devstack.events import EventSink
from devstack.wsgi import WsgiApp, json_answer

logger = logging.getLogger("devstack.event_bus")

TARGET = "AWSEvents.PutEvents"
MAX_ENTRIES = 10
_REQUIRED = ("Source", "DetailType", "Detail")


class EntryError(ValueError):
    """An entry EventBridge refuses, with the ErrorCode of its result."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _time(value: Any) -> str:
    """An entry's Time (epoch seconds, as botocore sends it), or now; as EventBridge writes it."""
    moment = (
        datetime.fromtimestamp(value, UTC)
        if isinstance(value, int | float) and not isinstance(value, bool)
        else datetime.now(UTC)
    )
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def envelope(entry: Mapping[str, Any], account: str, region: str) -> dict[str, Any]:
    """The event EventBridge delivers for a PutEvents entry; EntryError if it refuses it."""
    for field in _REQUIRED:
        if not isinstance(entry.get(field), str) or not entry[field]:
            raise EntryError(
                "InvalidArgument",
                f"Parameter {field} is not valid. Reason: {field} is a required argument.",
            )
    bus = entry.get("EventBusName")
    if bus not in (None, "default", f"arn:aws:events:{region}:{account}:event-bus/default"):
        raise EntryError("ResourceNotFoundException", f"Event bus {bus} does not exist.")
    try:
        detail = json.loads(entry["Detail"])
    except ValueError:
        detail = None
    if not isinstance(detail, dict):
        raise EntryError("MalformedDetail", "Detail is malformed.")
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": entry["DetailType"],
        "source": entry["Source"],
        "account": account,
        "time": _time(entry.get("Time")),
        "region": region,
        "resources": list(entry.get("Resources") or []),
        "detail": detail,
    }


class EventBusShim:
    """WSGI middleware before moto: `AWSEvents.PutEvents` publishes each valid entry as the full
    event through the attached sink (the router delivers it to every app rule whose pattern
    matches) and answers per entry, as EventBridge does: an EventId, or an ErrorCode and
    ErrorMessage counted in FailedEntryCount. Only the default bus; at most 10 entries a call.
    Before `attach` it answers 503; every other request reaches moto untouched."""

    def __init__(self, app: WsgiApp) -> None:
        self._app = app
        self._events: EventSink | None = None

    def attach(self, events: EventSink) -> None:
        self._events = events

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ.get("HTTP_X_AMZ_TARGET") != TARGET:
            return self._app(environ, start_response)
        if self._events is None:
            error = {"__type": "InternalException", "message": "the local stack is starting"}
            return json_answer(start_response, "503 Service Unavailable", error)
        try:
            params = json.loads(environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0)))
        except ValueError:
            params = None
        entries = params.get("Entries") if isinstance(params, dict) else None
        if not isinstance(entries, list) or not entries or len(entries) > MAX_ENTRIES:
            return Refusal(
                "ValidationException",
                "1 validation error detected: Value at 'entries' failed to satisfy constraint: "
                f"Member must have length between 1 and {MAX_ENTRIES}",
            ).answer(start_response)
        account, region = accounts.caller(environ)
        results = [self._put(entry, account, region) for entry in entries]
        failed = sum("ErrorCode" in result for result in results)
        return json_answer(
            start_response, "200 OK", {"FailedEntryCount": failed, "Entries": results}
        )

    def _put(self, entry: Any, account: str, region: str) -> dict[str, str]:
        assert self._events is not None
        try:
            event = envelope(entry if isinstance(entry, dict) else {}, account, region)
        except EntryError as error:
            logger.info("devstack: PutEvents entry refused: %s", error)
            return {"ErrorCode": error.code, "ErrorMessage": str(error)}
        self._events.publish(event)
        return {"EventId": event["id"]}
