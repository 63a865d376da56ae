"""Batch transform's data handling: objects split into records, records into requests, outputs."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Final

MIB: Final = 1024 * 1024
SPLIT_TYPES: Final = ("None", "Line")
BATCH_STRATEGIES: Final = ("MultiRecord", "SingleRecord")
ASSEMBLE_WITH: Final = ("None", "Line")


class TransformError(ValueError):
    """Why a transform job fails (its FailureReason)."""


def split(data: bytes, split_type: str) -> list[bytes]:
    """An input object's records: its lines (without their line ends; blank lines are no
    records) or, for `None`, the whole object."""
    if split_type == "None":
        return [data] if data else []
    lines = (line.removesuffix(b"\r") for line in data.split(b"\n"))
    return [line for line in lines if line.strip()]


def payload(records: Sequence[bytes], split_type: str) -> bytes:
    """One request body: the records as lines, or the one unsplit object."""
    if split_type == "None":
        return b"".join(records)
    return b"".join(record + b"\n" for record in records)


def batches(
    records: Sequence[bytes], split_type: str, strategy: str, max_payload: int | None
) -> Iterator[list[bytes]]:
    """Records grouped into requests in order: one each (`SingleRecord`), or as many as fit in
    `max_payload` bytes (`MultiRecord`; None: no limit)."""
    batch: list[bytes] = []
    size = 0
    for record in records:
        # `payload` adds one line end per record when the object is split by lines.
        cost = len(record) + (split_type == "Line")
        if max_payload is not None and cost > max_payload:
            raise TransformError(
                f"a record of {cost} bytes exceeds MaxPayloadInMB ({max_payload // MIB} MB)"
            )
        if batch and (
            strategy == "SingleRecord" or (max_payload is not None and size + cost > max_payload)
        ):
            yield batch
            batch, size = [], 0
        batch.append(record)
        size += cost
    if batch:
        yield batch


def assemble(outputs: Sequence[bytes], assemble_with: str) -> bytes:
    """The `.out` object: the responses one after another, each ending a line for `Line`."""
    if assemble_with == "None":
        return b"".join(outputs)
    return b"".join(out if out.endswith(b"\n") else out + b"\n" for out in outputs)


def output_key(input_prefix: str, key: str, output_prefix: str) -> str:
    """Where SageMaker writes an input object's output: its key relative to the input prefix's
    folder, plus `.out`, under the output path's prefix."""
    folder = input_prefix[: input_prefix.rfind("/") + 1]
    relative = key[len(folder) :] if key.startswith(folder) else key.rsplit("/", 1)[-1]
    return f"{output_prefix.strip('/')}/{relative}.out".lstrip("/")
