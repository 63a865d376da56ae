"""Concurrent deliveries that really race: threads over the real table gateways on moto, every
thread's compare-and-swap held until all have read the champion, then let through in an order
that makes the best run lose first. The race must be seen (lost swaps), and survived."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto import mock_aws

from chalicelib.definitions import parse_project
from chalicelib.errors import SagewireError
from chalicelib.gateways.champions import ChampionTable
from chalicelib.gateways.projects import ProjectTable
from chalicelib.gateways.runs import RunTable
from chalicelib.gateways.table import TABLE_SCHEMA
from chalicelib.records import Champion, Promotion, Run, TrainingJobChange
from chalicelib.services import selection
from tests.factories import automation, project_document
from tests.fakes import EPOCH, FakeSageMaker
from tests.faults.conftest import TAGS

ROLE = "arn:aws:iam::123456789012:role/SageMakerExecution"
METRIC = "train:objective_loss:final"
# The best run goes last: its first compare-and-swap always loses.
LOSSES = {"run-a": 0.4, "run-b": 0.3, "run-c": 0.5, "run-d": 0.1}
WAIT_SECONDS = 30


class FirstRound:
    """Holds each thread's first champion write until every thread has read the champion, then
    lets the writes through one at a time in `order` (DynamoDB isolates transactions; moto
    does not, so every transaction also takes a lock)."""

    def __init__(self, order: list[str]) -> None:
        self._order = order
        self._turn = 0
        self._arrived = 0
        self._condition = threading.Condition()
        self._transaction = threading.Lock()
        self.run = threading.local()

    def wrap(self, transact: Callable[..., Any]) -> Callable[..., Any]:
        def ordered(**kwargs: Any) -> Any:
            first = _writes_champion(kwargs) and not getattr(self.run, "wrote", False)
            if first:
                self.run.wrote = True
                self._wait_for_turn(self.run.name)
            try:
                with self._transaction:
                    return transact(**kwargs)
            finally:
                if first:
                    with self._condition:
                        self._turn += 1
                        self._condition.notify_all()

        return ordered

    def _wait_for_turn(self, name: str) -> None:
        with self._condition:
            self._arrived += 1
            self._condition.notify_all()
            ready = self._condition.wait_for(
                lambda: self._arrived == len(self._order) and self._order[self._turn] == name,
                timeout=WAIT_SECONDS,
            )
            assert ready, f"{name} never got its turn"


def _writes_champion(kwargs: dict[str, Any]) -> bool:
    return any(
        item.get("Put", {}).get("Item", {}).get("sk") == {"S": "CHAMPION"}
        for item in kwargs["TransactItems"]
    )


class CountingChampions(ChampionTable):
    """The real champion table, counting the compare-and-swaps that lost."""

    lost = 0

    def replace(self, champion: Champion, expected_version: int, promotion: Promotion) -> bool:
        won = super().replace(champion, expected_version, promotion)
        if not won:
            type(self).lost += 1
        return won


@dataclass(frozen=True)
class Outcome:
    lost_swaps: int
    champion: str | None
    serving_champion: bool
    failed_events: int


def _run(name: str) -> Run:
    return Run(
        name=name,
        arn=f"arn:{name}",
        status="Completed",
        last_modified_at=EPOCH,
        metrics={METRIC: LOSSES[name]},
        model_artifact=f"s3://bucket/{name}/output/model.tar.gz",
        training_image="382416733822.dkr.ecr.us-east-1.amazonaws.com/linear-learner:1",
        role_arn=ROLE,
        tags=TAGS,
    )


def race(order: list[str], table: str) -> Outcome:
    """Delivers one event per run, each on its own thread, the first writes in `order`."""
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    dynamodb.create_table(TableName=table, **TABLE_SCHEMA)
    schedule = FirstRound(order)
    dynamodb.transact_write_items = schedule.wrap(dynamodb.transact_write_items)  # type: ignore[method-assign]
    projects = ProjectTable(dynamodb, table)
    document = project_document("race")
    document["match"] = {"tags": TAGS}
    projects.put(parse_project(document))
    sagemaker = FakeSageMaker(jobs={name: _run(name) for name in order})
    champions = CountingChampions(dynamodb, table)
    CountingChampions.lost = 0
    built = automation(projects, RunTable(dynamodb, table), champions, sagemaker)
    failures: list[BaseException] = []

    def deliver(name: str) -> None:
        schedule.run.name = name
        change = TrainingJobChange(name, f"arn:{name}", "Completed", EPOCH, TAGS)
        try:
            built.selection.on_training_job(change, cause=f"event:{name}")
        except SagewireError as error:  # an event Lambda would retry; here it is lost
            failures.append(error)

    threads = [threading.Thread(target=deliver, args=(name,)) for name in sorted(order)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(WAIT_SECONDS)
    for _ in range(2):
        while (change := sagemaker.settle("race")) is not None:
            built.rollout.on_endpoint(change)
        built.rollout.reconcile()
    champion = champions.get_champion("race")
    serving = sagemaker.endpoints["race"].config
    return Outcome(
        lost_swaps=CountingChampions.lost,
        champion=None if champion is None else champion.run_name,
        serving_champion=champion is not None and serving == champion.endpoint_config_name,
        failed_events=len(failures),
    )


ORDERS = [
    ["run-a", "run-b", "run-c", "run-d"],
    ["run-c", "run-a", "run-b", "run-d"],
    ["run-b", "run-c", "run-a", "run-d"],
]


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


@pytest.mark.usefixtures("aws")
@pytest.mark.parametrize("order", ORDERS, ids=["-".join(o) for o in ORDERS])
def test_racing_deliveries_lose_swaps_and_the_best_run_still_wins(order: list[str]) -> None:
    outcome = race(order, "race-table")

    # Three of four first writes lost, and at least one more when a worse winner was beaten.
    assert outcome.lost_swaps >= len(order) - 1
    assert outcome.failed_events == 0
    assert outcome.champion == "run-d"
    assert outcome.serving_champion


@pytest.mark.usefixtures("aws")
def test_the_race_catches_a_service_that_gives_up_on_a_lost_swap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The mutant: one compare-and-swap per event, a lost one not decided again."""
    monkeypatch.setattr(selection, "MAX_SWAPS", 1)

    outcome = race(ORDERS[0], "mutant-table")

    assert outcome.lost_swaps >= 3
    assert outcome.champion != "run-d"
