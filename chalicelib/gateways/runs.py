"""Training runs, their projects' leaderboards and their datasets' usage in the service's table."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

import orjson

from chalicelib.boards import indexed_metrics, metric_board, objective_board
from chalicelib.definitions import SAGEMAKER_NAME
from chalicelib.errors import InvalidParameter
from chalicelib.gateways.board_writes import BoardWrites, membership
from chalicelib.gateways.table import (
    BOARD_PREFIX,
    DATASET_USAGE,
    INDEX,
    LOST_RACE,
    MAX_SORT_KEY_BYTES,
    RUN_PREFIX,
    Item,
    Table,
    epoch_ms,
    iso,
    leaderboard_pk,
    project_pk,
    run_key,
)
from chalicelib.models import Project
from chalicelib.records import Channel, Run

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import (
        AttributeValueTypeDef,
        PutTypeDef,
        TransactWriteItemTypeDef,
    )

_MEMBER_KEY = ("pk", "sk")
_BOARD_KEY = ("gsi1pk", "gsi1sk", "pk", "sk")
_RUN_TIMES = ("last_modified_at", "created_at", "started_at", "ended_at")
_NEWER_STORED = frozenset({"ConditionalCheckFailed"})
Page = tuple[list[tuple[Run, dict[str, str]]], dict[str, str] | None]


class RunTable:
    """The RunStore port: each run kept at its newest SageMaker `LastModifiedTime`."""

    def __init__(
        self, client: DynamoDBClient, table_name: str, retry_after_seconds: int = 2
    ) -> None:
        self._table = Table(client, table_name, retry_after_seconds)
        self._writes = BoardWrites(self._table)

    def put_run(self, run: Run, projects: Sequence[Project] = ()) -> bool:
        """Stores a run unless the stored one is as new or newer; False when skipped.

        In the same transaction: the run's entry in each project's leaderboard (indexed by the
        project's objective, by its statistic, when the run has it), its entry in the index of
        each metric the project names sortable (board_writes.py), and one usage item per input
        channel, the forward index from a dataset to the runs that read it."""
        modified: AttributeValueTypeDef = {"N": str(epoch_ms(run.last_modified_at))}
        document: AttributeValueTypeDef = {"S": orjson.dumps(_run_document(run)).decode()}
        run_put: PutTypeDef = {
            "TableName": self._table.name,
            "Item": {
                **run_key(run.name),
                "run": document,
                "last_modified_ms": modified,
                "status": {"S": run.status},
            },
            "ConditionExpression": "attribute_not_exists(#pk) OR #modified < :modified",
            "ExpressionAttributeNames": {"#pk": "pk", "#modified": "last_modified_ms"},
            "ExpressionAttributeValues": {":modified": modified},
        }
        core: list[TransactWriteItemTypeDef] = [{"Put": run_put}]
        core += [self._writes.put(membership(run, project, document)) for project in projects]
        core += [
            self._writes.put(
                {
                    "pk": {"S": DATASET_USAGE},
                    "sk": {"S": f"{channel.s3_uri}#{RUN_PREFIX}{run.name}"},
                    "run_name": {"S": run.name},
                    "channel": {"S": channel.name},
                }
            )
            for channel in run.channels
        ]
        if len(core) == 1:
            return self._table.put(run_put)
        # Only the run's own put has a condition: a cancellation means a newer run is stored.
        return self._writes.write(core, run, document, projects, _NEWER_STORED)

    def join(self, run: Run, projects: Sequence[Project]) -> None:
        """Adds a recorded run to projects' leaderboards (projects defined after it was recorded),
        as `put_run` would have."""
        document: AttributeValueTypeDef = {"S": orjson.dumps(_run_document(run)).decode()}
        core = [self._writes.put(membership(run, project, document)) for project in projects]
        if core:
            self._writes.write(core, run, document, projects, LOST_RACE)

    def reindex(
        self,
        project: Project,
        building: frozenset[str],
        start_key: dict[str, str] | None,
        limit: int,
    ) -> dict[str, str] | None:
        """Writes the entries of the `building` indexes (boards.py) for one page of the project's
        runs, by name after `start_key`, from the documents its leaderboard holds; the key the
        next page starts after (None after the last page). Each run's entries are written only
        while its leaderboard document is the one they were computed from: a run recorded again
        meanwhile was indexed by that write."""
        page = self._table.query_page(
            **_begins_with(project_pk(project.name), RUN_PREFIX),
            Limit=limit,
            ConsistentRead=True,
            **({} if start_key is None else {"ExclusiveStartKey": _attributes(start_key)}),
        )
        metrics = [m for m in indexed_metrics(project) if metric_board(m) in building]
        rank = objective_board(project.objective) in building
        groups = []
        for item in page.get("Items", []):
            run, document = _run_from_item(item), item["run"]
            lead = (
                self._writes.ranked(run, project, document)
                if rank
                else self._writes.unchanged(run, project, document)
            )
            actions = self._writes.entries(run, project, document, metrics)
            if rank or actions:
                groups.append([lead, *actions])
        self._writes.guarded(groups)
        last = page.get("LastEvaluatedKey")
        return None if last is None else {name: last[name]["S"] for name in _MEMBER_KEY}

    def get_run(self, name: str) -> Run | None:
        if not SAGEMAKER_NAME.fullmatch(name):
            # No training job has such a name, and DynamoDB refuses a key over 2,048 bytes.
            return None
        item = self._table.get(run_key(name), consistent=True)
        return None if item is None else _run_from_item(item)

    def project_runs(self, project: str) -> list[Run]:
        """Every run recorded in the project's leaderboard (Query PROJECT#<p>, RUN#...), by name."""
        return list(self.each_project_run(project))

    def each_project_run(self, project: str) -> Iterator[Run]:
        """`project_runs` read a page at a time as it is used: one page's items in memory."""
        for item in self._table.query(**_begins_with(project_pk(project), RUN_PREFIX)):
            yield _run_from_item(item)

    def leaderboard(
        self,
        project: str,
        objective_order: Literal["asc", "desc"],
        limit: int,
        start_key: dict[str, str] | None = None,
        metric: str | None = None,
    ) -> Page:
        """One page of the project's runs that have its objective (or the final value of a named
        `metric`), ordered by it (ties by run name), each with the key to resume after it, and
        the key the next page starts after (None after the last page)."""
        board = leaderboard_pk(project, metric)
        page = self._table.query_page(
            IndexName=INDEX,
            KeyConditionExpression="#gsi1pk = :board",
            ExpressionAttributeNames={"#gsi1pk": "gsi1pk"},
            ExpressionAttributeValues={":board": {"S": board}},
            ScanIndexForward=objective_order == "asc",
            Limit=limit,
            **_start_key(project, start_key, _BOARD_KEY, board, metric),
        )
        return _positioned(page, _BOARD_KEY)

    def unranked_runs(
        self,
        project: str,
        limit: int,
        start_key: dict[str, str] | None = None,
        metric: str | None = None,
    ) -> Page:
        """Like `leaderboard`, for the project's runs that lack its objective, by run name;
        `limit` counts the items read, so a page may hold fewer runs (or none) before the last.
        For a named `metric` the page holds every run (the index is not on the membership):
        the caller drops those that have it."""
        query = _begins_with(project_pk(project), RUN_PREFIX)
        if metric is None:
            query["ExpressionAttributeNames"]["#gsi1pk"] = "gsi1pk"
            query["FilterExpression"] = "attribute_not_exists(#gsi1pk)"
        page = self._table.query_page(
            **query, Limit=limit, **_start_key(project, start_key, _MEMBER_KEY)
        )
        return _positioned(page, _MEMBER_KEY)

    def runs_reading(self, uri: str) -> list[tuple[str, str]]:
        """(run, channel name) pairs of the channels that read `uri` or something under it.

        One Query for the channel URIs that start with `uri`, and one per ancestor prefix of
        `uri` at a "/" boundary (with and without the slash) for the channels that read it as part
        of a larger prefix; sorted, without duplicates."""
        found = set(self._usage(uri))
        for ancestor in _ancestors(uri):
            found.update(self._usage(f"{ancestor}#{RUN_PREFIX}"))
        return sorted(found)

    def _usage(self, sk_prefix: str) -> list[tuple[str, str]]:
        if len(sk_prefix.encode()) > MAX_SORT_KEY_BYTES:
            return []  # no usage item has such a key, and asking would fail
        items = self._table.query(**_begins_with(DATASET_USAGE, sk_prefix))
        return [(item["run_name"]["S"], item["channel"]["S"]) for item in items]


def _begins_with(pk: str, sk_prefix: str) -> dict[str, Any]:
    """Query parameters for the items of partition `pk` whose sort key starts with a prefix."""
    return {
        "KeyConditionExpression": "#pk = :pk AND begins_with(#sk, :prefix)",
        "ExpressionAttributeNames": {"#pk": "pk", "#sk": "sk"},
        "ExpressionAttributeValues": {":pk": {"S": pk}, ":prefix": {"S": sk_prefix}},
    }


def _ancestors(uri: str) -> list[str]:
    """The prefixes of an `s3://bucket/key` URI that end before or at each "/" of its key."""
    scheme, _, path = uri.partition("://")
    parts = path.split("/")
    ancestors = []
    for count in range(1, len(parts)):
        prefix = f"{scheme}://{'/'.join(parts[:count])}"
        ancestors += [prefix, f"{prefix}/"]
    return [ancestor for ancestor in ancestors if ancestor != uri]


def _positioned(page: Mapping[str, Any], names: tuple[str, ...]) -> Page:
    """A page's runs, each with its key (`names` of its item), and its LastEvaluatedKey."""
    runs = [
        (_run_from_item(item), {name: item[name]["S"] for name in names})
        for item in page.get("Items", [])
    ]
    last = page.get("LastEvaluatedKey")
    return runs, None if last is None else {name: last[name]["S"] for name in names}


def _start_key(
    project: str,
    key: dict[str, str] | None,
    names: tuple[str, ...],
    board: str | None = None,
    metric: str | None = None,
) -> dict[str, Any]:
    """`ExclusiveStartKey` from a key this table handed out for the project's leaderboard (the
    objective's index, a named `metric`'s, or the runs by name)."""
    if key is None:
        return {}
    entry = RUN_PREFIX if metric is None else BOARD_PREFIX
    if (
        sorted(key) != sorted(names)
        or key["pk"] != project_pk(project)
        or not key["sk"].startswith(entry)
        or (metric is not None and not key["sk"].endswith(f"#{metric}"))
        or key.get("gsi1pk") != board
    ):
        raise InvalidParameter("cursor is not valid for this leaderboard")
    return {"ExclusiveStartKey": _attributes(key)}


def _attributes(key: dict[str, str]) -> dict[str, Any]:
    return {name: {"S": value} for name, value in key.items()}


def _run_document(run: Run) -> dict[str, Any]:
    document = dataclasses.asdict(run)
    # JSON has no NaN or infinity; such metrics travel as their repr and come back through float().
    document["metrics"] = {k: v if math.isfinite(v) else repr(v) for k, v in run.metrics.items()}
    for name in _RUN_TIMES:
        value = getattr(run, name)
        document[name] = None if value is None else iso(value)
    return document


def _run_from_item(item: Item) -> Run:
    document = orjson.loads(item["run"]["S"])
    times = {
        name: None if document[name] is None else datetime.fromisoformat(document[name])
        for name in _RUN_TIMES
    }
    return Run(
        **{
            **document,
            **times,
            "metrics": {k: float(v) for k, v in document["metrics"].items()},
            "channels": tuple(Channel(**channel) for channel in document["channels"]),
        }
    )
