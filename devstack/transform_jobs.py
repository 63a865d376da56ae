"""CreateTransformJob run for real: moto records the job, this shim runs it in the background."""

from __future__ import annotations

import io
import json
import re
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import boto3
from botocore.exceptions import BotoCoreError, ClientError
from moto.sagemaker.models import FakeTransformJob

from devstack import containers, sagemaker_events
from devstack.create_shim import Refusal
from devstack.events import Discard, EventSink
from devstack.transform import (
    ASSEMBLE_WITH,
    BATCH_STRATEGIES,
    MIB,
    SPLIT_TYPES,
    TransformError,
    assemble,
    batches,
    output_key,
    payload,
    split,
)
from devstack.wsgi import WsgiApp, json_answer

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

CREATE_TRANSFORM_JOB_TARGET = "SageMaker.CreateTransformJob"
_NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")
_DEFAULT_MAX_PAYLOAD_MB = 6
# The SageMaker backend a request is for (the control plane's credential and region reading).
BackendOf = Callable[[dict[str, Any]], Any]


def _choice(params: dict[str, Any], field: str, allowed: tuple[str, ...], default: str) -> str:
    value = params.get(field, default)
    if value not in allowed:
        raise Refusal(
            "ValidationException",
            f"Value '{value}' at '{field}' failed to satisfy constraint: Member must satisfy "
            f"enum value set: [{', '.join(allowed)}]",
        )
    return str(value)


def _s3_location(uri: str) -> tuple[str, str]:
    location = urlparse(uri)
    if location.scheme != "s3" or not location.netloc:
        raise TransformError(f"{uri[:200]!r} is not an s3:// URI")
    return location.netloc, location.path.lstrip("/")


def _read(s3: S3Client, uri: str) -> bytes:
    bucket, key = _s3_location(uri)
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()


class TransformShim:
    """WSGI middleware: CreateTransformJob is validated as SageMaker does, recorded by moto, then
    run on a background thread (InProgress, then Completed or Failed with its FailureReason),
    each status published as a "SageMaker Transform Job State Change" event. DescribeTransformJob
    and ListTransformJobs are moto's, reading the statuses this shim sets."""

    def __init__(self, app: WsgiApp, backend_of: BackendOf) -> None:
        self._app = app
        self._backend_of = backend_of
        self._events: EventSink = Discard()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._s3: S3Client | None = None

    def attach(self, events: EventSink) -> None:
        self._events = events

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ.get("HTTP_X_AMZ_TARGET") != CREATE_TRANSFORM_JOB_TARGET:
            return self._app(environ, start_response)
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        environ["wsgi.input"] = io.BytesIO(body)
        backend = self._backend_of(environ)
        try:
            params = json.loads(body or b"{}")
            if not isinstance(params, dict):
                raise Refusal("ValidationException", "The request body must be a JSON object.")
            self._validate(backend, params)
        except json.JSONDecodeError as error:
            return json_answer(
                start_response,
                "400 Bad Request",
                {"__type": "SerializationException", "Message": str(error)},
            )
        except Refusal as refused:
            return refused.answer(start_response)
        answer: list[str] = []

        def remember(status: str, headers: Any, exc_info: Any = None) -> Any:
            answer.append(status)
            return start_response(status, headers, exc_info)

        result = self._app(environ, remember)
        if answer and answer[0].startswith("200"):
            self._start(backend, backend.transform_jobs[params["TransformJobName"]])
        return result

    @staticmethod
    def _validate(backend: Any, params: dict[str, Any]) -> None:
        name = params.get("TransformJobName")
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise Refusal("ValidationException", "TransformJobName must match the name pattern.")
        if name in backend.transform_jobs:
            arn = FakeTransformJob.arn_formatter(name, backend.account_id, backend.region_name)
            raise Refusal(
                "ResourceInUse",
                "Job name must be unique within an AWS account and region, and a job with this "
                f"name already exists ({arn})",
            )
        model = params.get("ModelName")
        if not isinstance(model, str) or model not in backend._models:
            raise Refusal("ValidationException", f'Could not find model "{model}".')
        _choice(params, "BatchStrategy", BATCH_STRATEGIES, "MultiRecord")
        transform_input = params.get("TransformInput") or {}
        _choice(transform_input, "SplitType", SPLIT_TYPES, "None")
        _choice(transform_input, "CompressionType", ("None",), "None")
        source = (transform_input.get("DataSource") or {}).get("S3DataSource") or {}
        _choice(source, "S3DataType", ("S3Prefix", "ManifestFile"), "S3Prefix")
        if not str(source.get("S3Uri", "")).startswith("s3://"):
            raise Refusal("ValidationException", "TransformInput S3Uri must be an s3:// URI.")
        output = params.get("TransformOutput") or {}
        _choice(output, "AssembleWith", ASSEMBLE_WITH, "None")
        if not str(output.get("S3OutputPath", "")).startswith("s3://"):
            raise Refusal("ValidationException", "TransformOutput S3OutputPath must be s3://.")
        size = params.get("MaxPayloadInMB", _DEFAULT_MAX_PAYLOAD_MB)
        if not isinstance(size, int) or not 0 <= size <= 100:
            raise Refusal("ValidationException", "MaxPayloadInMB must be 0 to 100.")

    def _start(self, backend: Any, job: FakeTransformJob) -> None:
        with self._lock:
            # moto records the job as Completed at once; None keeps a field out of Describe.
            vars(job).update(
                transform_job_status="InProgress", failure_reason=None, transform_end_time=None
            )
            self._publish(job)
        thread = threading.Thread(
            target=self._run, args=(backend, job), name=f"transform-{job.transform_job_name}"
        )
        thread.daemon = True
        self._events.begin()
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        thread.start()

    def _run(self, backend: Any, job: FakeTransformJob) -> None:
        try:
            try:
                self._transform(backend, job)
                status, reason = "Completed", None
            except (TransformError, containers.Unservable) as error:
                status, reason = "Failed", str(error)
            except containers.ContainerError as error:
                status, reason = (
                    "Failed",
                    f"ClientError: the model answered {error.status}: {error.message}",
                )
            except (ClientError, BotoCoreError) as error:
                status, reason = "Failed", f"ClientError: {error}"
            with self._lock:
                now = datetime.now(UTC)
                vars(job).update(
                    transform_job_status=status,
                    failure_reason=reason,
                    transform_end_time=now,
                    last_modified_time=now,
                )
                self._publish(job)
        finally:
            self._events.end()

    def _client(self) -> S3Client:
        # Built on first use from the standard AWS_ENDPOINT_URL, like any client of the stack.
        with self._lock:
            if self._s3 is None:
                self._s3 = boto3.session.Session().client("s3")
            return self._s3

    def _transform(self, backend: Any, job: FakeTransformJob) -> None:
        s3 = self._client()
        model = backend._models.get(job.model_name)
        if model is None:
            raise TransformError(f"model {job.model_name} was deleted")
        container = model.primary_container or (model.containers or [{}])[0]
        bucket, key = _s3_location(container.get("ModelDataUrl") or "")
        served = containers.load(
            container.get("Image") or "",
            {**(container.get("Environment") or {}), **(job.environment or {})},
            s3.get_object(Bucket=bucket, Key=key)["Body"].read(),
            lambda uri: _read(s3, uri),
            isolated=model.enable_network_isolation,
        )
        transform_input: dict[str, Any] = dict(job.transform_input)
        output: dict[str, Any] = dict(job.transform_output)
        split_type = transform_input.get("SplitType", "None")
        strategy = job.batch_strategy or "MultiRecord"
        size = (
            job.max_payload_in_mb if job.max_payload_in_mb is not None else _DEFAULT_MAX_PAYLOAD_MB
        )
        content_type = transform_input.get("ContentType") or served.container.request_types[0]
        accept = output.get("Accept") or ""
        source = transform_input["DataSource"]["S3DataSource"]
        in_bucket, prefix, keys = self._inputs(s3, source)
        out_bucket, out_prefix = _s3_location(output["S3OutputPath"])
        for key in keys:
            records = split(s3.get_object(Bucket=in_bucket, Key=key)["Body"].read(), split_type)
            outputs = [
                containers.invoke(served, payload(batch, split_type), content_type, accept)[0]
                for batch in batches(records, split_type, strategy, size * MIB or None)
            ]
            s3.put_object(
                Bucket=out_bucket,
                Key=output_key(prefix, key, out_prefix),
                Body=assemble(outputs, output.get("AssembleWith", "None")),
            )

    @staticmethod
    def _inputs(s3: S3Client, source: dict[str, Any]) -> tuple[str, str, list[str]]:
        """The input bucket, the prefix keys are relative to, and every object to transform."""
        bucket, prefix = _s3_location(source["S3Uri"])
        if source.get("S3DataType") == "ManifestFile":
            manifest = json.loads(s3.get_object(Bucket=bucket, Key=prefix)["Body"].read())
            if not isinstance(manifest, list) or not manifest or "prefix" not in manifest[0]:
                raise TransformError('the manifest must be [{"prefix": "s3://..."}, key, ...]')
            bucket, prefix = _s3_location(manifest[0]["prefix"])
            return bucket, prefix, [prefix + str(relative) for relative in manifest[1:]]
        keys = [
            item["Key"]
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
            for item in page.get("Contents", [])
            if not item["Key"].endswith("/")
        ]
        if not keys:
            raise TransformError(f'No S3 objects found under S3 URL "s3://{bucket}/{prefix}".')
        return bucket, prefix, keys

    def _publish(self, job: FakeTransformJob) -> None:
        """The state change event for the job's current status (called under the lock)."""
        self._events.publish(
            sagemaker_events.transform_job_event(
                job.response_object, job.tags, job.arn.split(":")[3]
            )
        )

    def stop(self, timeout: float = 5.0) -> None:
        with self._lock:
            threads, self._threads = self._threads, []
        for thread in threads:
            thread.join(timeout)
