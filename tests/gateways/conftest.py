"""Gateway fixtures: a real SageMaker client (the gateway's retry config) under a Stubber."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import boto3
import pytest
from botocore.stub import Stubber

from chalicelib.gateways.sagemaker import control_plane_client_config

if TYPE_CHECKING:
    from mypy_boto3_sagemaker.client import SageMakerClient


@pytest.fixture
def client() -> SageMakerClient:
    return boto3.client("sagemaker", region_name="us-east-1", config=control_plane_client_config())


@pytest.fixture
def stubber(client: SageMakerClient) -> Iterator[Stubber]:
    with Stubber(client) as stub:
        yield stub
        stub.assert_no_pending_responses()
