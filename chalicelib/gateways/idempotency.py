"""Powertools idempotency on the service's table: one persistence layer per handler."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from functools import wraps
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)

from chalicelib.services.ports import NO_METRICS, MetricsSink

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

# Long enough to absorb EventBridge's and Lambda's redelivery windows (hours), short enough to
# keep the records few; the table's TTL on `expiration` removes them.
RECORD_TTL_SECONDS = 24 * 3600
logger = logging.getLogger("sagewire")


class Idempotent:
    """Runs `function` once per distinct `key=` argument; a duplicate gets the stored result,
    and counts as one of the DuplicateEvents."""

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
        self._ran = threading.local()

        # `wraps` keeps the function's module and name, which prefix the stored records' keys.
        @wraps(function)
        def run(**kwargs: Any) -> Any:
            self._ran.value = True
            return function(**kwargs)

        persistence = DynamoDBPersistenceLayer(
            table_name=table_name,
            key_attr="pk",
            sort_key_attr="sk",
            static_pk_value=f"IDEMPOTENCY#{handler}",
            boto3_client=client,
        )
        self._config = IdempotencyConfig(expires_after_seconds=RECORD_TTL_SECONDS)
        self._call: Callable[..., Any] = idempotent_function(
            run,
            data_keyword_argument="key",
            persistence_store=persistence,
            config=self._config,
        )

    def __call__(self, context: Any, **kwargs: Any) -> Any:
        # With the Lambda context, a run that dies mid-way leaves an in-progress record that
        # expires with the invocation, so the redelivered event is not refused for a day.
        if context is not None:
            self._config.register_lambda_context(context)
        self._ran.value = False
        result = self._call(**kwargs)
        if not self._ran.value:
            self._metrics.count("DuplicateEvents", handler=self._handler)
            logger.info(
                "duplicate event answered from its stored result", extra={"handler": self._handler}
            )
        return result
