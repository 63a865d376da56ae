"""The S3 handlers end to end: the fixture event in, moto's S3 and DynamoDB, a fake endpoint."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import boto3
import orjson
import pytest
from chalice.test import Client

from chalicelib import wiring
from chalicelib.config import Settings
from tests.factories import project_document, register_project
from tests.fakes import FakeRuntime

FIXTURE = Path(__file__).resolve().parents[3] / "shared/fixtures/events/s3-object-created.json"
PROJECT = "digits-zero"


def s3_event(settings: Settings, key: str, etag: str, size: int, sequencer: str) -> dict[str, Any]:
    event: dict[str, Any] = copy.deepcopy(json.loads(FIXTURE.read_text()))
    event["detail"]["bucket"]["name"] = settings.bucket_name
    event["resources"] = [f"arn:aws:s3:::{settings.bucket_name}"]
    event["detail"]["object"].update(key=key, etag=etag, size=size, sequencer=sequencer)
    return event


def upload(settings: Settings, key: str, body: bytes) -> tuple[str, int]:
    response = boto3.client("s3").put_object(Bucket=settings.bucket_name, Key=key, Body=body)
    return response["ETag"].strip('"'), len(body)


@pytest.fixture
def bucket(client: Client, settings: Settings) -> str:
    boto3.client("s3").create_bucket(Bucket=settings.bucket_name)
    register_project(client, project_document(PROJECT))
    return settings.bucket_name


def test_a_dataset_version_is_recorded_once_for_duplicate_events(
    client: Client, settings: Settings, bucket: str
) -> None:
    key = f"{settings.datasets_prefix}mnist/train.csv"
    etag, size = upload(settings, key, b"1,2,3\n")
    event = s3_event(settings, key, etag, size, "0062E99A88DC407460")

    first = client.lambda_.invoke("on_dataset_object", event).payload
    duplicate = dict(event, id="another-delivery")
    again = client.lambda_.invoke("on_dataset_object", duplicate).payload

    assert first == again == {"uri": f"s3://{bucket}/{key}", "recorded": True}
    versions = wiring.container().dataset_store.versions_under(f"s3://{bucket}/datasets/")
    assert [(v.etag, v.size, v.sequencer) for v in versions] == [(etag, size, "0062E99A88DC407460")]
    assert versions[0].version_id == "IYV3p45BhZA1YMiaLakn.HtvEl_0CGvn"


def test_a_batch_csv_produces_predictions_and_a_manifest(
    client: Client, settings: Settings, bucket: str, endpoint: FakeRuntime
) -> None:
    key = f"{settings.batch_input_prefix}{PROJECT}/../incoming/rows.csv"
    body = b"".join(",".join([value] * 64).encode() + b"\n" for value in ("255", "0", "x"))
    etag, size = upload(settings, key, body)
    event = s3_event(settings, key, etag, size, "0062E99A88DC407460")

    outcome = client.lambda_.invoke("on_batch_object", event).payload
    again = client.lambda_.invoke("on_batch_object", dict(event, id="redelivered")).payload

    assert outcome == again
    assert (outcome["status"], outcome["predictions"], outcome["errors"]) == ("written", 2, 1)
    s3 = boto3.client("s3")
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=settings.batch_output_prefix)["Contents"]
    keys = sorted(item["Key"] for item in listed)
    prefix = outcome["output_prefix"]
    assert keys == [prefix + "manifest.json", prefix + "predictions.jsonl"]
    assert ".." not in prefix
    lines = [
        orjson.loads(line)
        for line in s3.get_object(Bucket=bucket, Key=prefix + "predictions.jsonl")["Body"]
        .read()
        .splitlines()
    ]
    assert [line.get("prediction", {}).get("predicted_label") for line in lines] == [1, 0, None]
    assert lines[2]["error"]["code"] == "MalformedInput"
    manifest = orjson.loads(
        s3.get_object(Bucket=bucket, Key=prefix + "manifest.json")["Body"].read()
    )
    assert manifest["source"]["key"] == key
    assert manifest["counts"] == {"records": 3, "predictions": 2, "errors": 1}
    assert len(endpoint.calls) == 1


def test_a_deleted_batch_object_is_skipped(
    client: Client, settings: Settings, bucket: str, endpoint: FakeRuntime
) -> None:
    key = f"{settings.batch_input_prefix}{PROJECT}/gone.csv"
    event = s3_event(settings, key, "b1946ac92492d2347c6235b4d2611184", 10, "01")

    outcome = client.lambda_.invoke("on_batch_object", event).payload

    assert (outcome["status"], outcome["reason"]) == ("skipped", "the object no longer exists")
    listed = boto3.client("s3").list_objects_v2(Bucket=bucket, Prefix="batch/output/")
    assert listed["KeyCount"] == 0
    assert endpoint.calls == []


def test_a_batch_object_event_of_another_account_is_skipped_unread(
    client: Client, settings: Settings, bucket: str
) -> None:
    key = f"{settings.batch_input_prefix}{PROJECT}/rows.csv"
    etag, size = upload(settings, key, b"0\n")
    event = s3_event(settings, key, etag, size, "0062E99A88DC407460") | {"account": "210987654321"}

    payload = client.lambda_.invoke("on_batch_object", event).payload

    assert payload == {"skipped": "the event's account is not 123456789012"}
    listed = boto3.client("s3").list_objects_v2(Bucket=bucket, Prefix=settings.batch_output_prefix)
    assert listed["KeyCount"] == 0
