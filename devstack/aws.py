"""The local AWS control plane: moto's server in-process, plus a SageMaker UpdateEndpoint shim."""

from __future__ import annotations

import json
import os
import re
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.iam.models import get_account_id_from
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from moto.sagemaker.models import FakeEndpoint, FakeEndpointConfig, sagemaker_backends

from devstack.wsgi import BackgroundServer, WsgiApp

UPDATE_ENDPOINT_TARGET = "SageMaker.UpdateEndpoint"
_CREDENTIAL = re.compile(r"Credential=(?P<key>[^/,\s]+)/[^/]+/(?P<region>[^/]+)/")


class _ValidationException(Exception):
    pass


class UpdateEndpointShim:
    """WSGI middleware answering SageMaker UpdateEndpoint (moto 5 lacks it) from moto's backend.

    Like SageMaker, the endpoint goes to Updating and keeps serving its current config; after
    `delay_seconds` it switches to the new config and returns to InService. Every other request
    reaches moto untouched.
    """

    def __init__(self, app: WsgiApp, delay_seconds: float) -> None:
        self._app = app
        self._delay_seconds = delay_seconds
        self._lock = threading.Lock()
        self._timers: list[threading.Timer] = []

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ.get("HTTP_X_AMZ_TARGET") != UPDATE_ENDPOINT_TARGET:
            return self._app(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        try:
            params = json.loads(environ["wsgi.input"].read(length) or b"{}")
            if not isinstance(params, dict):
                raise _ValidationException("The request body must be a JSON object.")
            status, body = "200 OK", {"EndpointArn": self._update(environ, params)}
        except (_ValidationException, json.JSONDecodeError) as error:
            status, body = (
                "400 Bad Request",
                {"__type": "ValidationException", "Message": str(error)},
            )
        payload = json.dumps(body).encode()
        start_response(
            status,
            [
                ("Content-Type", "application/x-amz-json-1.1"),
                ("Content-Length", str(len(payload))),
                ("x-amzn-RequestId", str(uuid.uuid4())),
            ],
        )
        return [payload]

    def _update(self, environ: dict[str, Any], params: dict[str, Any]) -> str:
        endpoint_name = params.get("EndpointName")
        config_name = params.get("EndpointConfigName")
        if not isinstance(endpoint_name, str) or not isinstance(config_name, str):
            raise _ValidationException("EndpointName and EndpointConfigName are required.")
        match = _CREDENTIAL.search(environ.get("HTTP_AUTHORIZATION", ""))
        region = match["region"] if match else os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
        account = (
            os.environ.get("MOTO_ACCOUNT_ID")
            or environ.get("HTTP_X_MOTO_ACCOUNT_ID")
            or (get_account_id_from(match["key"]) if match else DEFAULT_ACCOUNT_ID)
        )
        backend = sagemaker_backends[account][region]
        with self._lock:
            endpoint: FakeEndpoint | None = backend.endpoints.get(endpoint_name)
            if endpoint is None:
                arn = FakeEndpoint.arn_formatter(endpoint_name, account, region)
                raise _ValidationException(f'Could not find endpoint "{arn}".')
            config: FakeEndpointConfig | None = backend.endpoint_configs.get(config_name)
            if config is None:
                arn = FakeEndpointConfig.arn_formatter(config_name, account, region)
                raise _ValidationException(f'Could not find endpoint configuration "{arn}".')
            if endpoint.endpoint_status != "InService":
                raise _ValidationException(f'Cannot update in-progress endpoint "{endpoint.arn}".')
            now = datetime.now(UTC)
            endpoint.endpoint_status = "Updating"
            endpoint.last_modified_time = now
            # moto renders every attribute into DescribeEndpoint (snake_case -> CamelCase).
            vars(endpoint).update(
                pending_deployment_summary={
                    "EndpointConfigName": config_name,
                    "ProductionVariants": endpoint._process_production_variants(
                        config.production_variants
                    ),
                    "StartTime": now,
                },
                last_deployment_config=params.get("DeploymentConfig"),
            )
            timer = threading.Timer(self._delay_seconds, self._finish, (endpoint, config))
            timer.daemon = True
            self._timers = [t for t in self._timers if t.is_alive()] + [timer]
            timer.start()
        return str(endpoint.arn)

    def _finish(self, endpoint: FakeEndpoint, config: FakeEndpointConfig) -> None:
        with self._lock:
            endpoint.endpoint_config_name = config.endpoint_config_name
            endpoint.production_variants = endpoint._process_production_variants(
                config.production_variants
            )
            vars(endpoint)["pending_deployment_summary"] = None
            endpoint.endpoint_status = "InService"
            endpoint.last_modified_time = datetime.now(UTC)

    def stop(self) -> None:
        with self._lock:
            timers, self._timers = self._timers, []
        for timer in timers:
            timer.cancel()
            timer.join()


class ControlPlane:
    """moto's server (DynamoDB, S3, SageMaker, ...) with the shim, on 127.0.0.1."""

    def __init__(self, port: int = 0, update_delay_seconds: float = 2.0) -> None:
        self.shim = UpdateEndpointShim(
            DomainDispatcherApplication(create_backend_app), update_delay_seconds
        )
        self._server = BackgroundServer(
            self.shim, "devstack-aws", port=port, request_handler=MotoRequestHandler
        )

    @property
    def url(self) -> str:
        return self._server.url

    def start(self) -> None:
        self._server.start()

    def stop(self) -> None:
        self.shim.stop()
        self._server.stop()
