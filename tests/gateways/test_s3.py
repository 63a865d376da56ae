"""S3Gateway over moto: capped reads, missing objects, metadata and writes."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from moto import mock_aws

from chalicelib.errors import InputTooLarge, NotFound
from chalicelib.gateways.s3 import S3Gateway

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

BUCKET = "sagewire-test"


@pytest.fixture
def client() -> Iterator[S3Client]:
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        yield s3


def test_put_then_get_and_head(client: S3Client) -> None:
    gateway = S3Gateway(client)
    gateway.put(BUCKET, "batch/input/p/ü 1.csv", b"1,2\n", "text/csv")

    stored = gateway.get(BUCKET, "batch/input/p/ü 1.csv", 100)
    head = gateway.head(BUCKET, "batch/input/p/ü 1.csv")

    etag = hashlib.md5(b"1,2\n", usedforsecurity=False).hexdigest()
    assert (stored.body, stored.etag, stored.size, stored.content_type) == (
        b"1,2\n",
        etag,
        4,
        "text/csv",
    )
    assert head is not None
    assert (head.etag, head.size, head.body) == (etag, 4, None)


def test_a_missing_object_is_none_or_not_found(client: S3Client) -> None:
    gateway = S3Gateway(client)

    assert gateway.head(BUCKET, "nothing") is None
    with pytest.raises(NotFound):
        gateway.get(BUCKET, "nothing", 100)


def test_an_object_over_the_cap_is_refused(client: S3Client) -> None:
    gateway = S3Gateway(client)
    gateway.put(BUCKET, "big", b"x" * 101, "binary/octet-stream")

    with pytest.raises(InputTooLarge):
        gateway.get(BUCKET, "big", 100)
    assert gateway.get(BUCKET, "big", 101).size == 101


def test_other_errors_propagate_for_the_retry() -> None:
    client = boto3.client("s3", region_name="us-east-1")
    with Stubber(client) as stubber:
        stubber.add_client_error("head_object", "SlowDown", http_status_code=503)
        with pytest.raises(ClientError):
            S3Gateway(client).head(BUCKET, "busy")


def test_an_object_sagewire_may_not_read_is_not_found_and_a_missing_bucket_none() -> None:
    """Another team's dataset bucket: HeadObject answers 403 (lineage then knows no version)."""
    client = boto3.client("s3", region_name="us-east-1")
    with Stubber(client) as stubber:
        stubber.add_client_error("head_object", "403", http_status_code=403)
        stubber.add_client_error("head_object", "NoSuchBucket", http_status_code=404)
        with pytest.raises(NotFound):
            S3Gateway(client).head(BUCKET, "secret")
        assert S3Gateway(client).head("gone", "data.csv") is None
