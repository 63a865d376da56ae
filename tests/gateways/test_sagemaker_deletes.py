"""SageMakerDeletes against a real botocore client under a Stubber."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from botocore.stub import Stubber
from mypy_boto3_sagemaker.client import SageMakerClient

from chalicelib.errors import DeploymentFailed, EndpointUnavailable, NotFound
from chalicelib.gateways.sagemaker import SageMakerGateway
from chalicelib.gateways.sagemaker_deletes import SageMakerDeletes

ARN_PREFIX = "arn:aws:sagemaker:us-east-1:123456789012"
ENDPOINT = "digits-zero"
CONFIG = "digits-zero-linear-learner-mb-200-1a2b3c4d"
CONFIG_ARN = f"{ARN_PREFIX}:endpoint-config/{CONFIG}"
MODEL = "digits-zero-linear-learner-mb-200"
CREATED = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def deletes(client: SageMakerClient) -> SageMakerDeletes:
    return SageMakerDeletes(client, SageMakerGateway(client, retry_after_seconds=7))


def describe_config(stubber: Stubber) -> None:
    stubber.add_response(
        "describe_endpoint_config",
        {
            "EndpointConfigName": CONFIG,
            "EndpointConfigArn": CONFIG_ARN,
            "ProductionVariants": [{"VariantName": "AllTraffic", "ModelName": MODEL}],
            "CreationTime": CREATED,
        },
        {"EndpointConfigName": CONFIG},
    )


def test_an_endpoint_configs_tag_is_read_from_its_arn_page_by_page(
    stubber: Stubber, deletes: SageMakerDeletes
) -> None:
    describe_config(stubber)
    stubber.add_response(
        "list_tags",
        {"Tags": [{"Key": "team", "Value": "digits"}], "NextToken": "page-2"},
        {"ResourceArn": CONFIG_ARN},
    )
    stubber.add_response(
        "list_tags",
        {"Tags": [{"Key": "sagewire:endpoint", "Value": ENDPOINT}]},
        {"ResourceArn": CONFIG_ARN, "NextToken": "page-2"},
    )

    assert deletes.endpoint_config_tag(CONFIG) == ENDPOINT


def test_an_untagged_endpoint_config_has_no_tag(
    stubber: Stubber, deletes: SageMakerDeletes
) -> None:
    describe_config(stubber)
    stubber.add_response("list_tags", {"Tags": []}, {"ResourceArn": CONFIG_ARN})

    assert deletes.endpoint_config_tag(CONFIG) is None


def test_a_gone_endpoint_config_is_not_found(stubber: Stubber, deletes: SageMakerDeletes) -> None:
    stubber.add_client_error(
        "describe_endpoint_config",
        "ValidationException",
        f'Could not find endpoint configuration "{CONFIG_ARN}".',
        400,
        expected_params={"EndpointConfigName": CONFIG},
    )

    with pytest.raises(NotFound):
        deletes.endpoint_config_tag(CONFIG)


def test_each_delete_names_its_resource(stubber: Stubber, deletes: SageMakerDeletes) -> None:
    stubber.add_response("delete_endpoint", {}, {"EndpointName": ENDPOINT})
    stubber.add_response("delete_endpoint_config", {}, {"EndpointConfigName": CONFIG})
    stubber.add_response("delete_model", {}, {"ModelName": MODEL})

    deletes.delete_endpoint(ENDPOINT)
    deletes.delete_endpoint_config(CONFIG)
    deletes.delete_model(MODEL)


@pytest.mark.parametrize(
    ("operation", "params", "message"),
    [
        ("delete_endpoint", {"EndpointName": ENDPOINT}, "Could not find endpoint"),
        ("delete_endpoint_config", {"EndpointConfigName": CONFIG}, "Could not find endpoint"),
        ("delete_model", {"ModelName": MODEL}, "Could not find model"),
    ],
)
def test_a_resource_already_gone_is_not_found_without_its_arn(
    stubber: Stubber,
    deletes: SageMakerDeletes,
    operation: str,
    params: dict[str, str],
    message: str,
) -> None:
    stubber.add_client_error(
        operation, "ValidationException", f'{message} "{ARN_PREFIX}:x/y".', 400, params
    )

    with pytest.raises(NotFound) as raised:
        getattr(deletes, operation)(next(iter(params.values())))

    assert "123456789012" not in raised.value.message


def test_a_refused_delete_is_a_deployment_failure(
    stubber: Stubber, deletes: SageMakerDeletes
) -> None:
    stubber.add_client_error(
        "delete_model", "AccessDeniedException", "not authorized", 400, {"ModelName": MODEL}
    )

    with pytest.raises(DeploymentFailed):
        deletes.delete_model(MODEL)


def test_a_throttled_delete_is_unavailable_with_retry_after(
    stubber: Stubber, deletes: SageMakerDeletes
) -> None:
    stubber.add_client_error(
        "delete_endpoint", "ThrottlingException", "slow down", 400, {"EndpointName": ENDPOINT}
    )

    with pytest.raises(EndpointUnavailable) as raised:
        deletes.delete_endpoint(ENDPOINT)

    assert raised.value.retry_after == 7
