"""The model container's side of the wire formats, as the local runtime serves them."""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

from chalicelib.errors import MalformedInput, UnsupportedMediaType
from chalicelib.models import FloatArray
from chalicelib.processing.codecs import (
    RECORDIO_MAGIC,
    csv_lines,
    load_json,
    npy_bytes,
    record_prefix,
)
from chalicelib.processing.decode import (
    DEFAULT_LIMITS,
    csv_matrix,
    media_type,
    numeric_array,
)
from chalicelib.processing.npy import read_npy


def read_recordio_protobuf(body: bytes) -> FloatArray:
    """Rows of a dense float32 RecordIO-protobuf body exactly as the SageMaker SDK writes it."""
    if len(body) < 8 or body[:4] != RECORDIO_MAGIC:
        raise MalformedInput("not a RecordIO body (bad magic number)")
    (length,) = struct.unpack_from("<I", body, 4)
    columns = _recordio_columns(length)
    size = 8 + length + (-length) % 4
    if columns is None or len(body) % size:
        raise MalformedInput("not a dense float32 RecordIO-protobuf body")
    header = RECORDIO_MAGIC + struct.pack("<I", length) + record_prefix(columns)
    records = np.frombuffer(body, dtype=np.uint8).reshape(-1, size)
    end = len(header) + 4 * columns
    if not (
        (records[:, : len(header)] == np.frombuffer(header, dtype=np.uint8)).all()
        and not records[:, end:].any()
    ):
        raise MalformedInput("not a dense float32 RecordIO-protobuf body")
    values = np.ascontiguousarray(records[:, len(header) : end]).view("<f4")
    return values.astype(np.float32, copy=False)


def _recordio_columns(length: int) -> int | None:
    """The number of values in a dense Record of this length, if there is one."""
    # The prefix is 14 to 31 bytes long, and 4 * columns + prefix grows with columns.
    for prefix in range(14, 32):
        columns, rest = divmod(length - prefix, 4)
        if columns >= 0 and not rest and len(record_prefix(columns)) == prefix:
            return columns
    return None


def parse_request(body: bytes, content_type: str) -> FloatArray:
    """A request body as a 2-D float32 batch (what a model container reads)."""
    media = media_type(content_type)
    values: npt.NDArray[Any]
    if media == "application/x-recordio-protobuf":
        values = read_recordio_protobuf(body)
    elif media == "text/csv":
        values = csv_matrix(body, DEFAULT_LIMITS)
    elif media == "application/json":
        values = _json_request(body)
    elif media == "application/x-npy":
        values = np.atleast_2d(read_npy(body, DEFAULT_LIMITS.max_elements))
    else:
        raise UnsupportedMediaType(f"unsupported request content type {content_type[:100]!r}")
    if not values.size:  # [], {"instances": []}, an .npy of shape (3, 0): no rows to reshape
        raise MalformedInput("the request has no values")
    with np.errstate(over="ignore"):
        batch = values.reshape(len(values), -1).astype(np.float32)
    if not np.isfinite(batch).all():
        raise MalformedInput("request values are not finite float32 numbers")
    return batch


def _json_request(body: bytes) -> npt.NDArray[np.float64]:
    document = load_json(body, MalformedInput)
    if isinstance(document, dict) and document.keys() == {"instances"}:
        instances = document["instances"]
        if (
            isinstance(instances, list)
            and instances
            and all(isinstance(item, dict) and item.keys() == {"features"} for item in instances)
        ):
            document = [item["features"] for item in instances]
        else:
            document = instances
    if not isinstance(document, list):
        raise MalformedInput('JSON request must be an array or {"instances": [...]}')
    return numeric_array(document, "the request")


def serialize_response(obj: Any, accept: str) -> bytes:
    """A model response body (the container's side of the app's deserialize_response)."""
    media = media_type(accept)
    if media == "application/json":
        return orjson.dumps(obj, option=orjson.OPT_SERIALIZE_NUMPY)
    array = np.asarray(obj)
    if media == "application/x-npy":
        return npy_bytes(array)
    if media == "text/csv":
        return csv_lines(array.reshape(-1, 1) if array.ndim < 2 else array.reshape(len(array), -1))
    raise ValueError(f"no response serializer for {accept!r}")
