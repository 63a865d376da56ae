"""Batch transform's data handling: records, requests within MaxPayloadInMB, outputs and keys."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from devstack import algorithms, containers
from devstack.transform import (
    MIB,
    TransformError,
    assemble,
    batches,
    output_key,
    payload,
    split,
)

# Lines as a CSV holds them: any bytes but a line end, and not blank.
LINE = st.binary(min_size=1, max_size=40).filter(
    lambda line: b"\n" not in line and not line.endswith(b"\r") and bool(line.strip())
)


@given(st.lists(LINE, max_size=30), st.sampled_from([b"\n", b"\r\n"]), st.booleans())
def test_line_splitting_gives_back_every_line(lines: list[bytes], end: bytes, last: bool) -> None:
    data = end.join(lines) + (end if last and lines else b"")
    assert split(data, "Line") == lines


def test_blank_lines_are_no_records_and_none_keeps_the_object_whole() -> None:
    assert split(b"1,2\n\n \n3,4", "Line") == [b"1,2", b"3,4"]
    assert split(b"1,2\n3,4\n", "None") == [b"1,2\n3,4\n"]
    assert split(b"", "None") == []


@given(st.lists(LINE, max_size=40), st.integers(min_value=41, max_value=400))
def test_multi_record_batches_keep_order_and_fit_the_payload(
    records: list[bytes], limit: int
) -> None:
    grouped = list(batches(records, "Line", "MultiRecord", limit))
    assert [record for batch in grouped for record in batch] == records
    assert all(batch and len(payload(batch, "Line")) <= limit for batch in grouped)
    # Greedy: the next batch's first record would not have fitted in the one before.
    for before, after in itertools.pairwise(grouped):
        assert len(payload([*before, after[0]], "Line")) > limit


@given(st.lists(LINE, max_size=20))
def test_single_record_sends_each_record_alone(records: list[bytes]) -> None:
    assert list(batches(records, "Line", "SingleRecord", MIB)) == [[r] for r in records]


def test_a_record_over_the_payload_limit_fails_the_job() -> None:
    with pytest.raises(TransformError, match="exceeds MaxPayloadInMB"):
        list(batches([b"x" * MIB], "Line", "MultiRecord", MIB))
    assert list(batches([b"x" * MIB], "Line", "MultiRecord", None)) == [[b"x" * MIB]]


def test_outputs_are_assembled_by_line_or_as_they_are() -> None:
    assert assemble([b'{"a":1}', b'{"b":2}\n'], "Line") == b'{"a":1}\n{"b":2}\n'
    assert assemble([b"1", b"2"], "None") == b"12"


@pytest.mark.parametrize(
    ("input_prefix", "key", "output_prefix", "expected"),
    [
        ("batch/in/", "batch/in/data.csv", "batch/out", "batch/out/data.csv.out"),
        ("batch/in/", "batch/in/2024/a.csv", "batch/out/", "batch/out/2024/a.csv.out"),
        ("batch/in/data.csv", "batch/in/data.csv", "out", "out/data.csv.out"),
        ("batch/in/da", "batch/in/data/x.csv", "", "data/x.csv.out"),
    ],
)
def test_outputs_keep_the_key_below_the_input_prefix(
    input_prefix: str, key: str, output_prefix: str, expected: str
) -> None:
    assert output_key(input_prefix, key, output_prefix) == expected


def test_kmeans_answers_json_lines_one_record_per_line() -> None:
    model = algorithms.Model(
        algorithms.KMEANS, 2, {"centroids": np.array([[0.0, 0.0], [3.0, 4.0]])}, {}
    )
    served = containers.Served(containers.CONTAINERS["kmeans"], model)
    body, content_type = containers.invoke(
        served, b"0,0\n3,4\n", "text/csv", "application/jsonlines"
    )
    assert content_type == "application/jsonlines"
    assert [json.loads(line) for line in body.splitlines()] == [
        {"closest_cluster": 0.0, "distance_to_cluster": 0.0},
        {"closest_cluster": 1.0, "distance_to_cluster": 0.0},
    ]
