"""SageMakerVariants and CloudWatchMetrics against real botocore clients under a Stubber."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import boto3
import pytest
from botocore.exceptions import ConnectTimeoutError
from botocore.stub import Stubber
from mypy_boto3_sagemaker.client import SageMakerClient

from chalicelib.errors import DeploymentFailed, EndpointBusy, ServiceUnavailable
from chalicelib.gateways.cloudwatch import NAMESPACE, CloudWatchMetrics, metrics_client_config
from chalicelib.gateways.sagemaker_variants import SageMakerVariants

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch.client import CloudWatchClient

ENDPOINT = "digits-zero"
ARN = f"arn:aws:sagemaker:us-east-1:123456789012:endpoint/{ENDPOINT}"
CREATED = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def in_service(variants: list[dict[str, object]]) -> dict[str, object]:
    return {
        "EndpointName": ENDPOINT,
        "EndpointArn": ARN,
        "EndpointConfigName": "digits-zero-variants-1a2b3c4d",
        "EndpointStatus": "InService",
        "CreationTime": CREATED,
        "LastModifiedTime": CREATED,
        "ProductionVariants": variants,
    }


def test_the_weights_are_each_variants_current_and_desired(
    client: SageMakerClient, stubber: Stubber
) -> None:
    described = in_service(
        [
            {"VariantName": "A", "CurrentWeight": 0.7, "DesiredWeight": 0.5},
            {"VariantName": "B", "CurrentWeight": 0.3, "DesiredWeight": 0.5},
            {"VariantName": "C"},
        ]
    )
    stubber.add_response("describe_endpoint", described, {"EndpointName": ENDPOINT})

    weights = SageMakerVariants(client, 7).variant_weights(ENDPOINT)

    assert weights == {"A": (0.7, 0.5), "B": (0.3, 0.5), "C": (None, None)}


def test_no_endpoint_has_no_weights(client: SageMakerClient, stubber: Stubber) -> None:
    stubber.add_client_error(
        "describe_endpoint",
        "ValidationException",
        f'Could not find endpoint "{ARN}".',
        expected_params={"EndpointName": ENDPOINT},
    )

    assert SageMakerVariants(client, 7).variant_weights(ENDPOINT) == {}


def test_new_weights_name_only_the_variants_given(
    client: SageMakerClient, stubber: Stubber
) -> None:
    stubber.add_response(
        "update_endpoint_weights_and_capacities",
        {"EndpointArn": ARN},
        {
            "EndpointName": ENDPOINT,
            "DesiredWeightsAndCapacities": [
                {"VariantName": "A", "DesiredWeight": 0.5},
                {"VariantName": "B", "DesiredWeight": 0.5},
            ],
        },
    )

    SageMakerVariants(client, 7).update_weights(ENDPOINT, {"A": 0.5, "B": 0.5})


@pytest.mark.parametrize(
    ("message", "error"),
    [
        (f'Cannot update in-progress endpoint "{ARN}".', EndpointBusy),
        (
            'The variant name(s) "C" is/are not present within endpoint configuration',
            DeploymentFailed,
        ),
    ],
)
def test_sagemakers_refusals_are_domain_errors(
    client: SageMakerClient, stubber: Stubber, message: str, error: type[Exception]
) -> None:
    stubber.add_client_error(
        "update_endpoint_weights_and_capacities", "ValidationException", message
    )

    with pytest.raises(error) as raised:
        SageMakerVariants(client, 7).update_weights(ENDPOINT, {"C": 1.0})

    assert "123456789012" not in str(raised.value)


@pytest.fixture
def cloudwatch() -> Iterator[tuple[CloudWatchClient, Stubber]]:
    client = boto3.client("cloudwatch", region_name="us-east-1", config=metrics_client_config())
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


END = datetime(2026, 12, 4, 13, 0, tzinfo=UTC)
START = END - timedelta(hours=1)


def expected_query(variant: str) -> dict[str, object]:
    return {
        "Namespace": NAMESPACE,
        "MetricName": "Invocations",
        "Dimensions": [
            {"Name": "EndpointName", "Value": ENDPOINT},
            {"Name": "VariantName", "Value": variant},
        ],
        "StartTime": START,
        "EndTime": END,
        "Period": 3600,
        "Statistics": ["Sum"],
    }


def test_invocations_are_the_sum_of_the_windows_datapoints(
    cloudwatch: tuple[CloudWatchClient, Stubber],
) -> None:
    client, stubber = cloudwatch
    datapoints = [{"Timestamp": START, "Sum": 30.0}, {"Timestamp": END, "Sum": 12.0}]
    stubber.add_response(
        "get_metric_statistics",
        {"Label": "Invocations", "Datapoints": datapoints},
        expected_query("A"),
    )

    assert CloudWatchMetrics(client, 3).invocations(ENDPOINT, "A", START, END) == 42.0


def test_no_datapoints_is_none(cloudwatch: tuple[CloudWatchClient, Stubber]) -> None:
    client, stubber = cloudwatch
    stubber.add_response(
        "get_metric_statistics", {"Label": "Invocations", "Datapoints": []}, expected_query("B")
    )

    assert CloudWatchMetrics(client, 3).invocations(ENDPOINT, "B", START, END) is None


def test_a_failing_cloudwatch_is_service_unavailable(
    cloudwatch: tuple[CloudWatchClient, Stubber],
) -> None:
    client, stubber = cloudwatch
    stubber.add_client_error("get_metric_statistics", "AccessDenied", "not allowed")

    with pytest.raises(ServiceUnavailable):
        CloudWatchMetrics(client, 3).invocations(ENDPOINT, "A", START, END)


def test_an_unreachable_cloudwatch_is_service_unavailable() -> None:
    client = boto3.client("cloudwatch", region_name="us-east-1", config=metrics_client_config())

    def unreachable(**_: object) -> None:
        raise ConnectTimeoutError(endpoint_url="https://monitoring.us-east-1.amazonaws.com")

    client.meta.events.register("before-send.cloudwatch.GetMetricStatistics", unreachable)

    with pytest.raises(ServiceUnavailable):
        CloudWatchMetrics(client, 3).invocations(ENDPOINT, "A", START, END)
