""".npy bodies read without unpickling: integer and float arrays only, sizes checked first."""

from __future__ import annotations

import ast
import math
import struct
from typing import Any

import numpy as np
import numpy.typing as npt

from chalicelib.errors import InputTooLarge, InvalidShape, MalformedInput

_NPY_MAGIC = b"\x93NUMPY"
_NPY_MAX_HEADER = 10_000
# Integers and floats in either byte order; no bool, complex, object, string or structured dtypes.
_NPY_DTYPES = (
    frozenset(f"{order}{kind}{size}" for order in "<>" for kind in "iu" for size in (2, 4, 8))
    | frozenset(f"{order}f{size}" for order in "<>" for size in (2, 4, 8))
    | {"|u1", "|i1"}
)


def read_npy(body: bytes, max_elements: int) -> npt.NDArray[Any]:
    """An .npy body as an array, never unpickling; integer and float dtypes only."""
    if not body.startswith(_NPY_MAGIC) or len(body) < 8:
        raise MalformedInput("not an .npy array (bad magic string)")
    major = body[6]
    if major not in (1, 2, 3):
        raise MalformedInput(f"unsupported .npy format version {major}")
    # Version 1 has a 2-byte header length, versions 2 and 3 a 4-byte one.
    length_format, start = ("<H", 10) if major == 1 else ("<I", 12)
    if len(body) < start:
        raise MalformedInput(".npy header is truncated")
    (header_length,) = struct.unpack_from(length_format, body, 8)
    if header_length > _NPY_MAX_HEADER or start + header_length > len(body):
        raise MalformedInput(".npy header is truncated or too long")
    header = _npy_header(body[start : start + header_length])
    descr, fortran_order, shape = header["descr"], header["fortran_order"], header["shape"]
    if not isinstance(descr, str) or descr not in _NPY_DTYPES:
        raise MalformedInput(".npy dtype is not allowed; use integers or floats")
    if not isinstance(fortran_order, bool) or not (
        isinstance(shape, tuple) and all(type(n) is int and n >= 0 for n in shape)
    ):
        raise MalformedInput(".npy header is not valid")
    if len(shape) > 32:
        raise InvalidShape(".npy array has more than 32 dimensions")
    count = math.prod(shape)
    if count > max_elements or any(n > max_elements for n in shape):
        raise InputTooLarge(f".npy array has {count} values; the limit is {max_elements}")
    dtype = np.dtype(descr)
    offset = start + header_length
    if len(body) - offset != count * dtype.itemsize:
        raise MalformedInput(".npy data length does not match its header")
    flat = np.frombuffer(body, dtype=dtype, count=count, offset=offset)
    return flat.reshape(shape, order="F" if fortran_order else "C")


def _npy_header(raw: bytes) -> dict[str, Any]:
    try:
        header = ast.literal_eval(raw.decode("latin-1"))
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        raise MalformedInput(".npy header is not valid") from None
    if not isinstance(header, dict) or header.keys() != {"descr", "fortran_order", "shape"}:
        raise MalformedInput(".npy header is not valid")
    return header
