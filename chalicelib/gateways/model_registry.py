"""SageMaker Model Registry: model package groups and the versions sagewire registers in them."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from chalicelib.gateways.sagemaker_errors import AlreadyExists
from chalicelib.registry import ModelPackage, PackageRequest

if TYPE_CHECKING:
    from mypy_boto3_sagemaker.client import SageMakerClient
    from mypy_boto3_sagemaker.type_defs import (
        CreateModelPackageInputTypeDef,
        InferenceSpecificationTypeDef,
        ModelPackageContainerDefinitionTypeDef,
    )

    from chalicelib.gateways.sagemaker import SageMakerGateway


MAX_REMEMBERED_GROUPS = 1_000


class ModelRegistryGateway:
    """The `ModelRegistry` port: a group per project, a version per promotion."""

    def __init__(self, client: SageMakerClient, gateway: SageMakerGateway) -> None:
        self._client = client
        self._gateway = gateway
        # Groups known to exist, remembered for the function's life: groups are never deleted.
        self._groups: set[str] = set()

    def ensure_group(self, name: str, description: str) -> None:
        """Creates the group; one that exists (sagewire's or anyone's) is reused as it is."""
        if name in self._groups:
            return
        with contextlib.suppress(AlreadyExists):
            self._gateway.call(
                f"model package group {name}",
                lambda: self._client.create_model_package_group(
                    ModelPackageGroupName=name, ModelPackageGroupDescription=description
                ),
            )
        if len(self._groups) >= MAX_REMEMBERED_GROUPS:
            self._groups.clear()
        self._groups.add(name)

    def create_package(self, request: PackageRequest) -> str:
        """The new version's ARN; the same token answers the first call's version."""
        container: ModelPackageContainerDefinitionTypeDef = {"Image": request.image}
        if request.artifact:
            container["ModelDataUrl"] = request.artifact
        if request.environment:
            container["Environment"] = request.environment
        specification: InferenceSpecificationTypeDef = {
            "Containers": [container],
            "SupportedContentTypes": list(request.content_types),
            "SupportedResponseMIMETypes": list(request.response_types),
        }
        params: CreateModelPackageInputTypeDef = {
            "ModelPackageGroupName": request.group,
            "ModelPackageDescription": request.description,
            "InferenceSpecification": specification,
            "ModelApprovalStatus": request.approval,
            "CustomerMetadataProperties": request.metadata,
            "ClientToken": request.token,
        }
        answer = self._gateway.call(
            f"model package in {request.group}", lambda: self._client.create_model_package(**params)
        )
        return answer["ModelPackageArn"]

    def describe_package(self, arn: str) -> ModelPackage:
        described = self._gateway.call(
            "model package", lambda: self._client.describe_model_package(ModelPackageName=arn)
        )
        containers = described.get("InferenceSpecification", {}).get("Containers", [])
        return ModelPackage(
            arn=described["ModelPackageArn"],
            group=described.get("ModelPackageGroupName"),
            approval=described.get("ModelApprovalStatus", "PendingManualApproval"),
            artifact=containers[0].get("ModelDataUrl") if containers else None,
            metadata=dict(described.get("CustomerMetadataProperties", {})),
        )
