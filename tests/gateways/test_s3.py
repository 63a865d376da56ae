"""S3Gateway over moto: capped reads, missing objects, metadata and writes."""

from __future__ import annotations

import hashlib
import io
import tarfile
from collections.abc import Iterator
from typing import TYPE_CHECKING

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from moto import mock_aws

from chalicelib.errors import DeploymentFailed, InputTooLarge, NotFound
from chalicelib.gateways.s3 import S3Gateway
from tests.factories import tar_gz

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

BUCKET = "sagewire-test"


@pytest.fixture
def client() -> Iterator[S3Client]:
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        yield s3


def test_delete_removes_an_object_and_a_missing_one_is_no_error(client: S3Client) -> None:
    gateway = S3Gateway(client)
    gateway.put(BUCKET, "models/m/model.tar.gz", b"packed", "application/gzip")

    gateway.delete(BUCKET, "models/m/model.tar.gz")
    gateway.delete(BUCKET, "models/m/model.tar.gz")

    assert gateway.head(BUCKET, "models/m/model.tar.gz") is None


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


ARTIFACT = f"s3://{BUCKET}/jobs/j/output/model.tar.gz"
CODE = f"s3://{BUCKET}/jobs/j/source/sourcedir.tar.gz"
PACKED = f"s3://{BUCKET}/models/m/model.tar.gz"


@pytest.fixture
def sources(client: S3Client) -> S3Client:
    client.put_object(Bucket=BUCKET, Key="jobs/j/output/model.tar.gz", Body=tar_gz({"m.bin": b"w"}))
    code = tar_gz({"train.py": b"print(1)"})
    client.put_object(Bucket=BUCKET, Key="jobs/j/source/sourcedir.tar.gz", Body=code)
    return client


def packed_members(client: S3Client) -> dict[str, bytes]:
    body = client.get_object(Bucket=BUCKET, Key="models/m/model.tar.gz")["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar if m.isreg()}  # type: ignore[union-attr]


def test_a_model_is_repacked_with_its_code_once_per_pair_of_sources(sources: S3Client) -> None:
    gateway = S3Gateway(sources)
    assert gateway.repack_model(ARTIFACT, CODE, PACKED, 1_000_000) == PACKED
    assert packed_members(sources) == {"m.bin": b"w", "code/train.py": b"print(1)"}
    puts: list[str] = []
    sources.meta.events.register("before-call.s3.PutObject", lambda **_: puts.append("put"))

    assert gateway.repack_model(ARTIFACT, CODE, PACKED, 1_000_000) == PACKED
    assert puts == []  # the same two sources (their ETags): the packed model is reused

    sources.put_object(
        Bucket=BUCKET, Key="jobs/j/source/sourcedir.tar.gz", Body=tar_gz({"train.py": b"v2"})
    )
    gateway.repack_model(ARTIFACT, CODE, PACKED, 1_000_000)
    assert packed_members(sources)["code/train.py"] == b"v2"
    assert puts == ["put", "put"]  # the new code, and the test's own upload of it


def test_a_source_gone_or_over_the_limit_fails_the_deployment(sources: S3Client) -> None:
    gateway = S3Gateway(sources)
    with pytest.raises(DeploymentFailed, match="gone or not readable"):
        gateway.repack_model(ARTIFACT, f"s3://{BUCKET}/absent.tar.gz", PACKED, 1_000_000)
    with pytest.raises(DeploymentFailed, match="over the repack limit"):
        gateway.repack_model(ARTIFACT, CODE, PACKED, 10)
