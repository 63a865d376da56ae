"""Functional fixtures: the Chalice app over moto's DynamoDB and a fake endpoint."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import boto3
import orjson
import pytest
from chalice.test import Client
from moto import mock_aws

from app import app
from chalicelib import wiring
from chalicelib.config import Settings
from chalicelib.errors import SagewireError
from chalicelib.gateways.dynamodb import TABLE_SCHEMA
from chalicelib.models import Invocation
from chalicelib.processing.codecs import parse_request

TABLE = "sagewire-test"


@dataclass
class FakeEndpoint:
    """A linear-learner-shaped endpoint: score is the mean feature; it records every call."""

    calls: list[dict[str, Any]] = field(default_factory=list)
    failure: SagewireError | None = None
    answer: bytes | None = None
    variant: str = "AllTraffic"

    def invoke(
        self,
        endpoint: str,
        body: bytes,
        content_type: str,
        accept: str,
        target_variant: str | None = None,
    ) -> Invocation:
        self.calls.append(
            {
                "endpoint": endpoint,
                "body": body,
                "content_type": content_type,
                "accept": accept,
                "target_variant": target_variant,
            }
        )
        if self.failure is not None:
            raise self.failure
        rows = parse_request(body, content_type)
        scores = rows.mean(axis=1)
        predictions = [
            {"score": float(score), "predicted_label": int(score > 0.5)} for score in scores
        ]
        return Invocation(
            body=self.answer or orjson.dumps({"predictions": predictions}),
            content_type="application/json",
            variant=target_variant or self.variant,
        )


@pytest.fixture
def endpoint() -> FakeEndpoint:
    return FakeEndpoint()


@pytest.fixture
def settings() -> Settings:
    return replace(Settings.from_environ(), table_name=TABLE, max_request_bytes=256 * 1024)


@pytest.fixture
def client(settings: Settings, endpoint: FakeEndpoint) -> Iterator[Client]:
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
