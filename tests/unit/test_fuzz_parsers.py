"""Property-based fuzzing of every decoder and parser that hostile input reaches, beyond the
random bytes of test_decode: structured near-valid inputs (CSV, JSON, .npy headers, PNG chunks
with good checksums, cursors, ISO times, model responses), so that the deep branches are reached
too. Each must answer a value or a sagewire domain error, never another exception."""

from __future__ import annotations

import base64
import io
import math
import os
import struct
import zlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar, get_args

import numpy as np
import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image

from chalicelib.definitions import parse_project, project_to_document
from chalicelib.errors import (
    InvalidDefinition,
    InvalidParameter,
    MalformedInput,
    ModelFailed,
    SagewireError,
)
from chalicelib.inference_spec import (
    InputSpec,
    ModelOutputs,
    PostprocessKind,
    ResizeFilter,
    ResponseSpec,
)
from chalicelib.models import Project, RawInput
from chalicelib.processing.codecs import (
    REQUEST_CONTENT_TYPES,
    RESPONSE_CONTENT_TYPES,
    deserialize_response,
)
from chalicelib.processing.decode import SUPPORTED_CONTENT_TYPES, decode
from chalicelib.processing.events import event_time
from chalicelib.processing.images import image_header
from chalicelib.processing.leaderboard_query import (
    MAX_FILTERS,
    OPS,
    Cursor,
    decode_cursor,
    encode_cursor,
    format_sort,
    matches,
    parse_filter,
    parse_filters,
    parse_sort,
)
from chalicelib.processing.postprocess import postprocess
from chalicelib.processing.preprocess import preprocess
from chalicelib.records import Run
from devstack.container_codecs import parse_request

T = TypeVar("T")
# SAGEWIRE_FUZZ_EXAMPLES=3000 for a longer hunt.
EXAMPLES = int(os.environ.get("SAGEWIRE_FUZZ_EXAMPLES", "300"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=25,
)


def refused_or(
    function: Callable[..., T], *args: Any, error: type[SagewireError] = SagewireError
) -> T | None:
    """The function's value, or None when it refused with `error` (anything else propagates)."""
    try:
        return function(*args)
    except error as refusal:
        if not refusal.message:
            raise AssertionError(f"{type(refusal).__name__} without a message") from refusal
        return None


# decode: content types, CSV, JSON, .npy headers, PNG chunks


@FUZZ
@given(st.text(max_size=60) | st.sampled_from(SUPPORTED_CONTENT_TYPES).map(str.upper))
def test_any_content_type_header_is_decoded_or_refused(content_type: str) -> None:
    refused_or(decode, b"1,2,3", content_type)


csv_fields = st.one_of(
    st.integers(-(10**20), 10**20).map(str),
    st.floats().map(repr),
    st.sampled_from(["", " ", "nan", "-inf", "1e999", "0x1A", "1_000", "+.5", "١٢", "\x00", '"1"']),
    st.text(max_size=6),
)


@FUZZ
@given(
    st.lists(st.lists(csv_fields, min_size=1, max_size=6), min_size=1, max_size=6),
    st.sampled_from(["\n", "\r\n", "\r"]),
    st.booleans(),
)
def test_csv_made_of_near_numbers_is_decoded_or_refused(
    rows: list[list[str]], newline: str, bom: bool
) -> None:
    text = newline.join(",".join(row) for row in rows)
    body = (b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8", "surrogatepass")
    for raw in refused_or(decode, body, "text/csv") or []:
        assert raw.values.dtype == np.float64
        assert np.isfinite(raw.values).all()


images = st.builds(
    lambda mode, width, height: _encoded(Image.new(mode, (width, height))),
    st.sampled_from(["L", "RGB", "1"]),
    st.integers(1, 8),
    st.integers(1, 8),
)
base64_strings = images.map(lambda data: base64.b64encode(data).decode()) | st.text(max_size=12)
prediction_documents = st.one_of(
    json_values,
    st.fixed_dictionaries({"instances": json_values}),
    st.fixed_dictionaries(
        {
            "instances": st.lists(
                json_values
                | st.fixed_dictionaries({"features": json_values})
                | st.fixed_dictionaries({"image": base64_strings}),
                max_size=4,
            )
        }
    ),
    st.fixed_dictionaries({"image": base64_strings | json_values}),
    st.fixed_dictionaries({"images": st.lists(base64_strings, max_size=3) | json_values}),
)


@FUZZ
@given(prediction_documents)
def test_any_json_prediction_document_is_decoded_or_refused(document: Any) -> None:
    for raw in refused_or(decode, orjson.dumps(document), "application/json") or []:
        assert raw.kind in ("image", "array")
        if raw.kind == "array":
            assert raw.values.dtype == np.float64
            assert raw.values.ndim >= 1


npy_literals = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-3, 2**40)
    | st.sampled_from(["<f4", ">f8", "|u1", "<i8", "|O", "<U3", "<c8", "V8", "<f2"]),
    lambda children: st.lists(children, max_size=4).map(tuple) | st.lists(children, max_size=3),
    max_leaves=8,
)
npy_headers = st.one_of(
    st.fixed_dictionaries(
        {
            "descr": npy_literals,
            "fortran_order": npy_literals,
            "shape": st.lists(st.integers(-1, 40), max_size=4).map(tuple) | npy_literals,
        }
    ).map(repr),
    st.text(max_size=80),
    st.just("{'descr': '<f4', 'fortran_order': False, 'shape': (" + "(" * 200 + ")" * 200 + ")}"),
)


@FUZZ
@given(npy_headers, st.sampled_from([1, 2, 3, 4]), st.binary(max_size=64))
def test_npy_with_any_header_is_decoded_or_refused(header: str, major: int, data: bytes) -> None:
    encoded = header.encode("latin-1", "replace") + b"\n"
    length = struct.pack("<H" if major == 1 else "<I", len(encoded))
    body = b"\x93NUMPY" + bytes([major, 0]) + length + encoded + data
    for raw in refused_or(decode, body, "application/x-npy") or []:
        assert raw.values.dtype == np.float64
        assert np.isfinite(raw.values).all()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


@FUZZ
@given(
    st.tuples(
        st.integers(0, 64),
        st.integers(0, 64),
        st.sampled_from([1, 2, 4, 8, 16, 3]),
        st.sampled_from([0, 2, 3, 4, 6, 1]),
        st.integers(0, 1),
        st.integers(0, 1),
        st.integers(0, 1),
    ),
    st.lists(
        st.tuples(
            st.sampled_from([b"IDAT", b"zTXt", b"iTXt", b"tEXt", b"PLTE", b"tRNS", b"gAMA"]),
            st.binary(max_size=64) | st.binary(max_size=300).map(zlib.compress),
        ),
        max_size=4,
    ),
    st.booleans(),
)
def test_pngs_with_good_checksums_and_any_fields_are_decoded_or_refused(
    header: tuple[int, ...], chunks: list[tuple[bytes, bytes]], end: bool
) -> None:
    body = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", *header))
    body += b"".join(_chunk(kind, data) for kind, data in chunks)
    body += _chunk(b"IEND", b"") if end else b""
    for raw in refused_or(decode, body, "image/png") or []:
        assert raw.values.dtype == np.uint8
        assert raw.values.ndim in (2, 3)


@FUZZ
@given(
    st.integers(1, 80),
    st.integers(1, 80),
    st.sampled_from(["L", "RGB"]),
    st.sampled_from(["PNG", "JPEG"]),
    st.booleans(),
    st.integers(0, 4),
)
def test_the_header_of_any_encoded_image_is_what_pillow_decodes(
    width: int, height: int, mode: str, kind: str, progressive: bool, seed: int
) -> None:
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).convert(mode).save(buffer, format=kind, progressive=progressive)
    header = image_header(buffer.getvalue(), ("PNG", "JPEG"), 6_400)
    assert (header.width, header.height) == Image.open(buffer).size
    # libjpeg's standard progressive script: 6 scans for grayscale, 10 for color.
    scans = (6 if mode == "L" else 10) if kind == "JPEG" and progressive else 1
    assert header.scans == scans


jpeg_segments = st.tuples(
    st.sampled_from([0xC0, 0xC2, 0xC4, 0xDA, 0xDB, 0xDD, 0xE0, 0xFE, 0xD0, 0xD8, 0xD9, 0x01]),
    st.binary(max_size=12),
    st.booleans(),
)


@FUZZ
@given(st.lists(jpeg_segments, max_size=8), st.binary(max_size=40), st.integers(0, 4))
def test_any_jpeg_markers_give_a_header_or_a_refusal(
    segments: list[tuple[int, bytes, bool]], tail: bytes, max_scans: int
) -> None:
    body = b"\xff\xd8"
    for marker, data, with_length in segments:
        body += bytes([0xFF, marker]) + (struct.pack(">H", len(data) + 2) if with_length else b"")
        body += data
    header = refused_or(image_header, body + tail, ("JPEG",), 10_000, max_scans)
    if header is not None:
        assert header.pixels <= 10_000
        assert header.scans <= max_scans
        assert body.count(b"\xff\xda") >= header.scans


# codecs: the model's side of the wire


@FUZZ
@given(
    st.binary(max_size=300) | prediction_documents.map(orjson.dumps),
    st.sampled_from(REQUEST_CONTENT_TYPES) | st.text(max_size=20),
)
def test_any_request_body_is_parsed_or_refused(body: bytes, content_type: str) -> None:
    batch = refused_or(parse_request, body, content_type)
    if batch is not None:
        assert batch.dtype == np.float32
        assert batch.ndim == 2
        assert np.isfinite(batch).all()


@FUZZ
@given(
    st.binary(max_size=300) | json_values.map(orjson.dumps),
    st.sampled_from(RESPONSE_CONTENT_TYPES) | st.text(max_size=20),
)
def test_any_model_response_is_read_or_a_model_error(body: bytes, content_type: str) -> None:
    refused_or(deserialize_response, body, content_type, error=ModelFailed)


response_items = st.recursive(
    json_scalars
    | st.floats()
    | st.fixed_dictionaries(
        {
            "score": json_scalars | st.lists(json_scalars, max_size=3),
            "predicted_label": json_scalars,
        }
    )
    | st.fixed_dictionaries({"closest_cluster": json_scalars, "distance_to_cluster": st.floats()}),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=4), children)
    ),
    max_leaves=12,
)
model_responses = st.one_of(
    response_items,
    st.fixed_dictionaries({"predictions": response_items}),
    arrays(
        st.sampled_from([np.float32, np.float64, np.int64, np.uint8]),
        st.tuples(st.integers(0, 3), st.integers(0, 4)) | st.tuples(st.integers(0, 4)),
    ),
)


@FUZZ
@given(
    model_responses,
    st.sampled_from(get_args(PostprocessKind)),
    st.sampled_from(get_args(ModelOutputs)),
    st.none() | st.lists(st.text(min_size=1, max_size=3), min_size=1, max_size=4).map(tuple),
    st.integers(1, 4),
    st.none() | st.integers(1, 100),
)
def test_any_model_answer_is_postprocessed_or_a_model_error(
    response: Any,
    kind: PostprocessKind,
    outputs: ModelOutputs,
    labels: tuple[str, ...] | None,
    rows: int,
    top_k: int | None,
) -> None:
    spec = ResponseSpec(postprocess=kind, outputs=outputs, labels=labels)
    predictions = refused_or(postprocess, response, spec, rows, top_k, error=ModelFailed)
    if predictions is not None:
        assert len(predictions) == rows
        # What the route answers must be JSON: orjson refuses what it cannot write.
        orjson.dumps({"predictions": predictions})


# preprocess: whatever decode hands over, under any valid input spec


raw_inputs = st.one_of(
    arrays(
        np.float64,
        st.lists(st.integers(0, 5), min_size=1, max_size=3).map(tuple),
        elements=st.floats(-1e300, 1e300) | st.sampled_from([0.0, 255.0, 3.5e38]),
    ).map(lambda values: RawInput(values, "array")),
    arrays(
        np.uint8,
        st.tuples(st.integers(1, 12), st.integers(1, 12))
        | st.tuples(st.integers(1, 9), st.integers(1, 9), st.just(3)),
    ).map(lambda pixels: RawInput(pixels, "image")),
)
input_specs = st.builds(
    InputSpec,
    shape=st.lists(st.integers(1, 9), min_size=1, max_size=3).map(tuple),
    scale=st.floats(1e-3, 1e6),
    mean=st.floats(-1e6, 1e6),
    std=st.floats(1e-6, 1e6),
    flatten=st.booleans(),
    channel_first=st.booleans(),
    invert=st.booleans(),
    resize_filter=st.sampled_from(get_args(ResizeFilter)),
)


@FUZZ
@given(st.lists(raw_inputs, max_size=3), input_specs)
def test_any_decoded_input_is_preprocessed_or_refused(
    inputs: list[RawInput], spec: InputSpec
) -> None:
    batch = refused_or(preprocess, inputs, spec)
    if batch is not None:
        assert batch.dtype == np.float32
        assert len(batch) == len(inputs)
        assert np.isfinite(batch).all()


# events: times


iso_times = st.builds(
    lambda moment, offset, separator: moment.isoformat(sep=separator) + offset,
    st.datetimes() | st.sampled_from([datetime.min, datetime.max, datetime(1970, 1, 1)]),
    st.sampled_from(["", "Z", "+00:00", "+14:00", "-12:00", "+23:59", "-23:59", "+05:30:15"]),
    st.sampled_from(["T", " "]),
)


@FUZZ
@given(
    iso_times
    | st.integers(-(10**20), 10**20)
    | st.floats()
    | st.integers(0, 10**30).map(str)
    | st.text(max_size=30)
    | json_values
)
def test_any_event_time_is_a_utc_time_or_malformed(value: Any) -> None:
    moment = refused_or(event_time, value, "time", error=MalformedInput)
    if moment is not None:
        assert moment.utcoffset() is not None
        assert not moment.utcoffset()


# leaderboard: sorts, filter lists, matching, near-valid cursors


@FUZZ
@given(st.text(max_size=600) | st.text(max_size=20).map("Metrics.".__add__))
def test_any_sort_is_a_metric_or_an_invalid_parameter(text: str) -> None:
    key = refused_or(parse_sort, text, error=InvalidParameter)
    assert key is None or (key.metric and parse_sort(format_sort(key)) == key)
    assert key is None or text in (format_sort(key), f"{format_sort(key)}.last")


@FUZZ
@given(st.lists(st.text(max_size=30), max_size=MAX_FILTERS + 3))
def test_any_list_of_filters_is_parsed_or_an_invalid_parameter(texts: list[str]) -> None:
    parsed = refused_or(parse_filters, texts, error=InvalidParameter)
    assert parsed is None or len(parsed) == len(texts) <= MAX_FILTERS


names = st.text(st.characters(exclude_characters="=!<>"), min_size=1, max_size=5)
filter_texts = st.builds(
    lambda field, name, op, value: f"{field}{name}{op}{value}",
    st.sampled_from(["Metrics.", "HyperParameters.", "Tags.", "Status"]),
    names | st.just(""),
    st.sampled_from(list(OPS)),
    st.text(max_size=8)
    | st.floats().map(repr)
    | st.sampled_from(["Completed", "1e999", "-0", "1e-400", "200", "2e2"]),
)
runs = st.builds(
    Run,
    name=st.just("run"),
    arn=st.just("arn"),
    status=st.sampled_from(["InProgress", "Completed", "Failed", "Stopping", "Stopped"]),
    last_modified_at=st.just(datetime(2026, 1, 1, tzinfo=UTC)),
    metrics=st.dictionaries(names, st.floats(), max_size=3),
    hyperparameters=st.dictionaries(names, st.text(max_size=6) | st.floats().map(repr), max_size=3),
    tags=st.dictionaries(names, st.text(max_size=6), max_size=3),
)


@FUZZ
@given(filter_texts, runs)
def test_any_parsed_filter_matches_any_run_without_error(text: str, run: Run) -> None:
    condition = refused_or(parse_filter, text, error=InvalidParameter)
    if condition is not None:
        assert isinstance(matches(run, condition), bool)


cursor_states = st.dictionaries(
    st.sampled_from(["q", "p", "s", "k", "x"]),
    json_values
    | st.sampled_from(["ranked", "unranked", "sorted"])
    | st.integers(-1, 10**10)
    | st.dictionaries(st.text(max_size=4), st.text(max_size=4)),
    max_size=5,
)


@FUZZ
@given(cursor_states, st.booleans())
def test_any_encoded_state_is_a_cursor_or_an_invalid_parameter(
    state: dict[str, Any], padded: bool
) -> None:
    text = base64.urlsafe_b64encode(orjson.dumps(state)).decode()
    cursor = refused_or(decode_cursor, text if padded else text.rstrip("="), error=InvalidParameter)
    if cursor is not None:
        assert isinstance(cursor, Cursor)
        assert encode_cursor(cursor) == text.rstrip("=")


# definitions: every field of a complete definition, the access lists among them


def complete_document() -> dict[str, Any]:
    return {
        "name": "digits-zero",
        "match": {"tags": {"Project": "P"}, "experiment_name": "e", "trial_name": "t"},
        "objective": {"metric": "loss", "goal": "minimize", "min_improvement": 0.0},
        "guards": [{"metric": "f1", "op": ">=", "value": 0.9}],
        "endpoint": {
            "name": "digits-zero",
            "instance_type": "ml.m5.large",
            "instance_count": 2,
            "execution_role_arn": "arn:aws:iam::123456789012:role/Execution",
            "strategy": {
                "type": "canary",
                "canary_percent": 10,
                "wait_seconds": 60,
                "rollback_alarms": ["alarm"],
            },
        },
        "inference": {
            "input": {"shape": [8, 8], "scale": 255.0, "resize_filter": "box", "invert": False},
            "request": {"content_type": "text/csv", "json_layout": "list"},
            "response": {"accept": "application/json", "postprocess": "raw", "labels": ["a"]},
        },
        "access": {"groups": ["team"], "api_keys": ["key1"]},
    }


def _leaves(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(value, dict):
        return [path] + [
            leaf for key, item in value.items() for leaf in _leaves(item, (*path, key))
        ]
    if isinstance(value, list):
        return [path] + [leaf for i, item in enumerate(value) for leaf in _leaves(item, (*path, i))]
    return [path]


LEAVES = [path for path in _leaves(complete_document()) if path]


@settings(max_examples=2 * EXAMPLES, deadline=None)
@given(st.sampled_from(LEAVES), json_values | st.floats())
def test_any_value_anywhere_in_a_definition_is_accepted_or_named(
    path: tuple[Any, ...], value: Any
) -> None:
    document = complete_document()
    target = document
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    try:
        project = parse_project(document)
    except InvalidDefinition as refusal:
        if not refusal.field.startswith(str(path[0])):
            raise AssertionError(f"{refusal.field} is not under {path}") from refusal
        return
    assert isinstance(project, Project)
    canonical = project_to_document(project)
    orjson.dumps(canonical)
    assert parse_project(canonical) == project


def _encoded(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def test_the_fuzzed_definition_is_valid() -> None:
    project = parse_project(complete_document())
    assert math.prod(project.inference.input.shape) == 64
    assert project.access.api_keys == ("key1",)
