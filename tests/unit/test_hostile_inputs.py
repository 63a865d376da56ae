"""Hostile bodies: each is refused with the right domain error, quickly and without side effects."""

from __future__ import annotations

import io
import pickle
import struct
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from chalicelib.errors import (
    EmptyInput,
    InputTooLarge,
    InvalidShape,
    MalformedInput,
    SagewireError,
    UnsupportedMediaType,
)
from chalicelib.inference_spec import InputSpec
from chalicelib.processing.decode import decode
from chalicelib.processing.preprocess import preprocess

UNPICKLED: list[str] = []


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(width: int, height: int, *extra: bytes) -> bytes:
    """A grayscale PNG whose IHDR claims width x height, with one (short) IDAT row."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    pixels = zlib.compress(b"\0" * (width + 1))
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + b"".join(extra)
        + _chunk(b"IDAT", pixels)
        + _chunk(b"IEND", b"")
    )


def refused(error: type[SagewireError], body: bytes, content_type: str) -> SagewireError:
    with pytest.raises(error) as caught:
        decode(body, content_type)
    return caught.value


def test_the_crafted_png_is_valid_when_small() -> None:
    (raw,) = decode(png(4, 1), "image/png")
    assert raw.values.shape == (1, 4)


@pytest.mark.parametrize("side", [20_000, 3_000])
def test_png_claiming_too_many_pixels(side: int) -> None:
    # 20000² is past Pillow's own bomb limit; 3000² only past sagewire's 4 MP cap.
    refused(InputTooLarge, png(side, side), "image/png")


def test_png_whose_text_chunk_inflates_past_pillows_limit() -> None:
    bomb = zlib.compress(b"\0" * (PngImagePlugin.MAX_TEXT_CHUNK + 1), 9)
    assert len(bomb) < 2_000
    body = png(4, 1, _chunk(b"zTXt", b"Comment\0\0" + bomb))
    refused(InputTooLarge, body, "image/png")


def test_gif_sent_as_png() -> None:
    buffer = io.BytesIO()
    Image.new("L", (4, 4)).save(buffer, "GIF")
    refused(MalformedInput, buffer.getvalue(), "image/png")


def test_json_nested_fifty_thousand_deep() -> None:
    error = refused(InputTooLarge, b"[" * 50_000 + b"]" * 50_000, "application/json")
    assert "nested" in error.message
    refused(InputTooLarge, b'{"instances": ' + b"[" * 50_000, "application/json")


@pytest.mark.parametrize("body", [b"[1, NaN]", b"[1, 1e999]", b'{"instances": [[-1e999]]}'])
def test_nan_and_overflowing_numbers_in_json(body: bytes) -> None:
    refused(MalformedInput, body, "application/json")


def test_csv_of_a_million_rows() -> None:
    error = refused(InputTooLarge, b"0.5,0.25\n" * 1_000_000, "text/csv")
    assert "1000000 rows" in error.message


def test_wrong_content_type() -> None:
    refused(UnsupportedMediaType, b"GIF89a", "image/gif")


def test_empty_body() -> None:
    refused(EmptyInput, b"", "image/png")


def test_wrong_shaped_array() -> None:
    inputs = decode(b"[1, 2, 3]", "application/json")
    with pytest.raises(InvalidShape, match="3 values; the model expects 784"):
        preprocess(inputs, InputSpec(shape=(28, 28)))


class _Payload:
    def __reduce__(self) -> tuple[Callable[[str], None], tuple[str]]:
        return UNPICKLED.append, ("unpickled",)


@pytest.fixture
def unpickled() -> Iterator[list[str]]:
    UNPICKLED.clear()
    yield UNPICKLED
    UNPICKLED.clear()


def test_npy_with_object_dtype_is_never_unpickled(unpickled: list[str]) -> None:
    buffer = io.BytesIO()
    np.save(buffer, np.array([_Payload()], dtype=object), allow_pickle=True)
    assert b"'descr': '|O'" in buffer.getvalue()
    error = refused(MalformedInput, buffer.getvalue(), "application/x-npy")
    assert "dtype" in error.message
    assert unpickled == []


def test_pickle_sent_as_npy_is_never_unpickled(unpickled: list[str]) -> None:
    refused(MalformedInput, pickle.dumps(_Payload()), "application/x-npy")
    assert unpickled == []


def test_npy_header_claiming_a_trillion_values() -> None:
    header = b"{'descr': '<f4', 'fortran_order': False, 'shape': (1000000, 1000000), }"
    header += b" " * (-(10 + len(header) + 1) % 64) + b"\n"
    body = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + b"\0" * 16
    error = refused(InputTooLarge, body, "application/x-npy")
    assert "1000000000000 values" in error.message


@pytest.mark.parametrize(
    "image", ["not base64!", "AAAA=", "////", "aGVsbG8gd29ybGQ=", "iVBORw0KGgo="]
)
def test_base64_garbage_in_json_image(image: Any) -> None:
    body = b'{"image": "' + image.encode() + b'"}'
    refused(MalformedInput, body, "application/json")
