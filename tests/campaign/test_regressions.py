"""Each bug the hostile-input campaign found, as the request that showed it (through the same API
Gateway emulation, over moto's DynamoDB with DynamoDB's key size limits) or the value that
crashed a parser."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import numpy as np
import orjson
import pytest
from werkzeug.test import Client

from app import app
from chalicelib.definitions import parse_project
from chalicelib.errors import InvalidDefinition, MalformedInput
from chalicelib.processing.events import event_time
from devstack.container_codecs import parse_request
from tests.campaign.gateway import ApiGateway
from tests.campaign.world import SEED_DOCUMENTS, world

LONG = "a" * 3000


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    with world() as seeded:
        gateway = ApiGateway(app)
        gateway.after = seeded.undo
        yield Client(gateway)


def call(client: Client, method: str, path: str, body: Any = None, **headers: str) -> Any:
    if body is not None and not isinstance(body, bytes):
        body = orjson.dumps(body)
        headers.setdefault("Content-Type", "application/json")
    response = client.open(path, method=method, data=body, headers=headers)
    assert response.status_code < 500, response.get_data()
    return response


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", f"/v1/projects/{LONG}"),
        ("DELETE", f"/v1/projects/{LONG}"),
        ("GET", f"/v1/projects/{LONG}/leaderboard"),
        ("GET", f"/v1/projects/{LONG}/champion"),
        ("GET", f"/v1/projects/{LONG}/promotions"),
        ("POST", f"/v1/projects/{LONG}/predictions"),
        ("GET", f"/v1/projects/{quote('é' * 1100)}"),
    ],
)
def test_a_project_name_over_dynamodbs_key_limit_is_not_found(
    client: Client, method: str, path: str
) -> None:
    # Was a 500: DynamoDB refuses a partition key over 2,048 bytes (ValidationException).
    response = call(
        client, method, path, b"1,2" if method == "POST" else None, **{"Content-Type": "text/csv"}
    )
    assert response.status_code == 404
    assert response.json["error"]["code"] == "ProjectNotFound"


def test_promoting_a_run_name_over_dynamodbs_key_limit_is_not_found(client: Client) -> None:
    # Was a 500: the run was looked up by a key DynamoDB refuses.
    response = call(client, "POST", "/v1/projects/digits-zero/promotions", {"run": LONG})
    assert response.status_code == 404


def test_a_dataset_uri_over_dynamodbs_sort_key_limit_has_no_runs(client: Client) -> None:
    # Was a 500: a begins_with prefix over 1,024 bytes is refused by DynamoDB.
    uri = "s3://sagewire-data/" + "é" * 1000
    response = call(client, "GET", f"/v1/lineage/datasets?uri={quote(uri)}")
    assert response.status_code == 200
    assert response.json == {"uri": uri, "runs": []}


@pytest.mark.parametrize("value", ["²", "٣", "9" * 5000, "1000000", "0"])
def test_a_promotions_limit_that_int_refuses_or_is_not_ascii_is_a_bad_request(
    client: Client, value: str
) -> None:
    # "²" and 5,000 digits were a 500 (int() raised ValueError); "٣" was read as 3.
    response = call(client, "GET", f"/v1/projects/digits-zero/promotions?limit={quote(value)}")
    assert response.status_code == 400


@pytest.mark.parametrize("value", ["²", "٣", "9" * 5000, "1000", "0"])
def test_a_top_k_that_int_refuses_or_is_not_ascii_is_a_bad_request(
    client: Client, value: str
) -> None:
    path = f"/v1/projects/digits-zero/predictions?top_k={quote(value)}"
    response = call(client, "POST", path, b"1", **{"Content-Type": "text/csv"})
    assert response.status_code == 400


def test_a_promotion_with_an_unknown_field_is_refused(client: Client) -> None:
    # Was a 201: {"run": ..., "dry_run": true} promoted the run, ignoring "dry_run".
    body = {"run": "ll-batch-200", "dry_run": True}
    response = call(client, "POST", "/v1/projects/digits-zero/promotions", body)
    assert response.status_code == 400
    assert response.json["error"]["code"] == "InvalidParameter"


@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_a_content_type_on_a_route_without_a_body_is_ignored(client: Client, method: str) -> None:
    # Was Chalice's own 415 {"Code", "Message"}, outside sagewire's error envelope.
    response = call(
        client, method, "/v1/projects/digits-kmeans", **{"Content-Type": "multipart/form-data"}
    )
    assert response.status_code in (200, 204)
    health = call(client, "GET", "/v1/health", **{"Content-Type": "text/plain"})
    assert health.status_code == 200


@pytest.mark.parametrize("tags", [False, 0, "", []])
def test_match_tags_that_are_not_an_object_are_refused(tags: Any) -> None:
    # Were accepted as "no tags": `raw("tags") or {}` turned every falsy value into {}.
    document = dict(SEED_DOCUMENTS["digits-zero"], match={"tags": tags})
    with pytest.raises(InvalidDefinition) as refused:
        parse_project(document)
    assert refused.value.field == "match.tags"


def test_integral_numbers_are_integers_in_definitions(client: Client) -> None:
    # JSON Schema counts 8.0 as an integer (JSON has one number type); it was refused.
    document = orjson.loads(orjson.dumps(SEED_DOCUMENTS["digits-zero"]))
    document["inference"]["input"]["shape"] = [8.0, 8]
    document["endpoint"]["instance_count"] = 2.0
    project = parse_project(document)
    assert project.inference.input.shape == (8, 8)
    assert project.endpoint.instance_count == 2
    response = call(client, "PUT", "/v1/projects/digits-zero", document)
    assert response.status_code == 200
    assert response.json["inference"]["input"]["shape"] == [8, 8]
    document["inference"]["input"]["shape"] = [8.5, 8]
    with pytest.raises(InvalidDefinition):
        parse_project(document)


@pytest.mark.parametrize("value", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-14:00"])
def test_an_iso_time_outside_datetimes_range_in_utc_is_malformed(value: str) -> None:
    # Was an OverflowError from astimezone(UTC), crashing the event handler.
    with pytest.raises(MalformedInput):
        event_time(value, "time")


@pytest.mark.parametrize(
    ("body", "content_type"),
    [(b"[]", "application/json"), (b'{"instances": []}', "application/json")],
)
def test_a_request_without_values_is_malformed(body: bytes, content_type: str) -> None:
    # Was a ValueError from reshape (the local runtime's and the fakes' request reader).
    with pytest.raises(MalformedInput):
        parse_request(body, content_type)


def test_an_npy_request_with_an_empty_axis_is_malformed() -> None:
    import io

    buffer = io.BytesIO()
    np.save(buffer, np.zeros((3, 0), dtype=np.float32))
    with pytest.raises(MalformedInput):
        parse_request(buffer.getvalue(), "application/x-npy")
