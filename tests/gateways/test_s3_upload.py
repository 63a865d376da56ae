"""S3Gateway's pieces: one PutObject or a multipart upload (aborted on failure), copies, lines,
presigned reads."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from moto import mock_aws

from chalicelib.errors import NotFound
from chalicelib.gateways import s3
from chalicelib.gateways.s3 import S3Gateway

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

BUCKET = "sagewire-test"
KEY = "reports/2026/11/23/lineage.json"
TARGET = {"Bucket": BUCKET, "Key": KEY}


@pytest.fixture
def client() -> Iterator[S3Client]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


@pytest.fixture
def small_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(s3, "PART_BYTES", 4)


def test_a_body_under_a_part_is_one_put() -> None:
    client = boto3.client("s3", region_name="us-east-1")
    with Stubber(client) as stubber:
        stubber.add_response(
            "put_object", {}, {**TARGET, "Body": b"{}\n", "ContentType": "application/json"}
        )
        with S3Gateway(client).writer(BUCKET, KEY, "application/json") as writer:
            writer.write(b"{}")
            writer.write(b"\n")
        stubber.assert_no_pending_responses()


def test_a_larger_body_is_uploaded_in_parts(small_parts: None) -> None:
    client = boto3.client("s3", region_name="us-east-1")
    with Stubber(client) as stubber:
        stubber.add_response(
            "create_multipart_upload",
            {"UploadId": "u1"},
            {**TARGET, "ContentType": "text/csv"},
        )
        for number, body in ((1, b"abcde"), (2, b"fg")):
            stubber.add_response(
                "upload_part",
                {"ETag": f'"e{number}"'},
                {**TARGET, "UploadId": "u1", "PartNumber": number, "Body": body},
            )
        parts = [{"ETag": '"e1"', "PartNumber": 1}, {"ETag": '"e2"', "PartNumber": 2}]
        stubber.add_response(
            "complete_multipart_upload",
            {},
            {**TARGET, "UploadId": "u1", "MultipartUpload": {"Parts": parts}},
        )
        with S3Gateway(client).writer(BUCKET, KEY, "text/csv") as writer:
            writer.write(b"abc")
            writer.write(b"de")
            writer.write(b"fg")
        stubber.assert_no_pending_responses()


def test_a_failed_part_aborts_the_upload(small_parts: None) -> None:
    client = boto3.client("s3", region_name="us-east-1")
    with Stubber(client) as stubber:
        stubber.add_response("create_multipart_upload", {"UploadId": "u1"}, None)
        stubber.add_client_error("upload_part", "InternalError", http_status_code=500)
        stubber.add_response("abort_multipart_upload", {}, {**TARGET, "UploadId": "u1"})
        with (
            pytest.raises(ClientError),
            S3Gateway(client).writer(BUCKET, KEY, "text/csv") as writer,
        ):
            writer.write(b"abcdef")
        stubber.assert_no_pending_responses()


def _write_then_fail(gateway: S3Gateway, data: bytes) -> None:
    with gateway.writer(BUCKET, KEY, "text/csv") as writer:
        writer.write(data)
        raise RuntimeError("renderer")


def test_an_error_of_the_writer_aborts_and_a_failed_abort_hides_nothing(small_parts: None) -> None:
    client = boto3.client("s3", region_name="us-east-1")
    with Stubber(client) as stubber:
        stubber.add_response("create_multipart_upload", {"UploadId": "u1"}, None)
        stubber.add_response("upload_part", {"ETag": '"e1"'}, None)
        stubber.add_client_error("abort_multipart_upload", "NoSuchUpload", http_status_code=404)
        with pytest.raises(RuntimeError, match="renderer"):
            _write_then_fail(S3Gateway(client), b"abcdef")
        stubber.assert_no_pending_responses()


def test_an_error_before_the_first_part_writes_nothing(client: S3Client) -> None:
    gateway = S3Gateway(client)
    with pytest.raises(RuntimeError, match="renderer"):
        _write_then_fail(gateway, b"a,b\n")
    assert gateway.head(BUCKET, KEY) is None


def test_parts_copy_and_lines_over_s3(client: S3Client) -> None:
    gateway = S3Gateway(client)
    line = b"x" * 1023 + b"\n"
    count = (s3.PART_BYTES * 2 + 3 * 1024 * 1024) // len(line)
    with gateway.writer(BUCKET, KEY, "application/x-ndjson") as writer:
        for _ in range(count):
            writer.write(line)
    uploads = client.list_multipart_uploads(Bucket=BUCKET).get("Uploads", [])
    assert uploads == []

    gateway.copy(BUCKET, KEY, "reports/latest.json")

    copied = client.head_object(Bucket=BUCKET, Key="reports/latest.json")
    assert copied["ContentLength"] == count * len(line)
    assert copied["ContentType"] == "application/x-ndjson"
    with gateway.lines(BUCKET, "reports/latest.json") as lines:
        assert next(lines) == line.rstrip(b"\n")
        assert sum(1 for _ in lines) == count - 1


def test_lines_of_a_missing_object_are_not_found(client: S3Client) -> None:
    with pytest.raises(NotFound), S3Gateway(client).lines(BUCKET, "reports/latest.snapshot"):
        pass


def test_a_presigned_get_is_sigv4_and_names_the_object_and_its_expiry() -> None:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1", config=s3.client_config())
        url = S3Gateway(client).presigned_get(BUCKET, KEY, 300)

    parts = urlsplit(url)
    query = parse_qs(parts.query)
    assert parts.path.endswith(KEY)
    assert query["X-Amz-Expires"] == ["300"]
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
