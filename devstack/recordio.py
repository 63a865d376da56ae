"""RecordIO-protobuf training data as the SageMaker SDK's write_numpy_to_dense_tensor writes it."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import Any

import numpy as np
import numpy.typing as npt

from chalicelib.processing.codecs import RECORDIO_MAGIC, varint

FloatMatrix = npt.NDArray[np.float64]
FloatVector = npt.NDArray[np.float64]

_LENGTH_MASK = (1 << 29) - 1
# Value's tensor fields (aialgs.data.Record): number -> element dtype (None: varint-packed).
_TENSORS: dict[int, str | None] = {2: "<f4", 3: "<f8", 7: None}


class RecordError(ValueError):
    """A RecordIO-protobuf body the algorithm cannot read."""


def _varint(buffer: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if at >= len(buffer) or shift > 63:
            raise RecordError("truncated or overlong varint")
        byte = buffer[at]
        value |= (byte & 0x7F) << shift
        at, shift = at + 1, shift + 7
        if not byte & 0x80:
            return value, at


def _fields(buffer: bytes) -> Iterator[tuple[int, int, int | bytes]]:
    """(field number, wire type, value) of one protobuf message."""
    at = 0
    while at < len(buffer):
        key, at = _varint(buffer, at)
        number, wire = key >> 3, key & 7
        value: int | bytes
        if wire == 0:
            value, at = _varint(buffer, at)
        elif wire == 2:
            size, at = _varint(buffer, at)
            value, at = buffer[at : at + size], at + size
            if len(value) != size:
                raise RecordError("truncated length-delimited field")
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            value, at = buffer[at : at + size], at + size
        else:
            raise RecordError(f"unsupported protobuf wire type {wire}")
        yield number, wire, value


def _tensor(value: bytes) -> FloatVector:
    """The dense values of a Value message (float32, float64 or int32 tensor)."""
    for number, _, tensor in _fields(value):
        if number not in _TENSORS or not isinstance(tensor, bytes):
            continue
        dtype = _TENSORS[number]
        values: list[float] = []
        for field, field_wire, item in _fields(tensor):
            if field == 2:
                raise RecordError("sparse tensors (keys) are not supported")
            if field != 1:
                continue
            if isinstance(item, int):
                values.append(float(struct.unpack("<i", struct.pack("<I", item & 0xFFFFFFFF))[0]))
            elif dtype is None:
                at = 0
                while at < len(item):
                    raw, at = _varint(item, at)
                    values.append(float(raw - (1 << 64) if raw >= 1 << 63 else raw))
            elif field_wire == 2:
                values.extend(np.frombuffer(item, dtype=dtype).tolist())
            else:
                values.extend(np.frombuffer(item, dtype="<f4" if len(item) == 4 else "<f8"))
        return np.asarray(values, dtype=np.float64)
    raise RecordError("a Value without a float32, float64 or int32 tensor")


def _record(payload: bytes) -> tuple[FloatVector, float | None]:
    features: FloatVector | None = None
    label: float | None = None
    for number, _, entry in _fields(payload):
        if number not in (1, 2) or not isinstance(entry, bytes):
            continue
        value = next((v for n, _, v in _fields(entry) if n == 2 and isinstance(v, bytes)), b"")
        tensor = _tensor(value)
        if number == 1:
            features = tensor
        elif tensor.size:
            label = float(tensor[0])
    if features is None:
        raise RecordError("a Record without features")
    return features, label


def read_records(body: bytes) -> tuple[FloatMatrix, FloatVector | None]:
    """Features (one row per Record) and labels (None if no Record has one)."""
    rows: list[FloatVector] = []
    labels: list[float | None] = []
    at = 0
    while at < len(body):
        if body[at : at + 4] != RECORDIO_MAGIC or at + 8 > len(body):
            raise RecordError("not a RecordIO body (bad magic number)")
        (word,) = struct.unpack_from("<I", body, at + 4)
        length = word & _LENGTH_MASK
        if word >> 29:
            raise RecordError("multipart RecordIO records are not supported")
        payload = body[at + 8 : at + 8 + length]
        if len(payload) != length:
            raise RecordError("truncated RecordIO record")
        features, label = _record(payload)
        rows.append(features)
        labels.append(label)
        at += 8 + length + (-length) % 4
    if not rows or len({row.size for row in rows}) != 1:
        raise RecordError("the records are not rows of one feature dimension")
    if all(label is None for label in labels):
        return np.vstack(rows), None
    if any(label is None for label in labels):
        raise RecordError("some records have a label and some do not")
    return np.vstack(rows), np.asarray(labels, dtype=np.float64)


def _field(number: int, payload: bytes) -> bytes:
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def _value(values: npt.NDArray[Any]) -> bytes:
    """A Value message of the type the SDK's _resolve_type picks for the dtype: integers ->
    Int32Tensor, float64 -> Float64Tensor, float32 -> Float32Tensor; values packed."""
    if values.dtype.kind in "iu":
        packed = b"".join(varint(int(v) & 0xFFFFFFFFFFFFFFFF) for v in values)
        return _field(7, _field(1, packed))
    number, dtype = (3, "<f8") if values.dtype == np.float64 else (2, "<f4")
    return _field(number, _field(1, values.astype(dtype).tobytes()))


def write_dense_tensor(x: npt.NDArray[Any], labels: npt.NDArray[Any] | None = None) -> bytes:
    """One Record per row: features["values"], and label["values"] when labels are given."""
    out = bytearray()
    for index, row in enumerate(x):
        record = _field(1, _field(1, b"values") + _field(2, _value(row)))
        if labels is not None:
            label = labels[index : index + 1]
            record += _field(2, _field(1, b"values") + _field(2, _value(label)))
        out += RECORDIO_MAGIC + struct.pack("<I", len(record)) + record
        out += b"\0" * ((-len(record)) % 4)
    return bytes(out)
