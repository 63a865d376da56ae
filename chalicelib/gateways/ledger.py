"""Runs, champions and the promotion ledger in the service's single DynamoDB table."""

from __future__ import annotations

import dataclasses
import math
import struct
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal, cast

import orjson
from botocore.exceptions import ClientError

from chalicelib.definitions import SAGEMAKER_NAME
from chalicelib.errors import InvalidParameter
from chalicelib.models import (
    SETTLED_OUTCOMES,
    Champion,
    Channel,
    Project,
    Promotion,
    PromotionOutcome,
    Run,
    StrategyType,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import (
        AttributeValueTypeDef,
        PutTypeDef,
        TransactWriteItemTypeDef,
    )

Item = dict[str, "AttributeValueTypeDef"]

_PROMOTION_PREFIX = "PROMOTION#"
# One partition holds every (dataset URI, run) pair, so that a URI prefix is one Query.
DATASET_USAGE_KEY = "DATASETS"
LEADERBOARD_PREFIX = "LEADERBOARD#"
LEADERBOARD_INDEX = "gsi1"
_MEMBER_PREFIX = "RUN#"
_MEMBER_KEY = ("pk", "sk")
_BOARD_KEY = ("gsi1pk", "gsi1sk", "pk", "sk")
_RUN_TIMES = ("last_modified_at", "created_at", "started_at", "ended_at")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Transaction cancellation reasons that mean "another writer got there first": nothing was written.
_LOST_RACE = frozenset({"ConditionalCheckFailed", "TransactionConflict"})


class RunTable:
    """Training runs, each kept at its newest SageMaker `LastModifiedTime`."""

    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self._client = client
        self._table = table_name

    def put_run(self, run: Run, projects: Sequence[Project] = ()) -> bool:
        """Stores a run unless the stored one is as new or newer; False when skipped.

        In the same transaction: the run's entry in each project's leaderboard (indexed by the
        project's objective when the run has it) and one usage item per input channel, the
        forward index from a dataset to the runs that read it."""
        modified: AttributeValueTypeDef = {"N": str(_epoch_ms(run.last_modified_at))}
        document: AttributeValueTypeDef = {"S": orjson.dumps(_run_document(run)).decode()}
        run_put: PutTypeDef = {
            "TableName": self._table,
            "Item": {
                **_run_key(run.name),
                "run": document,
                "last_modified_ms": modified,
                "status": {"S": run.status},
            },
            "ConditionExpression": "attribute_not_exists(#pk) OR #modified < :modified",
            "ExpressionAttributeNames": {"#pk": "pk", "#modified": "last_modified_ms"},
            "ExpressionAttributeValues": {":modified": modified},
        }
        items = [_membership(run, project, document) for project in projects] + [
            {
                "pk": {"S": DATASET_USAGE_KEY},
                "sk": {"S": f"{channel.s3_uri}#RUN#{run.name}"},
                "run_name": {"S": run.name},
                "channel": {"S": channel.name},
            }
            for channel in run.channels
        ]
        extra: list[TransactWriteItemTypeDef] = [
            {"Put": {"TableName": self._table, "Item": item}} for item in items
        ]
        try:
            if extra:
                self._client.transact_write_items(TransactItems=[{"Put": run_put}, *extra])
            else:
                self._client.put_item(**run_put)
        except ClientError as error:
            code = _code(error)
            if code == "ConditionalCheckFailedException":
                return False
            if code == "TransactionCanceledException":
                reasons = [r.get("Code") for r in error.response.get("CancellationReasons", [])]
                if reasons and reasons[0] == "ConditionalCheckFailed":
                    return False
            raise
        return True

    def get_run(self, name: str) -> Run | None:
        if not SAGEMAKER_NAME.fullmatch(name):
            # No training job has such a name, and DynamoDB refuses a key over 2,048 bytes.
            return None
        item = self._client.get_item(
            TableName=self._table, Key=_run_key(name), ConsistentRead=True
        ).get("Item")
        return None if item is None else _run_from_document(orjson.loads(item["run"]["S"]))

    def project_runs(self, project: str) -> list[Run]:
        """Every run recorded in the project's leaderboard (Query PROJECT#<p>, RUN#...), by name."""
        runs: list[Run] = []
        start: dict[str, Any] = {}
        while True:
            page = self._client.query(
                TableName=self._table,
                KeyConditionExpression="#pk = :pk AND begins_with(#sk, :prefix)",
                ExpressionAttributeNames={"#pk": "pk", "#sk": "sk"},
                ExpressionAttributeValues={
                    ":pk": {"S": f"PROJECT#{project}"},
                    ":prefix": {"S": "RUN#"},
                },
                **start,
            )
            runs += [_run_from_document(orjson.loads(i["run"]["S"])) for i in page.get("Items", [])]
            if "LastEvaluatedKey" not in page:
                return runs
            start = {"ExclusiveStartKey": page["LastEvaluatedKey"]}

    def leaderboard(
        self,
        project: str,
        objective_order: Literal["asc", "desc"],
        limit: int,
        start_key: dict[str, str] | None = None,
    ) -> tuple[list[tuple[Run, dict[str, str]]], dict[str, str] | None]:
        """One page of the project's runs that have its objective, ordered by it (ties by run
        name), each with the key to resume after it, and the key the next page starts after
        (None after the last page)."""
        start = _start_key(project, start_key, _BOARD_KEY)
        page = self._client.query(
            TableName=self._table,
            IndexName=LEADERBOARD_INDEX,
            KeyConditionExpression="#gsi1pk = :board",
            ExpressionAttributeNames={"#gsi1pk": "gsi1pk"},
            ExpressionAttributeValues={":board": {"S": f"{LEADERBOARD_PREFIX}{project}"}},
            ScanIndexForward=objective_order == "asc",
            Limit=limit,
            **start,
        )
        return _positioned(page, _BOARD_KEY)

    def unranked_runs(
        self, project: str, limit: int, start_key: dict[str, str] | None = None
    ) -> tuple[list[tuple[Run, dict[str, str]]], dict[str, str] | None]:
        """Like `leaderboard`, for the project's runs that lack its objective, by run name;
        `limit` counts the items read, so a page may hold fewer runs (or none) before the last."""
        start = _start_key(project, start_key, _MEMBER_KEY)
        page = self._client.query(
            TableName=self._table,
            KeyConditionExpression="#pk = :pk AND begins_with(#sk, :prefix)",
            FilterExpression="attribute_not_exists(#gsi1pk)",
            ExpressionAttributeNames={"#pk": "pk", "#sk": "sk", "#gsi1pk": "gsi1pk"},
            ExpressionAttributeValues={
                ":pk": {"S": f"PROJECT#{project}"},
                ":prefix": {"S": _MEMBER_PREFIX},
            },
            Limit=limit,
            **start,
        )
        return _positioned(page, _MEMBER_KEY)

    def runs_reading(self, uri: str) -> list[tuple[str, str]]:
        """(run, channel name) pairs of the channels that read `uri` or something under it.

        One Query for the channel URIs that start with `uri`, and one per ancestor prefix of
        `uri` at a "/" boundary (with and without the slash) for the channels that read it as part
        of a larger prefix; sorted, without duplicates."""
        found = set(self._usage(uri))
        for ancestor in _ancestors(uri):
            found.update(self._usage(f"{ancestor}#RUN#"))
        return sorted(found)

    def _usage(self, sk_prefix: str) -> list[tuple[str, str]]:
        found: list[tuple[str, str]] = []
        if len(sk_prefix.encode()) > 1024:
            # DynamoDB refuses a sort key (and a begins_with prefix) over 1,024 bytes: no usage
            # item has one, and asking would fail.
            return found
        start: dict[str, Any] = {}
        while True:
            page = self._client.query(
                TableName=self._table,
                KeyConditionExpression="#pk = :pk AND begins_with(#sk, :prefix)",
                ExpressionAttributeNames={"#pk": "pk", "#sk": "sk"},
                ExpressionAttributeValues={
                    ":pk": {"S": DATASET_USAGE_KEY},
                    ":prefix": {"S": sk_prefix},
                },
                **start,
            )
            found.extend(
                (_s(item, "run_name"), _s(item, "channel")) for item in page.get("Items", [])
            )
            if "LastEvaluatedKey" not in page:
                return found
            start = {"ExclusiveStartKey": page["LastEvaluatedKey"]}


class ChampionTable:
    """Each project's champion (compare-and-swap on `version`) and its append-only ledger."""

    def __init__(
        self,
        client: DynamoDBClient,
        table_name: str,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._client = client
        self._table = table_name
        self._clock = clock

    def get_champion(self, project: str) -> Champion | None:
        item = self._client.get_item(
            TableName=self._table, Key=_champion_key(project), ConsistentRead=True
        ).get("Item")
        return None if item is None else _champion_from_item(item)

    def replace(self, champion: Champion, expected_version: int, promotion: Promotion) -> bool:
        """Swaps the champion and records its promotion atomically.

        False when the champion is no longer at `expected_version` (re-read and re-decide) or the
        promotion id is already in the ledger; nothing is written then.
        """
        if champion.version != expected_version + 1:
            raise ValueError("champion.version must be expected_version + 1")
        if (promotion.project, promotion.promotion_id) != (champion.project, champion.promotion_id):
            raise ValueError("the promotion must be the champion's own promotion")
        champion_put: PutTypeDef = {
            "TableName": self._table,
            "Item": {**_champion_key(champion.project), **_attributes(champion)},
            "ConditionExpression": "attribute_not_exists(#pk)",
            "ExpressionAttributeNames": {"#pk": "pk"},
        }
        if expected_version != 0:
            champion_put["ConditionExpression"] = "#version = :expected"
            champion_put["ExpressionAttributeNames"] = {"#version": "version"}
            champion_put["ExpressionAttributeValues"] = {":expected": {"N": str(expected_version)}}
        first = _history_entry(promotion.outcome, promotion.updated_at, promotion.message)
        try:
            self._client.transact_write_items(
                TransactItems=[
                    {"Put": champion_put},
                    {
                        "Put": {
                            "TableName": self._table,
                            "Item": {
                                **_promotion_key(promotion.project, promotion.promotion_id),
                                **_attributes(promotion),
                                "history": {"L": [first]},
                            },
                            "ConditionExpression": "attribute_not_exists(#pk)",
                            "ExpressionAttributeNames": {"#pk": "pk"},
                        }
                    },
                ]
            )
        except ClientError as error:
            if _code(error) != "TransactionCanceledException":
                raise
            # One reason per action, in order: [0] the champion, [1] the promotion. Either one lost
            # to another writer means nothing was written; any other failure is not ours to hide.
            reasons = [r.get("Code") for r in error.response.get("CancellationReasons", [])]
            failed = {code for code in reasons if code not in (None, "None")}
            if not failed or not failed <= _LOST_RACE:
                raise
            return False
        return True

    def get_promotion(self, project: str, promotion_id: str) -> Promotion | None:
        item = self._client.get_item(
            TableName=self._table, Key=_promotion_key(project, promotion_id), ConsistentRead=True
        ).get("Item")
        return None if item is None else _promotion_from_item(item)

    def set_outcome(
        self, project: str, promotion_id: str, outcome: PromotionOutcome, message: str | None
    ) -> bool:
        """Moves a non-terminal entry to `outcome`, appending to its history; False otherwise."""
        now = self._clock()
        names = {
            "#pk": "pk",
            "#outcome": "outcome",
            "#updated_at": "updated_at",
            "#history": "history",
            "#message": "message",
        }
        values: Item = {
            ":outcome": {"S": outcome},
            ":now": {"S": _iso(now)},
            ":entry": {"L": [_history_entry(outcome, now, message)]},
        }
        terminal: Item = {f":{o}": {"S": o} for o in SETTLED_OUTCOMES}
        update = (
            "SET #outcome = :outcome, #updated_at = :now, #history = list_append(#history, :entry)"
        )
        if message is None:
            update += " REMOVE #message"
        else:
            update += ", #message = :message"
            values[":message"] = {"S": message}
        try:
            self._client.update_item(
                TableName=self._table,
                Key=_promotion_key(project, promotion_id),
                UpdateExpression=update,
                ConditionExpression=(
                    f"attribute_exists(#pk) AND NOT (#outcome IN ({', '.join(terminal)}))"
                ),
                ExpressionAttributeNames=names,
                ExpressionAttributeValues={**values, **terminal},
            )
        except ClientError as error:
            if _code(error) != "ConditionalCheckFailedException":
                raise
            return False
        return True

    def promotions(self, project: str, limit: int = 100) -> list[Promotion]:
        """The project's ledger, newest first, at most `limit` entries."""
        found: list[Promotion] = []
        start: dict[str, Any] = {}
        while len(found) < limit:
            page = self._client.query(
                TableName=self._table,
                KeyConditionExpression="#pk = :pk AND begins_with(#sk, :prefix)",
                ExpressionAttributeNames={"#pk": "pk", "#sk": "sk"},
                ExpressionAttributeValues={
                    ":pk": {"S": f"PROJECT#{project}"},
                    ":prefix": {"S": _PROMOTION_PREFIX},
                },
                ScanIndexForward=False,
                Limit=limit - len(found),
                **start,
            )
            found.extend(_promotion_from_item(item) for item in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                break
            start = {"ExclusiveStartKey": page["LastEvaluatedKey"]}
        return found


def sortable_number(value: float) -> str:
    """A float as 16 hex digits whose string order is the numbers' order (IEEE 754 bits, with
    the sign bit flipped for positives and every bit flipped for negatives)."""
    (bits,) = struct.unpack(">Q", struct.pack(">d", value))
    bits = bits ^ 0xFFFFFFFFFFFFFFFF if bits >> 63 else bits | 1 << 63
    return f"{bits:016x}"


def _ancestors(uri: str) -> list[str]:
    """The prefixes of an `s3://bucket/key` URI that end before or at each "/" of its key."""
    scheme, _, path = uri.partition("://")
    parts = path.split("/")
    ancestors = []
    for count in range(1, len(parts)):
        prefix = f"{scheme}://{'/'.join(parts[:count])}"
        ancestors += [prefix, f"{prefix}/"]
    return [ancestor for ancestor in ancestors if ancestor != uri]


def _membership(run: Run, project: Project, document: AttributeValueTypeDef) -> Item:
    item: Item = {
        "pk": {"S": f"PROJECT#{project.name}"},
        "sk": {"S": f"RUN#{run.name}"},
        "run": document,
    }
    value = run.metrics.get(project.objective.metric)
    if value is not None and math.isfinite(value):
        item["gsi1pk"] = {"S": f"{LEADERBOARD_PREFIX}{project.name}"}
        item["gsi1sk"] = {"S": f"{sortable_number(value)}#{run.name}"}
    return item


def _positioned(
    page: Mapping[str, Any], names: tuple[str, ...]
) -> tuple[list[tuple[Run, dict[str, str]]], dict[str, str] | None]:
    """A page's runs, each with its key (`names` of its item), and its LastEvaluatedKey."""
    runs = [
        (_run_from_document(orjson.loads(item["run"]["S"])), {n: item[n]["S"] for n in names})
        for item in page.get("Items", [])
    ]
    last = page.get("LastEvaluatedKey")
    return runs, None if last is None else {name: last[name]["S"] for name in names}


def _start_key(project: str, key: dict[str, str] | None, names: tuple[str, ...]) -> dict[str, Any]:
    """`ExclusiveStartKey` from a key this table handed out for the project's leaderboard."""
    if key is None:
        return {}
    if (
        sorted(key) != sorted(names)
        or key["pk"] != f"PROJECT#{project}"
        or not key["sk"].startswith(_MEMBER_PREFIX)
        or key.get("gsi1pk", f"{LEADERBOARD_PREFIX}{project}") != f"{LEADERBOARD_PREFIX}{project}"
    ):
        raise InvalidParameter("cursor is not valid for this leaderboard")
    return {"ExclusiveStartKey": {name: {"S": value} for name, value in key.items()}}


def _run_key(name: str) -> Item:
    return {"pk": {"S": f"RUN#{name}"}, "sk": {"S": "RUN"}}


def _champion_key(project: str) -> Item:
    return {"pk": {"S": f"PROJECT#{project}"}, "sk": {"S": "CHAMPION"}}


def _promotion_key(project: str, promotion_id: str) -> Item:
    return {"pk": {"S": f"PROJECT#{project}"}, "sk": {"S": f"{_PROMOTION_PREFIX}{promotion_id}"}}


def _code(error: ClientError) -> str | None:
    return error.response.get("Error", {}).get("Code")


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: sagewire stores only tz-aware UTC times")
    return value.astimezone(UTC)


def _iso(value: datetime) -> str:
    return _utc(value).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _epoch_ms(value: datetime) -> int:
    return (_utc(value) - _EPOCH) // timedelta(milliseconds=1)


def _number(value: float) -> str:
    if not math.isfinite(value):
        raise ValueError(f"{value!r} cannot be stored as a DynamoDB number")
    return repr(value)


def _run_document(run: Run) -> dict[str, Any]:
    document = dataclasses.asdict(run)
    # JSON has no NaN or infinity; such metrics travel as their repr and come back through float().
    document["metrics"] = {k: v if math.isfinite(v) else repr(v) for k, v in run.metrics.items()}
    for name in _RUN_TIMES:
        value = getattr(run, name)
        document[name] = None if value is None else _iso(value)
    return document


def _run_from_document(document: dict[str, Any]) -> Run:
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


def _attributes(value: Champion | Promotion) -> Item:
    """Every field of a flat domain value as an attribute; None fields are omitted."""
    item: Item = {}
    for field in dataclasses.fields(value):
        attribute = getattr(value, field.name)
        if attribute is None:
            continue
        if isinstance(attribute, datetime):
            item[field.name] = {"S": _iso(attribute)}
        elif isinstance(attribute, int | float):
            item[field.name] = {"N": _number(attribute)}
        else:
            item[field.name] = {"S": attribute}
    return item


def _history_entry(
    outcome: PromotionOutcome, at: datetime, message: str | None
) -> AttributeValueTypeDef:
    entry: Item = {"outcome": {"S": outcome}, "at": {"S": _iso(at)}}
    if message is not None:
        entry["message"] = {"S": message}
    return {"M": entry}


def _s(item: Item, name: str) -> str:
    return item[name]["S"]


def _optional_s(item: Item, name: str) -> str | None:
    return item[name]["S"] if name in item else None


def _time(item: Item, name: str) -> datetime:
    return datetime.fromisoformat(item[name]["S"])


def _champion_from_item(item: Item) -> Champion:
    return Champion(
        project=_s(item, "project"),
        run_name=_s(item, "run_name"),
        objective_value=float(item["objective_value"]["N"]),
        version=int(item["version"]["N"]),
        model_name=_s(item, "model_name"),
        endpoint_config_name=_s(item, "endpoint_config_name"),
        promotion_id=_s(item, "promotion_id"),
        changed_at=_time(item, "changed_at"),
        previous_run_name=_optional_s(item, "previous_run_name"),
    )


def _promotion_from_item(item: Item) -> Promotion:
    return Promotion(
        project=_s(item, "project"),
        promotion_id=_s(item, "promotion_id"),
        run_name=_s(item, "run_name"),
        previous_run_name=_optional_s(item, "previous_run_name"),
        cause=_s(item, "cause"),
        strategy=cast("StrategyType", _s(item, "strategy")),
        outcome=cast("PromotionOutcome", _s(item, "outcome")),
        model_name=_s(item, "model_name"),
        endpoint_config_name=_s(item, "endpoint_config_name"),
        previous_endpoint_config_name=_optional_s(item, "previous_endpoint_config_name"),
        created_at=_time(item, "created_at"),
        updated_at=_time(item, "updated_at"),
        message=_optional_s(item, "message"),
    )
