"""A fronted endpoint through the real SageMakerGateway under a Stubber: no write call, ever.

Only the reads below are queued: any other call (CreateModel, CreateEndpointConfig, CreateEndpoint,
UpdateEndpoint, ...) would fail with the Stubber's "Unexpected API call", and every call the
client makes is recorded besides."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.stub import Stubber
from mypy_boto3_sagemaker.client import SageMakerClient

from chalicelib.definitions import parse_project
from chalicelib.errors import EndpointNotManaged
from chalicelib.gateways.sagemaker import SageMakerGateway
from chalicelib.records import EndpointChange, TrainingJobChange
from tests.factories import automation, project_document
from tests.fakes import FakeChampions, FakeProjects, FakeRuns
from tests.gateways.test_sagemaker import ARN_PREFIX, TAGS, training_job

ENDPOINT = "KMeansEndpoint-2026-01-01-12-00-00"
OWNERS_CONFIG = "KMeansEndpointConfig-2026-01-01-12-00-00"
MODIFIED = datetime(2026, 1, 2, 12, 0, tzinfo=UTC)


def job(name: str, loss: float) -> dict[str, Any]:
    """A finished job outside any experiment (so one Describe is all its event costs)."""
    described = training_job(
        TrainingJobName=name,
        TrainingJobArn=f"{ARN_PREFIX}:training-job/{name}",
        FinalMetricDataList=[{"MetricName": "train:objective_loss:final", "Value": loss}],
    )
    del described["ExperimentConfig"], described["TuningJobArn"]
    return described


def test_better_runs_and_an_operator_promotion_never_write_to_a_fronted_endpoint(
    client: SageMakerClient, stubber: Stubber
) -> None:
    calls: list[str] = []
    client.meta.events.register(
        "before-parameter-build.sagemaker", lambda model, **_: calls.append(model.name)
    )
    document = project_document("kmeans")
    document["endpoint"] = {"name": ENDPOINT, "managed": False}
    projects, runs, champions = FakeProjects(parse_project(document)), FakeRuns(), FakeChampions()
    built = automation(projects, runs, champions, SageMakerGateway(client, retry_after_seconds=1))
    for name, loss in (("kmeans-k10", 0.5), ("kmeans-k12", 0.3)):
        stubber.add_response("describe_training_job", job(name, loss), {"TrainingJobName": name})
    stubber.add_response(
        "describe_endpoint",
        {
            "EndpointName": ENDPOINT,
            "EndpointArn": f"{ARN_PREFIX}:endpoint/{ENDPOINT.lower()}",
            "EndpointConfigName": OWNERS_CONFIG,
            "EndpointStatus": "InService",
            "CreationTime": MODIFIED,
            "LastModifiedTime": MODIFIED,
        },
        {"EndpointName": ENDPOINT},
    )

    for name in ("kmeans-k10", "kmeans-k12"):
        change = TrainingJobChange(
            name, f"{ARN_PREFIX}:training-job/{name}", "Completed", MODIFIED, TAGS
        )
        built.selection.on_training_job(change, cause=f"event:{name}")
    with pytest.raises(EndpointNotManaged):
        built.selection.promote("kmeans", "kmeans-k10", cause="api:arn:aws:iam::1:user/admin")
    settled = EndpointChange(ENDPOINT, "arn", "InService", MODIFIED, OWNERS_CONFIG)
    assert built.rollout.on_endpoint(settled) is None
    reconciliation = built.rollout.reconcile()
    view = built.rollout.view("kmeans")

    assert calls == ["DescribeTrainingJob", "DescribeTrainingJob", "DescribeEndpoint"]
    assert [(p.run_name, p.outcome) for p in champions.promotions("kmeans")] == [
        ("kmeans-k12", "recorded"),
        ("kmeans-k10", "recorded"),
    ]
    assert (reconciliation.advanced, reconciliation.drift) == ((), ())
    assert (view.managed, view.drift, view.serving.config_name) == (False, False, OWNERS_CONFIG)
    assert view.champion is not None
    assert view.champion.run_name == "kmeans-k12"
