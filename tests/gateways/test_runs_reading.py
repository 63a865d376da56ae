"""RunTable.runs_reading against moto's DynamoDB: the forward index from datasets to runs."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from chalicelib.gateways.runs import RunTable
from chalicelib.records import Channel, Run
from tests.fakes import FakeRuns
from tests.gateways.conftest import TABLE

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
RUNS = {
    "prefix-reader": (Channel("train", "s3://data/digits/train/"),),
    "bucket-reader": (Channel("all", "s3://data"),),
    "object-reader": (
        Channel("train", "s3://data/digits/train/part-0.csv"),
        Channel("test", "s3://data/digits/test/part-0.csv"),
    ),
    "sibling-reader": (Channel("train", "s3://data/digits-v2/train/"),),
}
CASES = [
    # a prefix: every channel under it, and the channels whose prefix holds it
    (
        "s3://data/digits/",
        [
            ("bucket-reader", "all"),
            ("object-reader", "test"),
            ("object-reader", "train"),
            ("prefix-reader", "train"),
        ],
    ),
    # an object: read by its own channel and by every channel whose prefix ends at one of its "/"
    (
        "s3://data/digits/train/part-0.csv",
        [("bucket-reader", "all"), ("object-reader", "train"), ("prefix-reader", "train")],
    ),
    ("s3://other/x.csv", []),
]


@pytest.fixture
def table(dynamodb: Any) -> RunTable:
    return RunTable(dynamodb, TABLE)


def run(name: str) -> Run:
    return Run(name, f"arn:{name}", "Completed", T0, channels=RUNS[name])


@pytest.mark.parametrize(("uri", "expected"), CASES)
def test_runs_reading_finds_channels_under_and_above_the_uri(
    table: RunTable, uri: str, expected: list[tuple[str, str]]
) -> None:
    for name in RUNS:
        assert table.put_run(run(name))
    assert table.runs_reading(uri) == expected


@pytest.mark.parametrize(("uri", "expected"), CASES)
def test_the_fake_answers_as_the_table_does(uri: str, expected: list[tuple[str, str]]) -> None:
    fake = FakeRuns()
    for name in RUNS:
        fake.put_run(run(name))
    assert fake.runs_reading(uri) == expected
