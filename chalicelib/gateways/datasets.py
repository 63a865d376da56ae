"""Dataset object versions in the service's table, one partition for all."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import TYPE_CHECKING

from chalicelib.gateways.table import DATASET_OBJECTS, Item, Table, iso
from chalicelib.records import DatasetVersion

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

# A sort key holds at most 1,024 bytes: longer URIs keep a head and a hash of the whole.
_MAX_URI_BYTES = 900
# S3 sequencers differ in length; left-padded with zeros they sort as their hexadecimal values.
_SEQUENCER_WIDTH = 32


def _head(text: str) -> str:
    """At most _MAX_URI_BYTES of UTF-8, cut on a character boundary."""
    return text.encode()[:_MAX_URI_BYTES].decode(errors="ignore")


def _uri_head(uri: str) -> str:
    if len(uri.encode()) <= _MAX_URI_BYTES:
        return uri
    return f"{_head(uri)}#{hashlib.sha256(uri.encode()).hexdigest()[:16]}"


def _order(version: DatasetVersion) -> str:
    """Within one object, newer versions sort later: the sequencer, else the modification time."""
    if version.sequencer:
        return version.sequencer.upper().rjust(_SEQUENCER_WIDTH, "0")
    return "T" + iso(version.last_modified_at)


def _item(version: DatasetVersion) -> Item:
    item: Item = {
        "pk": {"S": DATASET_OBJECTS},
        "sk": {"S": f"{_uri_head(version.uri)}#{_order(version)}"},
        "uri": {"S": version.uri},
        "etag": {"S": version.etag},
        "size": {"N": str(version.size)},
        "last_modified_at": {"S": iso(version.last_modified_at)},
    }
    if version.version_id is not None:
        item["version_id"] = {"S": version.version_id}
    if version.sequencer is not None:
        item["sequencer"] = {"S": version.sequencer}
    return item


def _version(item: Item) -> DatasetVersion:
    return DatasetVersion(
        uri=item["uri"]["S"],
        etag=item["etag"]["S"],
        size=int(item["size"]["N"]),
        last_modified_at=datetime.fromisoformat(item["last_modified_at"]["S"]),
        version_id=item["version_id"]["S"] if "version_id" in item else None,
        sequencer=item["sequencer"]["S"] if "sequencer" in item else None,
    )


class DatasetTable:
    """The DatasetStore port: one item per (object URI, sequencer)."""

    def __init__(
        self, client: DynamoDBClient, table_name: str, retry_after_seconds: int = 2
    ) -> None:
        self._table = Table(client, table_name, retry_after_seconds)

    def put_version(self, version: DatasetVersion) -> bool:
        """Records a version once; False when that URI and sequencer were already recorded."""
        return self._table.put(
            {
                "TableName": self._table.name,
                "Item": _item(version),
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        )

    def versions_under(self, uri_prefix: str) -> list[DatasetVersion]:
        """Every version of every object under the URI prefix, each object's newest last."""
        items = self._table.query(
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues={
                ":pk": {"S": DATASET_OBJECTS},
                ":prefix": {"S": _head(uri_prefix)},
            },
        )
        versions = [_version(item) for item in items if item["uri"]["S"].startswith(uri_prefix)]
        # Sort keys order each object's versions; a stable sort by URI groups them.
        return sorted(versions, key=lambda version: version.uri)
