"""Run import cost: the AWS calls and wall time to record a project's existing runs, sagewire's
Search-paged import against a back-fill that lists every training job and replays the event path."""

from __future__ import annotations

import copy
import itertools
import json
import logging
import math
import random
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from moto import mock_aws
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table

from bench import Check, Outcome, Row, Timing, format_ns
from bench.calls import (
    CHAMPION_LOSS,
    MOTO_CONFIG,
    PROJECT,
    TAG_KEY,
    TAG_VALUE,
    CallCounter,
    Job,
    Tally,
    _definition,
    _job,
    bench_container,
)
from bench.report_scale import _partitioned_queries
from chalicelib.definitions import parse_project
from chalicelib.gateways.sagemaker import SageMakerGateway
from chalicelib.gateways.table import RUN_PREFIX
from chalicelib.imports import RunImport
from chalicelib.models import Project
from chalicelib.services.imports import RESERVE_MILLISECONDS
from chalicelib.services.selection import FINISHED_RUN, matches

if TYPE_CHECKING:
    from chalicelib.wiring import Container

NAME = "import_cost"
LOGGER = logging.getLogger("sagewire")
# Timed rounds per size: on moto an import of 10,000 runs takes tens of seconds, so two rounds.
ROUNDS = {1_000: 3, 10_000: 2}
SEARCH_PAGE = 100
# An invocation's budget: a 15-minute Lambda that takes this many pages before it hands over.
PAGES_PER_INVOCATION = 20
LAMBDA_MILLISECONDS = 900_000
SAGEMAKER_READS = ("DescribeTrainingJob", "DescribeTrialComponent")
# Per page, the import's save; per invocation and at its start and end, a few reads and writes.
MAX_OTHER_DYNAMODB_PER_PAGE = 2
MAX_OTHER_DYNAMODB_FIXED = 20


def _jobs(count: int) -> dict[str, Job]:
    """`count` finished runs tagged for the project, a minute apart; the best is two thirds in,
    so that a run-by-run champion check sees a few champions come and go before it."""
    rng = random.Random(count)
    best = count * 2 // 3
    jobs = {}
    for index in range(count):
        name = f"linear-{index:05d}"
        loss = CHAMPION_LOSS if index == best else rng.uniform(0.025, 0.2)
        jobs[name] = _job(name, loss, rng.uniform(0.95, 0.99), index)
        jobs[name]["Tags"] = {TAG_KEY: TAG_VALUE}
    return jobs


@contextmanager
def _item_rollback() -> Iterator[None]:
    """moto 5.2.5 deep-copies the whole table for each action of a TransactWriteItems, to roll a
    cancelled one back: O(table) per write, hours for 10,000 runs. While this is in force, the
    items the transaction names are saved and put back instead: the same outcome, O(actions)."""
    backend: Any = DynamoDBBackend
    table: Any = Table
    original = backend.transact_write_items

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        try:
            saved = [_saved(self, action) for action in transact_items]
        except Exception:  # a malformed request: moto's own path reports it
            return cast("None", original(self, transact_items))
        table.__deepcopy__ = lambda whole, memo: whole  # moto's backup is the table itself
        try:
            original(self, transact_items)
        except Exception:
            for kept, hash_value, range_value, item in saved:
                if item is None:
                    kept.delete_item(hash_value, range_value)
                elif range_value is None:
                    kept.items[hash_value] = item
                else:
                    kept.items[hash_value][range_value] = item
            raise
        finally:
            del table.__deepcopy__

    backend.transact_write_items = transact_write_items
    try:
        yield
    finally:
        backend.transact_write_items = original


def _saved(backend: Any, action: dict[str, Any]) -> tuple[Any, DynamoType, DynamoType | None, Any]:
    """The table of a transaction's action, the key it names, and a copy of its item (None)."""
    _, operation = next(iter(action.items()))
    table = backend.get_table(operation["TableName"])
    attributes = operation.get("Key") or operation["Item"]
    hash_value = DynamoType(attributes[table.hash_key_attr])
    range_value = DynamoType(attributes[table.range_key_attr]) if table.range_key_attr else None
    return table, hash_value, range_value, copy.deepcopy(table.get_item(hash_value, range_value))


class RunWrites:
    """Counts the DynamoDB writes that carry a run's own item (PutItem or TransactWriteItems)."""

    def __init__(self) -> None:
        self.count = 0

    def attach(self, client: Any) -> None:
        for operation in ("PutItem", "TransactWriteItems"):
            client.meta.events.register(f"before-call.dynamodb.{operation}", self._count)

    def _count(self, params: dict[str, Any], **_: Any) -> None:
        body = json.loads(params.get("body") or b"{}")
        actions = body.get("TransactItems") or [{"Put": body}]
        keys = [action.get("Put", {}).get("Item", {}).get("pk", {}) for action in actions]
        if any(key.get("S", "").startswith(RUN_PREFIX) for key in keys):
            self.count += 1


@dataclass(frozen=True)
class Side:
    """One side's import of the runs: its calls, its time, and what it left in the table."""

    tally: Tally
    nanoseconds: int
    run_writes: int
    invocations: int
    board: set[str]
    champion: str | None
    done: RunImport | None = None


def _invocation(pages: int) -> Callable[[], int]:
    """A Lambda invocation's remaining milliseconds, as `advance` asks after each page: each
    page uses what leaves the reserve once `pages` pages are done."""
    per_page = (LAMBDA_MILLISECONDS - RESERVE_MILLISECONDS) // pages
    taken = itertools.count(1)
    return lambda: LAMBDA_MILLISECONDS - per_page * next(taken)


Importer = Callable[["Container", Project], tuple[RunImport | None, int]]


def _measured(jobs: dict[str, Job], project: Project, importer: Importer) -> Side:
    """`importer` over a fresh moto table and FakeSageMaker: its calls, its wall time, and the
    project's leaderboard and champion it left."""
    with ExitStack() as stack:
        stack.enter_context(mock_aws(config=MOTO_CONFIG))
        stack.enter_context(_item_rollback())
        stack.enter_context(_partitioned_queries())
        # Each champion change logs a line at INFO; the peer makes a few dozen of them.
        stack.callback(LOGGER.setLevel, LOGGER.level)
        LOGGER.setLevel(logging.WARNING)
        container, _ = bench_container(jobs)
        container.project_store.put(project)
        container.imports  # noqa: B018  (built, its modules imported, before the clock starts)
        counter = CallCounter()
        for client in (
            container.dynamodb_client,
            container.sagemaker_client,
            container.events_client,
        ):
            counter.attach(client)
        writes = RunWrites()
        writes.attach(container.dynamodb_client)
        outcome: list[tuple[RunImport | None, int]] = []
        started = time.perf_counter_ns()
        tally = counter.measure(lambda: outcome.append(importer(container, project)))
        elapsed = time.perf_counter_ns() - started
        champion = container.champion_store.get_champion(PROJECT)
        done, invocations = outcome[0]
        return Side(
            tally,
            elapsed,
            writes.count,
            invocations,
            {run.name for run in container.run_store.project_runs(PROJECT)},
            None if champion is None else champion.run_name,
            done,
        )


def _sagewire(container: Container, project: Project) -> tuple[RunImport | None, int]:
    """The import as EventBridge and Lambda drive it: started, then advanced an invocation at
    a time until it ends; the import and the invocations it took."""
    service = container.imports
    current: RunImport | None = container.import_requests.start(project, "bench")
    invocations = 0
    while current is not None and current.status == "running":
        invocations += 1
        current = service.advance(PROJECT, current.import_id, _invocation(PAGES_PER_INVOCATION))
    return current, invocations


def _peer(container: Container, _: Project) -> tuple[RunImport | None, int]:
    """A back-fill without Search: ListTrainingJobs (100 a page); per job its tags (ListTags:
    a summary has none) and DescribeTrainingJob; then, per matching run, what the completion
    event does: the run recorded for its projects and its champion check (promote false: a
    win is recorded, not deployed). The projects are read once, not per job as events do."""
    client = container.sagemaker_client
    gateway = container.control_plane
    assert isinstance(gateway, SageMakerGateway)
    runs, champions = container.run_store, container.champions
    projects = container.project_store.all()
    listing = client.get_paginator("list_training_jobs")
    tagging = client.get_paginator("list_tags")
    for page in listing.paginate(PaginationConfig={"PageSize": SEARCH_PAGE}):
        for summary in page["TrainingJobSummaries"]:
            tags = {
                tag["Key"]: tag["Value"]
                for tags in tagging.paginate(ResourceArn=summary["TrainingJobArn"])
                for tag in tags.get("Tags", [])
            }
            run = gateway.describe_training_job(summary["TrainingJobName"], tags)
            matching = [project for project in projects if matches(project, run)]
            if run.status not in FINISHED_RUN or not matching:
                continue
            runs.put_run(run, matching)
            for project in matching:
                champions.challenge_imported(
                    project, run, "bench:backfill", deploy=project.imports.promote
                )
    return None, 1


def _calls_of(tally: Tally, service: str | None = None, operation: str | None = None) -> int:
    return sum(
        count
        for (_, called, name, _), count in tally.items()
        if service in (None, called) and operation in (None, name)
    )


def _operations(tally: Tally) -> Counter[str]:
    merged: Counter[str] = Counter()
    for (_, service, operation, error), count in tally.items():
        merged[f"{service}.{operation}" + (f" (rejected: {error})" if error else "")] += count
    return merged


def _seconds(timing: Timing) -> str:
    return f"{timing.p50_ns / 1e9:.2f} s"


def _objectives(jobs: dict[str, Job]) -> dict[str, float]:
    """Each run's objective (the loss), by name."""
    metric = _definition()["objective"]["metric"]
    return {
        name: next(m["Value"] for m in job["FinalMetricDataList"] if m["MetricName"] == metric)
        for name, job in jobs.items()
    }


def _report(
    size: int, objectives: dict[str, float], ours: list[Side], peer: list[Side]
) -> list[Outcome]:
    """Prints the case's calls by operation, totals, per-run figures and ratios; its checks."""
    us, them = ours[0], peer[0]
    timings = (
        Timing.of([side.nanoseconds for side in ours]),
        Timing.of([side.nanoseconds for side in peer]),
    )
    pages = math.ceil(size / SEARCH_PAGE)
    operations = (_operations(us.tally), _operations(them.tally))
    names = sorted(set(operations[0]) | set(operations[1]))
    totals = (_calls_of(us.tally), _calls_of(them.tally))
    width = max(len(name) for name in names)
    print(
        f"{NAME}: N={size:,} existing runs; Search pages of {SEARCH_PAGE}, "
        f"{PAGES_PER_INVOCATION} pages an invocation"
    )
    print(f"  {'calls':<{width}}  {'sagewire':>9}  {'peer':>9}")
    for name in names:
        print(f"  {name:<{width}}  {operations[0][name]:>9,}  {operations[1][name]:>9,}")
    rows = (
        ("total calls", f"{totals[0]:,}", f"{totals[1]:,}"),
        ("calls per run", f"{totals[0] / size:.3f}", f"{totals[1] / size:.3f}"),
        ("writes carrying a run", f"{us.run_writes:,}", f"{them.run_writes:,}"),
        ("invocations", f"{us.invocations}", "-"),
        ("wall time p50", _seconds(timings[0]), _seconds(timings[1])),
        (
            "wall time per run",
            format_ns(timings[0].p50_ns / size),
            format_ns(timings[1].p50_ns / size),
        ),
        ("timed rounds", f"{timings[0].reps}", f"{timings[1].reps}"),
    )
    for label, left, right in rows:
        print(f"  {label:<{width}}  {left:>9}  {right:>9}")
    sagemaker = (_calls_of(us.tally, "sagemaker"), _calls_of(them.tally, "sagemaker"))
    dynamodb = (_calls_of(us.tally, "dynamodb"), _calls_of(them.tally, "dynamodb"))
    print(
        f"  sagewire / peer: calls {totals[0] / totals[1]:.3f}x, SageMaker calls "
        f"{sagemaker[0] / sagemaker[1]:.4f}x, DynamoDB calls {dynamodb[0] / dynamodb[1]:.3f}x, "
        f"wall time {timings[0].p50_ns / timings[1].p50_ns:.2f}x"
    )
    best = min(objectives, key=lambda name: (objectives[name], name))
    other_dynamodb = dynamodb[0] - us.run_writes
    most_other = MAX_OTHER_DYNAMODB_PER_PAGE * pages + MAX_OTHER_DYNAMODB_FIXED
    done = us.done
    case = f"N={size:,}"
    checks = [
        (
            f"sagewire: Search calls == ceil(N/100) = {pages}",
            all(_calls_of(s.tally, "sagemaker", "Search") == pages for s in ours),
        ),
        (
            f"sagewire: no {' or '.join(SAGEMAKER_READS)} (Search returned the jobs)",
            all(_calls_of(s.tally, "sagemaker", op) == 0 for s in ours for op in SAGEMAKER_READS),
        ),
        (
            "sagewire: one DynamoDB write per run (TransactWriteItems carrying a run == N)",
            all(s.run_writes == size for s in ours),
        ),
        (
            f"sagewire: other DynamoDB calls O(pages): {other_dynamodb} ≤ "
            f"{MAX_OTHER_DYNAMODB_PER_PAGE} x {pages} pages + {MAX_OTHER_DYNAMODB_FIXED}",
            other_dynamodb <= most_other,
        ),
        (
            "sagewire: the import completed, every run recorded",
            done is not None
            and (done.status, done.recorded, done.seen) == ("completed", size, size),
        ),
        (
            "sagewire: no call rejected",
            all(not error for s in ours for (*_, error) in s.tally),
        ),
    ]
    for label, sides in (("sagewire", ours), ("peer", peer)):
        checks += [
            (
                f"{label}: every run on the project's leaderboard",
                all(len(s.board) == size and s.board == set(objectives) for s in sides),
            ),
            (
                f"{label}: the champion is the best run ({best})",
                all(s.champion == best for s in sides),
            ),
        ]
    checks.append(
        ("sagewire: the import reports the champion", done is not None and done.champion == best)
    )
    outcomes: list[Outcome] = [Check(NAME, f"{case}: {text}", passed) for text, passed in checks]
    outcomes.append(
        Row(
            NAME,
            f"import {size:,} runs ({totals[0]:,} vs {totals[1]:,} AWS calls)",
            *timings,
        )
    )
    return outcomes


def run() -> list[Outcome]:
    project = parse_project({**_definition(), "import": {"promote": False}})
    started = time.perf_counter()
    outcomes: list[Outcome] = []
    for size, rounds in ROUNDS.items():
        jobs = _jobs(size)
        ours: list[Side] = []
        peer: list[Side] = []
        for _ in range(rounds):  # alternating, so that load changes hit both alike
            ours.append(_measured(jobs, project, _sagewire))
            peer.append(_measured(jobs, project, _peer))
        outcomes += _report(size, _objectives(jobs), ours, peer)
    print(f"  ({time.perf_counter() - started:.0f} s in all)")
    return outcomes
