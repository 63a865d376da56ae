"""ModelRegistryGateway against a real botocore client under a Stubber."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from botocore.stub import Stubber
from mypy_boto3_sagemaker.client import SageMakerClient

from chalicelib.errors import DeploymentFailed, EndpointUnavailable
from chalicelib.gateways.model_registry import ModelRegistryGateway
from chalicelib.gateways.sagemaker import SageMakerGateway
from chalicelib.registry import ModelPackage, PackageRequest

GROUP = "digits-zero"
GROUP_ARN = f"arn:aws:sagemaker:us-east-1:123456789012:model-package-group/{GROUP}"
PACKAGE = f"arn:aws:sagemaker:us-east-1:123456789012:model-package/{GROUP}/3"
IMAGE = "382416733822.dkr.ecr.us-east-1.amazonaws.com/linear-learner:1"
ARTIFACT = "s3://bucket/mbs-100/output/model.tar.gz"
REQUEST = PackageRequest(
    group=GROUP,
    image=IMAGE,
    artifact=ARTIFACT,
    environment={"SAGEMAKER_PROGRAM": "serve.py"},
    content_types=("text/csv",),
    response_types=("application/json",),
    approval="PendingManualApproval",
    metadata={"sagewire:run": "mbs-100", "sagewire:promotion": "p1"},
    description="sagewire run mbs-100, promotion p1",
    token="0123456789abcdef0123456789abcdef0123",
)


@pytest.fixture
def registry(client: SageMakerClient) -> ModelRegistryGateway:
    return ModelRegistryGateway(client, SageMakerGateway(client, retry_after_seconds=7))


def test_a_missing_group_is_created_with_its_description(
    stubber: Stubber, registry: ModelRegistryGateway
) -> None:
    stubber.add_response(
        "create_model_package_group",
        {"ModelPackageGroupArn": GROUP_ARN},
        {"ModelPackageGroupName": GROUP, "ModelPackageGroupDescription": "sagewire project"},
    )
    registry.ensure_group(GROUP, "sagewire project")
    # Known to exist from then on: the next promotion asks SageMaker nothing about the group.
    registry.ensure_group(GROUP, "sagewire project")
    stubber.assert_no_pending_responses()


def test_an_existing_group_is_reused(stubber: Stubber, registry: ModelRegistryGateway) -> None:
    stubber.add_client_error(
        "create_model_package_group",
        service_error_code="ValidationException",
        service_message=f"Model Package Group already exists: {GROUP_ARN}",
    )
    registry.ensure_group(GROUP, "sagewire project")


def test_any_other_refusal_of_the_group_is_a_failure(
    stubber: Stubber, registry: ModelRegistryGateway
) -> None:
    stubber.add_client_error(
        "create_model_package_group", service_error_code="AccessDeniedException"
    )
    with pytest.raises(DeploymentFailed):
        registry.ensure_group(GROUP, "sagewire project")


def test_a_version_is_created_with_container_types_approval_metadata_and_token(
    stubber: Stubber, registry: ModelRegistryGateway
) -> None:
    stubber.add_response(
        "create_model_package",
        {"ModelPackageArn": PACKAGE},
        {
            "ModelPackageGroupName": GROUP,
            "ModelPackageDescription": "sagewire run mbs-100, promotion p1",
            "InferenceSpecification": {
                "Containers": [
                    {
                        "Image": IMAGE,
                        "ModelDataUrl": ARTIFACT,
                        "Environment": {"SAGEMAKER_PROGRAM": "serve.py"},
                    }
                ],
                "SupportedContentTypes": ["text/csv"],
                "SupportedResponseMIMETypes": ["application/json"],
            },
            "ModelApprovalStatus": "PendingManualApproval",
            "CustomerMetadataProperties": {"sagewire:run": "mbs-100", "sagewire:promotion": "p1"},
            "ClientToken": "0123456789abcdef0123456789abcdef0123",
        },
    )
    assert registry.create_package(REQUEST) == PACKAGE


def test_a_throttled_registration_is_unavailable(
    stubber: Stubber, registry: ModelRegistryGateway
) -> None:
    stubber.add_client_error("create_model_package", service_error_code="ThrottlingException")
    with pytest.raises(EndpointUnavailable):
        registry.create_package(REQUEST)


def test_a_package_is_described_as_a_domain_value(
    stubber: Stubber, registry: ModelRegistryGateway
) -> None:
    stubber.add_response(
        "describe_model_package",
        {
            "ModelPackageName": GROUP,
            "ModelPackageGroupName": GROUP,
            "ModelPackageArn": PACKAGE,
            "CreationTime": datetime(2026, 11, 20, tzinfo=UTC),
            "ModelPackageStatus": "Completed",
            "ModelPackageStatusDetails": {"ValidationStatuses": []},
            "ModelApprovalStatus": "Approved",
            "InferenceSpecification": {
                "Containers": [{"Image": IMAGE, "ModelDataUrl": ARTIFACT}],
                "SupportedContentTypes": ["text/csv"],
                "SupportedResponseMIMETypes": ["application/json"],
            },
            "CustomerMetadataProperties": {"sagewire:run": "mbs-100"},
        },
        {"ModelPackageName": PACKAGE},
    )
    assert registry.describe_package(PACKAGE) == ModelPackage(
        PACKAGE, GROUP, "Approved", ARTIFACT, {"sagewire:run": "mbs-100"}
    )
