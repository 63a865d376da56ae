"""The container's codecs: strict RecordIO reading, request parsing, response bodies."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.errors import MalformedInput, UnsupportedMediaType
from chalicelib.processing.codecs import serialize
from devstack.container_codecs import parse_request, read_recordio_protobuf, serialize_response
from tests.unit.test_codecs import RECORDIO, SAMPLE, bits, npy

# RecordIO-protobuf


@pytest.mark.parametrize("columns", [1, 2, 3, 31, 32, 33, 4096, 40_000])
def test_recordio_reads_back_across_varint_sizes(columns: int) -> None:
    features = np.random.default_rng(columns).standard_normal((3, columns)).astype(np.float32)
    assert bits(read_recordio_protobuf(serialize(features, RECORDIO))) == bits(features)


def test_recordio_reader_is_strict() -> None:
    body = serialize(SAMPLE, RECORDIO)
    for broken in (
        b"",
        body[:-1],
        body + b"\0" * 4,
        b"\0" + body[1:],
        body[:12] + b"\x0b" + body[13:],
    ):
        with pytest.raises(MalformedInput):
            read_recordio_protobuf(broken)


def test_recordio_padding_must_be_zero() -> None:
    body = serialize(np.ones((2, 31), dtype=np.float32), RECORDIO)
    assert int.from_bytes(body[4:8], "little") % 4
    with pytest.raises(MalformedInput):
        read_recordio_protobuf(body[:-1] + b"\x01")


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_recordio_reader_raises_only_malformed_input(body: bytes) -> None:
    with contextlib.suppress(MalformedInput):
        read_recordio_protobuf(body)


# Requests


def test_parse_request_refuses_what_no_container_reads() -> None:
    with pytest.raises(UnsupportedMediaType):
        parse_request(b"1", "image/png")
    with pytest.raises(MalformedInput):
        parse_request(b'{"rows": [1]}', "application/json")
    with pytest.raises(MalformedInput):
        parse_request(b"1e39", "text/csv")


def test_parse_request_of_one_vector_is_one_row() -> None:
    assert parse_request(npy(np.arange(3, dtype=np.float32)), "application/x-npy").shape == (1, 3)
    assert parse_request(b"1,2,3", "text/csv").shape == (1, 3)


# Responses


def test_a_csv_response_of_a_vector_is_one_value_a_line() -> None:
    assert serialize_response([0.5, 2.0], "text/csv") == b"0.5\n2.0"
    assert serialize_response(np.array([[1, 2], [3, 4]]), "text/csv") == b"1,2\n3,4"


def test_a_response_in_no_known_format_is_a_bug() -> None:
    with pytest.raises(ValueError, match="no response serializer"):
        serialize_response([1.0], "image/png")
