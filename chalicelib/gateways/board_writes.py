"""A run's entries in its projects' leaderboard indexes: the transaction actions that write them."""

from __future__ import annotations

import itertools
import math
import struct
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from chalicelib.boards import indexed_metrics
from chalicelib.gateways.table import (
    MAX_TRANSACT,
    Item,
    Table,
    board_key,
    leaderboard_pk,
    membership_key,
)
from chalicelib.models import Project
from chalicelib.objectives import metric_value, objective_metric
from chalicelib.records import Run

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef, TransactWriteItemTypeDef

# A guarded group's condition on a run's leaderboard document failed: the run was recorded again.
_CHANGED = frozenset({"ConditionalCheckFailed"})


def sortable_number(value: float) -> str:
    """A float as 16 hex digits whose string order is the numbers' order (IEEE 754 bits, with
    the sign bit flipped for positives and every bit flipped for negatives)."""
    (bits,) = struct.unpack(">Q", struct.pack(">d", value))
    bits = bits ^ 0xFFFFFFFFFFFFFFFF if bits >> 63 else bits | 1 << 63
    return f"{bits:016x}"


def membership(run: Run, project: Project, document: AttributeValueTypeDef) -> Item:
    """The run's entry in the project's leaderboard, in the objective's index when it has it."""
    item: Item = {**membership_key(project.name, run.name), "run": document}
    value = objective_metric(run, project.objective)
    if value is not None and math.isfinite(value):
        item["gsi1pk"] = {"S": leaderboard_pk(project.name)}
        item["gsi1sk"] = {"S": f"{sortable_number(value)}#{run.name}"}
    return item


class BoardWrites:
    """Builds and writes the actions; `document` is always the run's JSON as its membership
    holds it, so that a guarded action can ask that the membership still holds it."""

    def __init__(self, table: Table) -> None:
        self._table = table

    def write(
        self,
        core: list[TransactWriteItemTypeDef],
        run: Run,
        document: AttributeValueTypeDef,
        projects: Sequence[Project],
        expected: frozenset[str],
    ) -> bool:
        """`core` and the run's entries in its projects' named-metric indexes in one transaction,
        False when it was cancelled for an `expected` reason; a project's entries that do not fit
        in its 100 actions follow it, guarded as a re-index's are."""
        room = MAX_TRANSACT - len(core)
        inline: list[TransactWriteItemTypeDef] = []
        overflow = []
        for project in projects:
            actions = self.entries(run, project, document, indexed_metrics(project))
            if len(actions) <= room:
                inline += actions
                room -= len(actions)
            else:
                overflow.append([self.unchanged(run, project, document), *actions])
        if self._table.transact(core + inline, expected=expected):
            return False
        self.guarded(overflow)
        return True

    def guarded(self, groups: list[list[TransactWriteItemTypeDef]]) -> None:
        """Writes groups of actions, each led by its condition on a run's membership, up to 100
        actions a transaction; a group whose condition fails is dropped, the others written."""
        pending = list(groups)
        while pending:
            batch: list[list[TransactWriteItemTypeDef]] = []
            while pending and sum(map(len, batch)) + len(pending[0]) <= MAX_TRANSACT:
                batch.append(pending.pop(0))
            while batch:
                reasons = self._table.transact(
                    [action for group in batch for action in group], expected=_CHANGED
                )
                if not reasons:
                    break
                ends = itertools.accumulate(map(len, batch))
                batch = [
                    group
                    for group, end in zip(batch, ends, strict=True)
                    if not any(reasons[end - len(group) : end])
                ]

    def entries(
        self, run: Run, project: Project, document: AttributeValueTypeDef, metrics: Sequence[str]
    ) -> list[TransactWriteItemTypeDef]:
        """The run's entry in each named metric's index, by its final value; none (deleted, in
        case an older record of the run had one) when it lacks a finite value."""
        actions: list[TransactWriteItemTypeDef] = []
        for metric in metrics:
            key = board_key(project.name, run.name, metric)
            value = metric_value(run, metric)
            if value is None or not math.isfinite(value):
                actions.append({"Delete": {"TableName": self._table.name, "Key": key}})
                continue
            entry: Item = {
                **key,
                "run": document,
                "gsi1pk": {"S": leaderboard_pk(project.name, metric)},
                "gsi1sk": {"S": f"{sortable_number(value)}#{run.name}"},
            }
            actions.append(self.put(entry))
        return actions

    def ranked(
        self, run: Run, project: Project, document: AttributeValueTypeDef
    ) -> TransactWriteItemTypeDef:
        """The run's membership placed in (or out of) the objective's index as it now stands,
        if the membership still holds `document`."""
        placed = membership(run, project, document)
        update: Any = dict(self.unchanged(run, project, document)["ConditionCheck"])
        update["ExpressionAttributeNames"] |= {"#gsi1pk": "gsi1pk", "#gsi1sk": "gsi1sk"}
        if "gsi1pk" in placed:
            update["UpdateExpression"] = "SET #gsi1pk = :board, #gsi1sk = :rank"
            update["ExpressionAttributeValues"] |= {
                ":board": placed["gsi1pk"],
                ":rank": placed["gsi1sk"],
            }
        else:
            update["UpdateExpression"] = "REMOVE #gsi1pk, #gsi1sk"
        return {"Update": update}

    def unchanged(
        self, run: Run, project: Project, document: AttributeValueTypeDef
    ) -> TransactWriteItemTypeDef:
        """A condition: the run's membership in the project still holds `document`."""
        return {
            "ConditionCheck": {
                "TableName": self._table.name,
                "Key": membership_key(project.name, run.name),
                "ConditionExpression": "#run = :run",
                "ExpressionAttributeNames": {"#run": "run"},
                "ExpressionAttributeValues": {":run": document},
            }
        }

    def put(self, item: Item) -> TransactWriteItemTypeDef:
        return {"Put": {"TableName": self._table.name, "Item": item}}
