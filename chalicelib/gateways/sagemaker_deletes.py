"""SageMaker deletes for a project's teardown: endpoint, endpoint configs, models."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalicelib.gateways.sagemaker import ENDPOINT_TAG, SageMakerGateway

if TYPE_CHECKING:
    from mypy_boto3_sagemaker.client import SageMakerClient


class SageMakerDeletes:
    """The `ResourceDeleter` port: each call raises NotFound ("Could not find ...") when the
    resource is already gone."""

    def __init__(self, client: SageMakerClient, sagemaker: SageMakerGateway) -> None:
        self._client = client
        self._sagemaker = sagemaker

    def endpoint_config_tag(self, name: str) -> str | None:
        """The `sagewire:endpoint` tag sagewire puts on the endpoint configs it creates."""
        config = self._sagemaker.call(
            f"endpoint config {name}",
            lambda: self._client.describe_endpoint_config(EndpointConfigName=name),
        )
        return self._sagemaker.tag(config["EndpointConfigArn"], ENDPOINT_TAG)

    def delete_endpoint(self, name: str) -> None:
        self._sagemaker.call(
            f"endpoint {name}", lambda: self._client.delete_endpoint(EndpointName=name)
        )

    def delete_endpoint_config(self, name: str) -> None:
        self._sagemaker.call(
            f"endpoint config {name}",
            lambda: self._client.delete_endpoint_config(EndpointConfigName=name),
        )

    def delete_model(self, name: str) -> None:
        self._sagemaker.call(f"model {name}", lambda: self._client.delete_model(ModelName=name))
