"""The devstack's S3 -> EventBridge: "Object Created" events in S3's shape, after real writes."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.exceptions import ClientError

from devstack.aws import ControlPlane
from devstack.events import EventRouter, Rule, describe
from devstack.s3_events import CreatedObject, Sequencer, object_created_event, write_operation

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

FIXTURE = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "events"
BUCKET = "devstack-s3-unit"
QUIET_BUCKET = "devstack-s3-unit-quiet"


def _shape(value: Any) -> Any:
    """Keys and value types, recursively: what two events must share to be the same shape."""
    if isinstance(value, dict):
        return {key: _shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_shape(item) for item in value]
    return type(value).__name__


def test_the_event_has_the_shape_s3_sends_to_eventbridge() -> None:
    fixture = json.loads((FIXTURE / "s3-object-created.json").read_text())
    created = CreatedObject(
        bucket="example-bucket",
        key="datasets/mnist/train/recordio-pb-data",
        size=164000000,
        etag="b1946ac92492d2347c6235b4d2611184",
        version_id="IYV3p45BhZA1YMiaLakn.HtvEl_0CGvn",
        sequencer="00617F08299329D189",
    )
    event = object_created_event(
        created,
        reason="PutObject",
        region="us-east-1",
        request_id="N4N7GDK58NMKJ12R",
        source_ip="1.2.3.4",
    )
    assert _shape(event) == _shape(fixture)
    assert event["detail"] == fixture["detail"]
    assert {k: event[k] for k in ("source", "detail-type", "resources", "account")} == {
        k: fixture[k] for k in ("source", "detail-type", "resources", "account")
    }


def test_an_unversioned_object_has_no_version_id() -> None:
    created = CreatedObject("b", "k", 1, "e", None, "01")
    event = object_created_event(
        created, reason="PutObject", region="eu-west-1", request_id="R", source_ip="127.0.0.1"
    )
    assert "version-id" not in event["detail"]["object"]
    assert event["region"] == "eu-west-1"


@pytest.mark.parametrize(
    ("method", "query", "headers", "expected"),
    [
        ("PUT", "", {}, "PutObject"),
        ("PUT", "x-id=PutObject", {}, "PutObject"),
        ("PUT", "", {"HTTP_X_AMZ_COPY_SOURCE": "b/k"}, "CopyObject"),
        ("POST", "uploadId=abc", {}, "CompleteMultipartUpload"),
        ("POST", "uploads", {}, None),
        ("PUT", "uploadId=abc&partNumber=1", {}, None),
        ("PUT", "tagging", {}, None),
        ("PUT", "acl", {}, None),
        ("GET", "", {}, None),
        ("DELETE", "", {}, None),
    ],
)
def test_only_object_writes_create_objects(
    method: str, query: str, headers: dict[str, str], expected: str | None
) -> None:
    assert write_operation(method, query, headers) == expected


def test_sequencers_increase_even_within_one_clock_tick() -> None:
    sequencer = Sequencer()
    values = [sequencer.next() for _ in range(1000)]
    assert all(len(v) == 18 and v == v.upper() for v in values)
    assert values == sorted(values)
    assert len(set(values)) == len(values)


@dataclass
class Local:
    s3: S3Client
    router: EventRouter
    received: list[dict[str, Any]]

    def delivered(self) -> list[dict[str, Any]]:
        assert self.router.wait_idle(10)
        events, self.received[:] = list(self.received), []
        return events


@pytest.fixture(scope="module")
def local() -> Iterator[Local]:
    received: list[dict[str, Any]] = []
    lock = threading.Lock()

    def handler(event: dict[str, Any], context: Any) -> None:
        with lock:
            received.append(event)

    # The app's kind of rule: bucket name and key prefixes.
    pattern = {
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {
            "bucket": {"name": [BUCKET, QUIET_BUCKET]},
            "object": {"key": [{"prefix": "datasets/"}, {"prefix": "batch/input/"}]},
        },
    }
    router = EventRouter([Rule("on_object", handler, pattern=pattern)], function_prefix="unit-")
    control = ControlPlane()
    control.attach(router, lambda environ, start_response: [])
    control.start()
    router.start()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_ENDPOINT_URL", control.url)
        s3 = boto3.session.Session(region_name="us-east-1").client("s3")
        for bucket in (BUCKET, QUIET_BUCKET):
            s3.create_bucket(Bucket=bucket)
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        s3.put_bucket_notification_configuration(
            Bucket=BUCKET, NotificationConfiguration={"EventBridgeConfiguration": {}}
        )
        try:
            yield Local(s3, router, received)
        finally:
            router.stop()
            control.stop()


def test_a_put_under_a_watched_prefix_reaches_the_handler(local: Local) -> None:
    key = "datasets/digits/train/digits ü.csv"
    put = local.s3.put_object(Bucket=BUCKET, Key=key, Body=b"0,1,2\n")
    (event,) = local.delivered()
    assert (event["source"], event["detail-type"]) == ("aws.s3", "Object Created")
    assert event["resources"] == [f"arn:aws:s3:::{BUCKET}"]
    detail = event["detail"]
    assert detail["bucket"] == {"name": BUCKET}
    assert detail["reason"] == "PutObject"
    assert detail["object"]["key"] == key
    assert detail["object"]["size"] == 6
    assert detail["object"]["etag"] == put["ETag"].strip('"')
    assert detail["object"]["version-id"] == put["VersionId"]


def test_each_version_has_its_own_id_and_a_later_sequencer(local: Local) -> None:
    key = "datasets/digits/validation/digits.csv"
    versions = [
        local.s3.put_object(Bucket=BUCKET, Key=key, Body=b)["VersionId"] for b in (b"a", b"b")
    ]
    events = sorted(local.delivered(), key=lambda e: e["detail"]["object"]["sequencer"])
    assert [e["detail"]["object"]["version-id"] for e in events] == versions
    assert len(set(versions)) == 2


def test_multipart_uploads_and_copies_are_object_created_too(local: Local) -> None:
    key = "batch/input/digits-classifier/big.csv"
    upload = local.s3.create_multipart_upload(Bucket=BUCKET, Key=key)["UploadId"]
    part = local.s3.upload_part(
        Bucket=BUCKET, Key=key, UploadId=upload, PartNumber=1, Body=b"x" * 10
    )
    assert local.delivered() == []  # parts are not objects
    local.s3.complete_multipart_upload(
        Bucket=BUCKET,
        Key=key,
        UploadId=upload,
        MultipartUpload={"Parts": [{"ETag": part["ETag"], "PartNumber": 1}]},
    )
    local.s3.copy_object(
        Bucket=BUCKET, Key="datasets/copy.csv", CopySource={"Bucket": BUCKET, "Key": key}
    )
    reasons = {e["detail"]["object"]["key"]: e["detail"]["reason"] for e in local.delivered()}
    assert reasons == {key: "CompleteMultipartUpload", "datasets/copy.csv": "CopyObject"}


def test_upload_fileobj_is_a_put(local: Local) -> None:
    local.s3.upload_fileobj(io.BytesIO(b"y" * 100), BUCKET, "batch/input/digits-classifier/a.csv")
    (event,) = local.delivered()
    assert event["detail"]["object"]["size"] == 100


def test_no_event_outside_the_patterns_or_without_eventbridge_or_on_failure(
    local: Local,
) -> None:
    tagged = "datasets/tagged.csv"
    local.s3.put_object(Bucket=BUCKET, Key=tagged, Body=b"t")
    assert [e["detail"]["object"]["key"] for e in local.delivered()] == [tagged]
    local.s3.put_object(Bucket=BUCKET, Key="models/job/output/model.tar.gz", Body=b"m")
    local.s3.put_object(Bucket=QUIET_BUCKET, Key="datasets/x.csv", Body=b"q")
    with pytest.raises(ClientError):
        local.s3.put_object(Bucket="no-such-bucket", Key="datasets/x.csv", Body=b"q")
    local.s3.put_object_tagging(
        Bucket=BUCKET, Key=tagged, Tagging={"TagSet": [{"Key": "k", "Value": "v"}]}
    )
    assert local.delivered() == []
    published = [d.event["detail"]["object"]["key"] for d in local.router.published_since(0)]
    assert "models/job/output/model.tar.gz" in published  # S3 sent it; no rule wanted it


def test_log_lines_name_the_object() -> None:
    created = CreatedObject("b", "datasets/x.csv", 1, "e", "v", "01")
    event = object_created_event(
        created, reason="PutObject", region="us-east-1", request_id="R", source_ip="127.0.0.1"
    )
    assert describe(event) == "Object Created (s3://b/datasets/x.csv)"
