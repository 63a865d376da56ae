"""Functional fixtures: the Chalice app over moto's DynamoDB and a fake endpoint."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import boto3
import pytest
from chalice.test import Client
from moto import mock_aws

from app import app
from chalicelib import wiring
from chalicelib.config import Settings
from chalicelib.gateways.table import TABLE_SCHEMA
from tests.factories import trusting
from tests.fakes import FakeRuntime

TABLE = "sagewire-test"


@pytest.fixture
def endpoint() -> FakeRuntime:
    return FakeRuntime()


@pytest.fixture
def settings() -> Settings:
    return replace(
        trusting(Settings.from_environ()),
        table_name=TABLE,
        max_request_bytes=256 * 1024,
        account_id="123456789012",  # the fixtures' account
    )


@pytest.fixture
def client(settings: Settings, endpoint: FakeRuntime) -> Iterator[Client]:
    with mock_aws():
        boto3.client("dynamodb").create_table(TableName=TABLE, **TABLE_SCHEMA)
        container = wiring.Container(settings)
        container.endpoint_invoker = endpoint
        wiring.use(container)
        try:
            with Client(app) as test_client:
                yield test_client
        finally:
            wiring.use(None)
