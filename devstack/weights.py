"""UpdateEndpointWeightsAndCapacities as SageMaker answers it, for the SageMaker shim (moto's
changes the weights at once, even of a busy endpoint, and sets unnamed instance counts to null)."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from moto.sagemaker.models import FakeEndpoint

TARGET = "SageMaker.UpdateEndpointWeightsAndCapacities"


class Refused(Exception):
    """A ValidationException with SageMaker's words."""


def requested(backend: Any, params: dict[str, Any]) -> tuple[FakeEndpoint, dict[str, float]]:
    """The endpoint and the desired weights by variant, refused as SageMaker refuses them: an
    unknown endpoint, a busy one, an unknown or repeated variant, a weight below 0."""
    name = params.get("EndpointName")
    desired = params.get("DesiredWeightsAndCapacities")
    if not isinstance(name, str) or not isinstance(desired, list) or not desired:
        raise Refused("EndpointName and DesiredWeightsAndCapacities are required.")
    endpoint: FakeEndpoint | None = backend.endpoints.get(name)
    if endpoint is None:
        arn = FakeEndpoint.arn_formatter(name, backend.account_id, backend.region_name)
        raise Refused(f'Could not find endpoint "{arn}".')
    if endpoint.endpoint_status != "InService":
        raise Refused(f'Cannot update in-progress endpoint "{endpoint.arn}".')
    present = {variant["VariantName"] for variant in endpoint.production_variants}
    weights: dict[str, float] = {}
    for item in desired:
        variant = item.get("VariantName") if isinstance(item, dict) else None
        weight = item.get("DesiredWeight") if isinstance(item, dict) else None
        if variant in weights:
            raise Refused(f'The variant name "{variant}" was non-unique within the request.')
        if variant not in present:
            raise Refused(
                f'The variant name(s) "{variant}" is/are not present within endpoint '
                f'configuration "{endpoint.endpoint_config_name}".'
            )
        if not isinstance(weight, int | float) or not math.isfinite(weight) or weight < 0:
            raise Refused(f"Variant {variant}: DesiredWeight must be a number of at least 0.")
        weights[str(variant)] = float(weight)
    return endpoint, weights


def start(endpoint: FakeEndpoint, weights: dict[str, float]) -> None:
    """Updating, the new weights desired (DescribeEndpoint shows them at once)."""
    _set(endpoint, weights, "DesiredWeight", "Updating")


def finish(endpoint: FakeEndpoint, weights: dict[str, float]) -> None:
    """InService, the desired weights current: the local runtime routes by them."""
    _set(endpoint, weights, "CurrentWeight", "InService")


def _set(endpoint: FakeEndpoint, weights: dict[str, float], field: str, status: str) -> None:
    for variant in endpoint.production_variants:
        if variant["VariantName"] in weights:
            variant[field] = weights[variant["VariantName"]]
    endpoint.endpoint_status = status
    endpoint.last_modified_time = datetime.now(UTC)
