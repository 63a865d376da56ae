"""Prediction bodies a seeded project accepts, in every format the route takes, and hostile
mutations of them: with these the campaign reaches decode, preprocess, serialize, invoke and
postprocess, not only the refusals that random bytes get."""

from __future__ import annotations

import base64
import io
import math
from typing import Any

import numpy as np
from hypothesis import strategies as st
from PIL import Image

from chalicelib.models import Project

Body = tuple[str, Any]

_IMAGE_MODES = ("L", "RGB", "RGBA", "LA", "P", "1", "I;16")


def _image_size(project: Project) -> tuple[int, int] | None:
    shape = project.inference.input.shape
    if len(shape) == 3 and 1 in (shape[0], shape[2]):
        shape = shape[1:] if shape[0] == 1 else shape[:2]
    return (shape[0], shape[1]) if len(shape) == 2 else None


@st.composite
def images(draw: st.DrawFn, formats: tuple[str, ...] = ("PNG", "JPEG")) -> bytes:
    """A PNG or JPEG of any small size in one of Pillow's common modes."""
    image_format = draw(st.sampled_from(formats))
    modes = ("L", "RGB") if image_format == "JPEG" else _IMAGE_MODES
    mode = draw(st.sampled_from(modes))
    width, height = draw(st.integers(1, 48)), draw(st.integers(1, 48))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if mode == "I;16":
        image = Image.fromarray(rng.integers(0, 65536, (height, width), dtype=np.uint16))
    else:
        channels = {"RGB": 3, "RGBA": 4}.get(mode, 1)
        pixels = rng.integers(0, 256, (height, width, channels), dtype=np.uint8)
        base = "RGB" if channels == 3 else "RGBA" if channels == 4 else "L"
        image = Image.fromarray(pixels if channels > 1 else pixels[:, :, 0], base)
        if mode != base:
            image = image.convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, image_format)
    return buffer.getvalue()


def _numbers(size: int) -> st.SearchStrategy[list[float]]:
    element = st.integers(0, 255).map(float) | st.floats(-1e6, 1e6, allow_nan=False)
    return st.lists(element, min_size=size, max_size=size)


@st.composite
def valid_bodies(draw: st.DrawFn, project: Project) -> Body:
    """(media type, body) that this project turns into predictions."""
    size = math.prod(project.inference.input.shape)
    rows = draw(st.integers(1, 4))
    kinds = ["csv", "json-list", "json-instances", "npy"]
    if _image_size(project) is not None:
        kinds += ["png", "jpeg", "json-image", "json-images", "json-instances-images"]
    kind = draw(st.sampled_from(kinds))
    if kind == "png":
        return "image/png", draw(images(("PNG",)))
    if kind == "jpeg":
        return "image/jpeg", draw(images(("JPEG",)))
    if kind == "json-image":
        return "application/json", {"image": base64.b64encode(draw(images())).decode()}
    if kind == "json-images":
        encoded = draw(st.lists(images(), min_size=1, max_size=3))
        return "application/json", {"images": [base64.b64encode(i).decode() for i in encoded]}
    if kind == "json-instances-images":
        encoded = draw(st.lists(images(), min_size=1, max_size=3))
        return "application/json", {
            "instances": [{"image": base64.b64encode(i).decode()} for i in encoded]
        }
    batch = [draw(_numbers(size)) for _ in range(rows)]
    if kind == "csv":
        lines = (",".join(repr(value) for value in row) for row in batch)
        return "text/csv", ("\r\n" if draw(st.booleans()) else "\n").join(lines)
    if kind == "json-list":
        shaped = np.asarray(batch[0]).reshape(project.inference.input.shape).tolist()
        return "application/json", draw(st.sampled_from([batch[0], shaped]))
    if kind == "json-instances":
        return "application/json", {
            "instances": [row if draw(st.booleans()) else {"features": row} for row in batch]
        }
    dtype = draw(st.sampled_from(["<f4", ">f8", "<f8", "<i4", "|u1"]))
    array = np.asarray(batch, dtype=np.float64)
    if dtype in ("<i4", "|u1"):
        array = np.clip(np.round(array), 0, 255)
    buffer = io.BytesIO()
    np.save(buffer, array.astype(dtype) if rows > 1 else array[0].astype(dtype))
    return "application/x-npy", buffer.getvalue()


@st.composite
def mutated(draw: st.DrawFn, body: Body) -> Body:
    """The body with bytes flipped, inserted, deleted or cut off; sent as it was."""
    media, value = body
    raw = bytearray(value if isinstance(value, bytes) else _encoded(value))
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(raw)))
        operation = draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        if operation == "flip" and at < len(raw):
            raw[at] ^= 1 << draw(st.integers(0, 7))
        elif operation == "insert":
            raw[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif operation == "delete":
            del raw[at : at + draw(st.integers(1, 8))]
        else:
            del raw[at:]
    return media, bytes(raw)


def _encoded(value: Any) -> bytes:
    import orjson

    return value.encode() if isinstance(value, str) else orjson.dumps(value)
