"""End to end: a manual project's winners in the Model Registry, approved and rejected with plain
boto3 as Studio does, and sagewire deploying an approval once."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
import requests

from devstack.demo_client import settle
from devstack.stack import Stack
from tests.e2e.test_devstack_imports import definition, get, train

pytestmark = pytest.mark.e2e
PROJECT = "registry-manual"
TAG = {"Key": "Project", "Value": PROJECT}


def promotions(stack: Stack) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = get(stack, f"/v1/projects/{PROJECT}/promotions")["promotions"]
    return entries


def test_a_manual_winner_is_deployed_when_approved_and_a_rejection_is_recorded(
    in_process_stack: Stack,
) -> None:
    stack = in_process_stack
    sagemaker = boto3.client("sagemaker", region_name=stack.state.region)
    document = definition(PROJECT, {"tags": {TAG["Key"]: TAG["Value"]}})
    document["endpoint"]["strategy"] = {"type": "manual"}
    put = requests.put(f"{stack.api_url}/v1/projects/{PROJECT}", json=document, timeout=30)
    assert put.status_code == 201, put.text

    train(stack, f"{PROJECT}-xgb-2", 2, Tags=[TAG])
    settle(stack)
    (first,) = promotions(stack)
    arn = first["model_package_arn"]
    package = sagemaker.describe_model_package(ModelPackageName=arn)
    assert first["outcome"] == "recorded"
    assert package["ModelPackageGroupName"] == PROJECT
    assert package["ModelApprovalStatus"] == "PendingManualApproval"
    assert package["CustomerMetadataProperties"]["sagewire:promotion"] == first["promotion_id"]
    (container,) = package["InferenceSpecification"]["Containers"]
    assert container["ModelDataUrl"].endswith(f"/{PROJECT}-xgb-2/output/model.tar.gz")
    with pytest.raises(sagemaker.exceptions.ClientError):
        sagemaker.describe_endpoint(EndpointName=PROJECT)

    # Studio's approve button, clicked twice.
    for _ in range(2):
        sagemaker.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved")
        settle(stack)
    sagemaker.get_waiter("endpoint_in_service").wait(
        EndpointName=PROJECT, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
    )
    settle(stack)
    deployed = [p for p in promotions(stack) if p["cause"] == f"registry:{arn}"]
    assert [p["outcome"] for p in deployed] == ["succeeded"]
    row = ",".join(["0.01"] * 10) + "\n"
    answer = requests.post(
        f"{stack.api_url}/v1/projects/{PROJECT}/predictions",
        data=row.encode(),
        headers={"Content-Type": "text/csv"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    assert len(answer.json()["predictions"]) == 1

    # A better run wins, is registered as version 2, and a reviewer rejects it.
    train(stack, f"{PROJECT}-xgb-30", 30, Tags=[TAG])
    settle(stack)
    second = promotions(stack)[0]
    assert second["run_name"] == f"{PROJECT}-xgb-30"
    assert second["model_package_arn"].endswith(f"/{PROJECT}/2")
    sagemaker.update_model_package(
        ModelPackageArn=second["model_package_arn"], ModelApprovalStatus="Rejected"
    )
    settle(stack)
    ledger = promotions(stack)
    assert [(p["run_name"], p["outcome"]) for p in ledger] == [
        (f"{PROJECT}-xgb-30", "rejected"),
        (f"{PROJECT}-xgb-2", "succeeded"),
        (f"{PROJECT}-xgb-2", "recorded"),
    ]
    # Approving the first version once more deploys nothing new.
    sagemaker.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved")
    settle(stack)
    assert len(promotions(stack)) == 3
    described = sagemaker.describe_endpoint(EndpointName=PROJECT)
    assert described["EndpointConfigName"] == deployed[0]["endpoint_config_name"]
