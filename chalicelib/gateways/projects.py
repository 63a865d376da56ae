"""Project definitions and endpoint ownership in the service's table."""

from __future__ import annotations

from typing import TYPE_CHECKING

import orjson

from chalicelib.definitions import PROJECT_NAME, parse_project, project_to_document
from chalicelib.errors import Conflict
from chalicelib.gateways.table import (
    INDEX,
    PROJECTS_LIST,
    Item,
    Table,
    definition_key,
    owner_key,
)
from chalicelib.models import Project

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import TransactWriteItemTypeDef


class ProjectTable:
    """The ProjectStore port: definitions, each owning one endpoint name exclusively."""

    def __init__(
        self, client: DynamoDBClient, table_name: str, retry_after_seconds: int = 2
    ) -> None:
        self._table = Table(client, table_name, retry_after_seconds)

    def get(self, name: str) -> Project | None:
        if not PROJECT_NAME.fullmatch(name):
            # No project has such a name, and DynamoDB refuses a key over 2,048 bytes.
            return None
        item = self._table.get(definition_key(name))
        return None if item is None else _project_from_item(item)

    def all(self) -> list[Project]:
        items = self._table.query(
            IndexName=INDEX,
            KeyConditionExpression="gsi1pk = :list",
            ExpressionAttributeValues={":list": {"S": PROJECTS_LIST}},
        )
        return [_project_from_item(item) for item in items]

    def put(self, project: Project) -> bool:
        """Creates or replaces a definition; returns True when it was created."""
        table = self._table.name
        current = self._table.get(definition_key(project.name), consistent=True)
        name = {":name": {"S": project.name}}
        definition_put: TransactWriteItemTypeDef = {
            "Put": {
                "TableName": table,
                "Item": {
                    **definition_key(project.name),
                    "gsi1pk": {"S": PROJECTS_LIST},
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
                    "TableName": table,
                    "Item": {
                        **owner_key(project.endpoint.name),
                        "owning_project": {"S": project.name},
                    },
                    "ConditionExpression": "attribute_not_exists(pk) OR owning_project = :name",
                    "ExpressionAttributeValues": name,
                }
            },
        ]
        previous_endpoint = None if current is None else _project_from_item(current).endpoint.name
        if previous_endpoint is not None and owner_key(previous_endpoint) != owner_key(
            project.endpoint.name
        ):
            actions.append(_release(table, previous_endpoint, project.name))
        self._transact(actions, project)
        return current is None

    def delete(self, name: str) -> bool:
        """Deletes a definition and releases its endpoint; False when there was none."""
        if not PROJECT_NAME.fullmatch(name):
            return False
        current = self._table.get(definition_key(name), consistent=True)
        if current is None:
            return False
        project = _project_from_item(current)
        definition_delete: TransactWriteItemTypeDef = {
            "Delete": {
                "TableName": self._table.name,
                "Key": definition_key(name),
                "ConditionExpression": "definition_version = :version",
                "ExpressionAttributeValues": {":version": {"N": str(_version(current))}},
            }
        }
        self._transact(
            [definition_delete, _release(self._table.name, project.endpoint.name, name)], project
        )
        return True

    def owner_of(self, endpoint: str) -> str | None:
        """The project that owns an endpoint name, if any."""
        item = self._table.get(owner_key(endpoint))
        return None if item is None else item["owning_project"]["S"]

    def _transact(self, actions: list[TransactWriteItemTypeDef], project: Project) -> None:
        reasons = self._table.transact(actions)
        if not reasons:
            return
        # Action [1] is always the claim (or release) of the endpoint.
        if reasons[1] == "ConditionalCheckFailed":
            raise Conflict(f"endpoint {project.endpoint.name!r} is owned by another project")
        raise Conflict(f"project {project.name!r} was changed concurrently; read it and retry")


def _release(table: str, endpoint: str, project: str) -> TransactWriteItemTypeDef:
    """Deletes an endpoint's ownership item, if it is still the project's."""
    return {
        "Delete": {
            "TableName": table,
            "Key": owner_key(endpoint),
            "ConditionExpression": "attribute_not_exists(pk) OR owning_project = :name",
            "ExpressionAttributeValues": {":name": {"S": project}},
        }
    }


def _version(item: Item | None) -> int:
    return 0 if item is None else int(item["definition_version"]["N"])


def _project_from_item(item: Item) -> Project:
    return parse_project(orjson.loads(item["definition"]["S"]))
