"""Champion automation over fakes: selection, promotion, deferral, crash recovery, races."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.definitions import parse_project
from chalicelib.errors import EndpointUnavailable, ProjectNotFound, PromotionNotFound
from chalicelib.models import Project, Strategy
from chalicelib.naming import promotion_names
from chalicelib.records import Champion, Run, TrainingJobChange, TuningJobChange
from tests.factories import automation, project_document
from tests.fakes import EPOCH, FakeChampions, FakeMetrics, FakeProjects, FakeRuns, FakeSageMaker

ROLE = "arn:aws:iam::123456789012:role/SageMakerExecution"
TAGS = {"Project": "Project_Binary_Classifier"}
METRIC = "train:objective_loss:final"


def project(name: str = "digits-zero", strategy: dict[str, object] | None = None) -> Project:
    document = project_document(name)
    document["endpoint"]["execution_role_arn"] = ROLE
    document["endpoint"]["strategy"] = strategy or {"type": "all_at_once"}
    document["guards"] = [{"metric": "validation:binary_f_beta", "op": ">=", "value": 0.5}]
    return parse_project(document)


def run(name: str, loss: float, **changes: object) -> Run:
    base = Run(
        name=name,
        arn=f"arn:aws:sagemaker:us-east-1:123456789012:training-job/{name}",
        status="Completed",
        last_modified_at=EPOCH,
        metrics={METRIC: loss, "validation:binary_f_beta": 0.9},
        model_artifact=f"s3://bucket/{name}/output/model.tar.gz",
        training_image="382416733822.dkr.ecr.us-east-1.amazonaws.com/linear-learner:1",
        role_arn=ROLE,
        tags=TAGS,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


class World:
    def __init__(self, *projects: Project) -> None:
        self.sagemaker = FakeSageMaker()
        self.champions = FakeChampions()
        self.runs = FakeRuns()
        self.metrics = FakeMetrics()
        built = automation(
            FakeProjects(*(projects or (project(),))),
            self.runs,
            self.champions,
            self.sagemaker,
            clock=self._tick,
            metrics=self.metrics,
        )
        self.service, self.rollout = built.selection, built.rollout
        self._ticks = 0
        self._lock = threading.Lock()

    def _tick(self) -> datetime:
        with self._lock:
            self._ticks += 1
            return EPOCH + timedelta(milliseconds=self._ticks)

    def complete(self, *runs: Run) -> None:
        for job in runs:
            self.sagemaker.jobs[job.name] = job
            change = TrainingJobChange(job.name, job.arn, job.status, job.last_modified_at, TAGS)
            self.service.on_training_job(change, cause=f"event:{job.name}")

    def settle(self, endpoint: str = "digits-zero", succeed: bool = True) -> None:
        """Lets every update finish and delivers SageMaker's endpoint events, until quiet."""
        while (change := self.sagemaker.settle(endpoint, succeed)) is not None:
            self.rollout.on_endpoint(change)

    def champion(self, name: str = "digits-zero") -> Champion:
        champion = self.champions.get_champion(name)
        assert champion is not None
        return champion

    def outcome(self, promotion_id: str, name: str = "digits-zero") -> str:
        promotion = self.champions.get_promotion(name, promotion_id)
        assert promotion is not None
        return promotion.outcome

    def champion_run(self, name: str = "digits-zero") -> str | None:
        champion = self.champions.get_champion(name)
        return None if champion is None else champion.run_name

    def serving(self, endpoint: str = "digits-zero") -> str | None:
        return self.sagemaker.endpoints[endpoint].config


def test_the_first_completed_run_is_deployed_and_closed_by_the_endpoint_event() -> None:
    world = World()
    world.complete(run("mbs-100", 0.3))
    [promotion] = world.champions.promotions("digits-zero")
    assert promotion.outcome == "deploying"
    assert world.sagemaker.calls == [
        "DescribeTrainingJob",
        "CreateModel",
        "CreateEndpointConfig",
        "UpdateEndpoint",
        "CreateEndpoint",
    ]
    world.settle()
    assert world.champions.promotions("digits-zero")[0].outcome == "succeeded"
    assert world.serving() == world.champion().endpoint_config_name


def test_a_worse_run_never_replaces_the_champion() -> None:
    world = World()
    world.complete(run("mbs-100", 0.3))
    world.settle()
    calls = len(world.sagemaker.calls)
    world.complete(run("mbs-300", 0.5))
    assert world.champion_run() == "mbs-100"
    assert world.sagemaker.calls[calls:] == ["DescribeTrainingJob"]
    assert len(world.champions.promotions("digits-zero")) == 1


def test_unfinished_failed_and_guarded_runs_never_win() -> None:
    world = World()
    world.sagemaker.jobs["running"] = run("running", 0.1, status="InProgress")
    world.service.on_training_job(
        TrainingJobChange("running", "arn:running", "InProgress", EPOCH, TAGS), cause="event"
    )
    assert world.sagemaker.calls == []
    world.complete(
        run("failed", 0.1, status="Failed", failure_reason="AlgorithmError"),
        run("guarded", 0.1, metrics={METRIC: 0.1, "validation:binary_f_beta": 0.2}),
        run("no-metric", 0.1, metrics={"validation:binary_f_beta": 0.9}),
        run("no-artifact", 0.1, model_artifact=None),
    )
    assert world.champion_run() is None
    failed = world.runs.get_run("failed")
    assert failed is not None
    assert failed.failure_reason == "AlgorithmError"


def test_runs_join_only_the_projects_they_match() -> None:
    other = parse_project(
        {**project_document("other"), "match": {"tags": {"Project": "Elsewhere"}}}
    )
    world = World(project(), other)
    world.complete(run("mbs-100", 0.3))
    assert world.champion_run() == "mbs-100"
    assert world.champion_run("other") is None


def test_a_winner_while_the_endpoint_is_busy_is_deferred_then_resumed() -> None:
    world = World()
    world.complete(run("mbs-100", 0.3))
    world.complete(run("mbs-200", 0.2))
    first, second = sorted(world.champions.ledger.values(), key=lambda p: p.promotion_id)
    assert second.outcome == "pending"
    assert first.outcome == "superseded"
    world.settle()
    assert world.champion().run_name == "mbs-200"
    assert world.serving() == world.champion().endpoint_config_name
    assert world.outcome(second.promotion_id) == "succeeded"


def test_every_outcome_written_is_counted_and_each_deferral_too() -> None:
    world = World()
    world.complete(run("mbs-100", 0.3))
    world.complete(run("mbs-200", 0.2))  # the endpoint is still creating: deferred
    world.complete(run("mbs-300", 0.5))  # loses: no outcome written
    world.settle()
    counted = [(name, dims.get("outcome")) for name, _, dims in world.metrics.recorded]
    assert counted == [
        ("Promotions", "deploying"),
        ("Promotions", "superseded"),
        ("Promotions", "pending"),
        ("DeferredPromotions", None),
        ("Promotions", "deploying"),
        ("Promotions", "succeeded"),
    ]
    assert world.metrics.total("DeferredPromotions") == 1


def test_a_crash_between_create_model_and_update_endpoint_is_finished_by_the_retry() -> None:
    world = World()
    world.complete(run("mbs-100", 0.3))
    world.settle()
    world.sagemaker.fail_once["UpdateEndpoint"] = RuntimeError("Lambda crashed")
    with pytest.raises(RuntimeError):
        world.complete(run("mbs-200", 0.2))
    models_before = dict(world.sagemaker.models)
    world.complete(run("mbs-200", 0.2))  # the redelivered event
    assert world.sagemaker.models == models_before  # reused, no orphan
    world.settle()
    assert world.champion().run_name == "mbs-200"
    assert world.serving() == world.champion().endpoint_config_name


def test_reconcile_finishes_a_promotion_deferred_by_throttling() -> None:
    world = World()
    world.sagemaker.fail_once["UpdateEndpoint"] = EndpointUnavailable("throttled", 2)
    world.complete(run("mbs-100", 0.3))
    assert world.champions.promotions("digits-zero")[0].outcome == "pending"
    report = world.rollout.reconcile()
    assert [p.outcome for p in report.advanced] == ["deploying"]
    world.settle()
    assert world.champions.promotions("digits-zero")[0].outcome == "succeeded"
    assert world.rollout.reconcile().drift == ()


def test_a_failed_update_is_in_the_ledger_and_the_old_config_still_serves() -> None:
    world = World()
    world.complete(run("mbs-100", 0.3))
    world.settle()
    serving = world.serving()
    world.complete(run("mbs-200", 0.2))
    world.settle(succeed=False)
    latest = world.champions.promotions("digits-zero")[0]
    assert latest.outcome == "failed"
    assert "rolled back" in (latest.message or "")
    assert world.serving() == serving
    view = world.rollout.view("digits-zero")
    assert view.serving.config_name == serving
    assert view.serving_run_name == "mbs-100"
    assert view.champion is not None
    assert view.champion.run_name == "mbs-200"
    [drift] = world.rollout.reconcile().drift
    assert drift.serving_config == serving


def test_manual_projects_record_winners_and_deploy_only_through_the_api() -> None:
    world = World(project(strategy={"type": "manual"}))
    world.complete(run("mbs-100", 0.3))
    assert world.champions.promotions("digits-zero")[0].outcome == "recorded"
    assert "CreateModel" not in world.sagemaker.calls
    promotion = world.service.promote("digits-zero", "mbs-100", cause="api:admin")
    assert promotion.outcome == "deploying"
    world.settle()
    assert world.champions.promotions("digits-zero")[0].outcome == "succeeded"


def test_rollback_to_a_named_run_through_the_api() -> None:
    world = World()
    world.complete(run("mbs-100", 0.3))
    world.settle()
    first_config = world.serving()
    world.complete(run("mbs-200", 0.2))
    world.settle()
    world.service.promote("digits-zero", "mbs-100", cause="api:admin")
    world.settle()
    assert world.champion_run() == "mbs-100"
    assert world.serving() == first_config


def test_ab_projects_serve_the_champion_and_the_challenger() -> None:
    world = World(project(strategy={"type": "ab", "challenger_weight": 0.25}))
    world.complete(run("mbs-100", 0.3))
    world.settle()
    world.complete(run("mbs-200", 0.2))
    world.settle()
    variants = world.sagemaker.configs[world.serving()]  # type: ignore[index]
    assert [(v.name, v.weight) for v in variants] == [("Champion", 0.75), ("Challenger", 0.25)]
    assert variants[1].model_name.endswith("mbs-200")


def test_rolling_an_ab_project_back_serves_the_chosen_run_alone() -> None:
    world = World(project(strategy={"type": "ab", "challenger_weight": 0.25}))
    world.complete(run("mbs-100", 0.3))
    world.settle()
    world.complete(run("mbs-200", 0.2))
    world.settle()
    rollback = world.service.promote("digits-zero", "mbs-100", cause="api:operator")
    world.settle()
    assert rollback.previous_run_name == "mbs-200"
    assert rollback.strategy == "all_at_once"
    variants = world.sagemaker.configs[world.serving()]  # type: ignore[index]
    assert [(v.name, v.weight) for v in variants] == [("AllTraffic", 1.0)]
    assert variants[0].model_name.endswith("mbs-100")
    assert world.champion_run() == "mbs-100"


def test_a_training_job_deleted_before_its_event_is_skipped_not_retried() -> None:
    world = World()
    change = TrainingJobChange("deleted-job", "arn:deleted-job", "Completed", EPOCH, TAGS)
    assert world.service.on_training_job(change, cause="event") == []
    assert world.runs.runs == {}


def test_a_tuning_jobs_best_run_is_deployed() -> None:
    world = World()
    for index, loss in enumerate([0.4, 0.1, 0.3]):
        world.sagemaker.jobs[f"hpo-00{index}"] = run(f"hpo-00{index}", loss, tuning_job_name="hpo")
    world.sagemaker.best["hpo"] = "hpo-001"
    change = TuningJobChange("hpo", "arn:hpo", "Completed", EPOCH, TAGS)
    world.service.on_tuning_job(change, cause="event")
    world.settle()
    assert world.champion_run() == "hpo-001"


@settings(max_examples=40, deadline=None)
@given(
    losses=st.lists(st.sampled_from([0.1, 0.2, 0.3, 0.4, 0.5]), min_size=2, max_size=10),
    order=st.randoms(use_true_random=False),
    duplicates=st.lists(st.integers(0, 9), max_size=5),
    threads=st.integers(1, 4),
    settle_between=st.booleans(),
)
def test_any_order_duplicates_and_concurrency_leave_the_best_run_serving(
    losses: list[float],
    order: object,
    duplicates: list[int],
    threads: int,
    settle_between: bool,
) -> None:
    world = World()
    runs = [run(f"run-{index}", loss) for index, loss in enumerate(losses)]
    deliveries = runs + [runs[i % len(runs)] for i in duplicates]
    order.shuffle(deliveries)  # type: ignore[attr-defined]
    queue = list(deliveries)
    lock = threading.Lock()
    in_flight = 0

    def deliver() -> None:
        nonlocal in_flight
        while True:
            with lock:
                if not queue:
                    return
                job = queue.pop()
                in_flight += 1
            world.complete(job)
            with lock:
                in_flight -= 1
            # Updates land while other deliveries are still mid-flight: a stale update that
            # lands after a better one is repaired when the endpoint settles on it.
            if settle_between:
                world.settle()

    workers = [threading.Thread(target=deliver) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    world.settle()
    world.rollout.reconcile()
    world.settle()

    best = min(runs, key=lambda r: (r.metrics[METRIC], r.name))
    champion = world.champion()
    assert champion.run_name == best.name
    assert world.serving() == champion.endpoint_config_name
    assert world.outcome(champion.promotion_id) == "succeeded"
    ledger = sorted(world.champions.ledger.values(), key=lambda p: p.promotion_id)
    assert all(p.outcome in ("succeeded", "superseded") for p in ledger)
    values = [next(r for r in runs if r.name == p.run_name).metrics[METRIC] for p in ledger]
    assert values == sorted(values, reverse=True)  # each promotion improved on the one before


@pytest.mark.parametrize(
    ("loss", "wins"), [(0.29, False), (0.25, False), (0.2499, True)], ids=["0.01", "0.05", "0.0501"]
)
def test_a_challenger_must_beat_the_champion_by_more_than_min_improvement(
    loss: float, wins: bool
) -> None:
    document = project_document()
    document["endpoint"]["execution_role_arn"] = ROLE
    document["objective"]["min_improvement"] = 0.05
    world = World(parse_project(document))
    world.complete(run("mbs-100", 0.3))
    world.settle()
    world.complete(run("mbs-200", loss))
    assert world.champion_run() == ("mbs-200" if wins else "mbs-100")


def test_with_min_improvement_an_exact_tie_keeps_the_champion_whatever_the_name() -> None:
    document = project_document()
    document["endpoint"]["execution_role_arn"] = ROLE
    document["objective"]["min_improvement"] = 0.01
    world = World(parse_project(document))
    world.complete(run("mbs-200", 0.3), run("mbs-100", 0.3))
    assert world.champion_run() == "mbs-200"


def test_an_objective_statistic_ranks_runs_by_their_logged_values() -> None:
    document = project_document()
    document["endpoint"]["execution_role_arn"] = ROLE
    document["objective"]["statistic"] = "min"
    world = World(parse_project(document))
    world.complete(run("mbs-100", 0.3, metric_statistics={METRIC: {"min": 0.1, "last": 0.3}}))
    world.settle()
    # A lower final loss, but a higher minimum over the run: it loses on "min".
    world.complete(run("mbs-200", 0.2, metric_statistics={METRIC: {"min": 0.15, "last": 0.2}}))
    assert (world.champion_run(), world.champion().objective_value) == ("mbs-100", 0.1)
    # A run outside an experiment competes with its final value.
    world.complete(run("mbs-300", 0.05))
    assert (world.champion_run(), world.champion().objective_value) == ("mbs-300", 0.05)


class StalledUpdate:
    """The control plane, whose first UpdateEndpoint to `config` stalls (as a Lambda paused
    after its checks) while `meanwhile` runs to its end."""

    def __init__(self, world: World, config: str, meanwhile: Callable[[], None]) -> None:
        self._world, self._config, self._meanwhile = world, config, meanwhile
        self._update = world.sagemaker.update_endpoint

    def update_endpoint(self, name: str, config_name: str, strategy: Strategy) -> None:
        if config_name == self._config and self._meanwhile is not None:
            meanwhile, self._meanwhile = self._meanwhile, None  # type: ignore[assignment]
            meanwhile()
        self._update(name, config_name, strategy)


def test_a_stale_update_landing_after_a_better_champion_is_repaired() -> None:
    world = World()
    world.complete(run("mbs-300", 0.4))
    world.settle()
    stale_config = promotion_names(project(), "mbs-100", "mbs-300")[1]

    def better_run_deploys() -> None:
        world.complete(run("mbs-200", 0.2))
        # SageMaker finishes the update; its event is not handled before the stale write.
        world.sagemaker.settle("digits-zero")
        assert world.serving() == world.champion().endpoint_config_name

    stalled = StalledUpdate(world, stale_config, better_run_deploys)
    world.sagemaker.update_endpoint = stalled.update_endpoint  # type: ignore[method-assign]
    world.complete(run("mbs-100", 0.3))  # won its swap, then stalled before UpdateEndpoint
    world.settle()

    champion = world.champion()
    assert champion.run_name == "mbs-200"
    assert world.serving() == champion.endpoint_config_name
    assert world.outcome(champion.promotion_id) == "succeeded"
    latest = world.champions.promotions("digits-zero")[0]
    assert latest.cause.startswith("repair:")
    assert latest.run_name == "mbs-200"


def test_an_endpoint_that_settles_on_another_config_is_put_back() -> None:
    world = World()
    world.complete(run("mbs-100", 0.3))
    world.settle()
    world.complete(run("mbs-200", 0.2))
    world.settle()
    wanted = world.serving()
    endpoint = world.sagemaker.endpoints["digits-zero"]
    endpoint.status = "Updating"
    endpoint.pending = world.champions.promotions("digits-zero")[1].endpoint_config_name
    world.settle()  # the endpoint event: serving mbs-100's config, the champion is mbs-200
    assert world.serving() == wanted
    [repair, *_] = world.champions.promotions("digits-zero")
    assert repair.cause.startswith("repair:")
    assert (repair.run_name, repair.outcome) == ("mbs-200", "succeeded")
    assert world.champion().promotion_id == repair.promotion_id


@pytest.mark.parametrize("who", ["manual", "operator"])
def test_an_operator_owned_endpoint_is_never_repaired(who: str) -> None:
    world = World(project(strategy={"type": "manual"})) if who == "manual" else World()
    world.complete(run("mbs-100", 0.3), run("mbs-200", 0.2))
    world.service.promote("digits-zero", "mbs-200", cause="api:operator")
    world.settle()
    endpoint = world.sagemaker.endpoints["digits-zero"]
    other = promotion_names(project(), "mbs-100", None)[1]
    world.sagemaker.configs.setdefault(other, ())
    endpoint.status, endpoint.pending = "Updating", other
    world.settle()
    assert world.serving() == other
    assert not any(p.cause.startswith("repair:") for p in world.champions.promotions("digits-zero"))


def test_one_ledger_entry_is_read_by_its_id_and_an_unknown_one_is_not_found() -> None:
    world = World()
    world.complete(run("mbs-100", 0.3))
    [promotion] = world.champions.promotions("digits-zero")

    assert world.rollout.promotion("digits-zero", promotion.promotion_id) == promotion
    with pytest.raises(PromotionNotFound, match="#<run or teardown>"):
        world.rollout.promotion("digits-zero", promotion.promotion_id.partition("#")[0])
    with pytest.raises(PromotionNotFound) as unknown:
        world.rollout.promotion("digits-zero", f"{promotion.promotion_id}-2")
    assert "<time>" not in unknown.value.message
    with pytest.raises(ProjectNotFound):
        world.rollout.promotion("nobody", promotion.promotion_id)
