"""Decoded images and arrays to the model's float32 batch (grayscale, resize, invert, normalize)."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image

from chalicelib.errors import EmptyInput, InvalidShape, MalformedInput
from chalicelib.inference_spec import InputSpec, Normalization, ResizeFilter
from chalicelib.models import FloatArray, RawInput

# "box" (the InputSpec default) averages the source pixels under each target pixel: the right
# filter for shrinking digit drawings, and what MNIST-style tooling gets from Pillow.
_FILTERS: dict[ResizeFilter, Image.Resampling] = {
    "nearest": Image.Resampling.NEAREST,
    "box": Image.Resampling.BOX,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
}


def preprocess(inputs: Sequence[RawInput], spec: InputSpec) -> FloatArray:
    """One C-contiguous float32 batch: (n, prod(shape)), (n, *shape) or (n, 1, *shape)."""
    if not inputs:
        raise EmptyInput("there are no inputs")
    size = math.prod(spec.shape)
    batch = np.empty((len(inputs), size), dtype=np.float32)
    # Pixels (0..255) stay finite under the bounded scale, mean and std of a valid InputSpec;
    # only numeric arrays can overflow float32, so only they pay for the check.
    arrays = any(raw.kind == "array" for raw in inputs)
    with np.errstate(over="ignore") if arrays else contextlib.nullcontext():
        for row, raw in enumerate(inputs):
            values = _image(raw.values, spec) if raw.kind == "image" else raw.values
            if values.size != size:
                raise InvalidShape(
                    f"input {row} has {values.size} values; the model expects {size} "
                    f"(shape {list(spec.shape)})"
                )
            batch[row] = values.reshape(size)
        kinds = {raw.kind for raw in inputs}
        if len(kinds) == 1:
            _normalize(batch, spec.normalization(kinds.pop()))
        else:
            for kind in kinds:
                rows = [row for row, raw in enumerate(inputs) if raw.kind == kind]
                part = batch[rows]
                _normalize(part, spec.normalization(kind))
                batch[rows] = part
    if arrays and not np.isfinite(batch).all():
        raise MalformedInput("input values are out of the float32 range")
    if spec.flatten:
        return batch
    if spec.channel_first:
        return batch.reshape(len(inputs), 1, *spec.shape)
    return batch.reshape(len(inputs), *spec.shape)


def _normalize(batch: FloatArray, normalization: Normalization) -> None:
    """In place. Divide, then subtract and divide again, in float32: bit for bit what
    torchvision's ToTensor + Normalize compute during training."""
    if normalization.invert:
        np.subtract(np.float32(255), batch, out=batch)
    if normalization.scale != 1:
        batch /= np.float32(normalization.scale)
    if normalization.mean != 0:
        batch -= np.float32(normalization.mean)
    if normalization.std != 1:
        batch /= np.float32(normalization.std)


def _image(pixels: npt.NDArray[Any], spec: InputSpec) -> npt.NDArray[np.uint8]:
    """Grayscale pixels at the model's height and width, as Pillow would make them."""
    height, width = _image_size(spec.shape)
    if pixels.ndim == 2 and pixels.shape == (height, width):
        return pixels
    image = Image.fromarray(pixels)
    if image.mode != "L":
        image = image.convert("L")
    if image.size != (width, height):
        image = image.resize((width, height), _FILTERS[spec.resize_filter])
    return np.asarray(image)


def target_size(spec: InputSpec) -> tuple[int, int] | None:
    """The (width, height) images are shrunk to for this model; None when it takes no images."""
    try:
        height, width = _image_size(spec.shape)
    except InvalidShape:
        return None
    return width, height


def _image_size(shape: tuple[int, ...]) -> tuple[int, int]:
    if len(shape) == 3 and shape[0] == 1:
        shape = shape[1:]
    elif len(shape) == 3 and shape[2] == 1:
        shape = shape[:2]
    if len(shape) != 2:
        raise InvalidShape(
            f"image inputs need a (height, width) model shape, not {list(shape)}; "
            "send a numeric array instead"
        )
    return shape[0], shape[1]
