"""SageMaker's Model Registry on moto: ClientToken, existing groups refused, and its events."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from moto.sagemaker.models import sagemaker_backends

from devstack import accounts, sagemaker_events
from devstack.create_shim import Refusal
from devstack.events import Discard, EventSink
from devstack.wsgi import WsgiApp, json_answer

CREATE_GROUP_TARGET = "SageMaker.CreateModelPackageGroup"
CREATE_PACKAGE_TARGET = "SageMaker.CreateModelPackage"
UPDATE_PACKAGE_TARGET = "SageMaker.UpdateModelPackage"
_TARGETS = (CREATE_GROUP_TARGET, CREATE_PACKAGE_TARGET, UPDATE_PACKAGE_TARGET)


class ModelRegistryShim:
    """WSGI middleware before moto's SageMaker for the Model Registry calls moto answers but
    not as SageMaker does. CreateModelPackageGroup refuses an existing group ("Model Package
    Group already exists"); CreateModelPackage honours its ClientToken (a retry answers the
    first call's version, nothing created twice); UpdateModelPackage keeps the metadata and
    approval description it does not name (moto clears them); every package created, and every
    UpdateModelPackage that sets ModelApprovalStatus (Studio's approve and reject buttons), is
    published as a "SageMaker Model Package State Change" event. Everything else reaches moto
    untouched."""

    def __init__(self, app: WsgiApp) -> None:
        self._app = app
        self._events: EventSink = Discard()
        self._tokens: dict[tuple[str, str, str], str] = {}
        self._lock = threading.Lock()

    def attach(self, events: EventSink) -> None:
        self._events = events

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        target = environ.get("HTTP_X_AMZ_TARGET")
        if target not in _TARGETS:
            return self._app(environ, start_response)
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        environ["wsgi.input"] = io.BytesIO(body)
        try:
            params = json.loads(body or b"{}")
        except ValueError:
            params = None
        if not isinstance(params, dict):
            return self._app(environ, start_response)  # moto refuses it as it would
        account, region = accounts.caller(environ)
        backend = sagemaker_backends[account][region]
        if target == CREATE_GROUP_TARGET:
            name = params.get("ModelPackageGroupName")
            if name in backend.model_package_groups:
                arn = backend.model_package_groups[name].arn
                message = f"Model Package Group already exists: {arn}"
                return Refusal("ValidationException", message).answer(start_response)
            return self._app(environ, start_response)
        if target == CREATE_PACKAGE_TARGET:
            return self._create(environ, start_response, params, account, region)
        arn = str(params.get("ModelPackageArn"))
        before = backend.model_packages.get(arn)
        kept = None if before is None else _kept(before)
        status: list[str] = []
        answer = b"".join(self._app(environ, _remember(start_response, status)))
        if status and status[0].startswith("200"):
            if before is not None and kept is not None:
                _restore(before, kept, params)
            if "ModelApprovalStatus" in params:
                self._publish(backend, arn, region)
        return [answer]

    def _create(
        self,
        environ: dict[str, Any],
        start_response: Callable[..., Any],
        params: dict[str, Any],
        account: str,
        region: str,
    ) -> Any:
        token = params.get("ClientToken")
        key = (account, region, str(token))
        status: list[str] = []
        with self._lock:
            known = self._tokens.get(key) if token else None
            if known is not None:
                return _answer(start_response, {"ModelPackageArn": known})
            chunks = self._app(environ, _remember(start_response, status))
            body = b"".join(chunks)
            if status and status[0].startswith("200"):
                arn = json.loads(body)["ModelPackageArn"]
                if token:
                    self._tokens[key] = arn
                self._publish(sagemaker_backends[account][region], arn, region)
        return [body]

    def _publish(self, backend: Any, arn: str, region: str) -> None:
        """The package's state change, stamped with a new LastModifiedTime (none when moto
        refused the call and the package does not exist)."""
        package = backend.model_packages.get(arn)
        if package is None:
            return
        package.last_modified_time = datetime.now(UTC)
        described = package.gen_response_object()
        self._events.publish(sagemaker_events.model_package_event(described, region))


def _kept(package: Any) -> tuple[dict[str, str], str | None]:
    return dict(package.customer_metadata_properties or {}), package.approval_description


def _restore(package: Any, kept: tuple[dict[str, str], str | None], params: dict[str, Any]) -> None:
    """What UpdateModelPackage did not name stays as it was (moto clears it): metadata merged
    with the call's, less the keys it removes; the approval description unless it sets one."""
    metadata, description = kept
    given = params.get("CustomerMetadataProperties")
    merged = {**metadata, **(given if isinstance(given, dict) else {})}
    for key in params.get("CustomerMetadataPropertiesToRemove") or []:
        merged.pop(key, None)
    package.customer_metadata_properties = merged or None
    if "ApprovalDescription" not in params:
        package.approval_description = description


def _remember(start_response: Callable[..., Any], status: list[str]) -> Callable[..., Any]:
    def remember(answer: str, headers: Any, exc_info: Any = None) -> Any:
        status.append(answer)
        return start_response(answer, headers, exc_info)

    return remember


def _answer(start_response: Callable[..., Any], body: dict[str, Any]) -> list[bytes]:
    return json_answer(start_response, "200 OK", body)
