"""The predictions route through chalice.test.Client: every status code it promises."""

from __future__ import annotations

import base64
import io
import json
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from botocore.awsrequest import AWSPreparedRequest, AWSResponse, HTTPHeaders
from chalice.test import Client
from PIL import Image

from chalicelib import errors, wiring
from tests.factories import project_document, register_project
from tests.fakes import FakeRuntime

PATH = "/v1/projects/digits-zero/predictions"


@pytest.fixture
def registered(client: Client) -> Client:
    register_project(client, project_document())
    return client


def png(pixels: np.ndarray[Any, Any]) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8), mode="L").save(buffer, format="PNG")
    return buffer.getvalue()


def post(client: Client, body: bytes, content_type: str, query: str = "") -> Any:
    return client.http.post(PATH + query, headers={"Content-Type": content_type}, body=body)


def test_a_png_becomes_one_prediction(registered: Client, endpoint: FakeRuntime) -> None:
    response = post(registered, png(np.full((32, 32), 255)), "image/png")
    assert response.status_code == 200, response.json_body
    body = response.json_body
    assert body["project"] == "digits-zero"
    assert body["endpoint"] == "digits-zero"
    assert body["variant"] == "AllTraffic"
    assert body["predictions"] == [{"score": 1.0, "predicted_label": 1}]
    assert body["request_id"]
    [call] = endpoint.calls
    assert call["endpoint"] == "digits-zero"
    assert call["content_type"] == "text/csv"
    assert call["accept"] == "application/json"
    assert call["body"].count(b",") == 63


def test_csv_rows_are_one_prediction_each_in_order(registered: Client) -> None:
    rows = "\n".join(",".join([str(v)] * 64) for v in (0, 255, 51))
    response = post(registered, rows.encode(), "text/csv")
    assert response.status_code == 200
    scores = [p["score"] for p in response.json_body["predictions"]]
    assert scores == pytest.approx([0.0, 1.0, 0.2])


def test_json_batches_and_base64_images_are_accepted(registered: Client) -> None:
    batch = {"instances": [[0] * 64, [255] * 64]}
    response = post(registered, json.dumps(batch).encode(), "application/json")
    assert response.status_code == 200
    assert [p["predicted_label"] for p in response.json_body["predictions"]] == [0, 1]

    image = {"image": base64.b64encode(png(np.zeros((8, 8)))).decode()}
    response = post(registered, json.dumps(image).encode(), "application/json")
    assert response.status_code == 200
    assert response.json_body["predictions"] == [{"score": 0.0, "predicted_label": 0}]


def test_variant_is_passed_as_target_variant(registered: Client, endpoint: FakeRuntime) -> None:
    response = post(registered, b",".join([b"1"] * 64), "text/csv", "?variant=Challenger")
    assert response.status_code == 200
    assert response.json_body["variant"] == "Challenger"
    assert endpoint.calls[0]["target_variant"] == "Challenger"


def test_unknown_project_is_404_with_zero_endpoint_calls(
    client: Client, endpoint: FakeRuntime
) -> None:
    response = client.http.post(
        "/v1/projects/nobody/predictions", headers={"Content-Type": "text/csv"}, body=b"1,2"
    )
    assert response.status_code == 404
    assert response.json_body["error"]["code"] == "ProjectNotFound"
    assert endpoint.calls == []


def test_a_body_over_the_limit_is_413_before_decoding(
    registered: Client, endpoint: FakeRuntime
) -> None:
    response = post(registered, b"\x89PNG" + b"\0" * (256 * 1024), "image/png")
    assert response.status_code == 413
    assert response.json_body["error"]["code"] == "InputTooLarge"
    assert endpoint.calls == []


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code"),
    [
        (b"", "text/csv", 400, "EmptyInput"),
        (b"1,2,x", "text/csv", 400, "MalformedInput"),
        (b"1,2,3", "text/csv", 422, "InvalidShape"),
        (b'{"instances": [[NaN]]}', "application/json", 400, "MalformedInput"),
        (b"[" * 50_000 + b"]" * 50_000, "application/json", 413, "InputTooLarge"),
        (b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", "image/png", 400, "MalformedInput"),
        (b"<xml/>", "application/xml", 415, "UnsupportedMediaType"),
        (b"1\n" * 1_000_00, "text/csv", 413, "InputTooLarge"),
    ],
)
def test_malformed_input_is_a_4xx_json_error(
    registered: Client,
    endpoint: FakeRuntime,
    body: bytes,
    content_type: str,
    status: int,
    code: str,
) -> None:
    response = post(registered, body, content_type)
    assert response.status_code == status, response.json_body
    assert response.json_body["error"]["code"] == code
    assert endpoint.calls == []


@pytest.mark.parametrize(
    "query", ["?top_k=0", "?top_k=abc", "?top_k=1000", "?variant=-bad", "?variant=" + "v" * 64]
)
def test_bad_query_parameters_are_400(registered: Client, query: str) -> None:
    response = post(registered, b",".join([b"1"] * 64), "text/csv", query)
    assert response.status_code == 400
    assert response.json_body["error"]["code"] == "InvalidParameter"


@pytest.mark.parametrize("value", ["0", "101", "1000", "abc", "%C2%B2", ""])
def test_a_bad_top_k_has_one_message_whichever_layer_refuses_it(
    registered: Client, endpoint: FakeRuntime, value: str
) -> None:
    # "abc", "²" and 1000 are refused as the route parses them, 0 and 101 by the service.
    response = post(registered, b",".join([b"1"] * 64), "text/csv", f"?top_k={value}")
    assert response.status_code == 400
    assert response.json_body["error"]["message"] == "top_k must be an integer from 1 to 100"
    assert endpoint.calls == []


@pytest.mark.parametrize(
    ("failure", "status"),
    [
        (errors.ModelFailed("the model container returned status 400"), 502),
        (errors.EndpointUnavailable("throttled", retry_after=3), 503),
        (errors.EndpointTimeout("the endpoint did not answer in time"), 504),
        (errors.EndpointNotFound("endpoint digits-zero not found"), 404),
        (errors.InvalidParameter("variant Nope not found"), 400),
    ],
)
def test_endpoint_failures_map_to_their_status(
    registered: Client, endpoint: FakeRuntime, failure: errors.SagewireError, status: int
) -> None:
    endpoint.failure = failure
    response = post(registered, b",".join([b"1"] * 64), "text/csv")
    assert response.status_code == status
    assert response.json_body["error"]["code"] == failure.code
    assert response.json_body["error"]["message"] == failure.message
    if status == 503:
        assert response.headers["Retry-After"] == "3"


def test_an_unreadable_model_response_is_a_502(registered: Client, endpoint: FakeRuntime) -> None:
    endpoint.answer = b"<html>oops"
    response = post(registered, b",".join([b"1"] * 64), "text/csv")
    assert response.status_code == 502
    assert response.json_body["error"]["code"] == "ModelError"


def test_a_throttled_table_read_during_a_prediction_is_a_503_with_retry_after(
    registered: Client, endpoint: FakeRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DynamoDB throttles the project's GetItem on every attempt botocore makes."""
    monkeypatch.setattr(time, "sleep", lambda _: None)  # botocore's backoff between attempts
    dynamodb = wiring.container().dynamodb_client
    attempts: list[str] = []

    def throttled(request: AWSPreparedRequest, **_: Any) -> AWSResponse:
        attempts.append(request.headers["X-Amz-Target"].decode())  # type: ignore[union-attr]
        body = (
            b'{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException"}'
        )
        return AWSResponse(request.url, 400, HTTPHeaders(), _Raw(body))

    dynamodb.meta.events.register_first("before-send.dynamodb.GetItem", throttled)  # type: ignore[arg-type]
    response = post(registered, b"1,2,3,4,5,6,7,8" * 8, "text/csv")

    assert response.status_code == 503
    assert response.headers["Retry-After"] == "2"
    assert response.json_body["error"]["code"] == "ServiceUnavailable"
    assert attempts == ["DynamoDB_20120810.GetItem"] * 3  # the table client's standard retries
    assert endpoint.calls == []


THROTTLED = b"ProvisionedThroughputExceededException"


class _Raw:
    """A urllib3-like body for botocore's AWSResponse."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


def test_a_pixel_flood_is_413_naming_the_request_budget(
    registered: Client, endpoint: FakeRuntime
) -> None:
    flat = base64.b64encode(png(np.zeros((2000, 2000)))).decode()
    # 40 images: the functional tests' body cap is 256 KiB.
    response = post(registered, json.dumps({"images": [flat] * 40}).encode(), "application/json")
    assert response.status_code == 413
    error = response.json_body["error"]
    assert error["code"] == "InputTooLarge"
    assert "declare 160,000,000 pixels" in error["message"]
    assert "(SAGEWIRE_MAX_REQUEST_PIXELS)" in error["message"]
    assert endpoint.calls == []


def test_a_warm_prediction_reads_no_definition_and_a_change_here_is_seen_at_once(
    registered: Client, endpoint: FakeRuntime
) -> None:
    reads: list[str] = []
    events = wiring.container().dynamodb_client.meta.events
    events.register("before-call.dynamodb.GetItem", lambda **_: reads.append("GetItem"))
    row = b",".join([b"255"] * 64)

    for _ in range(3):
        assert post(registered, row, "text/csv").status_code == 200
    assert (len(reads), len(endpoint.calls)) == (1, 3)  # one AWS call per warm prediction

    document = project_document()
    document["inference"]["input"]["scale"] = 1.0
    changed = registered.http.put(  # through this container: its cache forgets the definition
        "/v1/projects/digits-zero",
        headers={"Content-Type": "application/json"},
        body=json.dumps(document).encode(),
    )
    assert changed.status_code == 200, changed.json_body
    reads.clear()
    assert post(registered, row, "text/csv").status_code == 200
    assert len(reads) == 1
    assert endpoint.calls[-2]["body"].startswith(b"1.0,")  # scaled by 255 before the change
    assert endpoint.calls[-1]["body"].startswith(b"255.0,")  # by 1 right after it
