"""Leaderboard index states in the service's table: one item per project, saved page by page."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson

from chalicelib.boards import BoardIndex
from chalicelib.gateways.table import Item, Table, board_state_key, iso

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import PutTypeDef


class BoardTable:
    """The BoardStore port: a save names the state it follows (its job and pages), so that of
    two workers on one re-index only one advances it, and a new re-index replaces any."""

    def __init__(self, client: DynamoDBClient, table_name: str, retry_after_seconds: int = 2):
        self._table = Table(client, table_name, retry_after_seconds)

    def get(self, project: str) -> BoardIndex | None:
        item = self._table.get(board_state_key(project), consistent=True)
        return None if item is None else _from_item(project, item)

    def save(self, index: BoardIndex, after: BoardIndex | None = None) -> bool:
        """False when `after` is given and the stored state is no longer it."""
        put: PutTypeDef = {"TableName": self._table.name, "Item": _item(index)}
        if after is not None:
            put["ConditionExpression"] = "#job = :job AND #pages = :pages"
            put["ExpressionAttributeNames"] = {"#job": "job", "#pages": "pages"}
            put["ExpressionAttributeValues"] = {
                ":job": {"S": after.job_id or ""},
                ":pages": {"N": str(after.pages)},
            }
        return self._table.put(put)


def _item(index: BoardIndex) -> Item:
    state = {
        "ready": sorted(index.ready),
        "building": sorted(index.building),
        "cursor": index.cursor,
        "updated_at": None if index.updated_at is None else iso(index.updated_at),
    }
    return {
        **board_state_key(index.project),
        "state": {"S": orjson.dumps(state).decode()},
        "job": {"S": index.job_id or ""},
        "pages": {"N": str(index.pages)},
    }


def _from_item(project: str, item: dict[str, Any]) -> BoardIndex:
    state = orjson.loads(item["state"]["S"])
    updated = state["updated_at"]
    return BoardIndex(
        project=project,
        ready=frozenset(state["ready"]),
        building=frozenset(state["building"]),
        job_id=item["job"]["S"] or None,
        cursor=state["cursor"],
        pages=int(item["pages"]["N"]),
        updated_at=None if updated is None else datetime.fromisoformat(updated),
    )
