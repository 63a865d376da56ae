"""Project deletion and teardown over fakes: only what sagewire made goes, and retries finish."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from chalicelib.definitions import parse_project
from chalicelib.errors import Conflict, EndpointBusy, PreconditionFailed, ProjectNotFound
from chalicelib.models import Project
from chalicelib.naming import model_name
from chalicelib.records import Champion, Promotion, Run, TrainingJobChange, Variant
from chalicelib.services.projects import ProjectService
from chalicelib.services.teardown import BUSY_RETRY_SECONDS, Deletion, TeardownService
from tests.factories import automation, project_document
from tests.factories import completed_run as run
from tests.fakes import (
    EPOCH,
    FakeChampions,
    FakeEndpoint,
    FakeObjects,
    FakeProjects,
    FakeRuns,
    FakeSageMaker,
)

ROLE = "arn:aws:iam::123456789012:role/SageMakerExecution"
TAGS = {"Project": "Project_Binary_Classifier"}
METRIC = "train:objective_loss:final"
NAME = "digits-zero"
CAUSE = "api:arn:aws:iam::123456789012:user/alice"
DELETES = {"DeleteEndpoint", "DeleteEndpointConfig", "DeleteModel"}


def project(managed: bool = True) -> Project:
    document = project_document(NAME)
    document["endpoint"]["execution_role_arn"] = ROLE
    if not managed:
        document["endpoint"] = {"name": NAME, "managed": False}
    return parse_project(document)


class RacedChampions(FakeChampions):
    """A promotion swaps the champion between the teardown's read and its `retire`."""

    def retire(self, champion: Champion, promotion: Promotion) -> bool:
        self.champions[champion.project] = replace(champion, version=champion.version + 1)
        return super().retire(champion, promotion)


class World:
    def __init__(
        self, defined: Project | None = None, champions: FakeChampions | None = None
    ) -> None:
        self.projects = FakeProjects(defined or project())
        self.sagemaker = FakeSageMaker()
        self.champions = champions or FakeChampions()
        self.objects = FakeObjects()
        self._ticks = 0
        self._lock = threading.Lock()
        built = automation(
            self.projects, FakeRuns(), self.champions, self.sagemaker, clock=self._tick
        )
        self.selection, self.rollout = built.selection, built.rollout
        self.service = TeardownService(
            ProjectService(self.projects),
            self.champions,
            self.sagemaker,
            self.sagemaker,
            self.objects,
            "s3://sagewire/models/",
            clock=self._tick,
        )

    def _tick(self) -> datetime:
        with self._lock:
            self._ticks += 1
            return EPOCH + timedelta(milliseconds=self._ticks)

    def promote(self, *runs: Run) -> None:
        """Each run completes, wins and is deployed until the endpoint is InService."""
        for job in runs:
            self.sagemaker.jobs[job.name] = job
            change = TrainingJobChange(job.name, job.arn, job.status, job.last_modified_at, TAGS)
            self.selection.on_training_job(change, cause=f"event:{job.name}")
            while (settled := self.sagemaker.settle(NAME)) is not None:
                self.rollout.on_endpoint(settled)

    def teardown(self, if_match: frozenset[str] | None = None) -> Deletion:
        return self.service.delete(NAME, if_match, teardown="true", cause=CAUSE)

    def deletes(self) -> list[str]:
        return [call for call in self.sagemaker.calls if call in DELETES]


def test_teardown_deletes_only_what_sagewire_made_for_the_endpoint() -> None:
    world = World()
    world.promote(run("mbs-100", 0.3), run("mbs-200", 0.1))
    made_models = sorted(world.sagemaker.models)
    made_configs = sorted(world.sagemaker.configs)
    assert len(made_models) == len(made_configs) == 2
    # By hand, with the endpoint's prefix: no ledger entry names them, no sagewire tag.
    handmade = Variant("AllTraffic", f"{NAME}-handmade", 1.0)
    world.sagemaker.models[f"{NAME}-handmade"] = (ROLE, "image", "s3://bucket/handmade.tar.gz")
    world.sagemaker.configs[f"{NAME}-handmade"] = (handmade,)

    deletion = world.teardown()

    assert deletion.teardown
    assert deletion.endpoint_status == "InService"
    assert sorted(deletion.deleted) == sorted(
        [f"endpoint/{NAME}"]
        + [f"endpoint-config/{config}" for config in made_configs]
        + [f"model/{model}" for model in made_models]
    )
    assert deletion.kept == deletion.already_gone == ()
    assert NAME not in world.sagemaker.endpoints
    assert sorted(world.sagemaker.models) == sorted(world.sagemaker.configs) == [f"{NAME}-handmade"]
    assert world.projects.get(NAME) is None
    assert world.champions.get_champion(NAME) is None
    entry = world.champions.promotions(NAME)[0]
    assert (entry.promotion_id, entry.outcome, entry.cause) == (
        deletion.promotion_id,
        "torn_down",
        CAUSE,
    )
    assert (entry.run_name, entry.previous_endpoint_config_name) == ("mbs-200", made_configs[1])
    assert entry.message is not None
    assert f"endpoint/{NAME}" in entry.message


def test_a_ledger_resource_sagewire_did_not_tag_is_kept() -> None:
    world = World()
    world.promote(run("mbs-100", 0.3))
    [model] = world.sagemaker.models
    [config] = world.sagemaker.configs
    # Made before configs were tagged, or retagged by hand: not provably sagewire's.
    world.sagemaker.model_runs[model] = "another-run"
    del world.sagemaker.config_endpoints[config]

    deletion = world.teardown()

    assert deletion.deleted == (f"endpoint/{NAME}",)
    assert deletion.kept == (
        f"endpoint-config/{config}: not tagged sagewire:endpoint={NAME}",
        f"model/{model}: not tagged sagewire:run=mbs-100",
    )
    assert model in world.sagemaker.models
    assert config in world.sagemaker.configs


def test_the_archive_repacked_for_a_model_goes_before_the_model() -> None:
    world = World()
    world.promote(run("mbs-100", 0.3))
    [model] = world.sagemaker.models
    archive = f"s3://sagewire/models/{model}/model.tar.gz"
    role, image, _ = world.sagemaker.models[model]
    world.sagemaker.models[model] = (role, image, archive)
    world.objects.put("sagewire", f"models/{model}/model.tar.gz", b"packed", "application/gzip")
    world.objects.put("sagewire", "models/other/model.tar.gz", b"other", "application/gzip")

    deletion = world.teardown()

    assert archive in deletion.deleted
    assert list(world.objects.objects) == [("sagewire", "models/other/model.tar.gz")]


def test_a_crash_between_deletes_is_finished_by_a_retry() -> None:
    world = World()
    world.promote(run("mbs-100", 0.3), run("mbs-200", 0.1))
    world.sagemaker.fail_once["DeleteModel"] = RuntimeError("the function timed out")

    with pytest.raises(RuntimeError):
        world.teardown()
    assert world.projects.get(NAME) is not None  # kept, so that the teardown can be retried
    assert world.champions.get_champion(NAME) is not None
    assert len(world.sagemaker.models) == 2
    assert not world.sagemaker.configs

    deletion = world.teardown()

    assert not world.sagemaker.models
    assert not world.sagemaker.endpoints
    assert len([label for label in deletion.deleted if label.startswith("model/")]) == 2
    assert f"endpoint/{NAME}" in deletion.already_gone
    assert len([label for label in deletion.already_gone if "config" in label]) == 2
    assert world.projects.get(NAME) is None
    outcomes = [entry.outcome for entry in world.champions.promotions(NAME)]
    assert outcomes.count("torn_down") == 1


def test_a_busy_endpoint_is_refused_with_retry_after_and_nothing_is_deleted() -> None:
    world = World()
    job = run("mbs-100", 0.3)
    world.sagemaker.jobs[job.name] = job
    change = TrainingJobChange(job.name, job.arn, job.status, job.last_modified_at, TAGS)
    world.selection.on_training_job(change, cause="event")  # deploying: the endpoint is Creating
    assert world.champions.promotions(NAME)[0].outcome == "deploying"

    with pytest.raises(EndpointBusy) as refused:
        world.teardown()

    assert refused.value.retry_after == BUSY_RETRY_SECONDS
    assert "Creating" in refused.value.message
    assert world.deletes() == []
    assert world.projects.get(NAME) is not None
    assert world.champions.promotions(NAME)[0].outcome == "deploying"


def test_a_deferred_promotion_is_closed_so_nothing_deploys_after_the_teardown() -> None:
    world = World()
    world.promote(run("mbs-100", 0.3))
    job = run("mbs-200", 0.1)
    world.sagemaker.jobs[job.name] = job
    world.sagemaker.fail_once["UpdateEndpoint"] = EndpointBusy("Cannot update in-progress")
    change = TrainingJobChange(job.name, job.arn, job.status, job.last_modified_at, TAGS)
    world.selection.on_training_job(change, cause="event")
    pending = world.champions.promotions(NAME)[0]
    assert pending.outcome == "pending"

    world.teardown()

    closed = world.champions.get_promotion(NAME, pending.promotion_id)
    assert closed is not None
    assert closed.outcome == "superseded"


def test_without_a_champion_only_the_definition_goes() -> None:
    world = World()

    deletion = world.teardown()

    assert deletion.endpoint_status == "Absent"
    assert deletion.deleted == ()
    assert deletion.promotion_id is None
    assert world.sagemaker.calls == ["DescribeEndpoint"]
    assert world.projects.get(NAME) is None


def test_an_endpoint_sagewire_never_promoted_to_is_left_running() -> None:
    world = World()
    world.sagemaker.endpoints[NAME] = FakeEndpoint("InService", "someone-elses-config")

    deletion = world.teardown()

    assert world.deletes() == []
    assert "is not sagewire's to delete and is left InService" in deletion.message
    assert NAME in world.sagemaker.endpoints


def test_an_endpoint_serving_a_config_sagewire_did_not_deploy_is_kept() -> None:
    world = World()
    world.promote(run("mbs-100", 0.3))
    [config] = world.sagemaker.configs
    # Someone pointed the endpoint at their own config since (or sagewire recorded a champion
    # it never deployed, as the notebooks' endpoints a project adopts).
    world.sagemaker.endpoints[NAME] = FakeEndpoint("InService", "their-own-config")

    deletion = world.teardown()

    assert deletion.kept == (
        f"endpoint/{NAME}: serves their-own-config, which sagewire did not deploy",
    )
    assert NAME in world.sagemaker.endpoints
    assert f"endpoint-config/{config}" in deletion.deleted


def test_without_teardown_the_endpoint_is_left_running_and_the_answer_says_how_to_delete_it() -> (
    None
):
    world = World()
    world.promote(run("mbs-100", 0.3))

    deletion = world.service.delete(NAME, None, teardown=None, cause=CAUSE)

    assert not deletion.teardown
    assert deletion.endpoint_status == "InService"
    assert "left InService" in deletion.message
    assert f"delete-endpoint --endpoint-name {NAME}" in deletion.message
    assert f"/v1/projects/{NAME}?teardown=true" in deletion.message
    assert world.deletes() == []
    assert NAME in world.sagemaker.endpoints
    assert world.projects.get(NAME) is None
    assert world.champions.get_champion(NAME) is not None  # defined again, it can be torn down


def test_the_endpoint_of_an_unmanaged_project_is_never_deleted() -> None:
    world = World(project(managed=False))
    world.sagemaker.endpoints[NAME] = FakeEndpoint("InService", "owners-config")
    job = run("mbs-100", 0.3)
    world.sagemaker.jobs[job.name] = job
    change = TrainingJobChange(job.name, job.arn, job.status, job.last_modified_at, TAGS)
    world.selection.on_training_job(change, cause="event")  # recorded, never deployed
    assert world.champions.get_champion(NAME) is not None

    deletion = world.teardown()

    assert f"endpoint/{NAME}: its owner's (endpoint.managed is false)" in deletion.kept
    assert world.deletes() == []
    assert NAME in world.sagemaker.endpoints
    assert world.champions.promotions(NAME)[0].outcome == "torn_down"


def test_a_stale_if_match_deletes_nothing() -> None:
    world = World()
    world.promote(run("mbs-100", 0.3))

    with pytest.raises(PreconditionFailed):
        world.teardown(frozenset({"41-stale"}))

    assert world.deletes() == []
    assert world.projects.get(NAME) is not None


def test_a_project_defined_again_tears_down_only_what_came_after() -> None:
    world = World()
    world.promote(run("mbs-100", 0.3))
    world.teardown()
    world.projects.put(project())
    assert world.champions.get_champion(NAME) is None  # starts afresh
    world.promote(run("mbs-300", 0.5))  # worse than the old champion, and still promoted

    deletion = world.teardown()

    assert f"model/{model_name(NAME, 'mbs-300')}" in deletion.deleted
    assert not any("mbs-100" in label for label in deletion.already_gone)


def test_a_champion_changed_during_the_teardown_is_a_conflict() -> None:
    world = World(champions=RacedChampions())
    world.promote(run("mbs-100", 0.3))

    with pytest.raises(Conflict):
        world.teardown()
    assert world.projects.get(NAME) is not None


def test_an_unknown_project_is_not_found() -> None:
    with pytest.raises(ProjectNotFound):
        World().service.delete("nope", None, teardown="true", cause=CAUSE)
