"""EventBridge: sagewire's own events on the account's default bus."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson
from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as TransportConnectionError

from chalicelib.errors import ServiceUnavailable

if TYPE_CHECKING:
    from mypy_boto3_events.client import EventBridgeClient
    from mypy_boto3_events.type_defs import PutEventsRequestEntryTypeDef


class EventBus:
    """The `EventPublisher` port: PutEvents of one event from `source`."""

    def __init__(self, client: EventBridgeClient, source: str, retry_after_seconds: int) -> None:
        self._client = client
        self._source = source
        self._retry_after = retry_after_seconds

    def publish(self, detail_type: str, detail: dict[str, Any]) -> str:
        """The event's id; ServiceUnavailable when EventBridge did not take it."""
        entry: PutEventsRequestEntryTypeDef = {
            "Source": self._source,
            "DetailType": detail_type,
            "Detail": orjson.dumps(detail).decode(),
        }
        try:
            answer = self._client.put_events(Entries=[entry])
        except (ClientError, TransportConnectionError, HTTPClientError) as error:
            raise ServiceUnavailable(
                f"EventBridge did not take the event ({type(error).__name__})", self._retry_after
            ) from None
        result = answer["Entries"][0] if answer.get("Entries") else {}
        if answer.get("FailedEntryCount") or "EventId" not in result:
            raise ServiceUnavailable(
                f"EventBridge refused the event: {result.get('ErrorCode', 'unknown')}",
                self._retry_after,
            )
        return result["EventId"]
