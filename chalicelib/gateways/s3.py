"""S3 objects: capped reads, metadata, writes; a missing object is None or NotFound."""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from chalicelib.errors import InputTooLarge, NotFound
from chalicelib.models import StoredObject

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
