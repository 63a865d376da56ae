"""S3's "Object Created" EventBridge events, emitted after writes that moto's S3 accepted."""

from __future__ import annotations

import logging
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

from moto.s3.models import s3_backends

from devstack.events import ACCOUNT_ID, Discard, EventSink
from devstack.wsgi import WsgiApp

logger = logging.getLogger("devstack.s3")

SOURCE = "aws.s3"
OBJECT_CREATED = "Object Created"
_S3_SCOPE = re.compile(r"Credential=[^/,\s]+/[^/]+/(?P<region>[^/]+)/s3/")
_S3_QUERY_SCOPE = re.compile(r"^[^/]+/[^/]+/(?P<region>[^/]+)/s3/")
# Query parameters that do not make a PUT or POST a different operation.
_PLAIN = {"x-id"}


@dataclass(frozen=True)
class CreatedObject:
    """What the event says about one new object version."""

    bucket: str
    key: str
    size: int
    etag: str
    version_id: str | None
    sequencer: str


def object_created_event(
    created: CreatedObject,
    *,
    reason: str,
    region: str,
    request_id: str,
    source_ip: str,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The event S3 sends to EventBridge (the bucket has EventBridge notifications on)."""
    obj: dict[str, Any] = {"key": created.key, "size": created.size, "etag": created.etag}
    if created.version_id is not None:
        obj["version-id"] = created.version_id
    obj["sequencer"] = created.sequencer
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": OBJECT_CREATED,
        "source": SOURCE,
        "account": ACCOUNT_ID,
        "time": (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [f"arn:aws:s3:::{created.bucket}"],
        "detail": {
            "version": "0",
            "bucket": {"name": created.bucket},
            "object": obj,
            "request-id": request_id,
            "requester": ACCOUNT_ID,
            "source-ip-address": source_ip,
            "reason": reason,
        },
    }


class Sequencer:
    """S3's per-object ordering token: uppercase hex, later writes sort later."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last = 0

    def next(self) -> str:
        with self._lock:
            self._last = max(self._last + 1, time.time_ns())
            return f"{self._last:018X}"


def write_operation(method: str, query: str, headers: dict[str, Any]) -> str | None:
    """PutObject, CopyObject or CompleteMultipartUpload (the writes that create an object)."""
    params = parse_qs(query, keep_blank_values=True)
    names = {name for name in params if not name.lower().startswith("x-amz-")}
    if method == "PUT" and names <= _PLAIN:
        return "CopyObject" if headers.get("HTTP_X_AMZ_COPY_SOURCE") else "PutObject"
    if method == "POST" and names - _PLAIN == {"uploadId"}:
        return "CompleteMultipartUpload"
    return None


def s3_region(environ: dict[str, Any]) -> str | None:
    """The region of a SigV4-signed S3 request (header or presigned query), else None."""
    match = _S3_SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
    if match:
        return match["region"]
    credential = parse_qs(environ.get("QUERY_STRING", "")).get("X-Amz-Credential", [""])[0]
    match = _S3_QUERY_SCOPE.match(credential)
    return match["region"] if match else None


def _bucket_and_key(environ: dict[str, Any]) -> tuple[str, str] | None:
    """Path-style addressing (what botocore uses for an IP endpoint): /bucket/key."""
    path = environ.get("PATH_INFO", "").encode("latin-1").decode("utf-8", "replace")
    bucket, _, key = path.lstrip("/").partition("/")
    return (bucket, key) if bucket and key else None


class S3Notifications:
    """WSGI middleware before moto's S3: after a successful object write into a bucket with
    EventBridge notifications enabled, publishes S3's "Object Created" event."""

    def __init__(self, app: WsgiApp, events: EventSink | None = None) -> None:
        self._app = app
        self._events: EventSink = events or Discard()
        self._sequencer = Sequencer()

    def attach(self, events: EventSink) -> None:
        self._events = events

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        region = s3_region(environ)
        reason = write_operation(
            environ.get("REQUEST_METHOD", ""), environ.get("QUERY_STRING", ""), environ
        )
        target = _bucket_and_key(environ)
        if region is None or reason is None or target is None:
            return self._app(environ, start_response)
        answer: list[tuple[str, list[tuple[str, str]]]] = []

        def remember(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            answer.append((status, headers))
            return start_response(status, headers, exc_info)

        body = self._app(environ, remember)
        if answer and answer[0][0].startswith("200"):
            headers = {name.lower(): value for name, value in answer[0][1]}
            created = self._created(*target, headers.get("x-amz-version-id"))
            if created is not None:
                event = object_created_event(
                    created,
                    reason=reason,
                    region=region,
                    request_id=uuid.uuid4().hex[:16].upper(),
                    source_ip=environ.get("REMOTE_ADDR", "127.0.0.1"),
                )
                self._events.publish(event)
        return body

    def _created(self, bucket_name: str, key: str, version_id: str | None) -> CreatedObject | None:
        """The stored version, if the bucket sends its events to EventBridge."""
        located = s3_backends.bucket_accounts.get(bucket_name)
        if located is None:
            return None
        partition, account = located
        backend = s3_backends[account][partition]
        bucket = backend.buckets.get(bucket_name)
        configuration = getattr(bucket, "notification_configuration", None)
        if configuration is None or configuration.event_bridge is None:
            return None
        stored = backend.get_object(bucket_name, key, version_id=version_id)
        if stored is None:
            logger.warning("devstack: s3://%s/%s written but not found", bucket_name, key)
            return None
        return CreatedObject(
            bucket=bucket_name,
            key=key,
            size=int(stored.size),
            etag=str(stored.etag).strip('"'),
            version_id=version_id,
            sequencer=self._sequencer.next(),
        )
