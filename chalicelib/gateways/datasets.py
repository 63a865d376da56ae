"""Dataset object versions in the service's single DynamoDB table, one partition for all."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from chalicelib.models import DatasetVersion

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

Item = dict[str, "AttributeValueTypeDef"]

# Every version of every dataset object lives in one partition, so that a URI prefix is one Query.
DATASET_OBJECTS_KEY = "DATASET_OBJECTS"
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
    return "T" + _iso(version.last_modified_at)


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _item(version: DatasetVersion) -> Item:
    item: Item = {
        "pk": {"S": DATASET_OBJECTS_KEY},
        "sk": {"S": f"{_uri_head(version.uri)}#{_order(version)}"},
        "uri": {"S": version.uri},
        "etag": {"S": version.etag},
        "size": {"N": str(version.size)},
        "last_modified_at": {"S": _iso(version.last_modified_at)},
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

    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def put_version(self, version: DatasetVersion) -> bool:
        """Records a version once; False when that URI and sequencer were already recorded."""
        try:
            self._client.put_item(
                TableName=self._table,
                Item=_item(version),
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def versions_under(self, uri_prefix: str) -> list[DatasetVersion]:
        """Every version of every object under the URI prefix, each object's newest last."""
        paginator = self._client.get_paginator("query")
        pages = paginator.paginate(
            TableName=self._table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :prefix)",
            ExpressionAttributeValues={
                ":pk": {"S": DATASET_OBJECTS_KEY},
                ":prefix": {"S": _head(uri_prefix)},
            },
        )
        versions = [
            _version(item)
            for page in pages
            for item in page.get("Items", [])
            if item["uri"]["S"].startswith(uri_prefix)
        ]
        # Sort keys order each object's versions; a stable sort by URI groups them.
        return sorted(versions, key=lambda version: version.uri)
