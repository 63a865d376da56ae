"""Decoding raw bodies: every accepted shape, the caps, only domain errors whatever the bytes."""

from __future__ import annotations

import base64
import io
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from chalicelib.errors import (
    EmptyInput,
    InputTooLarge,
    InvalidShape,
    MalformedInput,
    SagewireError,
    UnsupportedMediaType,
)
from chalicelib.processing.decode import (
    DEFAULT_LIMITS,
    SUPPORTED_CONTENT_TYPES,
    DecodeLimits,
    decode,
)

RNG = np.random.default_rng(7)
GRAY = RNG.integers(0, 256, (12, 10), dtype=np.uint8)
COLOR = RNG.integers(0, 256, (12, 10, 3), dtype=np.uint8)


def encode(image: Image.Image, fmt: str = "PNG", **options: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def npy(array: npt.NDArray[Any]) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def values(body: bytes, content_type: str, limits: DecodeLimits = DEFAULT_LIMITS) -> list[Any]:
    return [raw.values.tolist() for raw in decode(body, content_type, limits)]


# Content types


@pytest.mark.parametrize(
    "content_type", ["text/csv", "TEXT/CSV", "text/csv; charset=utf-8", " Text/Csv ;header=absent"]
)
def test_content_type_parameters_and_case_are_ignored(content_type: str) -> None:
    assert values(b"1,2", content_type) == [[1.0, 2.0]]


@pytest.mark.parametrize("content_type", ["image/gif", "text/html", "", "application/x-pickle"])
def test_unknown_content_types_are_unsupported(content_type: str) -> None:
    with pytest.raises(UnsupportedMediaType):
        decode(b"1", content_type)


@pytest.mark.parametrize("content_type", SUPPORTED_CONTENT_TYPES)
def test_empty_body_is_empty_input(content_type: str) -> None:
    with pytest.raises(EmptyInput):
        decode(b"", content_type)


# Images


def test_grayscale_png_keeps_its_pixels() -> None:
    (raw,) = decode(encode(Image.fromarray(GRAY)), "image/png")
    assert raw.kind == "image"
    assert raw.values.dtype == np.uint8
    assert np.array_equal(raw.values, GRAY)


def test_rgb_png_keeps_its_channels() -> None:
    (raw,) = decode(encode(Image.fromarray(COLOR)), "image/png")
    assert np.array_equal(raw.values, COLOR)


def test_palette_png_becomes_rgb() -> None:
    image = Image.fromarray(COLOR).quantize(16)
    (raw,) = decode(encode(image), "image/png")
    assert np.array_equal(raw.values, np.asarray(image.convert("RGB")))


def test_alpha_is_dropped() -> None:
    rgba = np.dstack([COLOR, np.zeros((12, 10), dtype=np.uint8)])
    (raw,) = decode(encode(Image.fromarray(rgba)), "image/png")
    assert np.array_equal(raw.values, COLOR)
    (raw,) = decode(encode(Image.fromarray(np.dstack([GRAY, GRAY]), "LA")), "image/png")
    assert np.array_equal(raw.values, GRAY)


def test_sixteen_bit_png_is_rescaled_to_eight_bits() -> None:
    wide = np.array([[0, 257, 65535], [32896, 128, 129]], dtype=np.uint16)
    (raw,) = decode(encode(Image.fromarray(wide)), "image/png")
    assert raw.values.tolist() == [[0, 1, 255], [128, 0, 1]]


def test_one_bit_png_becomes_grayscale() -> None:
    (raw,) = decode(encode(Image.fromarray(GRAY > 127)), "image/png")
    assert set(np.unique(raw.values).tolist()) <= {0, 255}
    assert np.array_equal(raw.values == 255, GRAY > 127)


@pytest.mark.parametrize("mode", ["L", "RGB"])
def test_jpeg_decodes_like_pillow(mode: str) -> None:
    body = encode(Image.fromarray(COLOR).convert(mode), "JPEG", quality=90)
    (raw,) = decode(body, "image/jpeg")
    assert np.array_equal(raw.values, np.asarray(Image.open(io.BytesIO(body))))


def test_images_must_match_their_content_type() -> None:
    png = encode(Image.fromarray(GRAY))
    jpeg = encode(Image.fromarray(GRAY), "JPEG")
    with pytest.raises(MalformedInput, match="PNG"):
        decode(jpeg, "image/png")
    with pytest.raises(MalformedInput, match="JPEG"):
        decode(png, "image/jpeg")


def test_pixel_cap_is_checked() -> None:
    body = encode(Image.fromarray(GRAY))
    with pytest.raises(InputTooLarge, match="10x12"):
        decode(body, "image/png", DecodeLimits(max_pixels=119))
    assert len(decode(body, "image/png", DecodeLimits(max_pixels=120))) == 1


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(["L", "RGB"]),
    st.integers(1, 40),
    st.integers(1, 40),
    st.integers(0, 2**32 - 1),
    st.sampled_from([{}, {"optimize": True}, {"compress_level": 0}, {"compress_level": 9}]),
)
def test_plain_pngs_decode_exactly_as_pillow_does(
    mode: str, width: int, height: int, seed: int, options: dict[str, Any]
) -> None:
    shape = (height, width) if mode == "L" else (height, width, 3)
    pixels = np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)
    body = encode(Image.fromarray(pixels, mode), **options)
    (raw,) = decode(body, "image/png")
    assert np.array_equal(raw.values, np.asarray(Image.open(io.BytesIO(body))))


def test_a_png_chunk_with_a_bad_checksum_is_malformed() -> None:
    body = bytearray(encode(Image.fromarray(GRAY)))
    body[-20] ^= 0xFF
    with pytest.raises(MalformedInput):
        decode(bytes(body), "image/png")


def test_truncated_png_is_malformed() -> None:
    body = encode(Image.fromarray(COLOR))
    with pytest.raises(MalformedInput):
        decode(body[: len(body) // 2], "image/png")


# CSV


def test_each_csv_row_is_one_input() -> None:
    body = b"\xef\xbb\xbf1,2.5,-3\r\n4e2, 5 ,+6\r\n\r\n"
    decoded = decode(body, "text/csv")
    assert [raw.kind for raw in decoded] == ["array", "array"]
    assert [raw.values.dtype for raw in decoded] == [np.float64, np.float64]
    assert values(body, "text/csv") == [[1.0, 2.5, -3.0], [400.0, 5.0, 6.0]]


def test_csv_rows_must_have_the_same_columns() -> None:
    with pytest.raises(InvalidShape, match="line 3 has 1 columns; line 1 has 2"):
        decode(b"1,2\n3,4\n5\n", "text/csv")


def test_csv_header_is_refused_naming_the_line() -> None:
    with pytest.raises(MalformedInput, match=r"line 1, column 1 .*header"):
        decode(b"pixel0,pixel1\n1,2\n", "text/csv")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"1,2\n3,x\n", "line 2, column 2 is not a number"),
        (b"1,2\n3,\n", "line 2, column 2"),
        (b"1,2\n\n3,4\n", "line 2 is empty"),
        (b"1\n\n3\n", "line 2, column 1"),
        (b'"1",2\n', "line 1, column 1"),
    ],
)
def test_non_numeric_csv_fields_are_malformed(body: bytes, message: str) -> None:
    with pytest.raises(MalformedInput, match=message):
        decode(body, "text/csv")


@pytest.mark.parametrize("field", [b"nan", b"NaN", b"inf", b"-Infinity", b"1e999"])
def test_csv_refuses_nan_and_infinity(field: bytes) -> None:
    with pytest.raises(MalformedInput, match="line 2: NaN and infinity"):
        decode(b"1,2\n3," + field, "text/csv")


@pytest.mark.parametrize(
    ("body", "limits", "message"),
    [
        (b"1\n2\n3", DecodeLimits(max_rows=2), "3 rows"),
        (b"1,2,3", DecodeLimits(max_columns=2), "3 columns"),
        (b"1,2\n3,4", DecodeLimits(max_elements=3), "4 values"),
        (b"1," + b"1" * 65, DecodeLimits(), "longer than 64"),
    ],
)
def test_csv_caps(body: bytes, limits: DecodeLimits, message: str) -> None:
    with pytest.raises(InputTooLarge, match=message):
        decode(body, "text/csv", limits)


def test_csv_of_only_whitespace_is_empty() -> None:
    with pytest.raises(EmptyInput):
        decode(b" \r\n\n", "text/csv")


# JSON


def test_json_array_is_one_input() -> None:
    pixels = RNG.integers(0, 17, (8, 8)).tolist()
    (raw,) = decode(orjson.dumps(pixels), "application/json")
    assert raw.kind == "array"
    assert raw.values.dtype == np.float64
    assert raw.values.tolist() == pixels
    assert values(b"[1, 2.5, -0.0]", "application/json") == [[1.0, 2.5, -0.0]]


def test_json_instances() -> None:
    png = base64.b64encode(encode(Image.fromarray(GRAY))).decode()
    body = orjson.dumps({"instances": [[1, 2], {"features": [3, 4]}, {"image": png}, 5]})
    decoded = decode(body, "application/json")
    assert [raw.kind for raw in decoded] == ["array", "array", "image", "array"]
    assert decoded[1].values.tolist() == [3.0, 4.0]
    assert np.array_equal(decoded[2].values, GRAY)
    assert decoded[3].values.tolist() == [5.0]


def test_json_images() -> None:
    png = base64.b64encode(encode(Image.fromarray(GRAY))).decode()
    jpeg = base64.b64encode(encode(Image.fromarray(COLOR), "JPEG")).decode()
    (single,) = decode(orjson.dumps({"image": png}), "application/json")
    assert np.array_equal(single.values, GRAY)
    pair = decode(orjson.dumps({"images": [png, jpeg]}), "application/json")
    assert [raw.values.shape for raw in pair] == [(12, 10), (12, 10, 3)]


def test_json_image_count_is_capped() -> None:
    png = base64.b64encode(encode(Image.fromarray(GRAY))).decode()
    with pytest.raises(InputTooLarge, match="3 images"):
        decode(orjson.dumps({"images": [png] * 3}), "application/json", DecodeLimits(max_images=2))
    body = orjson.dumps({"instances": [{"image": png}] * 3})
    with pytest.raises(InputTooLarge, match="3 images"):
        decode(body, "application/json", DecodeLimits(max_images=2))


def test_base64_images_keep_the_allow_list() -> None:
    gif = base64.b64encode(encode(Image.fromarray(GRAY), "GIF")).decode()
    with pytest.raises(MalformedInput, match="PNG or JPEG"):
        decode(orjson.dumps({"image": gif}), "application/json")


@pytest.mark.parametrize(
    "document",
    [
        [[1, 2], [3]],
        [[1, 2], 3],
        {"instances": [[[1, 2], [3, 4]], [[1], [2, 3]]]},
    ],
)
def test_ragged_json_arrays_are_invalid_shapes(document: Any) -> None:
    with pytest.raises(InvalidShape, match="ragged"):
        decode(orjson.dumps(document), "application/json")


@pytest.mark.parametrize(
    "document",
    [
        [1, True],
        [[1, 2], [3, None]],
        ["1", 2],
        [{"a": 1}],
        {"instances": [[1, False]]},
        {"instances": [{"features": [1, "2"]}]},
    ],
)
def test_non_numbers_in_json_arrays_are_malformed(document: Any) -> None:
    with pytest.raises(MalformedInput, match="only numbers"):
        decode(orjson.dumps(document), "application/json")


@pytest.mark.parametrize(
    "body",
    [
        b"1",
        b'"text"',
        b"null",
        b'{"pixels": [1]}',
        b'{"instances": [1], "extra": 1}',
        b'{"instances": {"a": 1}}',
        b'{"instances": [{"features": [1], "image": ""}]}',
        b'{"images": "abc"}',
        b'{"image": 5}',
        b"[1, 2",
        b"[1, NaN]",
        b"[Infinity]",
        b"[1e999]",
    ],
)
def test_other_json_is_malformed(body: bytes) -> None:
    with pytest.raises(MalformedInput):
        decode(body, "application/json")


@pytest.mark.parametrize("body", [b'{"instances": []}', b'{"images": []}', b'{"image": ""}'])
def test_json_without_inputs_is_empty(body: bytes) -> None:
    with pytest.raises(EmptyInput):
        decode(body, "application/json")


def test_json_instance_count_is_capped() -> None:
    with pytest.raises(InputTooLarge, match="3 instances"):
        decode(b'{"instances": [1, 2, 3]}', "application/json", DecodeLimits(max_rows=2))


def _depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    return 0


tricky_strings = st.text(alphabet='[]{}"\\ab', max_size=8)
json_documents = st.recursive(
    st.integers(0, 9) | tricky_strings,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(tricky_strings, children),
    max_leaves=30,
)


@settings(max_examples=150, deadline=None)
@given(json_documents.filter(lambda d: isinstance(d, list | dict)))
def test_json_depth_limit_ignores_brackets_in_strings(document: Any) -> None:
    body = orjson.dumps(document)
    depth = _depth(document)
    for limit in {depth, depth - 1, 0}:
        limits = DecodeLimits(max_json_depth=limit)
        if depth > limit:
            with pytest.raises(InputTooLarge, match="nested"):
                decode(body, "application/json", limits)
            continue
        try:
            decode(body, "application/json", limits)
        except SagewireError as error:
            message = error.message
        else:
            message = ""
        assert "nested" not in message


# .npy


def test_one_dimensional_npy_is_one_input() -> None:
    assert values(npy(np.arange(4, dtype=np.int16)), "application/x-npy") == [[0, 1, 2, 3]]


@pytest.mark.parametrize("dtype", ["<u1", "i1", ">u2", "<i4", ">i8", "<f2", ">f4", "<f8"])
def test_npy_batches_are_split_on_the_first_axis(dtype: str) -> None:
    array = np.arange(24).reshape(2, 3, 4).astype(dtype)
    decoded = decode(npy(array), "application/x-npy")
    assert len(decoded) == 2
    for raw, expected in zip(decoded, array, strict=True):
        assert raw.kind == "array"
        assert raw.values.dtype == np.float64
        assert np.array_equal(raw.values, expected)


def test_fortran_order_npy_keeps_its_values() -> None:
    array = np.asfortranarray(np.arange(6, dtype=np.float32).reshape(2, 3))
    assert values(npy(array), "application/x-npy") == array.tolist()


def test_npy_version_two_header() -> None:
    version_one = npy(np.arange(3, dtype=np.float64))
    header_length = int.from_bytes(version_one[8:10], "little")
    body = b"\x93NUMPY\x02\x00" + header_length.to_bytes(4, "little") + version_one[10:]
    assert values(body, "application/x-npy") == [[0.0, 1.0, 2.0]]


@pytest.mark.parametrize(
    "array",
    [
        np.array([True, False]),
        np.array([1 + 2j]),
        np.array(["a"]),
        np.array([b"a"]),
        np.zeros(2, dtype=[("a", "<f4")]),
        np.array(["2020-01-01"], dtype="datetime64[D]"),
    ],
)
def test_npy_dtypes_outside_the_allow_list_are_malformed(array: npt.NDArray[Any]) -> None:
    with pytest.raises(MalformedInput, match="dtype"):
        decode(npy(array), "application/x-npy")


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_npy_refuses_nan_and_infinity(value: float) -> None:
    with pytest.raises(MalformedInput, match="NaN"):
        decode(npy(np.array([1.0, value], dtype=np.float32)), "application/x-npy")


def test_npy_data_must_match_the_header() -> None:
    body = npy(np.arange(4, dtype=np.float32))
    for broken in (body[:-1], body + b"\0"):
        with pytest.raises(MalformedInput, match="length"):
            decode(broken, "application/x-npy")


def test_npy_caps() -> None:
    body = npy(np.zeros((3, 2)))
    with pytest.raises(InputTooLarge, match="6 values"):
        decode(body, "application/x-npy", DecodeLimits(max_elements=5))
    with pytest.raises(InputTooLarge, match="3 rows"):
        decode(body, "application/x-npy", DecodeLimits(max_rows=2))
    with pytest.raises(EmptyInput):
        decode(npy(np.zeros((0, 2))), "application/x-npy")


# Whatever the bytes, only domain errors


def _valid_bodies() -> list[tuple[str, bytes]]:
    png = encode(Image.fromarray(COLOR).quantize(8))
    return [
        ("image/png", encode(Image.fromarray(GRAY))),
        ("image/png", png),
        ("image/jpeg", encode(Image.fromarray(COLOR), "JPEG")),
        ("image/jpeg", encode(Image.fromarray(GRAY), "JPEG", progressive=True)),
        ("text/csv", b"1,2,3\n4.5,-6e-3,7\n"),
        ("application/json", b'{"instances": [[1, 2], {"features": [3, 4]}]}'),
        ("application/json", b'{"image": "' + base64.b64encode(png) + b'"}'),
        ("application/json", b'[[0, 1.5], [2, "a\\"]"], [3, 4]]'),
        ("application/x-npy", npy(np.arange(6, dtype=np.float32).reshape(2, 3))),
    ]


VALID_BODIES = _valid_bodies()


def decodes_or_refuses(body: bytes, content_type: str) -> None:
    try:
        decoded = decode(body, content_type)
    except SagewireError:
        return
    for raw in decoded:
        assert raw.kind in ("image", "array", "text")
        assert isinstance(raw.text, str)
        assert (raw.kind == "text") == bool(raw.text)


@settings(max_examples=1000, deadline=None)
@given(st.binary(max_size=512), st.sampled_from(SUPPORTED_CONTENT_TYPES))
def test_arbitrary_bytes_raise_only_domain_errors(body: bytes, content_type: str) -> None:
    decodes_or_refuses(body, content_type)


@pytest.mark.parametrize("content_type", SUPPORTED_CONTENT_TYPES)
@pytest.mark.parametrize("valid", VALID_BODIES, ids=lambda valid: valid[0])
def test_bodies_sent_as_another_type_raise_only_domain_errors(
    content_type: str, valid: tuple[str, bytes]
) -> None:
    decodes_or_refuses(valid[1], content_type)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(VALID_BODIES), st.data())
def test_mutated_valid_bodies_raise_only_domain_errors(
    valid: tuple[str, bytes], data: st.DataObject
) -> None:
    content_type, original = valid
    body = bytearray(original)
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(body)))
        operation = data.draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        if operation == "flip" and position < len(body):
            body[position] ^= 1 << data.draw(st.integers(0, 7))
        elif operation == "insert":
            body[position:position] = data.draw(st.binary(min_size=1, max_size=8))
        elif operation == "delete":
            del body[position : position + data.draw(st.integers(1, 8))]
        else:
            del body[position:]
    decodes_or_refuses(bytes(body), content_type)
