"""Runs outside the trust policy: recorded and ranked, never promoted without an operator."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.records import Run
from chalicelib.services.leaderboard import LeaderboardService
from chalicelib.services.selection import Eligibility, eligibility
from tests.factories import TRUSTED
from tests.fakes import FakeProjects, board_service
from tests.unit.test_champions import METRIC, TAGS, World, project, run

FOREIGN_IMAGE = "999999999999.dkr.ecr.us-east-1.amazonaws.com/exfiltrate:latest"
FOREIGN_ARTIFACT = "s3://attacker-bucket/model.tar.gz"


def attackers_run(name: str = "attacker", loss: float = 0.0001) -> Run:
    """Tags that match, the best metric of all, and an image and artifact of its own choosing."""
    return run(name, loss, training_image=FOREIGN_IMAGE, model_artifact=FOREIGN_ARTIFACT)


def test_the_attackers_run_is_recorded_never_champion_and_named_untrusted() -> None:
    world = World()
    world.complete(run("trusted-a", 0.3))
    world.settle()
    calls = len(world.sagemaker.calls)

    world.complete(attackers_run())

    assert world.champion_run() == "trusted-a"
    assert world.sagemaker.calls[calls:] == ["DescribeTrainingJob"]  # nothing created
    recorded = world.runs.get_run("attacker")
    assert recorded is not None
    assert recorded.tags == TAGS
    assert eligibility(project(), recorded, TRUSTED) == Eligibility(
        "digits-zero", False, f"untrusted image {FOREIGN_IMAGE}"
    )
    assert [p.run_name for p in world.champions.promotions("digits-zero")] == ["trusted-a"]

    # A trusted run after it, worse than the attacker's claim but better than the champion.
    world.complete(run("trusted-b", 0.2))
    world.settle()
    assert world.champion_run() == "trusted-b"
    assert world.serving() == world.champion().endpoint_config_name


def test_a_trusted_image_with_a_foreign_artifact_is_untrusted_too() -> None:
    world = World()
    world.complete(run("half", 0.1, model_artifact=FOREIGN_ARTIFACT))

    assert world.champion_run() is None
    assert world.sagemaker.calls == ["DescribeTrainingJob"]


def test_the_leaderboard_ranks_the_attacker_first_and_says_it_may_not_be_promoted() -> None:
    world = World()
    world.complete(run("trusted-a", 0.3), attackers_run())
    board = LeaderboardService(FakeProjects(project()), world.runs, TRUSTED, board_service())

    page = board.page("digits-zero")

    assert [(e.run.name, e.eligibility.promotable) for e in page.entries] == [
        ("attacker", False),
        ("trusted-a", True),
    ]
    assert page.entries[0].eligibility.reason == f"untrusted image {FOREIGN_IMAGE}"
    assert page.entries[1].eligibility.reason is None


def test_eligibility_names_every_other_reason_too() -> None:
    definition = project()

    def reason(**changes: object) -> str | None:
        return eligibility(definition, run("r", 0.1, **changes), TRUSTED).reason

    assert reason(status="Failed") == "the run is Failed"
    assert reason(model_artifact=None) == "the run has no deployable model"
    assert reason(metrics={"validation:binary_f_beta": 0.9}) == (f"the run has no finite {METRIC}")
    assert reason(metrics={METRIC: 0.1, "validation:binary_f_beta": 0.2}) == (
        "guard validation:binary_f_beta >= 0.5 not met"
    )
    assert reason() is None


def test_an_operator_may_promote_it_and_the_ledger_says_it_was_outside_the_policy() -> None:
    world = World()
    world.complete(run("trusted-a", 0.3), attackers_run())
    world.settle()

    promotion = world.service.promote("digits-zero", "attacker", cause="api:admin")
    world.settle()

    assert world.champion_run() == "attacker"
    assert promotion.untrusted == f"untrusted image {FOREIGN_IMAGE}"
    stored = world.champions.get_promotion("digits-zero", promotion.promotion_id)
    assert stored is not None
    assert stored.untrusted == promotion.untrusted
    [first] = [p for p in world.champions.promotions("digits-zero") if p.run_name == "trusted-a"]
    assert first.untrusted is None


@settings(max_examples=60, deadline=None)
@given(
    runs=st.lists(
        st.tuples(st.sampled_from([0.1, 0.2, 0.3, 0.4, 0.5]), st.booleans()),
        min_size=1,
        max_size=10,
    ),
    order=st.randoms(use_true_random=False),
    settle_between=st.booleans(),
)
def test_whatever_the_order_the_champion_is_the_best_trusted_run(
    runs: list[tuple[float, bool]], order: object, settle_between: bool
) -> None:
    world = World()
    jobs = [
        run(f"run-{index}", loss)
        if trusted
        else run(f"run-{index}", loss, training_image=FOREIGN_IMAGE)
        for index, (loss, trusted) in enumerate(runs)
    ]
    deliveries = list(jobs)
    order.shuffle(deliveries)  # type: ignore[attr-defined]
    for job in deliveries:
        world.complete(job)
        if settle_between:
            world.settle()
    world.settle()

    trusted = [job for job, (_, ok) in zip(jobs, runs, strict=True) if ok]
    if not trusted:
        assert world.champion_run() is None
        return
    best = min(trusted, key=lambda job: (job.metrics[METRIC], job.name))
    assert world.champion_run() == best.name
    assert world.serving() == world.champion().endpoint_config_name
    assert set(world.sagemaker.model_runs.values()) <= {job.name for job in trusted}


def test_a_script_mode_run_with_foreign_inference_code_is_never_deployed() -> None:
    world = World()
    hyperparameters = {
        "sagemaker_program": '"inference.py"',
        "sagemaker_submit_directory": '"s3://attacker-bucket/sourcedir.tar.gz"',
    }
    world.complete(run("scripted", 0.1, hyperparameters=hyperparameters))

    assert world.champion_run() is None
    assert world.sagemaker.calls == ["DescribeTrainingJob"]
    recorded = world.runs.get_run("scripted")
    assert recorded is not None
    assert eligibility(project(), recorded, TRUSTED) == Eligibility(
        "digits-zero",
        False,
        "untrusted submit directory s3://attacker-bucket/sourcedir.tar.gz",
    )


def test_an_operator_cannot_deploy_a_program_outside_the_code_directory() -> None:
    world = World()
    hyperparameters = {
        "sagemaker_program": '"../../usr/bin/python"',
        "sagemaker_submit_directory": '"s3://bucket/scripted/source/sourcedir.tar.gz"',
    }
    world.complete(run("scripted", 0.1, hyperparameters=hyperparameters))

    promotion = world.service.promote("digits-zero", "scripted", cause="api:admin")

    problem = "sagemaker_program must not have . or .. segments"
    assert promotion.untrusted == f"unservable program: {problem}"
    assert (promotion.outcome, promotion.message) == ("failed", f"run scripted: {problem}")
    assert "CreateModel" not in world.sagemaker.calls
