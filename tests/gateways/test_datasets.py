"""DatasetTable over moto's DynamoDB: versions recorded once, listed by URI prefix."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest

from chalicelib.gateways.datasets import DatasetTable
from chalicelib.records import DatasetVersion
from tests.gateways.conftest import TABLE

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

AT = datetime(2026, 11, 20, 10, tzinfo=UTC)


@pytest.fixture
def client(dynamodb: DynamoDBClient) -> DynamoDBClient:
    return dynamodb


def version(key: str, sequencer: str | None, etag: str = "e1") -> DatasetVersion:
    return DatasetVersion(f"s3://b/{key}", etag, 10, AT, "v1", sequencer)


def test_a_version_is_recorded_once(client: DynamoDBClient) -> None:
    table = DatasetTable(client, TABLE)

    assert table.put_version(version("datasets/a.csv", "0062E99A88DC407460")) is True
    assert table.put_version(version("datasets/a.csv", "0062E99A88DC407460")) is False
    assert table.versions_under("s3://b/datasets/") == [
        version("datasets/a.csv", "0062E99A88DC407460")
    ]


def test_versions_under_a_prefix_are_newest_last_per_object(client: DynamoDBClient) -> None:
    table = DatasetTable(client, TABLE)
    # Sequencers differ in length: the longer one here is the greater hexadecimal value.
    table.put_version(version("datasets/a.csv", "0062E99A88DC4074600", "e2"))
    table.put_version(version("datasets/a.csv", "0062E99A88DC407460", "e1"))
    table.put_version(version("datasets/a#b.csv", "01", "x"))
    table.put_version(version("datasets/b.csv", None, "n"))
    table.put_version(version("other/c.csv", "01"))

    listed = table.versions_under("s3://b/datasets/a")

    assert [(v.uri, v.etag) for v in listed] == [
        ("s3://b/datasets/a#b.csv", "x"),
        ("s3://b/datasets/a.csv", "e1"),
        ("s3://b/datasets/a.csv", "e2"),
    ]
    assert [v.etag for v in table.versions_under("s3://b/datasets/b")] == ["n"]
    assert table.versions_under("s3://b/datasets/b")[0].sequencer is None


def test_uris_longer_than_a_sort_key_still_list_by_prefix(client: DynamoDBClient) -> None:
    table = DatasetTable(client, TABLE)
    long_key = "datasets/" + "é" * 600
    table.put_version(version(long_key + "1", "01"))
    table.put_version(version(long_key + "2", "01"))

    assert [v.uri for v in table.versions_under(f"s3://b/{long_key}2")] == [f"s3://b/{long_key}2"]
    assert len(table.versions_under("s3://b/datasets/")) == 2
