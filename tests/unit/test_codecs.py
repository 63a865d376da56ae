"""The app's codecs: exact wire formats, bit-identical round trips through the container's side
(devstack.container_codecs), SDK-identical RecordIO, chunking."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from chalicelib.errors import InputTooLarge, ModelFailed
from chalicelib.inference_spec import JsonLayout
from chalicelib.models import FloatArray
from chalicelib.processing.codecs import (
    REQUEST_CONTENT_TYPES,
    RESPONSE_CONTENT_TYPES,
    Chunk,
    deserialize_response,
    serialize,
    serialize_chunks,
)
from devstack.container_codecs import parse_request, read_recordio_protobuf, serialize_response

DATA = Path(__file__).parent / "data"
RECORDIO = "application/x-recordio-protobuf"
LAYOUTS: tuple[JsonLayout, ...] = ("list", "instances", "features")
FORMATS = [(content_type, "list") for content_type in REQUEST_CONTENT_TYPES] + [
    ("application/json", layout) for layout in LAYOUTS[1:]
]

EDGES = [float(np.float32(v)) for v in (0.0, -0.0, 1e-45, -1e-45, 3.4028235e38, -3.4028235e38)]
float32s = st.floats(width=32, allow_nan=False, allow_infinity=False, allow_subnormal=True)
batches = arrays(
    np.float32,
    st.tuples(st.integers(1, 5), st.integers(1, 9)),
    elements=float32s | st.sampled_from(EDGES),
)


def bits(features: FloatArray) -> list[Any]:
    patterns: list[Any] = features.view(np.uint32).tolist()
    return patterns


def npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


SAMPLE = np.array([[0.1, -0.0, 1.0], [1e-7, 3.4028235e38, 123456790.0]], dtype=np.float32)


# Exact request formats


def test_csv_is_shortest_float32_text_without_a_trailing_newline() -> None:
    assert serialize(SAMPLE, "text/csv") == b"0.1,-0.0,1.0\n1e-7,3.4028235e+38,123456790.0"


def test_json_layouts() -> None:
    rows = "[0.1,-0.0,1.0],[1e-7,3.4028235e+38,123456790.0]"
    assert serialize(SAMPLE, "application/json") == f"[{rows}]".encode()
    assert (
        serialize(SAMPLE, "application/json", "instances") == f'{{"instances":[{rows}]}}'.encode()
    )
    assert serialize(SAMPLE, "application/json", "features") == (
        b'{"instances":[{"features":[0.1,-0.0,1.0]},{"features":[1e-7,3.4028235e+38,123456790.0]}]}'
    )


def test_npy_is_what_np_save_writes() -> None:
    assert serialize(SAMPLE, "application/x-npy") == npy(SAMPLE)


def test_content_type_parameters_are_ignored() -> None:
    assert serialize(SAMPLE, "Text/CSV; charset=utf-8") == serialize(SAMPLE, "text/csv")


def test_batches_of_more_dimensions_keep_rows_on_the_first_axis() -> None:
    batch = np.arange(12, dtype=np.float32).reshape(2, 1, 2, 3)
    assert serialize(batch, "text/csv") == b"0.0,1.0,2.0,3.0,4.0,5.0\n6.0,7.0,8.0,9.0,10.0,11.0"
    assert orjson.loads(serialize(batch, "application/json")) == batch.tolist()
    features = orjson.loads(serialize(batch, "application/json", "features"))
    assert features["instances"][1]["features"] == list(range(6, 12))
    assert np.array_equal(parse_request(serialize(batch, RECORDIO), RECORDIO), batch.reshape(2, 6))
    assert np.load(io.BytesIO(serialize(batch, "application/x-npy"))).shape == (2, 1, 2, 3)


# RecordIO-protobuf against the SageMaker SDK


@pytest.mark.parametrize("name", ["1x784", "3x5"])
def test_recordio_is_byte_identical_to_the_sdk(name: str) -> None:
    # recordio_<name>.bin was written by the SageMaker Python SDK v2 (sagemaker==2.257.7)
    # RecordSerializer from recordio_<name>.npy:
    # `make .venv-bench/.installed && .venv-bench/bin/python -m bench.make_recordio_golden`.
    features = np.load(DATA / f"recordio_{name}.npy")
    golden = (DATA / f"recordio_{name}.bin").read_bytes()
    assert serialize(features, RECORDIO) == golden
    assert bits(read_recordio_protobuf(golden)) == bits(features)


def test_recordio_layout_of_one_value() -> None:
    body = serialize(np.array([[1.0]], dtype=np.float32), RECORDIO)
    record = b"\x0a\x12\x0a\x06values\x12\x08\x12\x06\x0a\x04" + b"\x00\x00\x80\x3f"
    assert len(record) % 4 == 0
    assert body == b"\x0a\x23\xd7\xce" + bytes([len(record), 0, 0, 0]) + record


# Round trips


@settings(max_examples=60, deadline=None)
@given(batches, st.sampled_from(FORMATS))
def test_every_request_codec_round_trips_bit_for_bit(
    features: FloatArray, codec: tuple[str, JsonLayout]
) -> None:
    content_type, layout = codec
    parsed = parse_request(serialize(features, content_type, layout), content_type)
    assert parsed.dtype == np.float32
    assert bits(parsed) == bits(features)


@settings(max_examples=60, deadline=None)
@given(batches, st.sampled_from(RESPONSE_CONTENT_TYPES))
def test_every_response_codec_round_trips(features: FloatArray, accept: str) -> None:
    response = deserialize_response(serialize_response(features, accept), accept)
    assert bits(np.asarray(response, dtype=np.float32)) == bits(features)


def test_responses_of_plain_values() -> None:
    document = {"predictions": [{"score": 0.25, "predicted_label": 1}]}
    body = serialize_response(document, "application/json")
    assert deserialize_response(body, "application/json; charset=utf-8") == document
    assert deserialize_response(b"0.5,1\r\n0.25,0\n", "text/csv") == [[0.5, 1.0], [0.25, 0.0]]
    assert deserialize_response(npy(np.arange(3)), "application/x-npy").tolist() == [0, 1, 2]


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"{", "application/json"),
        (b'{"a": NaN}', "application/json"),
        (b"0.5,x\n", "text/csv"),
        (b"0.5,,1", "text/csv"),
        (b"\x93NUMPY junk", "application/x-npy"),
        (npy(np.array([True])), "application/x-npy"),
        (b"[1]", "text/html"),
    ],
)
def test_unreadable_responses_are_model_failures(body: bytes, content_type: str) -> None:
    with pytest.raises(ModelFailed):
        deserialize_response(body, content_type)


# Chunks


@pytest.mark.parametrize("codec", FORMATS)
def test_a_batch_that_fits_is_one_chunk(codec: tuple[str, JsonLayout]) -> None:
    content_type, layout = codec
    body = serialize(SAMPLE, content_type, layout)
    assert serialize_chunks(SAMPLE, content_type, layout, len(body)) == [Chunk(body, 2)]


@settings(max_examples=40, deadline=None)
@given(
    arrays(np.float32, st.tuples(st.integers(1, 40), st.integers(1, 12)), elements=float32s),
    st.sampled_from(FORMATS),
    st.integers(0, 2_000),
)
def test_chunks_fit_and_keep_every_row_in_order(
    features: FloatArray, codec: tuple[str, JsonLayout], slack: int
) -> None:
    content_type, layout = codec
    largest_row = max(
        len(serialize(features[i : i + 1], content_type, layout)) for i in range(len(features))
    )
    max_bytes = largest_row + slack
    chunks = serialize_chunks(features, content_type, layout, max_bytes)
    assert all(len(chunk.body) <= max_bytes for chunk in chunks)
    assert sum(chunk.rows for chunk in chunks) == len(features)
    parsed = np.concatenate([parse_request(chunk.body, content_type) for chunk in chunks])
    assert bits(parsed) == bits(features)


def test_chunks_are_few_for_uniform_rows() -> None:
    features = np.random.default_rng(3).random((1000, 784), dtype=np.float32)
    whole = len(serialize(features, RECORDIO))
    chunks = serialize_chunks(features, RECORDIO, "list", whole // 4 + 1)
    assert len(chunks) <= 5


def test_a_row_that_cannot_fit_is_too_large() -> None:
    with pytest.raises(InputTooLarge, match="one input"):
        serialize_chunks(SAMPLE, "text/csv", "list", 10)
