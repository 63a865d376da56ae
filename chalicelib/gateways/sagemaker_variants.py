"""Variant weights of an endpoint: read from DescribeEndpoint, set in place by SageMaker."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalicelib.errors import NotFound
from chalicelib.gateways.sagemaker import SageMakerGateway

if TYPE_CHECKING:
    from mypy_boto3_sagemaker.client import SageMakerClient
    from mypy_boto3_sagemaker.type_defs import DesiredWeightAndCapacityTypeDef


class SageMakerVariants:
    """The `VariantWeights` port on SageMaker; errors translated by the control plane's gateway."""

    def __init__(self, client: SageMakerClient, retry_after_seconds: int) -> None:
        self._client = client
        self._gateway = SageMakerGateway(client, retry_after_seconds)

    def variant_weights(self, endpoint: str) -> dict[str, tuple[float | None, float | None]]:
        """Each production variant's CurrentWeight and DesiredWeight; empty without the
        endpoint."""
        try:
            described = self._gateway.call(
                f"endpoint {endpoint}",
                lambda: self._client.describe_endpoint(EndpointName=endpoint),
            )
        except NotFound:
            return {}
        return {
            variant["VariantName"]: (variant.get("CurrentWeight"), variant.get("DesiredWeight"))
            for variant in described.get("ProductionVariants", [])
        }

    def update_weights(self, endpoint: str, weights: dict[str, float]) -> None:
        """New desired weights for the named variants, the others left as they are; EndpointBusy
        while the endpoint is being created or updated."""
        desired: list[DesiredWeightAndCapacityTypeDef] = [
            {"VariantName": name, "DesiredWeight": weight} for name, weight in weights.items()
        ]
        self._gateway.call(
            f"endpoint {endpoint}",
            lambda: self._client.update_endpoint_weights_and_capacities(
                EndpointName=endpoint, DesiredWeightsAndCapacities=desired
            ),
        )
