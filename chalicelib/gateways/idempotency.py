"""Powertools idempotency on the service's table: one persistence layer and one fixed key prefix
per handler."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)

from chalicelib.gateways.table import idempotency_pk
from chalicelib.services.ports import NO_METRICS, MetricsSink

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord
    from mypy_boto3_dynamodb.client import DynamoDBClient

# Long enough to absorb EventBridge's and Lambda's redelivery windows (hours), short enough to
# keep the records few; the table's TTL on `expiration` removes them.
RECORD_TTL_SECONDS = 24 * 3600
logger = logging.getLogger("sagewire")


class Idempotent:
    """Runs `function` once per distinct `key=` argument; a duplicate gets the stored result,
    and counts as one of the DuplicateEvents.

    Records: pk `IDEMPOTENCY#<handler>`, sk `<handler>#<md5 of the key as sorted JSON>`. The
    handler's name is given, not derived: Powertools' default prefix is the Lambda function's
    name and the Python function's module and qualname, so renaming a module (or a stage's
    function) would silently change every stored key."""

    def __init__(
        self,
        handler: str,
        function: Callable[..., Any],
        client: DynamoDBClient,
        table_name: str,
        metrics: MetricsSink = NO_METRICS,
    ) -> None:
        self._handler = handler
        self._metrics = metrics
        persistence = DynamoDBPersistenceLayer(
            table_name=table_name,
            key_attr="pk",
            sort_key_attr="sk",
            static_pk_value=idempotency_pk(handler),
            boto3_client=client,
        )
        self._config = IdempotencyConfig(
            expires_after_seconds=RECORD_TTL_SECONDS, response_hook=self._duplicate
        )
        self._call: Callable[..., Any] = idempotent_function(
            function,
            data_keyword_argument="key",
            persistence_store=persistence,
            config=self._config,
            key_prefix=handler,
        )

    def __call__(self, context: Any, **kwargs: Any) -> Any:
        # With the Lambda context, a run that dies mid-way leaves an in-progress record that
        # expires with the invocation, so the redelivered event is not refused for a day.
        if context is not None:
            self._config.register_lambda_context(context)
        return self._call(**kwargs)

    def _duplicate(self, response: Any, idempotent_data: DataRecord) -> Any:
        """Powertools calls this only when it answers from a stored result."""
        self._metrics.count("DuplicateEvents", handler=self._handler)
        logger.info(
            "duplicate event answered from its stored result", extra={"handler": self._handler}
        )
        return response
