"""S3 objects: capped and streamed reads, metadata, writes in parts, copies, model artifacts
repacked with their code; a missing object is None or NotFound."""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import IO, TYPE_CHECKING, cast

from botocore.config import Config
from botocore.exceptions import ClientError

from chalicelib.errors import DeploymentFailed, InputTooLarge, NotFound
from chalicelib.records import StoredObject

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client
    from mypy_boto3_s3.type_defs import CompletedPartTypeDef, GetObjectOutputTypeDef

# GetObject says NoSuchKey; HeadObject has no body, so only its status code: 404 (or NotFound).
_MISSING = frozenset({"NoSuchKey", "NoSuchBucket", "NotFound", "404"})
# What S3 answers for an object sagewire may not read (or, without s3:ListBucket, a missing one).
_FORBIDDEN = frozenset({"AccessDenied", "Forbidden", "403"})
# A multipart upload's part (S3's smallest but the last): what is held in memory of an object
# written in pieces.
PART_BYTES = 5 * 1024 * 1024
_LINE_CHUNK_BYTES = 64 * 1024


def client_config() -> Config:
    # Presigned URLs signed with SigV4 (botocore presigns with SigV2 in some regions otherwise),
    # which every region accepts with a Lambda role's temporary credentials.
    return Config(signature_version="s3v4")


def _missing(error: ClientError) -> bool:
    return error.response.get("Error", {}).get("Code") in _MISSING


def _etag(value: str) -> str:
    """The API quotes ETags; S3's events do not."""
    return value.strip('"')


class S3Gateway:
    """The ObjectStore port on one S3 client."""

    def __init__(self, client: S3Client) -> None:
        self._client = client

    def get(self, bucket: str, key: str, max_bytes: int) -> StoredObject:
        """The object with its bytes; InputTooLarge past max_bytes, NotFound when it is gone or
        may not be read."""
        response = self._get_object(bucket, key)
        stream = response["Body"]
        try:
            if response.get("ContentLength", 0) > max_bytes:
                raise InputTooLarge(f"the object is over the limit of {max_bytes} bytes")
            body = stream.read(max_bytes + 1)
        finally:
            stream.close()
        if len(body) > max_bytes:
            raise InputTooLarge(f"the object is over the limit of {max_bytes} bytes")
        return StoredObject(
            bucket=bucket,
            key=key,
            etag=_etag(response.get("ETag", "")),
            size=len(body),
            content_type=response.get("ContentType"),
            version_id=response.get("VersionId"),
            body=body,
        )

    def head(self, bucket: str, key: str) -> StoredObject | None:
        """None when the object (or its bucket) does not exist; NotFound when it may not be
        read (e.g. another team's dataset bucket)."""
        try:
            response = self._client.head_object(Bucket=bucket, Key=key)
        except ClientError as error:
            if _missing(error):
                return None
            if error.response.get("Error", {}).get("Code") in _FORBIDDEN:
                raise NotFound("the object is not readable") from None
            raise
        return StoredObject(
            bucket=bucket,
            key=key,
            etag=_etag(response.get("ETag", "")),
            size=response.get("ContentLength", 0),
            content_type=response.get("ContentType"),
            version_id=response.get("VersionId"),
        )

    def put(self, bucket: str, key: str, body: bytes, content_type: str) -> None:
        self._client.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)

    def delete(self, bucket: str, key: str) -> None:
        """Deletes an object; a missing one is no error (S3 answers 204 either way)."""
        self._client.delete_object(Bucket=bucket, Key=key)

    @contextmanager
    def writer(self, bucket: str, key: str, content_type: str) -> Iterator[Upload]:
        """An object written in pieces, whatever its size, holding at most a part in memory;
        when the block raises, nothing is written and a begun multipart upload is aborted."""
        upload = Upload(self._client, bucket, key, content_type)
        try:
            yield upload
            upload.finish()
        except BaseException:
            upload.abort()
            raise

    def copy(self, bucket: str, source: str, destination: str) -> None:
        """A server-side copy with the source's content type (CopyObject: up to 5 GB)."""
        self._client.copy_object(
            Bucket=bucket, Key=destination, CopySource={"Bucket": bucket, "Key": source}
        )

    @contextmanager
    def lines(self, bucket: str, key: str) -> Iterator[Iterator[bytes]]:
        """The object's lines, read as they are used; NotFound as `get`."""
        stream = self._get_object(bucket, key)["Body"]
        try:
            yield stream.iter_lines(chunk_size=_LINE_CHUNK_BYTES)
        finally:
            stream.close()

    def presigned_get(self, bucket: str, key: str, seconds: int) -> str:
        """A URL that reads the object for `seconds` with this client's credentials (no call)."""
        return self._client.generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=seconds
        )

    def _get_object(self, bucket: str, key: str) -> GetObjectOutputTypeDef:
        try:
            return self._client.get_object(Bucket=bucket, Key=key)
        except ClientError as error:
            if _missing(error):
                raise NotFound("the object does not exist") from None
            if error.response.get("Error", {}).get("Code") in _FORBIDDEN:
                raise NotFound("the object is not readable") from None
            raise

    def repack_model(self, artifact: str, code: str, destination: str, max_bytes: int) -> str:
        """`destination` (an s3:// URI): the artifact with the code's files under code/, written
        once; a destination made from the same artifact and code (their ETags) is reused.
        Either source over `max_bytes`, gone or unreadable is DeploymentFailed."""
        sources = ",".join(self._etag_of(uri) for uri in (artifact, code))
        marker = hashlib.sha256(sources.encode()).hexdigest()
        bucket, key = _bucket_key(destination)
        try:
            existing = self._client.head_object(Bucket=bucket, Key=key)
        except ClientError as error:
            if not _missing(error):
                raise
        else:
            if existing.get("Metadata", {}).get("sagewire-sources") == marker:
                return destination
        # tarfile only where a promotion repacks: every function that reads S3 imports this.
        from chalicelib.processing.model_packing import pack_code

        with (
            tempfile.TemporaryFile() as model,
            tempfile.TemporaryFile() as source,
            tempfile.TemporaryFile() as packed,
        ):
            self._download(artifact, model, max_bytes)
            self._download(code, source, max_bytes)
            # Unpacked, at most 8 times the packed limit: gzip's ratio on model weights and code
            # is 1 to 4; a decompression bomb stops here.
            pack_code(model, source, packed, 8 * max_bytes)
            packed.seek(0)
            # One PUT (S3 takes 5 GB so): the repack limit keeps it far below that.
            self._client.put_object(
                Bucket=bucket, Key=key, Body=packed, Metadata={"sagewire-sources": marker}
            )
        return destination

    def _etag_of(self, uri: str) -> str:
        bucket, key = _bucket_key(uri)
        try:
            return self._client.head_object(Bucket=bucket, Key=key)["ETag"]
        except ClientError as error:
            if _missing(error) or error.response.get("Error", {}).get("Code") in _FORBIDDEN:
                raise DeploymentFailed(f"{uri[:200]} is gone or not readable") from None
            raise

    def _download(self, uri: str, into: IO[bytes], max_bytes: int) -> None:
        bucket, key = _bucket_key(uri)
        response = self._client.get_object(Bucket=bucket, Key=key)
        stream = response["Body"]
        try:
            if response.get("ContentLength", 0) > max_bytes:
                raise DeploymentFailed(f"{uri[:200]} is over the repack limit of {max_bytes} bytes")
            for chunk in iter(lambda: stream.read(1 << 20), b""):
                into.write(chunk)
                if into.tell() > max_bytes:
                    raise DeploymentFailed(
                        f"{uri[:200]} is over the repack limit of {max_bytes} bytes"
                    )
        finally:
            stream.close()
        into.seek(0)


class Upload:
    """The ObjectWriter of `S3Gateway.writer`: one PutObject for a body under a part, else a
    multipart upload of PART_BYTES parts (S3 takes parts of 5 MiB to 5 GiB, 10,000 of them)."""

    def __init__(self, client: S3Client, bucket: str, key: str, content_type: str) -> None:
        self._client = client
        self._bucket, self._key = bucket, key
        self._content_type = content_type
        self._buffer = bytearray()
        self._upload_id: str | None = None
        self._parts: list[CompletedPartTypeDef] = []

    def write(self, data: bytes) -> None:
        self._buffer += data
        if len(self._buffer) >= PART_BYTES:
            self._upload_part()

    def finish(self) -> None:
        if self._upload_id is None:
            self._client.put_object(
                Bucket=self._bucket,
                Key=self._key,
                Body=bytes(self._buffer),
                ContentType=self._content_type,
            )
            return
        if self._buffer:
            self._upload_part()
        self._client.complete_multipart_upload(
            Bucket=self._bucket,
            Key=self._key,
            UploadId=self._upload_id,
            MultipartUpload={"Parts": self._parts},
        )

    def abort(self) -> None:
        if self._upload_id is None:
            return
        # The error that stopped the upload is the one to report; the bucket's lifecycle rule
        # (deploy/template.py) removes the parts of an upload an abort could not end.
        with suppress(ClientError):
            self._client.abort_multipart_upload(
                Bucket=self._bucket, Key=self._key, UploadId=self._upload_id
            )

    def _upload_part(self) -> None:
        if self._upload_id is None:
            created = self._client.create_multipart_upload(
                Bucket=self._bucket, Key=self._key, ContentType=self._content_type
            )
            self._upload_id = created["UploadId"]
        number = len(self._parts) + 1
        response = self._client.upload_part(
            Bucket=self._bucket,
            Key=self._key,
            UploadId=self._upload_id,
            PartNumber=number,
            # The buffer itself, not a copy of it: botocore takes a bytearray blob as it takes
            # bytes (botocore.validate), which the stubs do not say.
            Body=cast("bytes", self._buffer),
        )
        self._parts.append({"ETag": response["ETag"], "PartNumber": number})
        self._buffer = bytearray()


def _bucket_key(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key
