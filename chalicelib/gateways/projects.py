"""Project definitions and endpoint ownership in the service's table."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

import orjson

from chalicelib.definitions import PROJECT_NAME, parse_project, project_to_document
from chalicelib.errors import Conflict, PreconditionFailed
from chalicelib.gateways.table import (
    INDEX,
    PROJECTS_LIST,
    Item,
    Table,
    definition_key,
    owner_key,
)
from chalicelib.models import Project

# Every revision matches `*`; a precondition of revisions otherwise matches one of them.
ANY_REVISION = "*"

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import (
        DeleteTypeDef,
        PutTypeDef,
        TransactWriteItemTypeDef,
    )


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

    def versioned(self, name: str) -> tuple[Project, str] | None:
        """A definition and its revision, read consistently (what a later write is checked
        against)."""
        if not PROJECT_NAME.fullmatch(name):
            return None
        item = self._table.get(definition_key(name), consistent=True)
        return None if item is None else (_project_from_item(item), _revision(item))

    def all(self) -> list[Project]:
        items = self._table.query(
            IndexName=INDEX,
            KeyConditionExpression="gsi1pk = :list",
            ExpressionAttributeValues={":list": {"S": PROJECTS_LIST}},
        )
        return [_project_from_item(item) for item in items]

    def put(self, project: Project, if_match: frozenset[str] | None = None) -> tuple[bool, str]:
        """Creates or replaces a definition: (whether it was created, its new revision). With
        `if_match`, only over a current revision it names (PreconditionFailed otherwise)."""
        table = self._table.name
        current = self._table.get(definition_key(project.name), consistent=True)
        _require(if_match, current, project.name)
        item: Item = {
            **definition_key(project.name),
            "gsi1pk": {"S": PROJECTS_LIST},
            "gsi1sk": {"S": project.name},
            "definition": {"S": orjson.dumps(project_to_document(project)).decode()},
            "definition_version": {"N": str(_version(current) + 1)},
        }
        put: PutTypeDef = {"TableName": table, "Item": item}
        _unchanged_since(put, current)
        definition_put: TransactWriteItemTypeDef = {"Put": put}
        name = {":name": {"S": project.name}}
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
        self._transact(actions, project, if_match)
        return current is None, _revision(item)

    def delete(self, name: str, if_match: frozenset[str] | None = None) -> bool:
        """Deletes a definition and releases its endpoint; False when there was none. With
        `if_match`, only a current revision it names (PreconditionFailed otherwise)."""
        if not PROJECT_NAME.fullmatch(name):
            return False  # a name no project can have: absent, whatever If-Match says
        current = self._table.get(definition_key(name), consistent=True)
        _require(if_match, current, name)
        if current is None:
            return False
        project = _project_from_item(current)
        delete: DeleteTypeDef = {"TableName": self._table.name, "Key": definition_key(name)}
        _unchanged_since(delete, current)
        definition_delete: TransactWriteItemTypeDef = {"Delete": delete}
        self._transact(
            [definition_delete, _release(self._table.name, project.endpoint.name, name)],
            project,
            if_match,
        )
        return True

    def owner_of(self, endpoint: str) -> str | None:
        """The project that owns an endpoint name, if any."""
        item = self._table.get(owner_key(endpoint))
        return None if item is None else item["owning_project"]["S"]

    def _transact(
        self,
        actions: list[TransactWriteItemTypeDef],
        project: Project,
        if_match: frozenset[str] | None,
    ) -> None:
        reasons = self._table.transact(actions)
        if not reasons:
            return
        # Action [1] is always the claim (or release) of the endpoint.
        if reasons[1] == "ConditionalCheckFailed":
            raise Conflict(f"endpoint {project.endpoint.name!r} is owned by another project")
        if if_match is not None:
            # The revision If-Match named was current when read, and is no longer.
            raise PreconditionFailed(f"project {project.name!r} is not at the revision given")
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


def _require(if_match: frozenset[str] | None, current: Item | None, name: str) -> None:
    """Refuses a write whose If-Match names no current revision (a `*` names any)."""
    if if_match is None:
        return
    if current is None:
        raise PreconditionFailed(f"project {name!r} does not exist")
    if ANY_REVISION not in if_match and _revision(current) not in if_match:
        raise PreconditionFailed(f"project {name!r} is not at the revision given")


def _unchanged_since(action: PutTypeDef | DeleteTypeDef, current: Item | None) -> None:
    """Conditions the write on the definition still being the one read: absent, or the same
    version and document (a project deleted and created again restarts its versions)."""
    if current is None:
        action["ConditionExpression"] = "attribute_not_exists(pk)"
        return
    action["ConditionExpression"] = "definition_version = :version AND #definition = :definition"
    action["ExpressionAttributeNames"] = {"#definition": "definition"}
    action["ExpressionAttributeValues"] = {
        ":version": current["definition_version"],
        ":definition": current["definition"],
    }


def _revision(item: Item) -> str:
    """The definition's revision: its version and a digest of its document."""
    digest = hashlib.sha256(item["definition"]["S"].encode()).hexdigest()[:16]
    return f"{_version(item)}-{digest}"


def _version(item: Item | None) -> int:
    return 0 if item is None else int(item["definition_version"]["N"])


def _project_from_item(item: Item) -> Project:
    return parse_project(orjson.loads(item["definition"]["S"]))
