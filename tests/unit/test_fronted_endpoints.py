"""Fronted endpoints (`endpoint.managed: false`): ranked, recorded, predicted, never changed."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import orjson
import pytest

from chalicelib.definitions import parse_project
from chalicelib.errors import EndpointNotManaged, InvalidDefinition
from chalicelib.models import Project
from chalicelib.records import EndpointChange, Run, TrainingJobChange, Variant
from chalicelib.services.lineage import LineageService
from chalicelib.services.projects import ProjectService
from tests.factories import TRUSTED, automation, completed_run, project_document
from tests.fakes import (
    EPOCH,
    FakeChampions,
    FakeDatasets,
    FakeObjects,
    FakeProjects,
    FakeRuns,
    FakeSageMaker,
)
from tests.report_world import ReportWorld
from tests.report_world import run as report_run

ENDPOINT = "KMeansEndpoint-2026-01-01-12-00-00"
ROLE = "arn:aws:iam::123456789012:role/SageMakerExecution"
TAGS = {"Project": "Project_Binary_Classifier"}
METRIC = "train:objective_loss:final"
OWNERS_ARTIFACT = "s3://owner/kmeans/owners-job/output/model.tar.gz"
# What SageMaker calls change an endpoint, or create what one serves.
WRITES = {"CreateModel", "CreateEndpointConfig", "CreateEndpoint", "UpdateEndpoint"}


def fronted_document(name: str = "kmeans", endpoint: str = ENDPOINT) -> dict[str, Any]:
    document = project_document(name)
    document["endpoint"] = {"name": endpoint, "managed": False}
    return document


def fronted(name: str = "kmeans") -> Project:
    return parse_project(fronted_document(name))


def run(name: str, loss: float) -> Run:
    return completed_run(
        name, loss, training_image="382416733822.dkr.ecr.us-east-1.amazonaws.com/kmeans:1"
    )


def stage(*fronted_endpoints: str) -> ProjectService:
    return ProjectService(
        FakeProjects(),
        endpoint_prefix="sagewire-prod-",
        execution_role_arn=ROLE,
        require_network_isolation=True,
        fronted_endpoints=fronted_endpoints,
    )


def test_a_listed_endpoint_may_be_fronted_whatever_the_case_of_its_name() -> None:
    service = stage("kmeansendpoint-2026-01-01-12-00-00")

    project, created, _ = service.put("kmeans", fronted_document())

    assert created
    assert project.endpoint.name == ENDPOINT
    assert not project.endpoint.managed
    # Neither the endpoint prefix nor the stage's execution role applies: nothing is deployed.
    assert project.endpoint.execution_role_arn is None


def test_an_endpoint_the_stage_does_not_list_is_refused() -> None:
    with pytest.raises(InvalidDefinition) as raised:
        stage("other-endpoint").put("kmeans", fronted_document())

    assert raised.value.field == "endpoint.name"
    assert "SAGEWIRE_FRONTED_ENDPOINTS" in raised.value.message


def test_a_listed_endpoint_is_never_managed() -> None:
    document = project_document("kmeans", endpoint=ENDPOINT)

    with pytest.raises(InvalidDefinition) as raised:
        ProjectService(FakeProjects(), fronted_endpoints=(ENDPOINT,)).put("kmeans", document)

    assert raised.value.field == "endpoint.managed"


class World:
    """A fronted endpoint serving its owner's model, and champion automation over fakes."""

    def __init__(self, *projects: Project) -> None:
        self.projects = FakeProjects(*(projects or (fronted(),)))
        self.sagemaker = FakeSageMaker()
        self.runs = FakeRuns()
        self.champions = FakeChampions()
        self.ticks = 0
        built = automation(
            self.projects, self.runs, self.champions, self.sagemaker, clock=self.tick
        )
        self.service, self.rollout = built.selection, built.rollout
        # The owner's endpoint, made outside sagewire.
        self.sagemaker.models["owners-model"] = (ROLE, "kmeans:1", OWNERS_ARTIFACT)
        self.sagemaker.configs["owners-config"] = (Variant("AllTraffic", "owners-model", 1.0),)
        self.sagemaker.create_endpoint(ENDPOINT, "owners-config")
        self.sagemaker.settle(ENDPOINT)
        self.sagemaker.calls.clear()

    def tick(self) -> Any:
        self.ticks += 1
        return EPOCH + timedelta(milliseconds=self.ticks)

    def complete(self, job: Run) -> None:
        self.sagemaker.jobs[job.name] = job
        change = TrainingJobChange(job.name, job.arn, job.status, job.last_modified_at, TAGS)
        self.service.on_training_job(change, cause=f"event:{job.name}")


def test_better_runs_are_recorded_as_champions_and_never_deployed() -> None:
    world = World()

    world.complete(run("kmeans-k10", 0.5))
    world.complete(run("kmeans-k12", 0.3))
    world.complete(run("kmeans-k8", 0.9))

    champion = world.champions.get_champion("kmeans")
    assert champion is not None
    assert champion.run_name == "kmeans-k12"
    ledger = world.champions.promotions("kmeans")
    assert [(p.run_name, p.outcome) for p in ledger] == [
        ("kmeans-k12", "recorded"),
        ("kmeans-k10", "recorded"),
    ]
    assert {p.strategy for p in ledger} == {"manual"}
    assert world.sagemaker.calls == ["DescribeTrainingJob"] * 3
    assert world.sagemaker.endpoints[ENDPOINT].config == "owners-config"


def test_an_operator_promotion_is_refused_before_anything_changes() -> None:
    world = World()
    world.complete(run("kmeans-k10", 0.5))
    world.complete(run("kmeans-k12", 0.3))
    before = world.champions.promotions("kmeans")

    with pytest.raises(EndpointNotManaged, match="never changes"):
        world.service.promote("kmeans", "kmeans-k10", cause="api:admin")

    assert world.champions.promotions("kmeans") == before
    assert not WRITES & set(world.sagemaker.calls)


def test_reconcile_endpoint_events_and_drift_leave_a_fronted_endpoint_alone() -> None:
    world = World()
    world.complete(run("kmeans-k10", 0.5))
    world.sagemaker.calls.clear()
    change = EndpointChange(ENDPOINT, f"arn:{ENDPOINT}", "InService", EPOCH, "owners-config")

    reconciliation = world.rollout.reconcile()
    resumed = world.rollout.on_endpoint(change)
    drift = world.rollout.drift()

    assert (reconciliation.advanced, reconciliation.drift, resumed, drift) == ((), (), None, [])
    assert world.sagemaker.calls == []


def test_the_champion_view_says_the_endpoint_is_not_managed_and_never_drifts() -> None:
    world = World()
    world.complete(run("kmeans-k10", 0.5))

    view = world.rollout.view("kmeans")

    assert (view.managed, view.drift) == (False, False)
    assert view.champion is not None
    assert view.champion.run_name == "kmeans-k10"
    assert view.serving.config_name == "owners-config"
    assert view.serving_run_name is None


def test_deploy_itself_refuses_a_fronted_project() -> None:
    """The last line: whatever calls it, a deployment never reaches a fronted endpoint."""
    world = World()
    world.complete(run("kmeans-k10", 0.5))
    champion = world.champions.get_champion("kmeans")
    assert champion is not None
    [promotion] = world.champions.promotions("kmeans")

    with pytest.raises(EndpointNotManaged):
        world.rollout.deploy(fronted(), champion, promotion)

    assert not WRITES & set(world.sagemaker.calls)


def test_lineage_follows_the_owners_model_to_its_training_job() -> None:
    world = World()
    world.complete(run("kmeans-k10", 0.5))
    job = replace(run("owners-job", 0.7), model_artifact=OWNERS_ARTIFACT)
    world.sagemaker.jobs["owners-job"] = job
    lineage = LineageService(
        world.projects,
        world.runs,
        world.champions,
        world.sagemaker,
        FakeDatasets(),
        FakeObjects(),
        TRUSTED,
    )

    chain = lineage.endpoint(ENDPOINT)

    assert chain.project == "kmeans"
    assert chain.inference is not None
    model = chain.variants[0].model
    assert (model.name, model.run_name, model.run_source) == (
        "owners-model",
        "owners-job",
        "described",
    )


def test_the_report_has_the_fronted_project_but_no_orphans_or_drift_of_its_owner() -> None:
    world = ReportWorld(projects=FakeProjects(fronted()))
    world.sagemaker.configs[f"{ENDPOINT}-config-old"] = ()
    world.sagemaker.configs[f"{ENDPOINT}-config"] = (Variant("AllTraffic", "kmeans-m", 1.0),)
    world.sagemaker.create_endpoint(ENDPOINT, f"{ENDPOINT}-config")
    world.sagemaker.settle(ENDPOINT)
    world.sagemaker.calls.clear()
    world.train(replace(report_run("kmeans-k10", 0.3, 100), tags=TAGS))

    world.reports.write(EPOCH)

    report = orjson.loads(world.reports.latest("json").body)
    [project] = report["projects"]
    assert (project["name"], project["endpoint"]) == ("kmeans", ENDPOINT)
    assert project["champion"]["run"] == "kmeans-k10"
    assert [entry["run"] for entry in project["leaderboard"]] == ["kmeans-k10"]
    assert (report["drift"], report["orphans"]["endpoint_configs"]) == ([], [])
    assert not WRITES & set(world.sagemaker.calls)
