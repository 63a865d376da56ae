"""Top ten by a named non-objective metric: its index against the full read, and at 100,000 runs."""

from __future__ import annotations

import os
import random
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from moto import mock_aws

from bench import Check, Outcome, Row, Timing
from bench.report_scale import CallCounter, _partitioned_queries
from bench.sagemaker_wire import ACCOUNT, REGION
from bench.seeding import BatchedWrites
from chalicelib import wiring
from chalicelib.boards import BoardIndex, boards
from chalicelib.config import Settings
from chalicelib.definitions import parse_project, project_to_document
from chalicelib.gateways.boards import BoardTable
from chalicelib.gateways.runs import RunTable
from chalicelib.gateways.table import TABLE_SCHEMA
from chalicelib.models import Project
from chalicelib.records import Run
from chalicelib.services.boards import BoardService
from chalicelib.services.leaderboard import LeaderboardPage, LeaderboardService

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

NAME = "leaderboard_metrics"
RUNS = int(os.environ.get("SAGEWIRE_BENCH_LEADERBOARD_RUNS", "100000"))
# The full read side by side: moto re-sorts a partition for every Query page, so reading 100,000
# runs a page at a time would take it half an hour; at this size it takes seconds.
PEER_RUNS = min(RUNS, 10_000)
TOP = 10
MAX_ITEMS = 20
TABLE = "sagewire-bench-boards"
PROJECT = "digits-zero"
LOSS = "train:objective_loss:final"
ACCURACY = "validation:binary_classification_accuracy"
START = datetime(2026, 11, 20, 12, tzinfo=UTC)


@dataclass(frozen=True)
class Read:
    """One top-ten request: its page, its DynamoDB calls, the items it read, its wall time."""

    page: LeaderboardPage
    calls: int
    items: int
    seconds: float


class _NoIndexState:
    """The peer's view: no re-index ever ran, so only the objective's index is complete and a
    sort by any other metric reads every run (the path every such sort took before)."""

    def get(self, project: str) -> BoardIndex | None:
        return None

    def save(self, index: BoardIndex, after: BoardIndex | None = None) -> bool:
        return True


def _definition() -> Project:
    return parse_project(
        {
            "name": PROJECT,
            "match": {"tags": {"Project": PROJECT}},
            "objective": {"metric": LOSS, "goal": "minimize"},
            "leaderboard": {"metrics": [ACCURACY]},
            "endpoint": {
                "name": PROJECT,
                "execution_role_arn": f"arn:aws:iam::{ACCOUNT}:role/SageMakerExecution",
            },
            "inference": {
                "input": {"shape": [28, 28], "scale": 255.0},
                "request": {"content_type": "text/csv"},
                "response": {"accept": "application/json", "postprocess": "linear_learner"},
            },
        },
        PROJECT,
    )


def _runs(count: int) -> list[Run]:
    """Linear-learner runs; every 50th failed early, without metrics."""
    rng = random.Random(count)
    runs = []
    for index in range(count):
        failed = index % 50 == 49
        metrics = {
            LOSS: round(rng.uniform(0.02, 0.2), 6),
            ACCURACY: round(rng.uniform(0.9, 0.995), 6),
        }
        runs.append(
            Run(
                name=f"ll-{index:06d}",
                arn=f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:training-job/ll-{index:06d}",
                status="Failed" if failed else "Completed",
                last_modified_at=START + timedelta(seconds=index),
                metrics={} if failed else metrics,
                hyperparameters={"mini_batch_size": str(10 * rng.randint(1, 20))},
                tags={"Project": PROJECT},
            )
        )
    return runs


class _Seeding(BatchedWrites):
    """Flushes every 20,000 items, so that seeding holds a bounded list."""

    def __init__(self, client: DynamoDBClient, table: str) -> None:
        super().__init__(client, table)
        self.written = 0
        self._pending = 0

    def transact_write_items(self, **params: Any) -> None:
        super().transact_write_items(**params)
        self._pending += len(params["TransactItems"])
        if self._pending >= 20_000:
            self.written += self.flush()
            self._pending = 0


def _read(counter: CallCounter, service: LeaderboardService) -> Read:
    start = time.perf_counter()
    page, calls = counter.measure(
        lambda: service.page(PROJECT, sort=f"Metrics.{ACCURACY}", order="desc", limit=TOP)
    )
    seconds = time.perf_counter() - start
    return Read(page, sum(calls.values()), counter.scanned, seconds)


@dataclass(frozen=True)
class Size:
    """One seeded table: sagewire's top ten read, and the full read's when measured."""

    runs: int
    seeded_items: int
    seeded_seconds: float
    ours: Read
    full: Read | None
    complete: bool


def _measure(count: int, with_peer: bool) -> Size:
    settings = replace(Settings.from_environ(), region=REGION, table_name=TABLE)
    container = wiring.Container(settings)
    client = container.dynamodb_client
    client.create_table(TableName=TABLE, **TABLE_SCHEMA)
    project = _definition()
    # The definition's write starts its re-index, which finds no run yet and completes.
    container.projects.put(project.name, project_to_document(project))
    service = container.leaderboard
    state = BoardTable(client, TABLE).get(PROJECT)
    if state is None or state.job_id is None:
        raise RuntimeError("the definition's write started no re-index")
    service.boards.advance(PROJECT, state.job_id, lambda: 10**6)
    complete = service.boards.ready(project) == boards(project)
    seeding = time.perf_counter()
    batch = _Seeding(client, TABLE)
    table = RunTable(cast("DynamoDBClient", batch), TABLE)
    for run in _runs(count):
        table.put_run(run, [project])
    written = batch.written + batch.flush()
    seeded = time.perf_counter() - seeding
    print(f"{NAME}: {count} runs seeded as {written} items in {seeded:.0f} s", flush=True)
    counter = CallCounter()
    counter.attach(client)
    peer = LeaderboardService(
        container.project_store,
        container.run_store,
        container.trust,
        BoardService(container.project_store, container.run_store, _NoIndexState(), _NoBus()),
    )
    ours = _read(counter, service)
    full = _read(counter, peer) if with_peer else None
    return Size(count, written, seeded, ours, full, complete)


class _NoBus:
    def publish(self, detail_type: str, detail: dict[str, Any]) -> str:
        return "unused"


def run() -> list[Outcome]:
    started = time.perf_counter()
    sizes = []
    for count, with_peer in ((PEER_RUNS, True), (RUNS, False))[: 1 if RUNS == PEER_RUNS else 2]:
        with mock_aws(), _partitioned_queries():
            sizes.append(_measure(count, with_peer))
    side_by_side, largest = sizes[0], sizes[-1]
    full = side_by_side.full
    assert full is not None
    print(f"{NAME}: top-{TOP} by {ACCURACY} (a named metric, not the objective)")
    reads = [(side_by_side.runs, "sagewire (its index)", side_by_side.ours)]
    reads.append((side_by_side.runs, "full read (today's path)", full))
    if largest is not side_by_side:
        reads.append((largest.runs, "sagewire (its index)", largest.ours))
    for runs, label, read in reads:
        print(
            f"  {runs:>7} runs, {label:<26} {read.calls:>3} DynamoDB calls, "
            f"{read.items:>7} items read, {read.seconds * 1e3:9.1f} ms (moto in-process)"
        )
    ratio = full.items / max(side_by_side.ours.items, 1)
    print(f"  items read at {side_by_side.runs} runs: the full read {ratio:,.0f}x sagewire's")
    if largest is not side_by_side:
        # It reads every run, plus what does not grow with runs (the definition).
        extrapolated = largest.runs + full.items - side_by_side.runs
        print(
            f"  EXTRAPOLATED, not measured: at {largest.runs} runs the full read would read "
            f"{extrapolated:,} items (every run, and the definition); sagewire read "
            f"{largest.ours.items} (measured)"
        )
    goal = (
        f"top-{TOP} by a named metric at {largest.runs} runs: ≤ {MAX_ITEMS} items read "
        f"(read {largest.ours.items})"
    )
    met = largest.ours.items <= MAX_ITEMS
    print(f"  goal {goal}: {'met' if met else 'MISSED'}")
    print(f"  ({time.perf_counter() - started:.0f} s in all)")
    ours_names = [e.run.name for e in side_by_side.ours.page.entries]
    return [
        Check(
            NAME,
            "the index was complete before the runs were recorded",
            all(s.complete for s in sizes),
        ),
        Check(
            NAME,
            "the index's top ten is the full read's",
            ours_names == [e.run.name for e in full.page.entries] and len(ours_names) == TOP,
        ),
        Check(NAME, f"top ten at {largest.runs} runs", len(largest.ours.page.entries) == TOP),
        Check(NAME, f"goal: {goal}", met),
        Row(
            NAME,
            f"top-{TOP} by a named metric, {side_by_side.runs} runs (moto)",
            Timing.of([int(side_by_side.ours.seconds * 1e9)]),
            Timing.of([int(full.seconds * 1e9)]),
        ),
    ]
