"""Run imports over fakes: pages, throttling, a crash halfway, duplicates, the champion."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from chalicelib.definitions import parse_project
from chalicelib.errors import Conflict, NotFound, ServiceUnavailable
from chalicelib.event_types import IMPORT_REQUESTED
from chalicelib.imports import RunImport, SearchCursor, SearchPage
from chalicelib.models import Match, Project
from chalicelib.records import Run, TrainingJobChange
from chalicelib.services.imports import (
    RESERVE_MILLISECONDS,
    STALLED_AFTER,
    ImportRequests,
    ImportService,
)
from chalicelib.services.projects import ProjectService
from tests.factories import TRUSTED, automation, project_document
from tests.fakes import (
    EPOCH,
    FakeBus,
    FakeChampions,
    FakeImports,
    FakeProjects,
    FakeRunFinder,
    FakeRuns,
    FakeSageMaker,
)

ROLE = "arn:aws:iam::123456789012:role/SageMakerExecution"
TAGS = {"Project": "Project_Binary_Classifier"}
METRIC = "train:objective_loss:final"
PLENTY = 900_000


def project(promote: bool = False, **changes: object) -> Project:
    document = project_document("digits-zero")
    document["endpoint"]["execution_role_arn"] = ROLE
    document["import"] = {"promote": promote}
    return replace(parse_project(document), **changes)  # type: ignore[arg-type]


def run(index: int, loss: float | None = None, **changes: object) -> Run:
    name = f"job-{index:05d}"
    base = Run(
        name=name,
        arn=f"arn:aws:sagemaker:us-east-1:123456789012:training-job/{name}",
        status="Completed",
        last_modified_at=EPOCH + timedelta(seconds=index),
        created_at=EPOCH + timedelta(seconds=index),
        metrics={METRIC: 1.0 + (index * 7919 % 1000) / 1000 if loss is None else loss},
        model_artifact=f"s3://bucket/{name}/output/model.tar.gz",
        training_image="382416733822.dkr.ecr.us-east-1.amazonaws.com/linear-learner:1",
        role_arn=ROLE,
        tags=TAGS,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


class CountingRuns(FakeRuns):
    """Counts each run's successful puts; `crash_at` raises on that put (a crash halfway)."""

    def __init__(self) -> None:
        super().__init__()
        self.puts: Counter[str] = Counter()
        self.attempts = 0
        self.crash_at: int | None = None

    def put_run(self, run: Run, projects: Sequence[Project] = ()) -> bool:
        self.attempts += 1
        if self.attempts == self.crash_at:
            raise RuntimeError("the function was stopped")
        written = super().put_run(run, projects)
        if written:
            self.puts[run.name] += 1
        return written


class World:
    def __init__(self, runs: Sequence[Run], *projects: Project) -> None:
        self.clock = EPOCH + timedelta(days=30)
        self.projects = FakeProjects(*(projects or (project(),)))
        self.runs = CountingRuns()
        self.champions = FakeChampions()
        self.sagemaker = FakeSageMaker()
        self.finder = FakeRunFinder(runs)
        self.imports = FakeImports()
        self.bus = FakeBus()
        built = automation(self.projects, self.runs, self.champions, self.sagemaker, clock=self.now)
        self.requests = ImportRequests(self.imports, self.bus, clock=self.now)
        self.selection = built.selection
        self.service = ImportService(
            self.projects,
            self.finder,
            self.runs,
            self.imports,
            self.requests,
            built.selection,
            self.champions,
            TRUSTED,
            clock=self.now,
        )

    def now(self) -> datetime:
        self.clock += timedelta(milliseconds=1)
        return self.clock

    def start(self, name: str = "digits-zero") -> RunImport:
        found = self.projects.get(name)
        assert found is not None
        return self.requests.start(found, "test")

    def drive(self, started: RunImport, pages_per_call: int = 1000) -> RunImport:
        """Delivers the import's requests until it ends, as EventBridge and Lambda would."""
        current: RunImport | None = started
        for _ in range(1000):
            assert current is not None
            if current.status != "running":
                return current
            current = self.service.advance(
                started.project, started.import_id, pages_left(pages_per_call)
            )
        raise AssertionError("the import never ended")


def pages_left(pages: int) -> Callable[[], int]:
    """An invocation's remaining time that allows `pages` pages."""
    calls = {"n": 0}

    def remaining() -> int:
        calls["n"] += 1  # asked after each page
        return PLENTY if calls["n"] < pages else RESERVE_MILLISECONDS

    return remaining


THOUSAND = [run(index) for index in range(1000)]
BEST = min(THOUSAND, key=lambda job: (job.metrics[METRIC], job.name))


def test_an_import_records_a_thousand_runs_in_ten_searches_and_records_the_champion() -> None:
    world = World(THOUSAND)
    done = world.drive(world.start())
    assert done.status == "completed"
    assert (done.pages, done.seen, done.recorded, done.skipped) == (10, 1000, 1000, 0)
    assert world.finder.calls == 10
    assert set(world.runs.puts.values()) == {1}
    assert len(world.runs.puts) == 1000
    assert len(world.runs.ranks["digits-zero"]) == 1000
    champion = world.champions.get_champion("digits-zero")
    assert champion is not None
    assert champion.run_name == BEST.name == done.champion
    (promotion,) = world.champions.promotions("digits-zero")
    assert promotion.outcome == "recorded"
    assert promotion.cause == f"import:{done.import_id}"
    assert world.sagemaker.calls == [], "promote is false: nothing is deployed"


def test_an_import_that_may_promote_deploys_its_best_run_once() -> None:
    world = World(THOUSAND[:250], project(promote=True))
    done = world.drive(world.start())
    assert done.promotion_id is not None
    assert world.sagemaker.calls.count("CreateModel") == 1
    (promotion,) = world.champions.promotions("digits-zero")
    assert promotion.outcome != "recorded"


def test_throttling_halfway_is_resumed_where_it_stopped() -> None:
    world = World(THOUSAND)
    started = world.start()
    first = world.service.advance("digits-zero", started.import_id, pages_left(3))
    assert first is not None
    assert first.pages == 3
    world.finder.throttled = 1
    with pytest.raises(ServiceUnavailable):
        world.service.advance("digits-zero", started.import_id, pages_left(1000))
    done = world.drive(first)
    assert done.recorded == 1000
    assert set(world.runs.puts.values()) == {1}
    assert world.finder.calls == 11  # ten pages and the throttled call


def test_a_crash_halfway_is_retried_and_records_nothing_twice() -> None:
    world = World(THOUSAND)
    world.runs.crash_at = 550
    started = world.start()
    with pytest.raises(RuntimeError):
        world.service.advance("digits-zero", started.import_id, pages_left(1000))
    saved = world.imports.get("digits-zero", started.import_id)
    assert saved is not None
    assert saved.pages == 5
    done = world.drive(saved)
    assert done.status == "completed"
    assert len(world.runs.puts) == 1000
    assert set(world.runs.puts.values()) == {1}
    # The page that crashed was taken again: its first 49 runs were recorded already.
    assert (done.recorded, done.already_recorded) == (951, 49)
    assert len(world.champions.promotions("digits-zero")) == 1


def test_invocations_that_run_short_of_time_request_the_next_one() -> None:
    world = World(THOUSAND[:350])
    started = world.start()
    assert world.bus.events == [
        (IMPORT_REQUESTED, {"project": "digits-zero", "import_id": started.import_id})
    ]
    done = world.drive(started, pages_per_call=1)
    assert done.pages == 4
    # The start's request, then one per invocation that did not finish.
    assert len(world.bus.events) == 4


def test_a_duplicate_request_of_an_ended_import_does_nothing() -> None:
    world = World(THOUSAND[:150])
    done = world.drive(world.start())
    calls = world.finder.calls
    again = world.service.advance("digits-zero", done.import_id, pages_left(1000))
    assert again == done
    assert world.finder.calls == calls


def test_two_workers_on_one_import_advance_it_once_per_page() -> None:
    world = World(THOUSAND[:300])
    started = world.start()
    original = world.finder.search_runs
    interleaved = {"done": False}

    def search_runs(match: Match, cursor: SearchCursor, page_size: int = 100) -> SearchPage:
        page = original(match, cursor, page_size)
        if not interleaved["done"]:
            interleaved["done"] = True
            # A duplicate delivery runs the whole import while the first worker holds a page.
            world.service.advance("digits-zero", started.import_id, pages_left(1000))
        return page

    world.finder.search_runs = search_runs  # type: ignore[method-assign]
    loser = world.service.advance("digits-zero", started.import_id, pages_left(1000))
    assert loser is not None
    assert loser.status == "completed"
    assert loser.pages == 3
    assert len(world.runs.puts) == 300
    assert set(world.runs.puts.values()) == {1}
    assert len(world.champions.promotions("digits-zero")) == 1


def test_a_token_search_no_longer_accepts_restarts_at_the_last_run_seen() -> None:
    world = World(THOUSAND[:300])
    started = world.start()
    first = world.service.advance("digits-zero", started.import_id, pages_left(1))
    world.finder.expire_tokens = True
    assert first is not None
    done = world.drive(first)
    assert done.status == "completed"
    assert len(world.runs.puts) == 300
    assert set(world.runs.puts.values()) == {1}


def test_runs_recorded_before_join_the_projects_leaderboard() -> None:
    world = World(THOUSAND[:20])
    for job in THOUSAND[:5]:
        world.runs.put_run(job, ())  # an event recorded it before the project existed
    done = world.drive(world.start())
    assert (done.recorded, done.already_recorded) == (15, 5)
    assert len(world.runs.ranks["digits-zero"]) == 20


def test_unfinished_or_unmatched_runs_are_skipped() -> None:
    jobs = [
        run(1, 0.5),
        run(2, 0.1, status="InProgress"),
        run(3, 0.2, tags={"Project": "other"}),
        run(4, 0.3, status="Failed"),
    ]
    world = World(jobs)
    done = world.drive(world.start())
    assert (done.seen, done.recorded, done.skipped) == (3, 2, 1)  # the finder filters tags
    assert done.champion == "job-00001"


def test_an_untrusted_run_ranks_but_is_never_the_imports_champion() -> None:
    untrusted = run(1, 0.01, training_image="evil.example.com/miner:1")
    world = World([untrusted, run(2, 0.5)])
    done = world.drive(world.start())
    assert done.champion == "job-00002"
    assert done.best_run == "job-00002"
    assert "job-00001" in world.runs.ranks["digits-zero"]


def test_a_better_champion_than_anything_imported_stays() -> None:
    world = World(THOUSAND[:100])
    selection = automation(world.projects, world.runs, world.champions, world.sagemaker).selection
    strong = run(5000, 0.001)
    world.runs.put_run(strong, [project()])
    selection.promote("digits-zero", strong.name, "api:operator")
    done = world.drive(world.start())
    assert done.champion == strong.name
    assert done.promotion_id is None


def test_nothing_to_import_completes_with_a_reason() -> None:
    world = World([])
    done = world.drive(world.start())
    assert done.status == "completed"
    assert done.champion is None
    assert done.message == "no run could compete for the project"


def test_a_newer_import_replaces_a_running_one() -> None:
    world = World(THOUSAND[:300])
    old = world.start()
    world.service.advance("digits-zero", old.import_id, pages_left(1))
    new = world.start()
    stopped = world.service.advance("digits-zero", old.import_id, pages_left(1000))
    assert stopped is not None
    assert stopped.status == "failed"
    assert stopped.message == "a newer import replaced it"
    assert world.drive(new).recorded == 200  # the first page was recorded by the old one


def test_rerun_refuses_while_one_runs_and_latest_reports_it() -> None:
    world = World(THOUSAND[:10])
    started = world.start()
    with pytest.raises(Conflict):
        world.service.rerun("digits-zero", "api:someone")
    assert world.service.latest("digits-zero") == started
    world.drive(started)
    again = world.service.rerun("digits-zero", "api:someone")
    assert world.service.latest("digits-zero") == again
    assert again.cause == "api:someone"
    with pytest.raises(NotFound):
        World([]).service.latest("digits-zero")


def test_an_import_whose_request_was_lost_is_resumed_by_the_schedule() -> None:
    world = World(THOUSAND[:10])
    world.bus.down = True
    started = world.start()
    world.bus.down = False
    assert world.service.resume_stalled() == []
    world.clock += STALLED_AFTER + timedelta(seconds=1)
    assert world.service.resume_stalled() == [started.import_id]
    assert world.bus.events[-1][1]["import_id"] == started.import_id


def test_a_definition_starts_an_import_when_created_or_its_match_changes() -> None:
    started: list[tuple[str, str]] = []
    store = FakeProjects()
    service = ProjectService(
        store, start_import=lambda found, cause: started.append((found.name, cause))
    )
    document = project_document("digits-zero")
    service.put("digits-zero", document)
    service.put("digits-zero", {**document, "guards": []})
    service.put("digits-zero", {**document, "match": {"tags": {"Project": "other"}}})
    assert started == [("digits-zero", "definition")] * 2


def test_a_completion_event_after_the_import_recorded_its_run_deploys_it() -> None:
    job = run(1, 0.2)
    world = World([job])
    done = world.drive(world.start())
    assert done.champion == job.name
    assert world.sagemaker.calls == []
    world.sagemaker.jobs[job.name] = job
    change = TrainingJobChange(job.name, job.arn, "Completed", job.last_modified_at, TAGS)

    (deployed,) = world.selection.on_training_job(change, "event:late")
    world.selection.on_training_job(change, "event:duplicate")

    assert deployed.cause == "event:late"
    assert deployed.outcome != "recorded"
    assert world.sagemaker.calls.count("CreateModel") == 1
    assert [p.cause for p in world.champions.promotions("digits-zero")] == [
        "event:late",
        f"import:{done.import_id}",
    ]


def test_a_run_that_ended_after_the_import_began_is_left_to_its_completion_event() -> None:
    late = run(2, 0.1, ended_at=EPOCH + timedelta(days=60))
    world = World([run(1, 0.5), late])
    done = world.drive(world.start())
    assert (done.recorded, done.skipped, done.champion) == (1, 1, "job-00001")
    assert late.name not in world.runs.runs
