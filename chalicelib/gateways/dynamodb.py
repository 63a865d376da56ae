"""The service's single DynamoDB table: project definitions and endpoint ownership."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson
from botocore.exceptions import ClientError

from chalicelib.definitions import PROJECT_NAME, parse_project, project_to_document
from chalicelib.errors import Conflict
from chalicelib.models import Project

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import (
        AttributeValueTypeDef,
        TransactWriteItemTypeDef,
    )

# Single-table design (docs/table-design.md): generic pk/sk plus one inverted-list index.
TABLE_SCHEMA: dict[str, Any] = {
    "AttributeDefinitions": [
        {"AttributeName": "pk", "AttributeType": "S"},
        {"AttributeName": "sk", "AttributeType": "S"},
        {"AttributeName": "gsi1pk", "AttributeType": "S"},
        {"AttributeName": "gsi1sk", "AttributeType": "S"},
    ],
    "KeySchema": [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ],
    "GlobalSecondaryIndexes": [
        {
            "IndexName": "gsi1",
            "KeySchema": [
                {"AttributeName": "gsi1pk", "KeyType": "HASH"},
                {"AttributeName": "gsi1sk", "KeyType": "RANGE"},
            ],
            "Projection": {"ProjectionType": "ALL"},
        }
    ],
    "BillingMode": "PAY_PER_REQUEST",
}

PROJECTS_INDEX = "gsi1"
PROJECTS_LIST_KEY = "PROJECTS"


def _project_key(name: str) -> dict[str, AttributeValueTypeDef]:
    return {"pk": {"S": f"PROJECT#{name}"}, "sk": {"S": "DEFINITION"}}


def _owner_key(endpoint: str) -> dict[str, AttributeValueTypeDef]:
    return {"pk": {"S": f"ENDPOINT#{endpoint}"}, "sk": {"S": "OWNER"}}


class ProjectTable:
    """Project definitions, each owning one endpoint name exclusively."""

    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def get(self, name: str) -> Project | None:
        if not PROJECT_NAME.fullmatch(name):
            # No project has such a name, and DynamoDB refuses a key over 2,048 bytes.
            return None
        item = self._client.get_item(TableName=self._table, Key=_project_key(name)).get("Item")
        return None if item is None else _project_from_item(item)

    def all(self) -> list[Project]:
        paginator = self._client.get_paginator("query")
        pages = paginator.paginate(
            TableName=self._table,
            IndexName=PROJECTS_INDEX,
            KeyConditionExpression="gsi1pk = :list",
            ExpressionAttributeValues={":list": {"S": PROJECTS_LIST_KEY}},
        )
        return [_project_from_item(item) for page in pages for item in page.get("Items", [])]

    def put(self, project: Project) -> bool:
        """Creates or replaces a definition; returns True when it was created."""
        current = self._client.get_item(
            TableName=self._table, Key=_project_key(project.name), ConsistentRead=True
        ).get("Item")
        name = {":name": {"S": project.name}}
        definition_put: TransactWriteItemTypeDef = {
            "Put": {
                "TableName": self._table,
                "Item": {
                    **_project_key(project.name),
                    "gsi1pk": {"S": PROJECTS_LIST_KEY},
                    "gsi1sk": {"S": project.name},
                    "definition": {"S": orjson.dumps(project_to_document(project)).decode()},
                    "definition_version": {"N": str(_version(current) + 1)},
                },
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }
        if current is not None:
            definition_put["Put"]["ConditionExpression"] = "definition_version = :version"
            definition_put["Put"]["ExpressionAttributeValues"] = {
                ":version": {"N": str(_version(current))}
            }
        actions: list[TransactWriteItemTypeDef] = [
            definition_put,
            {
                "Put": {
                    "TableName": self._table,
                    "Item": {
                        **_owner_key(project.endpoint.name),
                        "owning_project": {"S": project.name},
                    },
                    "ConditionExpression": "attribute_not_exists(pk) OR owning_project = :name",
                    "ExpressionAttributeValues": name,
                }
            },
        ]
        previous_endpoint = None if current is None else _project_from_item(current).endpoint.name
        if previous_endpoint is not None and previous_endpoint != project.endpoint.name:
            actions.append(
                {
                    "Delete": {
                        "TableName": self._table,
                        "Key": _owner_key(previous_endpoint),
                        "ConditionExpression": "attribute_not_exists(pk) OR owning_project = :name",
                        "ExpressionAttributeValues": name,
                    }
                }
            )
        self._transact(actions, project)
        return current is None

    def delete(self, name: str) -> bool:
        """Deletes a definition and releases its endpoint; False when there was none."""
        if not PROJECT_NAME.fullmatch(name):
            return False
        current = self._client.get_item(
            TableName=self._table, Key=_project_key(name), ConsistentRead=True
        ).get("Item")
        if current is None:
            return False
        project = _project_from_item(current)
        self._transact(
            [
                {
                    "Delete": {
                        "TableName": self._table,
                        "Key": _project_key(name),
                        "ConditionExpression": "definition_version = :version",
                        "ExpressionAttributeValues": {":version": {"N": str(_version(current))}},
                    }
                },
                {
                    "Delete": {
                        "TableName": self._table,
                        "Key": _owner_key(project.endpoint.name),
                        "ConditionExpression": "attribute_not_exists(pk) OR owning_project = :name",
                        "ExpressionAttributeValues": {":name": {"S": name}},
                    }
                },
            ],
            project,
        )
        return True

    def owner_of(self, endpoint: str) -> str | None:
        """The project that owns an endpoint name, if any."""
        item = self._client.get_item(TableName=self._table, Key=_owner_key(endpoint)).get("Item")
        return None if item is None else item["owning_project"]["S"]

    def _transact(self, actions: list[TransactWriteItemTypeDef], project: Project) -> None:
        try:
            self._client.transact_write_items(TransactItems=actions)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                raise
            reasons = [r.get("Code") for r in error.response.get("CancellationReasons", [])]
            if len(reasons) > 1 and reasons[1] == "ConditionalCheckFailed":
                raise Conflict(
                    f"endpoint {project.endpoint.name!r} is owned by another project"
                ) from None
            raise Conflict(
                f"project {project.name!r} was changed concurrently; read it and retry"
            ) from None


def _version(item: dict[str, AttributeValueTypeDef] | None) -> int:
    return 0 if item is None else int(item["definition_version"]["N"])


def _project_from_item(item: dict[str, AttributeValueTypeDef]) -> Project:
    return parse_project(orjson.loads(item["definition"]["S"]))
