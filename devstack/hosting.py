"""SageMaker's ping health check for an endpoint config's models, read from moto's backends."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from moto.s3.models import s3_backends
from moto.sagemaker.models import FakeEndpointConfig, sagemaker_backends

from devstack import containers


def _artifact(account: str, url: str) -> bytes:
    location = urlparse(url)
    if location.scheme != "s3" or not location.netloc:
        raise containers.Unservable(f"ModelDataUrl {url[:200]!r} is not an s3:// URL")
    try:
        key = s3_backends[account]["global"].get_object(location.netloc, location.path[1:])
    except Exception:  # moto raises its own MissingBucket/MissingKey
        key = None
    if key is None:
        raise containers.Unservable(f"the model artifact {url[:200]} could not be downloaded")
    data: bytes = key.value
    return data


def _check(backend: Any, model_name: str) -> None:
    model = backend._models.get(model_name)
    if model is None:
        raise containers.Unservable(f"model {model_name} does not exist")
    container = model.primary_container or (model.containers or [{}])[0]
    artifact = _artifact(backend.account_id, container.get("ModelDataUrl") or "")
    containers.load(
        container.get("Image") or "",
        container.get("Environment") or {},
        artifact,
        lambda url: _artifact(backend.account_id, url),
        isolated=model.enable_network_isolation,
    )


def ping(config: FakeEndpointConfig) -> str | None:
    """The FailureReason of an endpoint created with `config`, or None when every variant's
    container would start and answer its ping."""
    _, _, _, region, account, _ = config.endpoint_config_arn.split(":", 5)
    backend = sagemaker_backends[account][region]
    for variant in config.production_variants:
        try:
            _check(backend, variant["ModelName"])
        except containers.Unservable as error:
            return (
                f"The primary container for production variant {variant['VariantName']} did not "
                f"pass the ping health check. Please check CloudWatch logs for this endpoint. "
                f"(local stack: {error})"
            )
    return None
