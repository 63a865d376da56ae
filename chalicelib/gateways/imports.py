"""Run imports in the service's table: one item per import, saved page by page."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import TYPE_CHECKING, Any

import orjson

from chalicelib.gateways.table import IMPORT_PREFIX, Table, import_key, project_pk
from chalicelib.imports import RunImport, SearchCursor

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient


class ImportTable:
    """The ImportStore port: `pages` is each import's version; a save names the one it follows,
    so that of two workers on one import only one advances it."""

    def __init__(self, client: DynamoDBClient, table_name: str, retry_after_seconds: int = 2):
        self._table = Table(client, table_name, retry_after_seconds)

    def create(self, run_import: RunImport) -> bool:
        """False when the import id is taken."""
        return self._table.put(
            {
                "TableName": self._table.name,
                "Item": _item(run_import),
                "ConditionExpression": "attribute_not_exists(#pk)",
                "ExpressionAttributeNames": {"#pk": "pk"},
            }
        )

    def save(self, run_import: RunImport, after_pages: int) -> bool:
        """False when the stored import is no longer at `after_pages` (another worker moved it)."""
        return self._table.put(
            {
                "TableName": self._table.name,
                "Item": _item(run_import),
                "ConditionExpression": "#pages = :pages",
                "ExpressionAttributeNames": {"#pages": "pages"},
                "ExpressionAttributeValues": {":pages": {"N": str(after_pages)}},
            }
        )

    def get(self, project: str, import_id: str) -> RunImport | None:
        item = self._table.get(import_key(project, import_id), consistent=True)
        return None if item is None else _from_item(item)

    def latest(self, project: str) -> RunImport | None:
        """The newest import of a project (import ids sort by their start time)."""
        page = self._table.query_page(
            KeyConditionExpression="#pk = :pk AND begins_with(#sk, :prefix)",
            ExpressionAttributeNames={"#pk": "pk", "#sk": "sk"},
            ExpressionAttributeValues={
                ":pk": {"S": project_pk(project)},
                ":prefix": {"S": IMPORT_PREFIX},
            },
            ScanIndexForward=False,
            Limit=1,
            ConsistentRead=True,
        )
        items = page.get("Items", [])
        return _from_item(items[0]) if items else None


def _item(run_import: RunImport) -> dict[str, Any]:
    document = asdict(run_import)
    return {
        **import_key(run_import.project, run_import.import_id),
        "import": {"S": orjson.dumps(document, option=orjson.OPT_UTC_Z).decode()},
        "pages": {"N": str(run_import.pages)},
        "status": {"S": run_import.status},
    }


def _from_item(item: dict[str, Any]) -> RunImport:
    document = orjson.loads(item["import"]["S"])
    cursor = document.pop("cursor")
    for key in ("started_at", "updated_at", "finished_at"):
        document[key] = _time(document[key])
    return RunImport(
        **document,
        cursor=SearchCursor(
            cursor["next_token"], _time(cursor["since"]), _time(cursor["last_created"])
        ),
    )


def _time(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)
