"""Variants an operator chooses: one config of named variants, weights changed in place."""

from __future__ import annotations

from dataclasses import replace

import pytest

from chalicelib.errors import (
    Conflict,
    EndpointBusy,
    EndpointNotManaged,
    InvalidParameter,
    NotFound,
    ServiceUnavailable,
)
from chalicelib.models import Strategy
from chalicelib.naming import model_name
from chalicelib.records import Promotion, RunVariant
from chalicelib.services.projects import ProjectService
from chalicelib.services.teardown import TeardownService
from chalicelib.services.variants import TRAFFIC_WINDOW, VariantService
from tests.factories import TRUSTED
from tests.fakes import FakeObjects, FakeProjects, FakeTraffic
from tests.unit.test_champions import World, project, run
from tests.unit.test_untrusted_runs import FOREIGN_IMAGE, attackers_run

SPLIT = {
    "variants": [
        {"name": "A", "run": "run-a", "weight": 0.7},
        {"name": "B", "run": "run-b", "weight": 0.3},
    ]
}


class Variants(World):
    """The champion world with the variants service over the same fakes."""

    def __init__(self, **kwargs: object) -> None:
        definition = project(**kwargs)  # type: ignore[arg-type]
        super().__init__(definition)
        self.traffic = FakeTraffic()
        self.variants = VariantService(
            FakeProjects(definition),
            self.runs,
            self.champions,
            self.sagemaker,
            self.sagemaker,
            self.traffic,
            self.rollout,
            TRUSTED,
            clock=self._tick,
        )

    def two_runs(self) -> None:
        """Two recorded runs, the better one the champion serving alone."""
        self.complete(run("run-a", 0.3), run("run-b", 0.2))
        self.settle()

    def split(self) -> Promotion:
        """SPLIT put on the two runs, and settled."""
        self.two_runs()
        promotion = self.variants.put("digits-zero", SPLIT, cause="api:admin")
        self.settle()
        return promotion


def test_put_deploys_one_config_of_named_variants_with_one_endpoint_update() -> None:
    world = Variants()
    world.two_runs()
    before = world.champion()
    calls = len(world.sagemaker.calls)

    promotion = world.variants.put("digits-zero", SPLIT, cause="api:admin")

    assert world.sagemaker.calls[calls:] == [
        "CreateModel",
        "CreateModel",
        "CreateEndpointConfig",
        "DescribeEndpoint",
        "UpdateEndpoint",
    ]
    endpoint = "digits-zero"
    expected = (
        RunVariant("A", model_name(endpoint, "run-a"), 0.7, "run-a"),
        RunVariant("B", model_name(endpoint, "run-b"), 0.3, "run-b"),
    )
    assert world.sagemaker.configs[promotion.endpoint_config_name] == expected
    assert world.sagemaker.config_endpoints[promotion.endpoint_config_name] == endpoint
    assert promotion.strategy == "variants"
    assert promotion.cause == "api:admin"
    assert promotion.outcome == "deploying"
    assert promotion.variants == expected
    assert promotion.run_name == "run-a"  # the heaviest variant's run is the champion
    assert promotion.previous_run_name == before.run_name == "run-b"
    assert promotion.previous_endpoint_config_name == before.endpoint_config_name
    champion = world.champion()
    assert champion.variants == expected
    assert champion.run_name == "run-a"
    assert champion.objective_value == 0.3
    assert world.outcome(before.promotion_id) == "succeeded"  # settled: it stays so
    world.settle()
    assert world.outcome(promotion.promotion_id) == "succeeded"
    assert world.serving() == promotion.endpoint_config_name


def test_the_same_split_again_names_the_same_config_and_finds_it_served() -> None:
    world = Variants()
    first = world.split()
    calls = len(world.sagemaker.calls)

    again = world.variants.put("digits-zero", SPLIT["variants"], cause="api:admin")

    assert again.endpoint_config_name == first.endpoint_config_name
    assert again.outcome == "succeeded"
    assert "UpdateEndpoint" not in world.sagemaker.calls[calls:]


def test_a_canary_project_puts_its_split_at_once() -> None:
    strategy = {"type": "canary", "canary_percent": 10, "wait_seconds": 60}
    world = Variants(strategy=strategy)
    world.two_runs()
    updates: list[str] = []
    original = world.sagemaker.update_endpoint

    def update(name: str, config: str, chosen: Strategy) -> None:
        updates.append(chosen.type)
        original(name, config, chosen)

    world.sagemaker.update_endpoint = update  # type: ignore[method-assign,assignment]
    world.variants.put("digits-zero", SPLIT, cause="api:admin")

    assert updates == ["all_at_once"]


@pytest.mark.parametrize(
    ("body", "error", "words"),
    [
        ({"variants": [{"name": "A", "run": "ghost", "weight": 1}]}, NotFound, "ghost"),
        ({"variants": [{"name": "A", "run": "failed", "weight": 1}]}, InvalidParameter, "deploy"),
        (
            {"variants": [{"name": "A", "run": "no-metric", "weight": 1}]},
            InvalidParameter,
            "heaviest",
        ),
        (
            {
                "variants": [
                    {"name": "A", "run": "run-a", "weight": 1},
                    {"name": "a", "run": "run-b", "weight": 1},
                ]
            },
            InvalidParameter,
            "twice",
        ),
        ({"variants": [{"name": "A", "run": "run-a", "weight": 0}]}, InvalidParameter, "above 0"),
        ({"variants": []}, InvalidParameter, "1 to 10"),
    ],
)
def test_what_put_refuses(body: object, error: type[Exception], words: str) -> None:
    world = Variants()
    world.two_runs()
    world.runs.put_run(run("failed", 0.1, status="Failed"))
    world.runs.put_run(run("no-metric", 0.1, metrics={}))
    entries = len(world.champions.promotions("digits-zero"))

    with pytest.raises(error, match=words):
        world.variants.put("digits-zero", body, cause="api:admin")

    assert len(world.champions.promotions("digits-zero")) == entries


def test_a_run_outside_the_trust_policy_is_deployed_and_named_untrusted() -> None:
    world = Variants()
    world.two_runs()
    world.complete(attackers_run())
    body = {
        "variants": [
            {"name": "A", "run": "run-a", "weight": 0.9},
            {"name": "X", "run": "attacker", "weight": 0.1},
        ]
    }

    promotion = world.variants.put("digits-zero", body, cause="api:admin")

    assert promotion.untrusted == f"attacker: untrusted image {FOREIGN_IMAGE}"
    assert promotion.outcome == "deploying"


def test_a_fronted_endpoint_is_refused() -> None:
    world = Variants()
    managed = project()
    fronted = replace(managed, endpoint=replace(managed.endpoint, managed=False))
    world.variants._projects = FakeProjects(fronted)

    with pytest.raises(EndpointNotManaged):
        world.variants.put("digits-zero", SPLIT, cause="api:admin")
    with pytest.raises(EndpointNotManaged):
        world.variants.reweigh("digits-zero", {"weights": {"A": 1}}, "api:ops")


def test_patch_changes_weights_in_place_with_a_ledger_entry() -> None:
    world = Variants()
    put = world.split()
    calls = len(world.sagemaker.calls)

    entry = world.variants.reweigh("digits-zero", {"weights": {"A": 0.5, "B": 0.5}}, "api:ops")

    assert world.sagemaker.calls[calls:] == [
        "DescribeEndpoint",
        "DescribeEndpoint",
        "UpdateEndpointWeightsAndCapacities",
    ]
    assert world.sagemaker.weights["digits-zero"] == {"A": 0.5, "B": 0.5}
    assert entry.strategy == "weights"
    assert entry.cause == "api:ops"
    assert entry.message == "weights: A 0.7 -> 0.5, B 0.3 -> 0.5"
    assert [(v.name, v.weight, v.run_name) for v in entry.variants] == [
        ("A", 0.5, "run-a"),
        ("B", 0.5, "run-b"),
    ]
    assert entry.endpoint_config_name == put.endpoint_config_name  # no new config
    champion = world.champion()
    assert champion.promotion_id == entry.promotion_id
    assert champion.variants == put.variants  # the config's initial weights
    assert world.outcome(put.promotion_id) == "succeeded"
    world.rollout.advance(project(), champion)
    closed = world.champions.get_promotion("digits-zero", entry.promotion_id)
    assert closed is not None
    assert (closed.outcome, closed.message) == ("succeeded", entry.message)  # kept


def test_patch_names_only_the_champions_variants_and_keeps_one_weight_above_zero() -> None:
    world = Variants()
    world.split()
    entries = len(world.champions.promotions("digits-zero"))

    with pytest.raises(InvalidParameter, match="no variant C"):
        world.variants.reweigh("digits-zero", {"weights": {"C": 1}}, "api:ops")
    with pytest.raises(InvalidParameter, match="above 0"):
        world.variants.reweigh("digits-zero", {"weights": {"A": 0, "B": 0}}, "api:ops")
    with pytest.raises(InvalidParameter):
        world.variants.reweigh("digits-zero", {"weights": {"A": -1}}, "api:ops")

    assert len(world.champions.promotions("digits-zero")) == entries


def test_patch_works_on_a_strategys_own_variants_too() -> None:
    world = Variants()
    world.two_runs()

    entry = world.variants.reweigh("digits-zero", {"weights": {"AllTraffic": 2}}, "api:ops")

    assert entry.variants[0].name == "AllTraffic"
    assert world.sagemaker.weights["digits-zero"] == {"AllTraffic": 2}


def test_patch_is_refused_while_the_endpoint_is_busy_or_serves_another_config() -> None:
    world = Variants()
    world.two_runs()
    put = world.variants.put("digits-zero", SPLIT, cause="api:admin")
    weights = {"weights": {"A": 0.5}}

    with pytest.raises(EndpointBusy) as busy:
        world.variants.reweigh("digits-zero", weights, "api:ops")  # still Updating
    assert busy.value.retry_after

    world.settle()
    world.sagemaker.endpoints["digits-zero"].config = "someone-elses-config"
    with pytest.raises(Conflict, match="someone-elses-config"):
        world.variants.reweigh("digits-zero", weights, "api:ops")
    assert world.champion().promotion_id == put.promotion_id


def test_sagemakers_refusal_fails_the_entry_and_is_raised() -> None:
    world = Variants()
    world.two_runs()
    world.sagemaker.fail_once["UpdateEndpointWeightsAndCapacities"] = EndpointBusy("busy")

    with pytest.raises(EndpointBusy):
        world.variants.reweigh("digits-zero", {"weights": {"AllTraffic": 1}}, "api:ops")

    assert world.outcome(world.champion().promotion_id) == "failed"


def test_patch_without_a_champion_is_not_found() -> None:
    world = Variants()
    with pytest.raises(NotFound, match="no champion"):
        world.variants.reweigh("digits-zero", {"weights": {"A": 1}}, "api:ops")


def test_the_view_shows_each_variants_run_weights_and_invocations() -> None:
    world = Variants()
    world.split()
    world.variants.reweigh("digits-zero", {"weights": {"A": 0.4, "B": 0.6}}, "api:ops")
    world.traffic.invocations_by_variant[("digits-zero", "A")] = 40.0

    view = world.variants.view("digits-zero")

    assert [
        (v.name, v.run_name, v.initial_weight, v.current_weight, v.invocations)
        for v in view.variants
    ] == [("A", "run-a", 0.7, 0.4, 40), ("B", "run-b", 0.3, 0.6, None)]
    start, end = world.traffic.windows[0]
    assert end - start == TRAFFIC_WINDOW


def test_cloudwatch_failing_leaves_the_invocations_unknown() -> None:
    world = Variants()
    world.two_runs()
    world.traffic.failure = ServiceUnavailable("CloudWatch", 2)

    [variant] = world.variants.view("digits-zero").variants

    assert variant.name == "AllTraffic"
    assert variant.invocations is None
    assert variant.current_weight == 1.0


def test_a_better_runs_event_replaces_the_split() -> None:
    world = Variants()
    put = world.split()

    world.complete(run("run-c", 0.25))  # better than the champion (run-a, 0.3)
    world.settle()

    champion = world.champion()
    assert champion.run_name == "run-c"
    assert champion.variants == ()
    assert world.outcome(put.promotion_id) == "succeeded"
    assert world.serving() == champion.endpoint_config_name
    world.complete(run("run-d", 0.5))  # worse: the champion stays
    assert world.champion_run() == "run-c"


def test_a_teardown_deletes_every_variants_model() -> None:
    world = Variants()
    put = world.split()
    projects = FakeProjects(project())
    teardown = TeardownService(
        ProjectService(projects, "", None),
        world.champions,
        world.sagemaker,
        world.sagemaker,
        FakeObjects(),
        "s3://sagewire/models/",
    )

    deletion = teardown.delete("digits-zero", None, "true", "api:admin")

    for variant in put.variants:
        assert f"model/{variant.model_name}" in deletion.deleted
    assert f"endpoint-config/{put.endpoint_config_name}" in deletion.deleted
    assert world.sagemaker.models == {}
