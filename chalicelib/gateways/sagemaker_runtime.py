"""SageMaker Runtime: invoke an endpoint and turn every way it can fail into a domain error."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

from botocore.config import Config
from botocore.exceptions import (
    ClientError,
    ConnectTimeoutError,
    HTTPClientError,
    ReadTimeoutError,
)
from botocore.exceptions import ConnectionError as TransportConnectionError

from chalicelib.config import Settings
from chalicelib.definitions import SAGEMAKER_NAME
from chalicelib.errors import (
    EndpointNotFound,
    EndpointTimeout,
    EndpointUnavailable,
    InvalidParameter,
    MalformedInput,
    ModelFailed,
    SagewireError,
)
from chalicelib.models import Invocation

if TYPE_CHECKING:
    from mypy_boto3_sagemaker_runtime.client import SageMakerRuntimeClient
    from mypy_boto3_sagemaker_runtime.type_defs import InvokeEndpointInputTypeDef

# SageMaker's only signal for a missing endpoint: "Endpoint X of account Y not found."
_ENDPOINT_NOT_FOUND = re.compile(r"Endpoint \S+ of account \S+ not found")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_IDENTIFIERS = re.compile(r"arn:\S+|\b\d{12}\b")
_MAX_MESSAGE = 200
_DEFAULT_CONTENT_TYPE = "application/octet-stream"

# Throttling is not in the service model, yet the service returns it.
_UNAVAILABLE = frozenset(
    {
        "InternalDependencyException",
        "InternalFailure",
        "ModelNotReadyException",
        "ServiceUnavailable",
        "ThrottlingException",
    }
)


def runtime_client_config(settings: Settings) -> Config:
    # API Gateway ends the integration at 29 s, so attempts x read timeout must stay below it:
    # a retry still running after that only burns model capacity for an answer nobody gets.
    # "total_max_attempts" counts the first call; botocore's "max_attempts" would add one to it.
    return Config(
        connect_timeout=settings.invoke_connect_timeout_seconds,
        read_timeout=settings.invoke_read_timeout_seconds,
        retries={"mode": "standard", "total_max_attempts": settings.invoke_max_attempts},
    )


class SageMakerRuntimeGateway:
    """Calls InvokeEndpoint; returns the model's answer or raises a domain error."""

    def __init__(self, client: SageMakerRuntimeClient, retry_after_seconds: int) -> None:
        self._client = client
        self._retry_after = retry_after_seconds

    def invoke(
        self,
        endpoint: str,
        body: bytes,
        content_type: str,
        accept: str,
        target_variant: str | None = None,
    ) -> Invocation:
        params: InvokeEndpointInputTypeDef = {
            "EndpointName": endpoint,
            "Body": body,
            "ContentType": content_type,
            "Accept": accept,
        }
        if target_variant is not None:
            # The variant comes from the HTTP caller and travels as a request header.
            if not SAGEMAKER_NAME.fullmatch(target_variant):
                raise InvalidParameter("variant: must be 1-63 letters, digits or inner hyphens")
            params["TargetVariant"] = target_variant
        try:
            response = self._client.invoke_endpoint(**params)
            payload = response["Body"].read()
        except ClientError as error:
            # Not chained: the ClientError's text quotes the container, which may echo the payload.
            raise self._translate(error, target_variant) from None
        except (ConnectTimeoutError, ReadTimeoutError) as error:
            raise EndpointTimeout("the endpoint did not answer in time") from error
        except (TransportConnectionError, HTTPClientError) as error:
            raise EndpointUnavailable(
                "the endpoint could not be reached", retry_after=self._retry_after
            ) from error
        return Invocation(
            payload,
            content_type=response.get("ContentType") or _DEFAULT_CONTENT_TYPE,
            variant=response.get("InvokedProductionVariant") or None,
        )

    def _translate(self, error: ClientError, target_variant: str | None) -> SagewireError:
        fields: Mapping[str, object] = error.response
        code = _clean(error.response.get("Error", {}).get("Code", "")) or "unknown"
        if code in _UNAVAILABLE:
            return EndpointUnavailable(
                f"the endpoint is unavailable ({code})", retry_after=self._retry_after
            )
        if code == "ModelError":
            return ModelFailed(_model_error_message(fields.get("OriginalStatusCode")))
        if code == "ValidationError":
            message = error.response.get("Error", {}).get("Message", "")
            return _validation_error(message, target_variant)
        # Anything else (AccessDenied, a code unknown today) is not known to be transient:
        # calling it retryable would hide a misconfiguration behind 503s.
        return ModelFailed(f"the endpoint call failed ({code})")


def _model_error_message(status: object) -> str:
    # OriginalMessage and LogStreamArn are the container's words and our account's log
    # locations; only the status code is safe to hand to a client.
    if isinstance(status, int) and not isinstance(status, bool) and 100 <= status <= 599:
        return f"the model container returned status {status}"
    return "the model container returned an error"


def _validation_error(message: str, target_variant: str | None) -> SagewireError:
    if _ENDPOINT_NOT_FOUND.search(message):
        return EndpointNotFound("the endpoint does not exist")
    if target_variant is not None and "variant" in message.lower():
        return InvalidParameter(f"variant: the endpoint has no variant {target_variant}")
    return MalformedInput(f"the endpoint rejected the input: {_clean(message)}")


def _clean(text: str) -> str:
    """One short printable line without ARNs or account ids: safe to show a client."""
    text = _IDENTIFIERS.sub("<redacted>", " ".join(_CONTROL.sub(" ", text).split()))
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 1] + "…"
