"""The devstack's Model Registry: SageMaker's answers where moto's differ, and its events."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest
from botocore.exceptions import ClientError

from chalicelib.processing.events import model_package_change
from tests.local_aws import LocalAws, local_aws

if TYPE_CHECKING:
    from mypy_boto3_sagemaker.type_defs import InferenceSpecificationTypeDef


@pytest.fixture(scope="module")
def local() -> Iterator[LocalAws]:
    with local_aws("registry-shim") as aws:
        aws.control.registry.attach(aws.router)
        yield aws


def create(local: LocalAws, group: str, token: str, **extra: Any) -> str:
    specification: InferenceSpecificationTypeDef = {
        "Containers": [{"Image": "img:1", "ModelDataUrl": "s3://bucket/job/output/model.tar.gz"}],
        "SupportedContentTypes": ["text/csv"],
        "SupportedResponseMIMETypes": ["text/csv"],
    }
    arn: str = local.sagemaker.create_model_package(
        ModelPackageGroupName=group,
        InferenceSpecification=specification,
        ModelApprovalStatus="PendingManualApproval",
        CustomerMetadataProperties={"sagewire:run": "job"},
        ClientToken=token,
        **extra,
    )["ModelPackageArn"]
    return arn


def changes(local: LocalAws, mark: int) -> list[tuple[str, str]]:
    assert local.router.wait_idle(10)
    found = [model_package_change(d.event) for d in local.router.published_since(mark)]
    return [(change.arn.rsplit("/", 1)[-1], change.approval) for change in found]


def test_an_existing_group_is_refused_as_sagemaker_refuses_it(local: LocalAws) -> None:
    local.sagemaker.create_model_package_group(ModelPackageGroupName="refused")
    with pytest.raises(ClientError) as refused:
        local.sagemaker.create_model_package_group(ModelPackageGroupName="refused")
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert refused.value.response["Error"]["Message"].startswith(
        "Model Package Group already exists"
    )


def test_a_client_token_answers_the_first_version_and_creates_nothing_twice(
    local: LocalAws,
) -> None:
    local.sagemaker.create_model_package_group(ModelPackageGroupName="tokens")
    mark = local.router.mark()
    first = create(local, "tokens", "t1")
    assert create(local, "tokens", "t1") == first
    second = create(local, "tokens", "t2")
    assert (first.rsplit("/", 1)[-1], second.rsplit("/", 1)[-1]) == ("1", "2")
    listed = local.sagemaker.list_model_packages(ModelPackageGroupName="tokens")
    assert len(listed["ModelPackageSummaryList"]) == 2
    assert changes(local, mark) == [("1", "PendingManualApproval"), ("2", "PendingManualApproval")]


def test_an_approval_keeps_the_metadata_and_each_one_is_an_event(local: LocalAws) -> None:
    local.sagemaker.create_model_package_group(ModelPackageGroupName="approvals")
    arn = create(local, "approvals", "a1")
    mark = local.router.mark()
    for status in ("Approved", "Approved", "Rejected"):
        local.sagemaker.update_model_package(ModelPackageArn=arn, ModelApprovalStatus=status)
    described = local.sagemaker.describe_model_package(ModelPackageName=arn)
    assert described["ModelApprovalStatus"] == "Rejected"
    assert described["CustomerMetadataProperties"] == {"sagewire:run": "job"}
    assert changes(local, mark) == [("1", "Approved"), ("1", "Approved"), ("1", "Rejected")]
    # An update that sets no approval status sends no event.
    mark = local.router.mark()
    local.sagemaker.update_model_package(
        ModelPackageArn=arn, CustomerMetadataProperties={"reviewed": "yes"}
    )
    assert changes(local, mark) == []
    metadata = local.sagemaker.describe_model_package(ModelPackageName=arn)
    assert metadata["CustomerMetadataProperties"] == {"sagewire:run": "job", "reviewed": "yes"}
