"""The API's error envelope as typed exceptions, one class per kind of answer the API gives."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


class SagewireError(Exception):
    """Base of every error the client raises. `code` is the API's machine-readable code (or the
    client's own: `ConnectionFailed`, `NoCredentials`, ...); `status` the HTTP status (0 when no
    answer came); `request_id` the API's id of the request, to quote to its operators."""

    status = 0

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        request_id: str | None = None,
        retry_after: int | None = None,
        field: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or type(self).__name__
        if status is not None:
            self.status = status
        self.request_id = request_id
        # Seconds to wait before trying again, from Retry-After (503, 429, an EndpointBusy 409).
        self.retry_after = retry_after
        # The definition field an InvalidDefinition names.
        self.field = field

    def __str__(self) -> str:
        status = f" ({self.status})" if self.status else ""
        request = f" [request {self.request_id}]" if self.request_id else ""
        retry = f" (retry after {self.retry_after} s)" if self.retry_after else ""
        return f"{self.code}{status}: {self.message}{retry}{request}"


class BadRequest(SagewireError):
    """Malformed input or a wrong parameter (400)."""

    status = 400


class AccessDenied(SagewireError):
    """API Gateway refused the caller: no or a bad signature, key or token, or no permission."""

    status = 403


class NotFound(SagewireError):
    """No such project, run or endpoint, or no report yet (404)."""

    status = 404


class Conflict(SagewireError):
    """The resource changed under the request, or an endpoint is busy (409)."""

    status = 409


class PreconditionFailed(SagewireError):
    """An If-Match revision that is not the current one (412)."""

    status = 412


class InputTooLarge(SagewireError):
    status = 413


class UnsupportedMediaType(SagewireError):
    status = 415


class InvalidInput(SagewireError):
    """Well-formed input of the wrong shape, or a definition that breaks the schema (422)."""

    status = 422


class ServerError(SagewireError):
    """A bug in sagewire (500), or any other 5xx without a more precise class."""

    status = 500


class BadGateway(SagewireError):
    """The model container answered with an error, or SageMaker refused a deployment (502)."""

    status = 502


class Unavailable(SagewireError):
    """Throttled or not ready: try again after `retry_after` seconds (503)."""

    status = 503


class Throttled(Unavailable):
    """API Gateway's throttling or usage plan quota (429)."""

    status = 429


class GatewayTimeout(SagewireError):
    status = 504


class ConnectionFailed(SagewireError):
    """No answer: the URL is wrong, the host unreachable, or the connection timed out."""


class ConfigurationError(SagewireError):
    """The client cannot make the request: no URL, region, credentials, API key or token."""


class InvalidResponse(SagewireError):
    """An answer that is not what the API answers (not JSON where JSON was due)."""


# Every code the API answers with (chalicelib/errors.py and entrypoints/http.py; a test keeps
# this table and the statuses in step with them).
CODES: dict[str, type[SagewireError]] = {
    "MalformedInput": BadRequest,
    "EmptyInput": BadRequest,
    "InvalidParameter": BadRequest,
    "NotFound": NotFound,
    "ProjectNotFound": NotFound,
    "EndpointNotFound": NotFound,
    "PromotionNotFound": NotFound,
    "Conflict": Conflict,
    "EndpointNotManaged": Conflict,
    "EndpointBusy": Conflict,
    "PreconditionFailed": PreconditionFailed,
    "InputTooLarge": InputTooLarge,
    "UnsupportedMediaType": UnsupportedMediaType,
    "InvalidShape": InvalidInput,
    "InvalidDefinition": InvalidInput,
    "InvalidVocabulary": InvalidInput,
    "ModelError": BadGateway,
    "DeploymentFailed": BadGateway,
    "ServiceUnavailable": Unavailable,
    "EndpointUnavailable": Unavailable,
    "EndpointTimeout": GatewayTimeout,
    "InternalError": ServerError,
}

# For answers without a known code: API Gateway's own ({"message": ...}) and proxies'.
_BY_STATUS: dict[int, type[SagewireError]] = {
    kind.status: kind
    for kind in (
        BadRequest,
        AccessDenied,
        NotFound,
        Conflict,
        PreconditionFailed,
        InputTooLarge,
        UnsupportedMediaType,
        InvalidInput,
        Throttled,
        ServerError,
        BadGateway,
        Unavailable,
        GatewayTimeout,
    )
}
_BY_STATUS[401] = AccessDenied

_MAX_MESSAGE = 300


def _retry_after(headers: Mapping[str, str]) -> int | None:
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), "").strip()
    return int(value) if value.isascii() and value.isdigit() else None


def _envelope(body: bytes) -> dict[str, Any]:
    """The error object of sagewire's envelope, API Gateway's {"message"} as one, else {}."""
    try:
        document = json.loads(body)
    except ValueError:
        return {}
    if not isinstance(document, dict):
        return {}
    error = document.get("error")
    if isinstance(error, dict):
        return error
    message = document.get("message") or document.get("Message")
    return {"message": message} if isinstance(message, str) else {}


def error_from_response(status: int, headers: Mapping[str, str], body: bytes) -> SagewireError:
    """The typed error for an HTTP answer that is not a success."""
    detail = _envelope(body)
    code = detail.get("code") if isinstance(detail.get("code"), str) else None
    kind = CODES.get(code or "") or _BY_STATUS.get(status)
    if kind is None:
        kind = ServerError if status >= 500 else SagewireError
        code = code or "HTTPError"
    message = detail.get("message")
    if not isinstance(message, str):
        text = body.decode("utf-8", "replace").strip()
        message = text[:_MAX_MESSAGE] or f"HTTP {status} with no body"
    request_id = detail.get("request_id")
    field = detail.get("field")
    return kind(
        message,
        code=code or kind.__name__,
        status=status,
        request_id=request_id if isinstance(request_id, str) else None,
        retry_after=_retry_after(headers),
        field=field if isinstance(field, str) else None,
    )
