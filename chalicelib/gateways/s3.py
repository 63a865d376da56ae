"""S3 objects: capped reads, metadata, writes, model artifacts repacked with their code; a
missing object is None or NotFound."""

from __future__ import annotations

import hashlib
import tempfile
from typing import IO, TYPE_CHECKING

from botocore.exceptions import ClientError

from chalicelib.errors import DeploymentFailed, InputTooLarge, NotFound
from chalicelib.records import StoredObject

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

# GetObject says NoSuchKey; HeadObject has no body, so only its status code: 404 (or NotFound).
_MISSING = frozenset({"NoSuchKey", "NoSuchBucket", "NotFound", "404"})
# What S3 answers for an object sagewire may not read (or, without s3:ListBucket, a missing one).
_FORBIDDEN = frozenset({"AccessDenied", "Forbidden", "403"})


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
        try:
            response = self._client.get_object(Bucket=bucket, Key=key)
        except ClientError as error:
            if _missing(error):
                raise NotFound("the object does not exist") from None
            if error.response.get("Error", {}).get("Code") in _FORBIDDEN:
                raise NotFound("the object is not readable") from None
            raise
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


def _bucket_key(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key
