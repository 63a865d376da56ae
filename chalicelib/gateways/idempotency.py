"""Powertools idempotency on the service's table: one persistence layer per handler."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

# Long enough to absorb EventBridge's and Lambda's redelivery windows (hours), short enough to
# keep the records few; the table's TTL on `expiration` removes them.
RECORD_TTL_SECONDS = 24 * 3600


def idempotent(
    handler: str, client: DynamoDBClient, table_name: str
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Runs a function once per distinct `key=` argument; duplicates get the stored result."""
    persistence = DynamoDBPersistenceLayer(
        table_name=table_name,
        key_attr="pk",
        sort_key_attr="sk",
        static_pk_value=f"IDEMPOTENCY#{handler}",
        boto3_client=client,
    )
    config = IdempotencyConfig(expires_after_seconds=RECORD_TTL_SECONDS)
    decorate: Callable[[Callable[..., Any]], Callable[..., Any]] = idempotent_function(
        data_keyword_argument="key", persistence_store=persistence, config=config
    )
    return decorate
