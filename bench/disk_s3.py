"""S3 for benchmarks that measure memory: objects in files, answered from a before-send hook."""

from __future__ import annotations

import io
import itertools
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import parse_qs, unquote, urlsplit
from xml.sax.saxutils import escape

from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.compat import HTTPHeaders

_COPY_BYTES = 1024 * 1024


@dataclass
class _Object:
    path: Path
    content_type: str
    etag: str


class _Raw:
    """The raw stream of a response: a file read as botocore asks (StreamingBody or whole)."""

    def __init__(self, file: IO[bytes]) -> None:
        self._file = file

    def read(self, amt: int | None = None) -> bytes:
        data = self._file.read(-1 if amt is None else amt)
        if not data:
            self._file.close()
        return data

    def stream(self, **_: Any) -> Any:
        yield from iter(lambda: self.read(_COPY_BYTES), b"")

    def close(self) -> None:
        self._file.close()


class DiskS3:
    """The S3 calls sagewire's report and the benchmark make, kept in files under `root`: moto
    holds objects (and assembles multipart uploads and copies) in the process's memory, which
    would be counted as the report's; here no object is ever held whole."""

    def __init__(self, root: Path) -> None:
        self._root = root
        self._objects: dict[tuple[str, str], _Object] = {}
        self._uploads: dict[str, list[Path]] = {}
        self._ids = itertools.count(1)

    def attach(self, client: Any) -> None:
        client.meta.events.register_first("before-send.s3", self._answer)

    def path(self, bucket: str, key: str) -> Path:
        return self._objects[bucket, key].path

    def _answer(self, request: AWSPreparedRequest, event_name: str, **_: Any) -> AWSResponse:
        operation = event_name.rsplit(".", 1)[-1]
        url = urlsplit(request.url)
        host_bucket = url.netloc.split(".s3.", 1)[0] if ".s3." in url.netloc else ""
        path = unquote(url.path).lstrip("/")
        if host_bucket:
            bucket, key = host_bucket, path
        else:
            bucket, _slash, key = path.partition("/")
        query = {name: values[0] for name, values in parse_qs(url.query).items()}
        headers = {
            name.lower(): value.decode() if isinstance(value, bytes) else value
            for name, value in request.headers.items()
        }
        body = _Body(request.body, "aws-chunked" in headers.get("content-encoding", ""))
        handler = getattr(self, f"_{operation}")
        status, extra, payload = handler(bucket, key, query, body, headers)
        response_headers = HTTPHeaders()
        for name, value in extra.items():
            response_headers[name] = value
        if isinstance(payload, bytes):
            if "content-length" not in extra:
                response_headers["content-length"] = str(len(payload))
            raw = _Raw(io.BytesIO(payload))
        else:
            raw = _Raw(payload)
        return AWSResponse(request.url, status, response_headers, raw)

    def _new(self, body: _Body | None = None) -> tuple[Path, str]:
        """A new file holding the body, written a piece at a time."""
        number = next(self._ids)
        path = self._root / f"{number}"
        with path.open("wb") as file:
            for piece in () if body is None else body.pieces():
                file.write(piece)
        return path, f'"{number:032x}"'

    def _CreateBucket(self, *_: Any) -> tuple[int, dict[str, str], bytes]:
        return 200, {}, b""

    def _PutObject(
        self, bucket: str, key: str, query: dict[str, str], data: _Body, headers: dict[str, str]
    ) -> tuple[int, dict[str, str], bytes]:
        path, etag = self._new(data)
        self._objects[bucket, key] = _Object(path, headers.get("content-type", ""), etag)
        return 200, {"etag": etag}, b""

    def _CreateMultipartUpload(
        self, bucket: str, key: str, query: dict[str, str], data: _Body, headers: dict[str, str]
    ) -> tuple[int, dict[str, str], bytes]:
        upload = f"upload-{next(self._ids)}-{headers.get('content-type', '')}"
        self._uploads[upload] = []
        return (
            200,
            {},
            _xml(
                "InitiateMultipartUploadResult",
                f"<Bucket>{escape(bucket)}</Bucket><Key>{escape(key)}</Key>"
                f"<UploadId>{escape(upload)}</UploadId>",
            ),
        )

    def _UploadPart(
        self, bucket: str, key: str, query: dict[str, str], data: _Body, headers: dict[str, str]
    ) -> tuple[int, dict[str, str], bytes]:
        path, etag = self._new(data)
        self._uploads[query["uploadId"]].append(path)
        return 200, {"etag": etag}, b""

    def _CompleteMultipartUpload(
        self, bucket: str, key: str, query: dict[str, str], data: _Body, headers: dict[str, str]
    ) -> tuple[int, dict[str, str], bytes]:
        upload = query["uploadId"]
        path, etag = self._new()
        with path.open("wb") as whole:
            for part in self._uploads.pop(upload):
                with part.open("rb") as piece:
                    shutil.copyfileobj(piece, whole, _COPY_BYTES)
                part.unlink()
        content_type = upload.split("-", 2)[2]
        self._objects[bucket, key] = _Object(path, content_type, etag)
        return 200, {}, _xml("CompleteMultipartUploadResult", f"<ETag>{escape(etag)}</ETag>")

    def _AbortMultipartUpload(
        self, bucket: str, key: str, query: dict[str, str], data: _Body, headers: dict[str, str]
    ) -> tuple[int, dict[str, str], bytes]:
        for part in self._uploads.pop(query["uploadId"], []):
            part.unlink()
        return 204, {}, b""

    def _CopyObject(
        self, bucket: str, key: str, query: dict[str, str], data: _Body, headers: dict[str, str]
    ) -> tuple[int, dict[str, str], bytes]:
        source_bucket, _, source_key = unquote(headers["x-amz-copy-source"]).partition("/")
        source = self._objects[source_bucket, source_key]
        path, etag = self._new()
        shutil.copyfile(source.path, path)
        self._objects[bucket, key] = _Object(path, source.content_type, etag)
        result = f"<ETag>{escape(etag)}</ETag><LastModified>2026-12-24T06:00:00.000Z</LastModified>"
        return 200, {}, _xml("CopyObjectResult", result)

    def _HeadObject(
        self, bucket: str, key: str, query: dict[str, str], data: _Body, headers: dict[str, str]
    ) -> tuple[int, dict[str, str], bytes]:
        stored = self._objects.get((bucket, key))
        if stored is None:
            return 404, {}, b""
        size = str(stored.path.stat().st_size)
        return (
            200,
            {"etag": stored.etag, "content-type": stored.content_type, "content-length": size},
            b"",
        )

    def _GetObject(
        self, bucket: str, key: str, query: dict[str, str], data: _Body, headers: dict[str, str]
    ) -> tuple[int, dict[str, str], bytes | IO[bytes]]:
        stored = self._objects.get((bucket, key))
        if stored is None:
            error = b"<Error><Code>NoSuchKey</Code><Message>no such key</Message></Error>"
            return 404, {}, b'<?xml version="1.0" encoding="UTF-8"?>' + error
        size = str(stored.path.stat().st_size)
        answer = {"etag": stored.etag, "content-type": stored.content_type, "content-length": size}
        return 200, answer, stored.path.open("rb")

    def _DeleteObject(
        self, bucket: str, key: str, query: dict[str, str], data: _Body, headers: dict[str, str]
    ) -> tuple[int, dict[str, str], bytes]:
        stored = self._objects.pop((bucket, key), None)
        if stored is not None:
            stored.path.unlink()
        return 204, {}, b""

    def _ListObjectsV2(
        self, bucket: str, key: str, query: dict[str, str], data: _Body, headers: dict[str, str]
    ) -> tuple[int, dict[str, str], bytes]:
        keys = sorted(k for b, k in self._objects if b == bucket)
        contents = "".join(
            f"<Contents><Key>{escape(k)}</Key>"
            f"<Size>{self._objects[bucket, k].path.stat().st_size}</Size></Contents>"
            for k in keys
        )
        body = (
            f"<Name>{escape(bucket)}</Name><KeyCount>{len(keys)}</KeyCount>"
            f"<MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated>{contents}"
        )
        return 200, {}, _xml("ListBucketResult", body)


class _Body:
    """A request's body read a piece at a time, as botocore would send it: a file-like body is
    never held whole (an aws-chunked one, botocore's checksum trailer mode, is `<hex size>\\r\\n
    <bytes>\\r\\n` chunks up to a zero-size one, then the trailer)."""

    def __init__(self, body: Any, chunked: bool) -> None:
        self._body = body
        self._chunked = chunked

    def pieces(self) -> Iterator[bytes]:
        body = self._body
        if not hasattr(body, "read"):
            yield bytes(body or b"")
            return
        if not self._chunked:
            yield from iter(lambda: body.read(_COPY_BYTES), b"")
            return
        pending = b""
        while True:
            while b"\r\n" not in pending:
                pending += body.read(64)
            line, _, pending = pending.partition(b"\r\n")
            size = int(line.split(b";")[0], 16)
            if size == 0:
                return
            left = size + 2 - len(pending)
            while left > 0:
                pending += body.read(min(left, _COPY_BYTES))
                left = size + 2 - len(pending)
            yield pending[:size]
            pending = pending[size + 2 :]


def _xml(root: str, inner: str) -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>'
        f'<{root} xmlns="http://s3.amazonaws.com/doc/2006-03-01/">{inner}</{root}>'
    ).encode()
