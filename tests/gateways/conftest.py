"""Gateway fixtures: a real SageMaker client (the gateway's retry config) under a Stubber, and
moto's DynamoDB with the service's table."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from chalicelib.gateways.sagemaker import control_plane_client_config
from chalicelib.gateways.table import TABLE_SCHEMA

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_sagemaker.client import SageMakerClient


@pytest.fixture
def client() -> SageMakerClient:
    return boto3.client("sagemaker", region_name="us-east-1", config=control_plane_client_config())


@pytest.fixture
def stubber(client: SageMakerClient) -> Iterator[Stubber]:
    with Stubber(client) as stub:
        yield stub
        stub.assert_no_pending_responses()


TABLE = "sagewire-gateway-test"


@pytest.fixture
def dynamodb() -> Iterator[DynamoDBClient]:
    """moto's DynamoDB, with the service's table named TABLE."""
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(TableName=TABLE, **TABLE_SCHEMA)
        yield client
