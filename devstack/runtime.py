"""A local sagemaker-runtime: InvokeEndpoint served from real model artifacts in local S3."""

from __future__ import annotations

import json
import random
import re
import threading
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

import boto3
from botocore.exceptions import ClientError

from devstack import containers
from devstack.wsgi import BackgroundServer

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client
    from mypy_boto3_sagemaker.client import SageMakerClient

ACCOUNT_ID = "123456789012"
MAX_BODY_BYTES = 6 * 1024 * 1024
# SageMaker keeps serving the current config while an update rolls out; an endpoint in any
# other status (Creating, Failed, ...) is answered like a missing one.
_SERVING = ("InService", "Updating")
_INVOCATIONS = re.compile(r"^/endpoints/(?P<name>[^/]+)/invocations$")
_TARGET_VARIANT = "HTTP_X_AMZN_SAGEMAKER_TARGET_VARIANT"


class ServiceError(Exception):
    """An error SageMaker Runtime itself returns (rest-json: x-amzn-ErrorType + JSON body)."""

    def __init__(self, status: int, code: str, message: str, **fields: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.body = {"message": message, **fields}


@dataclass(frozen=True)
class Answer:
    body: bytes
    content_type: str
    variant: str


class LocalRuntime:
    """The WSGI app: resolves endpoint -> config -> variant -> model -> artifact like SageMaker."""

    def __init__(self, region: str) -> None:
        self._region = region
        self._lock = threading.Lock()
        self._clients: tuple[SageMakerClient, S3Client] | None = None
        self._models: dict[tuple[str, str, str], containers.Served] = {}

    def _aws(self) -> tuple[SageMakerClient, S3Client]:
        # Built on first use from the standard AWS_ENDPOINT_URL* variables, like any client.
        with self._lock:
            if self._clients is None:
                session = boto3.session.Session(region_name=self._region)
                self._clients = (session.client("sagemaker"), session.client("s3"))
            return self._clients

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        request_id = str(uuid.uuid4())
        headers = [("x-amzn-RequestId", request_id)]
        match = _INVOCATIONS.match(environ.get("PATH_INFO", ""))
        try:
            if environ.get("REQUEST_METHOD") != "POST" or match is None:
                raise ServiceError(404, "UnknownOperationException", "Unknown operation.")
            length = int(environ.get("CONTENT_LENGTH") or 0)
            if length > MAX_BODY_BYTES:
                raise ServiceError(
                    413, "ValidationError", "Request body exceeds the 6 MB InvokeEndpoint limit."
                )
            answer = self.invoke(
                unquote(match["name"]),
                environ["wsgi.input"].read(length),
                environ.get("CONTENT_TYPE", ""),
                environ.get("HTTP_ACCEPT", ""),
                environ.get(_TARGET_VARIANT),
            )
        except ServiceError as error:
            payload = json.dumps(error.body).encode()
            headers += [("x-amzn-ErrorType", error.code), ("Content-Type", "application/json")]
            start_response(
                f"{error.status} Error", [*headers, ("Content-Length", str(len(payload)))]
            )
            return [payload]
        headers += [
            ("Content-Type", answer.content_type),
            ("Content-Length", str(len(answer.body))),
            ("X-Amzn-Invoked-Production-Variant", answer.variant),
        ]
        start_response("200 OK", headers)
        return [answer.body]

    def invoke(
        self, endpoint: str, body: bytes, content_type: str, accept: str, target: str | None
    ) -> Answer:
        sagemaker, _ = self._aws()
        not_found = ServiceError(
            400, "ValidationError", f"Endpoint {endpoint} of account {ACCOUNT_ID} not found."
        )
        try:
            described = sagemaker.describe_endpoint(EndpointName=endpoint)
        except ClientError:
            raise not_found from None
        if described["EndpointStatus"] not in _SERVING:
            raise not_found
        try:
            config = sagemaker.describe_endpoint_config(
                EndpointConfigName=described["EndpointConfigName"]
            )
        except ClientError:
            # SageMaker keeps serving; the local runtime reads the config on every request.
            raise ServiceError(
                400,
                "ValidationError",
                f"Endpoint {endpoint}'s endpoint configuration {described['EndpointConfigName']} "
                "was deleted (the local stack serves from it; SageMaker would keep serving).",
            ) from None
        current = {v["VariantName"]: v for v in described.get("ProductionVariants", [])}
        variants = {v["VariantName"]: v for v in config["ProductionVariants"]}
        if target is not None:
            if target not in variants:
                raise ServiceError(
                    400,
                    "ValidationError",
                    f"Target variant {target} is not present in endpoint {endpoint}.",
                )
            chosen = target
        else:
            names = list(variants)
            # UpdateEndpointWeightsAndCapacities changes CurrentWeight; the config has the start.
            weights = [
                current[name]["CurrentWeight"]
                if name in current and "CurrentWeight" in current[name]
                else variants[name].get("InitialVariantWeight", 1.0)
                for name in names
            ]
            if not any(weights):
                raise ServiceError(
                    400, "ValidationError", f"Endpoint {endpoint} has no variant with traffic."
                )
            chosen = random.choices(names, weights)[0]
        served = self._load(endpoint, variants[chosen]["ModelName"])
        try:
            answer_body, answer_type = containers.invoke(served, body, content_type, accept)
        except containers.ContainerError as error:
            kind = "client" if error.status < 500 else "server"
            log_group = f"/aws/sagemaker/Endpoints/{endpoint}"
            raise ServiceError(
                424,
                "ModelError",
                f"Received {kind} error ({error.status}) from primary with message "
                f'"{error.message}". See https://{self._region}.console.aws.amazon.com/cloudwatch/'
                f"home?region={self._region}#logEventViewer:group={log_group} in account "
                f"{ACCOUNT_ID} for more information.",
                ErrorCode=f"{kind.upper()}_ERROR_FROM_MODEL",
                OriginalStatusCode=error.status,
                OriginalMessage=error.message,
                LogStreamArn=f"arn:aws:logs:{self._region}:{ACCOUNT_ID}:log-group:{log_group}",
            ) from None
        return Answer(answer_body, answer_type, chosen)

    def _load(self, endpoint: str, model_name: str) -> containers.Served:
        sagemaker, s3 = self._aws()
        try:
            described = sagemaker.describe_model(ModelName=model_name)
            container = described.get("PrimaryContainer") or described["Containers"][0]
            image, url = container.get("Image", ""), container.get("ModelDataUrl", "")
            location = urlparse(url)
            bucket, key = location.netloc, location.path.lstrip("/")
            etag = s3.head_object(Bucket=bucket, Key=key)["ETag"]
            with self._lock:
                cached = self._models.get((image, url, etag))
            if cached is not None:
                return cached
            served = containers.load(
                image,
                container.get("Environment", {}),
                s3.get_object(Bucket=bucket, Key=key)["Body"].read(),
                lambda uri: _read(s3, uri),
                isolated=described.get("EnableNetworkIsolation", False),
            )
        except (ClientError, containers.Unservable) as error:
            raise ServiceError(
                424,
                "ModelError",
                f"Model {model_name} of endpoint {endpoint} could not be loaded: {error}",
                OriginalStatusCode=500,
                OriginalMessage="model load failed",
            ) from None
        with self._lock:
            self._models[(image, url, etag)] = served
        return served


def _read(s3: S3Client, uri: str) -> bytes:
    location = urlparse(uri)
    return s3.get_object(Bucket=location.netloc, Key=location.path.lstrip("/"))["Body"].read()


class RuntimeServer:
    def __init__(self, region: str, port: int = 0) -> None:
        self.runtime = LocalRuntime(region)
        self._server = BackgroundServer(self.runtime, "devstack-runtime", port=port)

    @property
    def url(self) -> str:
        return self._server.url

    def start(self) -> None:
        self._server.start()

    def stop(self) -> None:
        self._server.stop()
