"""Seeding a benchmark's table fast: RunTable's writes collected, then batched 25 at a time."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient


class BatchedWrites:
    """Stands in for RunTable's client: takes its PutItem and TransactWriteItems and writes the
    items with BatchWriteItem (the table is fresh, so RunTable's freshness condition holds for
    every one, and its deletes, of entries an older record might have left, find nothing)."""

    def __init__(self, client: DynamoDBClient, table: str) -> None:
        self._client = client
        self._table = table
        self._items: list[Any] = []

    def put_item(self, **params: Any) -> None:
        self._items.append(params["Item"])

    def transact_write_items(self, **params: Any) -> None:
        self._items.extend(
            action["Put"]["Item"] for action in params["TransactItems"] if "Put" in action
        )

    def flush(self) -> int:
        for start in range(0, len(self._items), 25):
            puts: Any = [{"PutRequest": {"Item": item}} for item in self._items[start : start + 25]]
            left = self._client.batch_write_item(RequestItems={self._table: puts})
            if left.get("UnprocessedItems"):
                raise RuntimeError("BatchWriteItem left items unprocessed")
        written, self._items = len(self._items), []
        return written
