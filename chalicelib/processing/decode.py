"""Raw request bodies (PNG, JPEG, CSV, JSON, .npy, text) to RawInputs, caps checked before work."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import chain, repeat
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

from chalicelib.errors import (
    EmptyInput,
    InputTooLarge,
    InvalidShape,
    MalformedInput,
    UnsupportedMediaType,
)
from chalicelib.models import RawInput
from chalicelib.processing.images import (
    MAX_JPEG_SCANS,
    MAX_JPEG_SEGMENTS,
    PixelBudget,
    UInt8Array,
    decode_image,
    image_header,
    png_pixels,
)
from chalicelib.processing.npy import read_npy
from chalicelib.processing.text_bodies import text_body, texts

Float64Array = npt.NDArray[np.float64]


@dataclass(frozen=True)
class DecodeLimits:
    """Caps checked before the work they bound; ``draft`` lets JPEGs decode straight to the
    model's size (off only to measure what it saves)."""

    max_pixels: int = 4_000_000
    max_images: int = 256
    max_rows: int = 10_000
    # A bag-of-words row over the largest vocabulary a project may name.
    max_columns: int = 100_000
    max_field_chars: int = 64
    max_json_depth: int = 64
    max_elements: int = 10_000_000
    # The default of SAGEWIRE_MAX_REQUEST_PIXELS; chalicelib/config.py says why.
    max_request_pixels: int = 16_000_000
    max_scans: int = MAX_JPEG_SCANS
    max_jpeg_segments: int = MAX_JPEG_SEGMENTS
    max_text_bytes: int = 1_048_576
    max_words: int = 200_000
    draft: bool = True


DEFAULT_LIMITS = DecodeLimits()


@dataclass(frozen=True)
class _Request:
    """One body's caps, pixel budget and, when known, the (width, height) its images go to."""

    limits: DecodeLimits
    budget: PixelBudget
    size: tuple[int, int] | None
    content_type: str = ""

    def images(self, images: Sequence[bytes], formats: tuple[str, ...]) -> list[UInt8Array]:
        """All the images' headers read and their pixels spent, then each decoded."""
        limits = self.limits
        headers = [
            image_header(
                data, formats, limits.max_pixels, limits.max_scans, limits.max_jpeg_segments
            )
            for data in images
        ]
        self.budget.spend(sum(header.pixels for header in headers))
        size = self.size if limits.draft else None
        return [decode_image(data, formats, limits.max_pixels, size) for data in images]


SUPPORTED_CONTENT_TYPES: tuple[str, ...] = (
    "image/png",
    "image/jpeg",
    "text/csv",
    "application/json",
    "application/x-npy",
    "text/plain",
)

_IMAGE_FORMATS = ("PNG", "JPEG")
_JSON_SHAPES = (
    'a numeric array, {"instances": [...]}, {"image": "<base64>"}, {"images": [...]}, '
    '{"text": "..."} or {"texts": [...]}'
)


def media_type(content_type: str) -> str:
    """The bare, lower-case media type of a Content-Type header value."""
    return content_type.split(";", 1)[0].strip().lower()


def decode(
    body: bytes,
    content_type: str,
    limits: DecodeLimits = DEFAULT_LIMITS,
    size: tuple[int, int] | None = None,
    budget: PixelBudget | None = None,
) -> list[RawInput]:
    """Decode one request body into its inputs; raises only sagewire domain errors.

    ``size`` is the (width, height) that images will be shrunk to, if any; ``budget`` the pixels
    its images may declare (by default the request's own, ``limits.max_request_pixels``)."""
    media = media_type(content_type)
    decoder = _DECODERS.get(media)
    if decoder is None:
        raise UnsupportedMediaType(
            f"unsupported content type {media[:100]!r}; use one of "
            + ", ".join(SUPPORTED_CONTENT_TYPES)
        )
    if not body:
        raise EmptyInput("the request body is empty")
    if budget is None:
        budget = PixelBudget(limits.max_request_pixels)
    return decoder(body, _Request(limits, budget, size, content_type))


def _decode_png(body: bytes, request: _Request) -> list[RawInput]:
    limits = request.limits
    request.budget.spend(image_header(body, ("PNG",), limits.max_pixels).pixels)
    return [RawInput(png_pixels(body, limits.max_pixels), "image")]


def _decode_jpeg(body: bytes, request: _Request) -> list[RawInput]:
    (pixels,) = request.images([body], ("JPEG",))
    return [RawInput(pixels, "image")]


def _decode_csv(body: bytes, request: _Request) -> list[RawInput]:
    return [RawInput(row, "array") for row in csv_matrix(body, request.limits)]


def csv_matrix(body: bytes, limits: DecodeLimits) -> Float64Array:
    """A headerless numeric CSV as a (rows, columns) float64 matrix."""
    text = body.removeprefix(b"\xef\xbb\xbf").rstrip()
    if not text:
        raise EmptyInput("the CSV body has no rows")
    rows = text.count(b"\n") + 1
    if rows > limits.max_rows:
        raise InputTooLarge(f"CSV has {rows} rows; the limit is {limits.max_rows}")
    lines = text.split(b"\n")
    commas = set(map(bytes.count, lines, repeat(b",")))
    if len(commas) > 1:
        first = lines[0].count(b",")
        line = next(i for i, row in enumerate(lines, 1) if row.count(b",") != first)
        if not lines[line - 1].strip():
            raise MalformedInput(f"CSV line {line} is empty")
        raise InvalidShape(
            f"CSV line {line} has {lines[line - 1].count(b',') + 1} columns; line 1 has {first + 1}"
        )
    columns = commas.pop() + 1
    if columns > limits.max_columns:
        raise InputTooLarge(f"CSV has {columns} columns; the limit is {limits.max_columns}")
    if rows * columns > limits.max_elements:
        raise InputTooLarge(f"CSV has {rows * columns} values; the limit is {limits.max_elements}")
    flat = text.replace(b"\n", b",")
    # The longest field from the gaps between commas: numpy's scan costs half of
    # max(map(len, fields)) on a 100-row batch of 784 columns (bench warm).
    separators = np.flatnonzero(np.frombuffer(flat, dtype=np.uint8) == ord(","))
    longest = int((np.diff(separators, prepend=-1, append=len(flat)) - 1).max())
    if longest > limits.max_field_chars:
        raise InputTooLarge(f"a CSV field is longer than {limits.max_field_chars} characters")
    fields = flat.split(b",")
    try:
        values = np.array(fields, dtype=np.float64)
    except ValueError:
        raise _csv_error(fields, columns) from None
    finite = np.isfinite(values)
    if not finite.all():
        line = int(np.argmin(finite)) // columns + 1
        raise MalformedInput(f"CSV line {line}: NaN and infinity are not allowed")
    return values.reshape(rows, columns)


def _csv_error(fields: list[bytes], columns: int) -> MalformedInput:
    for index, field in enumerate(fields):
        try:
            np.array([field], dtype=np.float64)
        except ValueError:
            line, column = divmod(index, columns)
            header = " (a header row is not supported)" if line == 0 else ""
            return MalformedInput(
                f"CSV line {line + 1}, column {column + 1} is not a number{header}"
            )
    return MalformedInput("CSV is not numeric")


def _decode_json(body: bytes, request: _Request) -> list[RawInput]:
    limits = request.limits
    if _json_depth(body, limits.max_json_depth) > limits.max_json_depth:
        raise InputTooLarge(f"JSON is nested deeper than {limits.max_json_depth} levels")
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedInput(f"invalid JSON: {exc.msg}") from None
    if isinstance(document, list):
        return [RawInput(numeric_array(document, "the array", limits), "array")]
    if not isinstance(document, dict) or len(document) != 1:
        raise MalformedInput(f"JSON must be {_JSON_SHAPES}")
    ((key, value),) = document.items()
    if key == "image":
        _count_images(1, limits)
        images = [_base64_image(value, "image")]
    elif key == "images":
        if not isinstance(value, list):
            raise MalformedInput('"images" must be an array of base64 strings')
        if not value:
            raise EmptyInput('"images" is empty')
        _count_images(len(value), limits)
        images = [_base64_image(item, f"images[{index}]") for index, item in enumerate(value)]
    elif key == "instances":
        return _instances(value, request)
    elif key == "text":
        return texts([value], "text", limits.max_rows, limits.max_text_bytes)
    elif key == "texts":
        if not isinstance(value, list):
            raise MalformedInput('"texts" must be an array of strings')
        return texts(value, "texts", limits.max_rows, limits.max_text_bytes)
    else:
        raise MalformedInput(f"JSON must be {_JSON_SHAPES}")
    return [RawInput(pixels, "image") for pixels in request.images(images, _IMAGE_FORMATS)]


def _instances(instances: Any, request: _Request) -> list[RawInput]:
    """Arrays parsed and images' bytes gathered in order, then the images decoded together."""
    limits = request.limits
    if not isinstance(instances, list):
        raise MalformedInput('"instances" must be an array')
    if not instances:
        raise EmptyInput('"instances" is empty')
    if len(instances) > limits.max_rows:
        raise InputTooLarge(f"{len(instances)} instances; the limit is {limits.max_rows}")
    _count_images(sum(isinstance(item, dict) and "image" in item for item in instances), limits)
    inputs: list[RawInput | None] = []
    images = []
    elements = 0
    for index, item in enumerate(instances):
        what = f"instances[{index}]"
        if isinstance(item, dict):
            if len(item) != 1 or not {"features", "image"} >= item.keys():
                raise MalformedInput(
                    f'{what} must be an array, {{"features": [...]}} or {{"image": ...}}'
                )
            if "image" in item:
                images.append(_base64_image(item["image"], what))
                inputs.append(None)
                continue
            item = item["features"]
        values = numeric_array(item, what, limits)
        elements += values.size
        if elements > limits.max_elements:
            raise InputTooLarge(f"more than {limits.max_elements} values")
        inputs.append(RawInput(np.atleast_1d(values), "array"))
    decoded = iter(request.images(images, _IMAGE_FORMATS))
    return [RawInput(next(decoded), "image") if raw is None else raw for raw in inputs]


def _count_images(count: int, limits: DecodeLimits) -> None:
    if count > limits.max_images:
        raise InputTooLarge(f"{count} images; the limit is {limits.max_images}")


def _base64_image(value: Any, what: str) -> bytes:
    """The bytes of one base64 image; decoding them is left to ``_Request.images``."""
    if not isinstance(value, str):
        raise MalformedInput(f"{what} must be a base64 string")
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise MalformedInput(f"{what} is not valid base64") from None
    if not data:
        raise EmptyInput(f"{what} is empty")
    return data


def numeric_array(value: Any, what: str, limits: DecodeLimits = DEFAULT_LIMITS) -> Float64Array:
    """A parsed JSON value made only of (nested) arrays of numbers, as float64."""
    level = [value]
    while True:
        kinds = set(map(type, level))
        if kinds <= {int, float}:
            break
        if kinds == {list}:
            level = list(chain.from_iterable(level))
            if len(level) > limits.max_elements:
                raise InputTooLarge(f"{what} has more than {limits.max_elements} values")
            continue
        if list in kinds and kinds & {int, float}:
            raise InvalidShape(f"{what} is ragged: it mixes numbers and arrays")
        raise MalformedInput(f"{what} must contain only numbers")
    try:
        return np.array(value, dtype=np.float64)
    except ValueError:
        raise InvalidShape(f"{what} is ragged: its rows differ in length") from None


def _json_depth(body: bytes, limit: int) -> int:
    """Bracket depth of a JSON text, ignoring brackets in strings, without parsing it."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return 0
    data = np.frombuffer(body, dtype=np.uint8)
    quotes = np.flatnonzero(data == ord('"'))
    slashes = np.flatnonzero(data == ord("\\"))
    if slashes.size:
        # A quote is escaped when the run of backslashes right before it has an odd length.
        breaks = np.flatnonzero(np.diff(slashes) != 1)
        firsts = np.r_[slashes[0], slashes[breaks + 1]]
        lasts = np.r_[slashes[breaks], slashes[-1]]
        quotes = quotes[~np.isin(quotes - 1, lasts[(lasts - firsts) % 2 == 0])]
    opening = (data == ord("[")) | (data == ord("{"))
    brackets = np.flatnonzero(opening | (data == ord("]")) | (data == ord("}")))
    # Outside strings, an even number of quotes precedes a bracket.
    brackets = brackets[np.searchsorted(quotes, brackets) % 2 == 0]
    steps = np.where(opening[brackets], 1, -1).astype(np.int32)
    return int(np.cumsum(steps).max(initial=0))


def _decode_npy(body: bytes, request: _Request) -> list[RawInput]:
    limits = request.limits
    array = read_npy(body, limits.max_elements)
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise MalformedInput("the array contains NaN or infinity")
    values = np.atleast_1d(array.astype(np.float64))
    if values.ndim == 1:
        return [RawInput(values, "array")]
    if len(values) == 0:
        raise EmptyInput("the array has no rows")
    if len(values) > limits.max_rows:
        raise InputTooLarge(f"the array has {len(values)} rows; the limit is {limits.max_rows}")
    return [RawInput(row, "array") for row in values]


def _decode_text(body: bytes, request: _Request) -> list[RawInput]:
    limits = request.limits
    return text_body(body, request.content_type, limits.max_text_bytes)


_DECODERS: dict[str, Callable[[bytes, _Request], list[RawInput]]] = {
    "image/png": _decode_png,
    "image/jpeg": _decode_jpeg,
    "text/csv": _decode_csv,
    "application/json": _decode_json,
    "application/x-npy": _decode_npy,
    "text/plain": _decode_text,
}
