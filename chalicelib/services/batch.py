"""Batch predictions: an object under the batch input prefix to predictions and a manifest."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np
import orjson

from chalicelib.config import Settings
from chalicelib.definitions import PROJECT_NAME
from chalicelib.errors import (
    EndpointTimeout,
    EndpointUnavailable,
    InputTooLarge,
    MalformedInput,
    NotFound,
    ProjectNotFound,
    SagewireError,
    UnsupportedMediaType,
)
from chalicelib.models import FloatArray, Project, RawInput, document
from chalicelib.processing.decode import DecodeLimits, decode, media_type
from chalicelib.processing.images import PixelBudget
from chalicelib.processing.preprocess import target_size
from chalicelib.records import ObjectCreated
from chalicelib.services.inference import InferenceService
from chalicelib.services.ports import ObjectStore
from chalicelib.services.projects import ProjectService

logger = logging.getLogger("sagewire")

Format = Literal["csv", "npy", "jsonl", "png", "jpeg"]
_EXTENSIONS: dict[str, Format] = {
    ".csv": "csv",
    ".npy": "npy",
    ".jsonl": "jsonl",
    ".png": "png",
    ".jpg": "jpeg",
    ".jpeg": "jpeg",
}
_MEDIA_TYPES: dict[str, Format] = {
    "text/csv": "csv",
    "application/x-npy": "npy",
    "application/jsonl": "jsonl",
    "application/x-ndjson": "jsonl",
    "image/png": "png",
    "image/jpeg": "jpeg",
}
# The decoder each format's records go through: the HTTP route's own.
_DECODER_TYPES: dict[Format, str] = {
    "csv": "text/csv",
    "npy": "application/x-npy",
    "jsonl": "application/json",
    "png": "image/png",
    "jpeg": "image/jpeg",
}
# Throttling and timeouts fail the whole event, so that Lambda's retry runs it again later.
_TRANSIENT = (EndpointUnavailable, EndpointTimeout)
MAX_RECORDS = 100_000
BATCH_LIMITS = DecodeLimits(max_rows=MAX_RECORDS)
MAX_MANIFEST_ERRORS = 1_000
RECORDS_PER_CALL = 1_000
PREDICTIONS_FILE = "predictions.jsonl"
MANIFEST_FILE = "manifest.json"

Status = Literal["written", "skipped", "refused"]


@dataclass(frozen=True)
class BatchOutcome:
    """What one batch object came to; `reason` says why it was skipped or refused, or what
    made the whole file unreadable."""

    status: Status
    reason: str | None = None
    project: str | None = None
    output_prefix: str | None = None
    records: int = 0
    predictions: int = 0
    errors: int = 0


@dataclass(frozen=True, eq=False)
class _Record:
    """One record, decoded or refused; numbered from 1: the line of a text file, the row of an
    array."""

    number: int
    value: RawInput | SagewireError


class _Superseded(Exception):
    """The object changed after the event: the newer object's own event predicts it."""


def _error(error: SagewireError) -> dict[str, str]:
    return {"code": error.code, "message": error.message}


def _utc_now() -> datetime:
    return datetime.now(UTC)


def output_hash(key: str, etag: str) -> str:
    """The output folder of one object version: never the key itself, which is untrusted."""
    return hashlib.sha256(f"{key}\0{etag}".encode()).hexdigest()[:16]


class BatchService:
    def __init__(
        self,
        projects: ProjectService,
        inference: InferenceService,
        objects: ObjectStore,
        settings: Settings,
        records_per_call: int = RECORDS_PER_CALL,
        clock: Callable[[], datetime] = _utc_now,
        limits: DecodeLimits = BATCH_LIMITS,
    ) -> None:
        self._projects = projects
        self._inference = inference
        self._objects = objects
        self._settings = settings
        self._records_per_call = records_per_call
        self._clock = clock
        self._limits = limits

    def run(self, change: ObjectCreated) -> BatchOutcome:
        """Predicts every record of the object once per key and ETag; never raises for bad
        input, only for what a retry may fix (throttling, timeouts, S3 failures)."""
        if change.key.startswith(self._settings.batch_output_prefix):
            # Our own output: predicting it would write more output, and so on.
            logger.warning("batch object %r skipped: under the output prefix", change.key[:200])
            return BatchOutcome("skipped", "the key is under the batch output prefix")
        project = self._project(change.key)
        if isinstance(project, str):
            logger.warning("batch object %r refused: %s", change.key[:200], project)
            return BatchOutcome("refused", project)
        prefix = (
            f"{self._settings.batch_output_prefix}{project.name}/"
            f"{output_hash(change.key, change.etag)}/"
        )
        bucket = self._settings.bucket_name
        if self._objects.head(bucket, prefix + MANIFEST_FILE) is not None:
            return BatchOutcome("skipped", "already predicted", project.name, prefix)
        started = self._clock()
        failure: SagewireError | None = None
        records: Iterator[_Record]
        try:
            records = self._read(change, project)
        except NotFound:
            logger.warning("batch object %r skipped: it no longer exists", change.key[:200])
            return BatchOutcome("skipped", "the object no longer exists", project.name)
        except _Superseded:
            logger.warning("batch object %r skipped: overwritten since", change.key[:200])
            return BatchOutcome("skipped", "the object was overwritten since", project.name)
        except SagewireError as error:
            records, failure = iter(()), error
        lines, variant = self._predict(project, records)
        errors = [line for line in lines if "error" in line]
        self._objects.put(
            bucket,
            prefix + PREDICTIONS_FILE,
            b"".join(orjson.dumps(line) + b"\n" for line in lines),
            "application/jsonl",
        )
        manifest = {
            "source": {
                "bucket": change.bucket,
                "key": change.key,
                "etag": change.etag,
                "version_id": change.version_id,
                "sequencer": change.sequencer,
                "size": change.size,
            },
            "project": project.name,
            "endpoint": project.endpoint.name,
            "variant": variant,
            "predictions_key": prefix + PREDICTIONS_FILE,
            "counts": {
                "records": len(lines),
                "predictions": len(lines) - len(errors),
                "errors": len(errors),
            },
            "error": None if failure is None else _error(failure),
            "errors": errors[:MAX_MANIFEST_ERRORS],
            "errors_truncated": len(errors) > MAX_MANIFEST_ERRORS,
            "started_at": started,
            "finished_at": self._clock(),
        }
        self._objects.put(
            bucket, prefix + MANIFEST_FILE, orjson.dumps(document(manifest)), "application/json"
        )
        return BatchOutcome(
            "written",
            None if failure is None else failure.code,
            project.name,
            prefix,
            len(lines),
            len(lines) - len(errors),
            len(errors),
        )

    def _project(self, key: str) -> Project | str:
        """The registered project the key's first segment names, or why there is none."""
        rest = key.removeprefix(self._settings.batch_input_prefix)
        name, _, file_name = rest.partition("/")
        if rest == key or not file_name or not PROJECT_NAME.fullmatch(name):
            return "the key is not <batch input prefix><project>/<name>"
        try:
            return self._projects.get(name)
        except ProjectNotFound:
            return "no such project"

    def _read(self, change: ObjectCreated, project: Project) -> Iterator[_Record]:
        limit = self._settings.max_batch_object_bytes
        if change.size > limit:
            raise InputTooLarge(f"the object is over the limit of {limit} bytes")
        stored = self._objects.get(change.bucket, change.key, limit)
        if stored.etag != change.etag:
            raise _Superseded
        kind = _EXTENSIONS.get(_extension(change.key)) or _MEDIA_TYPES.get(
            media_type(stored.content_type or "")
        )
        if kind is None:
            raise UnsupportedMediaType(
                "the object is not .csv, .npy, .jsonl, .png, .jpg or .jpeg, "
                "and its Content-Type is not one of theirs"
            )
        return self._records(kind, stored.body or b"", project)

    def _records(self, kind: Format, body: bytes, project: Project) -> Iterator[_Record]:
        """The object's records, each decoded when it is read; raises here when the file as a
        whole cannot be read. Their images share the object's pixel budget."""
        size = target_size(project.inference.input)
        budget = PixelBudget(self._settings.max_batch_pixels, "object", "SAGEWIRE_MAX_BATCH_PIXELS")
        if kind in ("csv", "jsonl"):
            lines = body.removeprefix(b"\xef\xbb\xbf").split(b"\n")
            numbered = [(number, line.strip()) for number, line in enumerate(lines, 1)]
            numbered = [(number, line) for number, line in numbered if line]
            if not numbered:
                raise MalformedInput("the file has no records")
            if len(numbered) > MAX_RECORDS:
                raise InputTooLarge(f"the file has more than {MAX_RECORDS} records")
            if kind == "csv":
                return (_Record(number, self._csv_line(line)) for number, line in numbered)
            return (
                _Record(number, self._json_line(line, size, budget)) for number, line in numbered
            )
        inputs = decode(body, _DECODER_TYPES[kind], self._limits, size, budget)
        return (_Record(number, raw) for number, raw in enumerate(inputs, 1))

    def _csv_line(self, line: bytes) -> RawInput | SagewireError:
        try:
            (raw,) = decode(line, "text/csv", self._limits)
        except SagewireError as error:
            return error
        return raw

    def _json_line(
        self, line: bytes, size: tuple[int, int] | None, budget: PixelBudget
    ) -> RawInput | SagewireError:
        """An array, {"features": [...]} or {"image": "<base64>"}: one instance of the HTTP
        route's JSON body, once the line is known to be exactly one JSON value."""
        try:
            orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            return MalformedInput(f"invalid JSON: {exc.msg}")
        try:
            (raw,) = decode(
                b'{"instances":[' + line + b"]}", "application/json", self._limits, size, budget
            )
        except SagewireError as error:
            return error
        return raw

    def _predict(
        self, project: Project, records: Iterable[_Record]
    ) -> tuple[list[dict[str, Any]], str | None]:
        """One output line per record, in order: a prediction or an error. Each record is
        preprocessed as it is decoded, so only one group's features are held at a time, never
        the decoded images."""
        lines: list[dict[str, Any]] = []
        group: list[tuple[dict[str, Any], FloatArray]] = []
        variant: str | None = None
        for record in records:
            line: dict[str, Any] = {"record": record.number}
            lines.append(line)
            if isinstance(record.value, SagewireError):
                line["error"] = _error(record.value)
                continue
            try:
                group.append((line, self._inference.preprocess(project, [record.value])))
            except SagewireError as error:
                line["error"] = _error(error)
                continue
            if len(group) == self._records_per_call:
                variant = self._predict_group(project, group, variant)
                group = []
        if group:
            variant = self._predict_group(project, group, variant)
        return lines, variant

    def _predict_group(
        self,
        project: Project,
        group: list[tuple[dict[str, Any], FloatArray]],
        variant: str | None,
    ) -> str | None:
        """The group's predictions (or the error) into its lines; returns the variant that later
        calls go to."""
        features = np.concatenate([row for _, row in group])
        try:
            result = self._inference.predict_features(project, features, variant)
        except _TRANSIENT:
            raise
        except SagewireError as error:
            for line, _ in group:
                line["error"] = _error(error)
            return variant
        for (line, _), prediction in zip(group, result.predictions, strict=True):
            line["prediction"] = prediction
        # Every call after the first goes to the variant that answered it.
        return result.variant


def _extension(key: str) -> str:
    name = key.rsplit("/", 1)[-1]
    dot = name.rfind(".")
    return name[dot:].lower() if dot > 0 else ""
