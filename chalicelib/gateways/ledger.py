"""Runs, champions and the promotion ledger in the service's single DynamoDB table."""

from __future__ import annotations

import dataclasses
import math
import struct
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

import orjson
from botocore.exceptions import ClientError

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
        item = self._client.get_item(
            TableName=self._table, Key=_run_key(name), ConsistentRead=True
        ).get("Item")
        return None if item is None else _run_from_document(orjson.loads(item["run"]["S"]))


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
