"""SageMaker's faults as domain errors, their messages cleaned of ARNs and account ids."""

from __future__ import annotations

import re

from botocore.exceptions import ClientError

from chalicelib.errors import (
    Conflict,
    DeploymentFailed,
    EndpointBusy,
    EndpointUnavailable,
    NotFound,
    SagewireError,
)

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_ARN = re.compile(r"arn:[^\s\"']+")
_ACCOUNT_ID = re.compile(r"\b\d{12}\b")
_MAX_MESSAGE = 200


class AlreadyExists(Conflict):
    """A create call met a resource of the same name; the caller decides what that means."""


# SageMaker tells most of its faults apart only by the words of a ValidationException.
# (error code, message prefix, domain error); the first match wins, "" matches any message.
# Everything unmatched (ResourceLimitExceeded, other ValidationExceptions, AccessDenied ...)
# is a DeploymentFailed: retrying the same call would not change the answer.
_RULES: tuple[tuple[str, str, type[SagewireError]], ...] = (
    ("ValidationException", "Cannot create already existing", AlreadyExists),
    ("ValidationException", "Model Package Group already exists", AlreadyExists),
    ("ValidationException", "Cannot update in-progress endpoint", EndpointBusy),
    ("ValidationException", "Could not find", NotFound),
    ("ValidationException", "Requested resource not found", NotFound),
    ("ResourceNotFound", "", NotFound),
)
# Transient: botocore's standard mode has already retried these before they reach us.
_UNAVAILABLE = frozenset({"ThrottlingException", "InternalFailure", "ServiceUnavailable"})


def translate(subject: str, error: ClientError, retry_after: int) -> SagewireError:
    """The domain error for a SageMaker ClientError about `subject`."""
    code = error.response.get("Error", {}).get("Code", "")
    message = error.response.get("Error", {}).get("Message", "")
    text = _clean(f"{subject}: {message or code or 'unknown error'}")
    if code in _UNAVAILABLE:
        return EndpointUnavailable(text, retry_after)
    for rule_code, prefix, error_class in _RULES:
        if code == rule_code and message.startswith(prefix):
            return error_class(text)
    return DeploymentFailed(text)


def _clean(text: str) -> str:
    """One short printable line naming resources without their ARNs or account ids."""
    text = " ".join(_CONTROL.sub(" ", text).split())
    text = _ARN.sub(_resource_of, text)
    text = _ACCOUNT_ID.sub("<redacted>", text)
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 1] + "…"


def _resource_of(arn: re.Match[str]) -> str:
    _, slash, resource = arn.group().rpartition("/")
    return resource if slash and resource else "<redacted>"
