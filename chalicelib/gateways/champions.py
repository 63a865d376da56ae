"""Each project's champion and its append-only promotion ledger in the service's table."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, cast

from chalicelib.gateways.table import (
    MAX_SORT_KEY_BYTES,
    PROMOTION_PREFIX,
    Item,
    Table,
    champion_key,
    iso,
    project_pk,
    promotion_key,
)
from chalicelib.records import (
    SETTLED_OUTCOMES,
    Champion,
    LedgerStrategy,
    Promotion,
    PromotionOutcome,
    RunVariant,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef, DeleteTypeDef, PutTypeDef


class ChampionTable:
    """The ChampionStore port: the champion (compare-and-swap on `version`) and the ledger."""

    def __init__(
        self,
        client: DynamoDBClient,
        table_name: str,
        retry_after_seconds: int = 2,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._table = Table(client, table_name, retry_after_seconds)
        self._clock = clock

    def get_champion(self, project: str) -> Champion | None:
        item = self._table.get(champion_key(project), consistent=True)
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
            "TableName": self._table.name,
            "Item": {**champion_key(champion.project), **_attributes(champion)},
            "ConditionExpression": "attribute_not_exists(#pk)",
            "ExpressionAttributeNames": {"#pk": "pk"},
        }
        if expected_version != 0:
            champion_put["ConditionExpression"] = "#version = :expected"
            champion_put["ExpressionAttributeNames"] = {"#version": "version"}
            champion_put["ExpressionAttributeValues"] = {":expected": {"N": str(expected_version)}}
        # Either put losing to another writer means nothing was written: re-read and re-decide.
        return not self._table.transact([{"Put": champion_put}, {"Put": self._entry(promotion)}])

    def retire(self, champion: Champion, promotion: Promotion) -> bool:
        """Deletes the champion at its version and records `promotion` (a teardown) in one
        transaction; False when either condition fails, and nothing is written then."""
        champion_delete: DeleteTypeDef = {
            "TableName": self._table.name,
            "Key": champion_key(champion.project),
            "ConditionExpression": "#version = :expected",
            "ExpressionAttributeNames": {"#version": "version"},
            "ExpressionAttributeValues": {":expected": {"N": str(champion.version)}},
        }
        return not self._table.transact(
            [{"Delete": champion_delete}, {"Put": self._entry(promotion)}]
        )

    def _entry(self, promotion: Promotion) -> PutTypeDef:
        """A new ledger entry, on condition that its id is not taken."""
        first = _history_entry(promotion.outcome, promotion.updated_at, promotion.message)
        return {
            "TableName": self._table.name,
            "Item": {
                **promotion_key(promotion.project, promotion.promotion_id),
                **_attributes(promotion),
                "history": {"L": [first]},
            },
            "ConditionExpression": "attribute_not_exists(#pk)",
            "ExpressionAttributeNames": {"#pk": "pk"},
        }

    def get_promotion(self, project: str, promotion_id: str) -> Promotion | None:
        key = promotion_key(project, promotion_id)
        if len(key["sk"]["S"].encode()) > MAX_SORT_KEY_BYTES:
            return None  # no entry has such an id, and DynamoDB would refuse the key
        item = self._table.get(key, consistent=True)
        return None if item is None else _promotion_from_item(item)

    def set_outcome(
        self,
        project: str,
        promotion_id: str,
        outcome: PromotionOutcome,
        message: str | None,
        expected: PromotionOutcome | None = None,
    ) -> bool:
        """Moves a non-terminal entry (or, `expected` given, an entry in that outcome, settled or
        not) to `outcome`, appending to its history; False otherwise."""
        now = self._clock()
        values: Item = {
            ":outcome": {"S": outcome},
            ":now": {"S": iso(now)},
            ":entry": {"L": [_history_entry(outcome, now, message)]},
        }
        terminal: Item = {f":{o}": {"S": o} for o in SETTLED_OUTCOMES}
        allowed = f"NOT (#outcome IN ({', '.join(terminal)}))"
        if expected is not None:
            terminal, allowed = {":expected": {"S": expected}}, "#outcome = :expected"
        update = (
            "SET #outcome = :outcome, #updated_at = :now, #history = list_append(#history, :entry)"
        )
        if message is None:
            update += " REMOVE #message"
        else:
            update += ", #message = :message"
            values[":message"] = {"S": message}
        return self._table.update(
            Key=promotion_key(project, promotion_id),
            UpdateExpression=update,
            ConditionExpression=f"attribute_exists(#pk) AND {allowed}",
            ExpressionAttributeNames={
                "#pk": "pk",
                "#outcome": "outcome",
                "#updated_at": "updated_at",
                "#history": "history",
                "#message": "message",
            },
            ExpressionAttributeValues={**values, **terminal},
        )

    def set_model_package(self, project: str, promotion_id: str, arn: str) -> bool:
        """Stores the entry's model package ARN, once; False when it has one or is missing."""
        return self._table.update(
            Key=promotion_key(project, promotion_id),
            UpdateExpression="SET #arn = :arn",
            ConditionExpression="attribute_exists(#pk) AND attribute_not_exists(#arn)",
            ExpressionAttributeNames={"#pk": "pk", "#arn": "model_package_arn"},
            ExpressionAttributeValues={":arn": {"S": arn}},
        )

    def promotions(self, project: str, limit: int = 100) -> list[Promotion]:
        """The project's ledger, newest first, at most `limit` entries."""
        found: list[Promotion] = []
        if limit < 1:
            return found
        items = self._table.query(
            KeyConditionExpression="#pk = :pk AND begins_with(#sk, :prefix)",
            ExpressionAttributeNames={"#pk": "pk", "#sk": "sk"},
            ExpressionAttributeValues={
                ":pk": {"S": project_pk(project)},
                ":prefix": {"S": PROMOTION_PREFIX},
            },
            ScanIndexForward=False,
            Limit=limit,
        )
        for item in items:
            found.append(_promotion_from_item(item))
            if len(found) == limit:
                break
        return found


def _attributes(value: Champion | Promotion) -> Item:
    """Every field of a flat domain value as an attribute; None fields are omitted."""
    item: Item = {}
    for field in dataclasses.fields(value):
        attribute = getattr(value, field.name)
        if attribute is None or attribute == ():
            continue
        if isinstance(attribute, tuple):
            item[field.name] = {"L": [{"M": _variant_item(variant)} for variant in attribute]}
            continue
        if isinstance(attribute, datetime):
            item[field.name] = {"S": iso(attribute)}
        elif isinstance(attribute, int | float):
            if not math.isfinite(attribute):
                raise ValueError(f"{attribute!r} cannot be stored as a DynamoDB number")
            item[field.name] = {"N": repr(attribute)}
        else:
            item[field.name] = {"S": attribute}
    return item


def _history_entry(
    outcome: PromotionOutcome, at: datetime, message: str | None
) -> AttributeValueTypeDef:
    entry: Item = {"outcome": {"S": outcome}, "at": {"S": iso(at)}}
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
        variants=_variants(item),
    )


def _promotion_from_item(item: Item) -> Promotion:
    return Promotion(
        project=_s(item, "project"),
        promotion_id=_s(item, "promotion_id"),
        run_name=_s(item, "run_name"),
        previous_run_name=_optional_s(item, "previous_run_name"),
        cause=_s(item, "cause"),
        strategy=cast("LedgerStrategy", _s(item, "strategy")),
        outcome=cast("PromotionOutcome", _s(item, "outcome")),
        model_name=_s(item, "model_name"),
        endpoint_config_name=_s(item, "endpoint_config_name"),
        previous_endpoint_config_name=_optional_s(item, "previous_endpoint_config_name"),
        created_at=_time(item, "created_at"),
        updated_at=_time(item, "updated_at"),
        message=_optional_s(item, "message"),
        untrusted=_optional_s(item, "untrusted"),
        model_package_arn=_optional_s(item, "model_package_arn"),
        variants=_variants(item),
    )


def _variant_item(variant: RunVariant) -> Item:
    """One variant of an operator's split, as a map in the entry's `variants` list."""
    if not math.isfinite(variant.weight):
        raise ValueError(f"{variant.weight!r} cannot be stored as a DynamoDB number")
    return {
        "name": {"S": variant.name},
        "model_name": {"S": variant.model_name},
        "weight": {"N": repr(variant.weight)},
        "run_name": {"S": variant.run_name},
    }


def _variants(item: Item) -> tuple[RunVariant, ...]:
    return tuple(
        RunVariant(
            name=entry["M"]["name"]["S"],
            model_name=entry["M"]["model_name"]["S"],
            weight=float(entry["M"]["weight"]["N"]),
            run_name=entry["M"]["run_name"]["S"],
        )
        for entry in item.get("variants", {}).get("L", [])
    )
