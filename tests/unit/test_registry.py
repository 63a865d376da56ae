"""The Model Registry over fakes: registrations, approvals, rejections, approvals twice."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from chalicelib.definitions import parse_project
from chalicelib.errors import EndpointUnavailable
from chalicelib.models import Project
from chalicelib.records import TrainingJobChange
from chalicelib.registry import MAX_ENTRIES, MAX_KEY, MAX_VALUE, client_token, metadata
from chalicelib.services.model_builds import ModelBuilds
from chalicelib.services.registry import Approvals, Registrar, RegistryStores
from chalicelib.services.rollout import RolloutService
from chalicelib.services.selection import ChampionService
from tests.factories import TRUSTED, project_document
from tests.fakes import (
    FakeChampions,
    FakeModelRegistry,
    FakePacker,
    FakeProjects,
    FakeRuns,
    FakeSageMaker,
)
from tests.unit.test_champions import ROLE, TAGS, run

NAME = "digits-zero"


def project(strategy: str = "manual", name: str = NAME) -> Project:
    document = project_document(name)
    document["endpoint"]["execution_role_arn"] = ROLE
    document["endpoint"]["strategy"] = {"type": strategy}
    return parse_project(document)


class World:
    def __init__(self, *projects: Project) -> None:
        self.sagemaker = FakeSageMaker()
        self.champions = FakeChampions()
        self.runs = FakeRuns()
        self.registry = FakeModelRegistry()
        self.projects = FakeProjects(*(projects or (project(),)))
        models = ModelBuilds(self.sagemaker, FakePacker(), "s3://sagewire/models/", 1 << 20)
        self.rollout = RolloutService(
            self.projects, self.runs, self.champions, self.sagemaker, models=models
        )
        stores = RegistryStores(self.projects, self.runs, self.champions, self.registry)
        self.registrar = Registrar(stores, models)
        self.selection = ChampionService(
            self.projects,
            self.runs,
            self.champions,
            self.sagemaker,
            self.rollout,
            TRUSTED,
            registrar=self.registrar,
        )
        self.approvals = Approvals(stores, self.selection.promote)

    def complete(self, name: str, loss: float) -> None:
        job = run(name, loss)
        self.sagemaker.jobs[name] = job
        change = TrainingJobChange(name, job.arn, "Completed", job.last_modified_at, TAGS)
        self.selection.on_training_job(change, cause=f"event:{name}")

    def ledger(self) -> list[tuple[str, str, str]]:
        """(run, outcome, cause) of the ledger, oldest first."""
        entries = reversed(self.champions.promotions(NAME))
        return [(p.run_name, p.outcome, p.cause.split(":")[0]) for p in entries]

    def package_of(self, run_name: str) -> str:
        [arn] = [
            arn
            for arn, request in self.registry.requests.items()
            if request.metadata["sagewire:run"] == run_name
        ]
        return arn


def test_an_automatic_promotion_registers_an_approved_version_with_its_container() -> None:
    world = World(project("all_at_once"))
    world.complete("mbs-100", 0.3)
    [promotion] = world.champions.promotions(NAME)
    assert promotion.model_package_arn == world.package_of("mbs-100")
    request = world.registry.requests[promotion.model_package_arn]
    assert request.group == NAME
    assert world.registry.groups[NAME].startswith("sagewire project")
    assert request.approval == "Approved"
    assert request.image.endswith("linear-learner:1")
    assert request.artifact == "s3://bucket/mbs-100/output/model.tar.gz"
    assert request.content_types == ("text/csv",)
    assert request.metadata["sagewire:promotion"] == promotion.promotion_id
    assert request.metadata["sagewire:project"] == NAME
    assert float(request.metadata["sagewire:objective-value"]) == 0.3
    assert request.token == client_token(NAME, promotion.promotion_id)


def test_a_manual_winner_is_registered_pending_and_nothing_is_deployed() -> None:
    world = World()
    world.complete("mbs-100", 0.3)
    arn = world.package_of("mbs-100")
    assert world.registry.packages[arn].approval == "PendingManualApproval"
    assert world.ledger() == [("mbs-100", "recorded", "event")]
    assert "CreateEndpoint" not in world.sagemaker.calls
    # The creation event of a pending package does nothing.
    decision = world.approvals.on_package(replace(world.registry.decide(arn, "Pending")))
    assert decision.verdict == "skipped"


def test_an_approval_deploys_the_run_once_however_often_it_is_approved() -> None:
    world = World()
    world.complete("mbs-100", 0.3)
    arn = world.package_of("mbs-100")
    decision = world.approvals.on_package(world.registry.decide(arn, "Approved"))
    assert decision.verdict == "deployed"
    assert decision.promotion is not None
    assert decision.promotion.outcome == "deploying"
    assert decision.promotion.model_package_arn == arn
    assert world.ledger() == [
        ("mbs-100", "recorded", "event"),
        ("mbs-100", "deploying", "registry"),
    ]
    assert world.champions.promotions(NAME)[0].cause == f"registry:{arn}"
    # Approved -> Approved (another event, another LastModifiedTime): one deployment.
    again = world.approvals.on_package(world.registry.decide(arn, "Approved"))
    assert again.verdict == "skipped"
    assert world.sagemaker.calls.count("CreateEndpoint") == 1
    assert len(world.registry.packages) == 1  # the approval registered nothing new


def test_a_rejection_is_recorded_and_a_later_approval_still_deploys() -> None:
    world = World()
    world.complete("mbs-100", 0.3)
    arn = world.package_of("mbs-100")
    decision = world.approvals.on_package(world.registry.decide(arn, "Rejected"))
    assert decision.verdict == "rejected"
    assert world.ledger() == [("mbs-100", "rejected", "event")]
    assert world.champions.history[(NAME, world.champions.promotions(NAME)[0].promotion_id)] == [
        "recorded",
        "rejected",
    ]
    # A rejected champion is at rest: nothing moves it on.
    champion = world.champions.get_champion(NAME)
    assert champion is not None
    assert world.rollout.advance(project(), champion) is None
    assert world.approvals.on_package(world.registry.decide(arn, "Rejected")).verdict == "skipped"
    assert world.approvals.on_package(world.registry.decide(arn, "Approved")).verdict == "deployed"


def test_a_rejection_after_deployment_changes_nothing() -> None:
    world = World()
    world.complete("mbs-100", 0.3)
    arn = world.package_of("mbs-100")
    world.approvals.on_package(world.registry.decide(arn, "Approved"))
    decision = world.approvals.on_package(world.registry.decide(arn, "Rejected"))
    assert decision.verdict == "skipped"
    assert [outcome for _, outcome, _ in world.ledger()] == ["recorded", "deploying"]


def test_a_second_winner_is_registered_as_the_next_version_and_rejected_alone() -> None:
    world = World()
    world.complete("mbs-100", 0.3)
    world.complete("mbs-200", 0.2)
    first, second = world.package_of("mbs-100"), world.package_of("mbs-200")
    assert first.endswith("/1")
    assert second.endswith("/2")
    world.approvals.on_package(world.registry.decide(second, "Rejected"))
    assert world.ledger() == [("mbs-100", "recorded", "event"), ("mbs-200", "rejected", "event")]


def test_a_package_sagewire_did_not_register_deploys_the_recorded_run_behind_it() -> None:
    world = World()
    world.complete("mbs-100", 0.3)
    world.complete("mbs-200", 0.2)
    theirs = replace(
        world.registry.packages[world.package_of("mbs-100")],
        arn="arn:aws:sagemaker:us-east-1:123456789012:model-package/digits-zero/9",
        metadata={},
    )
    world.registry.packages[theirs.arn] = theirs
    decision = world.approvals.on_package(world.registry.decide(theirs.arn, "Approved"))
    assert decision.verdict == "deployed"
    assert decision.promotion is not None
    assert decision.promotion.run_name == "mbs-100"
    # Rejecting one sagewire did not register records nothing.
    other = replace(theirs, arn=theirs.arn.replace("/9", "/8"))
    world.registry.packages[other.arn] = other
    assert world.approvals.on_package(world.registry.decide(other.arn, "Rejected")).reason == (
        "sagewire did not register the package"
    )


def test_a_foreign_package_whose_artifact_no_run_made_is_skipped() -> None:
    world = World()
    world.complete("mbs-100", 0.3)
    arn = "arn:aws:sagemaker:us-east-1:123456789012:model-package/digits-zero/7"
    world.registry.packages[arn] = replace(
        world.registry.packages[world.package_of("mbs-100")],
        arn=arn,
        artifact="s3://elsewhere/model.tar.gz",
        metadata={},
    )
    decision = world.approvals.on_package(world.registry.decide(arn, "Approved"))
    assert decision.verdict == "skipped"
    assert decision.reason == "no recorded run made its artifact"


def test_a_group_that_belongs_to_no_project_is_skipped_before_any_call() -> None:
    world = World()
    world.complete("mbs-100", 0.3)
    change = world.registry.decide(world.package_of("mbs-100"), "Approved")
    decision = world.approvals.on_package(replace(change, group="someone-elses"))
    assert (decision.verdict, decision.reason) == ("skipped", "the group belongs to no project")
    assert world.ledger() == [("mbs-100", "recorded", "event")]


def test_a_failed_registration_keeps_the_promotion_and_reconcile_registers_it() -> None:
    world = World(project("all_at_once"))
    world.registry.failures.append(EndpointUnavailable("throttled", 2))
    world.complete("mbs-100", 0.3)
    [promotion] = world.champions.promotions(NAME)
    assert promotion.outcome == "deploying"
    assert promotion.model_package_arn is None
    [registered] = world.registrar.reconcile()
    assert registered.model_package_arn == world.package_of("mbs-100")
    assert world.champions.promotions(NAME)[0].model_package_arn == registered.model_package_arn
    assert world.registrar.reconcile() == []  # once
    # A retried registration with the same token creates nothing twice.
    world.registrar.register(project("all_at_once"), promotion)
    assert len(world.registry.packages) == 1


def test_an_operators_promotion_registers_an_approved_version() -> None:
    world = World()
    world.complete("mbs-100", 0.3)
    promoted = world.selection.promote(NAME, "mbs-100", "api:alice")
    assert promoted.model_package_arn is not None
    assert world.registry.packages[promoted.model_package_arn].approval == "Approved"


@given(
    st.dictionaries(
        st.text(min_size=1, max_size=200), st.text(max_size=400), min_size=0, max_size=80
    )
)
def test_metadata_stays_within_sagemakers_limits(entries: dict[str, str]) -> None:
    bounded = metadata(entries)
    assert len(bounded) <= MAX_ENTRIES
    assert all(len(key) <= MAX_KEY and len(value) <= MAX_VALUE for key, value in bounded.items())


@given(st.text(max_size=70), st.text(max_size=200))
def test_client_tokens_fit_sagemakers_pattern(project_name: str, promotion_id: str) -> None:
    token = client_token(project_name, promotion_id)
    assert 1 <= len(token) <= 36
    assert all(c in "0123456789abcdef" for c in token)


def test_an_approval_of_a_run_that_cannot_be_deployed_is_skipped_not_retried() -> None:
    world = World()
    world.complete("mbs-100", 0.3)
    arn = world.package_of("mbs-100")
    job = world.runs.get_run("mbs-100")
    assert job is not None
    world.runs.runs["mbs-100"] = replace(job, model_artifact=None)
    decision = world.approvals.on_package(world.registry.decide(arn, "Approved"))
    assert decision.verdict == "skipped"
    assert decision.reason == "run 'mbs-100' has no deployable model"
