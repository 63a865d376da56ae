"""SageMakerGateway's lineage reads (configs, models, tags, trial components) under Stubber."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from botocore.stub import Stubber
from mypy_boto3_sagemaker.client import SageMakerClient

from chalicelib.errors import NotFound
from chalicelib.gateways.sagemaker import RUN_TAG, SageMakerGateway
from chalicelib.records import ModelInfo, TrialComponent, Variant

ARN_PREFIX = "arn:aws:sagemaker:us-east-1:123456789012"
ROLE = "arn:aws:iam::123456789012:role/SageMakerExecution"
IMAGE = "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-training:2.1-cpu-py310"
ARTIFACT = "s3://sagewire-demo/mnist/pytorch-hpo-003/output/model.tar.gz"
CREATED = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
MODEL_ARN = f"{ARN_PREFIX}:model/mnist-pytorch-hpo-003"


@pytest.fixture
def gateway(client: SageMakerClient) -> SageMakerGateway:
    return SageMakerGateway(client, retry_after_seconds=3)


def test_an_endpoint_config_gives_its_variants_and_weights(
    gateway: SageMakerGateway, stubber: Stubber
) -> None:
    stubber.add_response(
        "describe_endpoint_config",
        {
            "EndpointConfigName": "mnist-ab",
            "EndpointConfigArn": f"{ARN_PREFIX}:endpoint-config/mnist-ab",
            "CreationTime": CREATED,
            "ProductionVariants": [
                {
                    "VariantName": "Champion",
                    "ModelName": "mnist-run-a",
                    "InitialInstanceCount": 1,
                    "InstanceType": "ml.m5.large",
                    "InitialVariantWeight": 0.9,
                },
                {"VariantName": "Challenger", "ModelName": "mnist-run-b"},
            ],
        },
        {"EndpointConfigName": "mnist-ab"},
    )
    assert gateway.describe_endpoint_config("mnist-ab") == (
        Variant("Champion", "mnist-run-a", 0.9),
        Variant("Challenger", "mnist-run-b", 1.0),
    )


def test_an_unknown_endpoint_config_is_not_found(
    gateway: SageMakerGateway, stubber: Stubber
) -> None:
    stubber.add_client_error(
        "describe_endpoint_config",
        service_error_code="ValidationException",
        service_message="Could not find endpoint configuration arn:aws:sagemaker:x.",
    )
    with pytest.raises(NotFound):
        gateway.describe_endpoint_config("gone")


def test_a_model_gives_its_image_artifact_and_role(
    gateway: SageMakerGateway, stubber: Stubber
) -> None:
    stubber.add_response(
        "describe_model",
        {
            "ModelName": "mnist-pytorch-hpo-003",
            "ModelArn": MODEL_ARN,
            "CreationTime": CREATED,
            "ExecutionRoleArn": ROLE,
            "PrimaryContainer": {"Image": IMAGE, "ModelDataUrl": ARTIFACT},
        },
        {"ModelName": "mnist-pytorch-hpo-003"},
    )
    assert gateway.describe_model("mnist-pytorch-hpo-003") == ModelInfo(
        "mnist-pytorch-hpo-003", MODEL_ARN, IMAGE, ARTIFACT, ROLE
    )


def test_a_model_with_a_data_source_and_containers_reads_the_first_container(
    gateway: SageMakerGateway, stubber: Stubber
) -> None:
    stubber.add_response(
        "describe_model",
        {
            "ModelName": "m",
            "ModelArn": f"{ARN_PREFIX}:model/m",
            "CreationTime": CREATED,
            "Containers": [
                {
                    "Image": IMAGE,
                    "ModelDataSource": {
                        "S3DataSource": {
                            "S3Uri": ARTIFACT,
                            "S3DataType": "S3Object",
                            "CompressionType": "Gzip",
                        }
                    },
                },
                {"Image": "second"},
            ],
        },
        {"ModelName": "m"},
    )
    assert gateway.describe_model("m") == ModelInfo(
        "m", f"{ARN_PREFIX}:model/m", IMAGE, ARTIFACT, None
    )


def test_the_run_tag_is_found_across_pages_of_tags(
    gateway: SageMakerGateway, stubber: Stubber
) -> None:
    stubber.add_response(
        "list_tags",
        {"Tags": [{"Key": "Project", "Value": "mnist"}], "NextToken": "t1"},
        {"ResourceArn": MODEL_ARN},
    )
    stubber.add_response(
        "list_tags",
        {"Tags": [{"Key": RUN_TAG, "Value": "pytorch-hpo-003"}]},
        {"ResourceArn": MODEL_ARN, "NextToken": "t1"},
    )
    assert gateway.model_run_tag(MODEL_ARN) == "pytorch-hpo-003"


def test_a_model_without_the_run_tag_has_no_run(
    gateway: SageMakerGateway, stubber: Stubber
) -> None:
    stubber.add_response("list_tags", {"Tags": []}, {"ResourceArn": MODEL_ARN})
    assert gateway.model_run_tag(MODEL_ARN) is None


def test_trial_components_are_listed_across_pages_and_described_for_parameters(
    gateway: SageMakerGateway, stubber: Stubber
) -> None:
    stubber.add_response(
        "list_trial_components",
        {
            "TrialComponentSummaries": [
                {"TrialComponentName": "preprocessing", "DisplayName": "Preprocessing"}
            ],
            "NextToken": "p2",
        },
        {"TrialName": "mnist-trial-3"},
    )
    stubber.add_response(
        "list_trial_components",
        {"TrialComponentSummaries": [{"TrialComponentName": "pytorch-hpo-003-aws-training-job"}]},
        {"TrialName": "mnist-trial-3", "NextToken": "p2"},
    )
    stubber.add_response(
        "describe_trial_component",
        {
            "TrialComponentName": "preprocessing",
            "DisplayName": "Preprocessing",
            "Parameters": {
                "mean": {"NumberValue": 0.1307},
                "std": {"NumberValue": 0.3081},
                "normalization": {"StringValue": "per-pixel"},
            },
        },
        {"TrialComponentName": "preprocessing"},
    )
    job_arn = f"{ARN_PREFIX}:training-job/pytorch-hpo-003"
    stubber.add_response(
        "describe_trial_component",
        {
            "TrialComponentName": "pytorch-hpo-003-aws-training-job",
            "Source": {"SourceArn": job_arn, "SourceType": "SageMakerTrainingJob"},
            "Parameters": {"lr": {"NumberValue": 0.01}},
        },
        {"TrialComponentName": "pytorch-hpo-003-aws-training-job"},
    )
    assert gateway.trial_components("mnist-trial-3") == [
        TrialComponent(
            "preprocessing",
            "Preprocessing",
            {"mean": 0.1307, "std": 0.3081, "normalization": "per-pixel"},
        ),
        TrialComponent("pytorch-hpo-003-aws-training-job", None, {"lr": 0.01}, job_arn),
    ]


def test_an_unknown_trial_is_not_found(gateway: SageMakerGateway, stubber: Stubber) -> None:
    stubber.add_client_error(
        "list_trial_components",
        service_error_code="ResourceNotFound",
        service_message="Trial 'gone' does not exist.",
    )
    with pytest.raises(NotFound):
        gateway.trial_components("gone")
