"""The temporary files a report is assembled from: byte sections, and runs merged by name."""

from __future__ import annotations

import heapq
import os
import pickle
import struct
import tempfile
from collections.abc import Iterable, Iterator

from chalicelib.records import Run
from chalicelib.services.ports import ObjectWriter

_COPY_BYTES = 1024 * 1024
_LENGTH = struct.Struct(">I")


class Section:
    """Bytes appended to a temporary file (in /tmp), read back in order once all are known."""

    def __init__(self) -> None:
        self._file = tempfile.TemporaryFile()  # noqa: SIM115 (closed by close())

    def write(self, data: bytes) -> None:
        self._file.write(data)

    @property
    def size(self) -> int:
        return self._file.tell()

    def copy_to(self, writer: ObjectWriter) -> None:
        self._file.seek(0)
        for chunk in iter(lambda: self._file.read(_COPY_BYTES), b""):
            writer.write(chunk)

    def lines(self) -> Iterator[bytes]:
        self._file.seek(0)
        yield from self._file

    def close(self) -> None:
        self._file.close()


class RunSpill:
    """Runs kept in a temporary file in chunks sorted by name (one per project), read back
    merged by name with one run of each chunk in memory; a run in several chunks (projects)
    comes out once, as the last chunk holds it. The file is this process's own, unlinked at
    creation: pickle reads back only what it wrote."""

    def __init__(self) -> None:
        self._file = tempfile.TemporaryFile()  # noqa: SIM115 (closed by close())
        self._chunks: list[tuple[int, int]] = []

    @property
    def size(self) -> int:
        return self._file.tell()

    def add(self, runs: Iterable[Run]) -> None:
        start, count = self._file.tell(), 0
        for run in sorted(runs, key=lambda run: run.name):
            data = pickle.dumps(run, protocol=pickle.HIGHEST_PROTOCOL)
            self._file.write(_LENGTH.pack(len(data)) + data)
            count += 1
        self._chunks.append((start, count))

    def merged(self) -> Iterator[Run]:
        self._file.flush()
        chunks = (self._chunk(start, count) for start, count in self._chunks)
        pending: Run | None = None
        for run in heapq.merge(*chunks, key=lambda run: run.name):
            if pending is not None and pending.name != run.name:
                yield pending
            pending = run
        if pending is not None:
            yield pending

    def _chunk(self, offset: int, count: int) -> Iterator[Run]:
        descriptor = self._file.fileno()
        for _ in range(count):
            (size,) = _LENGTH.unpack(os.pread(descriptor, _LENGTH.size, offset))
            run: Run = pickle.loads(  # noqa: S301 (this process's own file)
                os.pread(descriptor, size, offset + _LENGTH.size)
            )
            offset += _LENGTH.size + size
            yield run

    def close(self) -> None:
        self._file.close()
