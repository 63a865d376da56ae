"""SageMakerRuntimeGateway against a real botocore client: Stubber and before-send hooks."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable, Iterator

import boto3
import pytest
import urllib3
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.compat import HTTPHeaders
from botocore.exceptions import (
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    HTTPClientError,
    ReadTimeoutError,
)
from botocore.response import StreamingBody
from botocore.stub import Stubber
from mypy_boto3_sagemaker_runtime.client import SageMakerRuntimeClient

from chalicelib.config import Settings
from chalicelib.errors import (
    EndpointNotFound,
    EndpointTimeout,
    EndpointUnavailable,
    InvalidParameter,
    MalformedInput,
    ModelFailed,
    SagewireError,
)
from chalicelib.gateways.sagemaker_runtime import SageMakerRuntimeGateway, runtime_client_config
from chalicelib.models import Invocation

ENDPOINT = "digits-zero"
REQUEST = b"0.0,0.5,1.0\n"
ANSWER = b'{"predictions": [{"score": 0.97, "predicted_label": 1}]}'
RETRY_AFTER = 7
URL = f"https://runtime.sagemaker.us-east-1.amazonaws.com/endpoints/{ENDPOINT}/invocations"
SECRET = "token=AKIAIOSFODNN7EXAMPLE pixels=[0, 255, 128]"
LOG_STREAM = "arn:aws:logs:us-east-1:123456789012:log-group:/aws/sagemaker/Endpoints/digits-zero"
EXPECTED = {
    "EndpointName": ENDPOINT,
    "Body": REQUEST,
    "ContentType": "text/csv",
    "Accept": "application/json",
}
SEND_EVENT = "before-send.sagemaker-runtime.InvokeEndpoint"

Handler = Callable[..., AWSResponse | None]


@pytest.fixture
def settings() -> Settings:
    return Settings.from_environ({})


@pytest.fixture
def client(settings: Settings) -> SageMakerRuntimeClient:
    return boto3.client(
        "sagemaker-runtime", region_name="us-east-1", config=runtime_client_config(settings)
    )


@pytest.fixture
def stubber(client: SageMakerRuntimeClient) -> Iterator[Stubber]:
    with Stubber(client) as stub:
        yield stub
        stub.assert_no_pending_responses()


@pytest.fixture
def gateway(client: SageMakerRuntimeClient) -> SageMakerRuntimeGateway:
    return SageMakerRuntimeGateway(client, retry_after_seconds=RETRY_AFTER)


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Botocore's retry backoff, recorded instead of slept."""
    recorded: list[float] = []
    monkeypatch.setattr(time, "sleep", recorded.append)
    return recorded


def streaming(data: bytes) -> StreamingBody:
    return StreamingBody(io.BytesIO(data), len(data))


def invoke(gateway: SageMakerRuntimeGateway, target_variant: str | None = None) -> Invocation:
    return gateway.invoke(ENDPOINT, REQUEST, "text/csv", "application/json", target_variant)


def wire_response(status: int, body: bytes, headers: dict[str, str]) -> AWSResponse:
    raw = urllib3.HTTPResponse(
        body=io.BytesIO(body), status=status, headers=headers, preload_content=False
    )
    return AWSResponse(URL, status, HTTPHeaders.from_dict(headers), raw)


def wire_error(status: int, code: str, body: dict[str, object]) -> AWSResponse:
    return wire_response(
        status,
        json.dumps(body).encode(),
        {"Content-Type": "application/json", "x-amzn-ErrorType": code},
    )


def on_send(client: SageMakerRuntimeClient, handlers: list[Handler]) -> list[str]:
    """Answers the n-th attempt with handlers[n] (the last one repeats); returns sent URLs."""
    sent: list[str] = []

    def handler(request: AWSPreparedRequest, **_: object) -> AWSResponse | None:
        sent.append(request.url)
        return handlers[min(len(sent), len(handlers)) - 1](request)

    # The stubs type every handler as returning None; before-send handlers may answer instead.
    client.meta.events.register(SEND_EVENT, handler)  # type: ignore[arg-type]
    return sent


def assert_clean(error: SagewireError) -> None:
    for leak in ("AKIA", "pixels", "arn:", "123456789012", "\r", "\n"):
        assert leak not in error.message


def test_config_keeps_all_attempts_inside_api_gateway_timeout(
    settings: Settings, client: SageMakerRuntimeClient
) -> None:
    options = vars(runtime_client_config(settings))

    assert options["read_timeout"] == settings.invoke_read_timeout_seconds
    assert options["connect_timeout"] == settings.invoke_connect_timeout_seconds
    assert options["retries"] == {
        "mode": "standard",
        "total_max_attempts": settings.invoke_max_attempts,
    }
    assert settings.invoke_read_timeout_seconds * settings.invoke_max_attempts < 29
    assert vars(client.meta.config)["read_timeout"] == settings.invoke_read_timeout_seconds


def test_invoke_returns_the_body_content_type_and_variant(
    stubber: Stubber, gateway: SageMakerRuntimeGateway
) -> None:
    stubber.add_response(
        "invoke_endpoint",
        {
            "Body": streaming(ANSWER),
            "ContentType": "application/json",
            "InvokedProductionVariant": "AllTraffic",
        },
        expected_params=EXPECTED,
    )

    assert invoke(gateway) == Invocation(ANSWER, "application/json", "AllTraffic")


def test_invoke_sends_target_variant_only_when_given(
    stubber: Stubber, gateway: SageMakerRuntimeGateway
) -> None:
    stubber.add_response(
        "invoke_endpoint",
        {"Body": streaming(ANSWER), "ContentType": "application/json"},
        expected_params={**EXPECTED, "TargetVariant": "Challenger"},
    )

    assert invoke(gateway, "Challenger") == Invocation(ANSWER, "application/json", None)


def test_missing_content_type_is_octet_stream(
    stubber: Stubber, gateway: SageMakerRuntimeGateway
) -> None:
    stubber.add_response("invoke_endpoint", {"Body": streaming(b"")}, expected_params=EXPECTED)

    assert invoke(gateway) == Invocation(b"", "application/octet-stream", None)


@pytest.mark.parametrize("variant", ["", "-a", "a_b", "a" * 64, "A\r\nX-Injected: 1"])
def test_invalid_variant_names_are_refused_before_any_call(
    stubber: Stubber, gateway: SageMakerRuntimeGateway, variant: str
) -> None:
    with pytest.raises(InvalidParameter) as raised:
        invoke(gateway, variant)

    assert_clean(raised.value)


UNAVAILABLE_CASES = [
    ("ModelNotReadyException", 429),
    ("ThrottlingException", 429),
    ("ServiceUnavailable", 503),
    ("InternalFailure", 500),
    ("InternalDependencyException", 530),
]


def test_every_modeled_error_is_covered(client: SageMakerRuntimeClient) -> None:
    operation = client.meta.service_model.operation_model("InvokeEndpoint")
    covered = {code for code, _ in UNAVAILABLE_CASES} | {"ModelError", "ValidationError"}

    assert {shape.name for shape in operation.error_shapes} <= covered


@pytest.mark.parametrize(("code", "status"), UNAVAILABLE_CASES)
def test_transient_service_errors_are_unavailable_with_retry_after(
    stubber: Stubber, gateway: SageMakerRuntimeGateway, code: str, status: int
) -> None:
    stubber.add_client_error(
        "invoke_endpoint",
        service_error_code=code,
        service_message=f"{SECRET}\r\n{LOG_STREAM}",
        http_status_code=status,
        expected_params=EXPECTED,
    )

    with pytest.raises(EndpointUnavailable) as raised:
        invoke(gateway)

    assert raised.value.retry_after == RETRY_AFTER
    assert code in raised.value.message
    assert_clean(raised.value)


def test_model_error_keeps_only_the_original_status(
    stubber: Stubber, gateway: SageMakerRuntimeGateway
) -> None:
    stubber.add_client_error(
        "invoke_endpoint",
        service_error_code="ModelError",
        service_message=f'Received client error (400) from primary with message "{SECRET}"',
        http_status_code=424,
        expected_params=EXPECTED,
        response_meta={"RequestId": "req-1"},
        modeled_fields={
            "OriginalStatusCode": 400,
            "OriginalMessage": f"{SECRET}\r\nX-Injected: yes",
            "LogStreamArn": LOG_STREAM,
        },
    )

    with pytest.raises(ModelFailed) as raised:
        invoke(gateway)

    assert raised.value.message == "the model container returned status 400"
    assert raised.value.__cause__ is None
    assert raised.value.__suppress_context__


def test_model_error_without_status(stubber: Stubber, gateway: SageMakerRuntimeGateway) -> None:
    stubber.add_client_error(
        "invoke_endpoint",
        service_error_code="ModelError",
        service_message=SECRET,
        http_status_code=424,
        expected_params=EXPECTED,
        modeled_fields={"OriginalMessage": SECRET, "LogStreamArn": LOG_STREAM},
    )

    with pytest.raises(ModelFailed) as raised:
        invoke(gateway)

    assert raised.value.message == "the model container returned an error"


@pytest.mark.parametrize(
    ("message", "variant", "expected"),
    [
        (f"Endpoint {ENDPOINT} of account 123456789012 not found.", None, EndpointNotFound),
        (f"Endpoint {ENDPOINT} of account 123456789012 not found.", "Challenger", EndpointNotFound),
        ("Variant Challenger not found in endpoint digits-zero.", "Challenger", InvalidParameter),
        ("Variant Challenger not found in endpoint digits-zero.", None, MalformedInput),
        (f"Invalid input {SECRET}\r\nfrom {LOG_STREAM} of 123456789012", None, MalformedInput),
    ],
)
def test_validation_errors(
    stubber: Stubber,
    gateway: SageMakerRuntimeGateway,
    message: str,
    variant: str | None,
    expected: type[SagewireError],
) -> None:
    stubber.add_client_error(
        "invoke_endpoint",
        service_error_code="ValidationError",
        service_message=message,
        http_status_code=400,
        expected_params=EXPECTED if variant is None else {**EXPECTED, "TargetVariant": variant},
    )

    with pytest.raises(expected) as raised:
        invoke(gateway, variant)

    assert type(raised.value) is expected
    for leak in ("123456789012", "arn:", "\r", "\n"):
        assert leak not in raised.value.message


def test_validation_message_is_capped(stubber: Stubber, gateway: SageMakerRuntimeGateway) -> None:
    stubber.add_client_error(
        "invoke_endpoint",
        service_error_code="ValidationError",
        service_message="x" * 2048,
        http_status_code=400,
        expected_params=EXPECTED,
    )

    with pytest.raises(MalformedInput) as raised:
        invoke(gateway)

    assert len(raised.value.message) < 250


def test_unknown_errors_are_not_disguised_as_retryable(
    stubber: Stubber, gateway: SageMakerRuntimeGateway
) -> None:
    stubber.add_client_error(
        "invoke_endpoint",
        service_error_code="AccessDeniedException",
        service_message=f"User {LOG_STREAM} is not authorized",
        http_status_code=403,
        expected_params=EXPECTED,
    )

    with pytest.raises(ModelFailed) as raised:
        invoke(gateway)

    assert raised.value.message == "the endpoint call failed (AccessDeniedException)"


def test_model_error_from_the_wire(
    client: SageMakerRuntimeClient, gateway: SageMakerRuntimeGateway, sleeps: list[float]
) -> None:
    body = {"OriginalStatusCode": 500, "OriginalMessage": SECRET, "LogStreamArn": LOG_STREAM}
    sent = on_send(client, [lambda _: wire_error(424, "ModelError", {"Message": SECRET, **body})])

    with pytest.raises(ModelFailed) as raised:
        invoke(gateway)

    assert raised.value.message == "the model container returned status 500"
    assert len(sent) == 1


def test_throttling_is_retried_by_botocore_until_success(
    client: SageMakerRuntimeClient, gateway: SageMakerRuntimeGateway, sleeps: list[float]
) -> None:
    def throttled(_: AWSPreparedRequest) -> AWSResponse:
        return wire_error(429, "ThrottlingException", {"message": "Rate exceeded"})

    def answered(_: AWSPreparedRequest) -> AWSResponse:
        headers = {
            "Content-Type": "application/json",
            "x-Amzn-Invoked-Production-Variant": "AllTraffic",
        }
        return wire_response(200, ANSWER, headers)

    sent = on_send(client, [throttled, throttled, answered])

    assert invoke(gateway) == Invocation(ANSWER, "application/json", "AllTraffic")
    assert len(sent) == 3
    assert len(sleeps) == 2


def test_persistent_throttling_gives_up_after_max_attempts(
    client: SageMakerRuntimeClient,
    gateway: SageMakerRuntimeGateway,
    settings: Settings,
    sleeps: list[float],
) -> None:
    sent = on_send(client, [lambda _: wire_error(429, "ThrottlingException", {"message": "no"})])

    with pytest.raises(EndpointUnavailable) as raised:
        invoke(gateway)

    assert raised.value.retry_after == RETRY_AFTER
    assert len(sent) == settings.invoke_max_attempts


@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        (ReadTimeoutError, EndpointTimeout),
        (ConnectTimeoutError, EndpointTimeout),
        (EndpointConnectionError, EndpointUnavailable),
        (ConnectionClosedError, EndpointUnavailable),
    ],
)
def test_transport_failures_after_botocore_retries(
    client: SageMakerRuntimeClient,
    gateway: SageMakerRuntimeGateway,
    settings: Settings,
    sleeps: list[float],
    failure: type[HTTPClientError | EndpointConnectionError],
    expected: type[SagewireError],
) -> None:
    def fail(request: AWSPreparedRequest) -> AWSResponse:
        raise failure(endpoint_url=request.url)

    sent = on_send(client, [fail])

    with pytest.raises(expected) as raised:
        invoke(gateway)

    assert type(raised.value) is expected
    assert len(sent) == settings.invoke_max_attempts
    if isinstance(raised.value, EndpointUnavailable):
        assert raised.value.retry_after == RETRY_AFTER


def test_timeout_while_reading_the_body(
    client: SageMakerRuntimeClient, gateway: SageMakerRuntimeGateway
) -> None:
    class StalledStream(io.BytesIO):
        def read(self, size: int | None = -1) -> bytes:
            raise urllib3.exceptions.ReadTimeoutError(None, URL, "Read timed out.")  # type: ignore[arg-type]

    with Stubber(client) as stubber:
        stubber.add_response(
            "invoke_endpoint",
            {"Body": StreamingBody(StalledStream(), 10)},
            expected_params=EXPECTED,
        )

        with pytest.raises(EndpointTimeout):
            invoke(gateway)
