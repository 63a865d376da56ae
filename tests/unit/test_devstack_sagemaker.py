"""The devstack's SageMaker realism: job lifecycles in moto, and the events SageMaker emits."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from devstack import algorithms, trainer
from devstack.aws import ControlPlane
from devstack.events import EventRouter
from devstack.jobs import JobError, LocalSageMaker
from devstack.tuning import LocalTuning, TuningRequest
from tests.clock import ManualClock

if TYPE_CHECKING:
    from mypy_boto3_sagemaker.client import SageMakerClient

BUCKET = "devstack-sagemaker-unit"
# Endpoints change state on a manual clock: a test sees "Creating" or "Updating" for as long as
# it does not advance the clock by DELAY, however slow the machine.
DELAY = 60.0
TAGS = {"Project": "Project_Binary_Classifier"}


@dataclass(frozen=True)
class Local:
    sagemaker: SageMakerClient
    jobs: LocalSageMaker
    router: EventRouter
    clock: ManualClock

    def events_since(self, mark: int) -> list[dict[str, Any]]:
        assert self.router.wait_idle(10)
        return [delivery.event for delivery in self.router.published_since(mark)]


@pytest.fixture(scope="module")
def local() -> Iterator[Local]:
    clock = ManualClock()
    control = ControlPlane(
        update_delay_seconds=DELAY, create_delay_seconds=DELAY, timer=clock.timer
    )
    router = EventRouter([], function_prefix="unit-")  # records what is published
    control.shim.attach(router, lambda environ, start_response: [])
    control.start()
    router.start()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_ENDPOINT_URL", control.url)
        session = boto3.session.Session(region_name="us-east-1")
        s3, sagemaker = session.client("s3"), session.client("sagemaker")
        s3.create_bucket(Bucket=BUCKET)
        try:
            yield Local(sagemaker, LocalSageMaker(sagemaker, s3, BUCKET, router), router, clock)
        finally:
            router.stop()
            control.stop()


def _linear(name: str, **hyperparameters: str) -> trainer.TrainingJob:
    return trainer.TrainingJob(name, algorithms.LINEAR_LEARNER, hyperparameters, TAGS)


def test_a_training_job_is_described_with_its_real_results(local: Local) -> None:
    report = local.jobs.train(
        trainer.TrainingJob(
            "unit-linear-1",
            algorithms.LINEAR_LEARNER,
            {"mini_batch_size": "200"},
            TAGS,
            experiment="zero",
            trial="zero-200",
        )
    )
    described = local.sagemaker.describe_training_job(TrainingJobName="unit-linear-1")
    assert described["TrainingJobStatus"] == report.status == "Completed"
    metrics = {m["MetricName"]: m["Value"] for m in described["FinalMetricDataList"]}
    assert metrics == pytest.approx(report.metrics)
    assert set(metrics) == set(algorithms.METRIC_NAMES[algorithms.LINEAR_LEARNER])
    assert described["ModelArtifacts"]["S3ModelArtifacts"] == (
        f"s3://{BUCKET}/models/unit-linear-1/output/model.tar.gz"
    )
    assert described["AlgorithmSpecification"]["TrainingImage"] == (
        "382416733822.dkr.ecr.us-east-1.amazonaws.com/linear-learner:1"
    )
    assert described["HyperParameters"] == {"mini_batch_size": "200"}
    assert described["RoleArn"].endswith(":role/SageMakerExecution")
    uris = [c["DataSource"]["S3DataSource"]["S3Uri"] for c in described["InputDataConfig"]]
    assert uris == [
        f"s3://{BUCKET}/datasets/digits/train/",
        f"s3://{BUCKET}/datasets/digits/validation/",
    ]
    assert described["ExperimentConfig"]["TrialName"] == "zero-200"
    assert described["TrainingStartTime"] <= described["TrainingEndTime"]
    assert "TuningJobArn" not in described


def test_a_training_job_emits_in_progress_then_completed(local: Local) -> None:
    mark = local.router.mark()
    local.jobs.train(_linear("unit-linear-2"))
    events = local.events_since(mark)
    assert [e["detail"]["TrainingJobStatus"] for e in events] == ["InProgress", "Completed"]
    completed = events[-1]
    assert completed["source"] == "aws.sagemaker"
    assert completed["detail-type"] == "SageMaker Training Job State Change"
    assert completed["resources"] == [completed["detail"]["TrainingJobArn"]]
    detail = completed["detail"]
    assert detail["Tags"] == TAGS
    for key in ("CreationTime", "TrainingStartTime", "TrainingEndTime", "LastModifiedTime"):
        assert str(detail[key]).isdigit(), key
        assert isinstance(detail[key], str), key
    assert "FinalMetricDataList" not in detail
    assert "ModelArtifacts" not in detail
    assert [t["Status"] for t in detail["SecondaryStatusTransitions"]] == [
        "Starting",
        "Training",
        "Completed",
    ]


def test_a_job_with_bad_hyperparameters_fails_like_sagemaker(local: Local) -> None:
    mark = local.router.mark()
    report = local.jobs.train(_linear("unit-linear-bad", mini_batch_size="lots"))
    assert report.status == "Failed"
    described = local.sagemaker.describe_training_job(TrainingJobName="unit-linear-bad")
    assert described["TrainingJobStatus"] == "Failed"
    assert "not a number" in described["FailureReason"]
    assert "FinalMetricDataList" not in described
    statuses = [e["detail"]["TrainingJobStatus"] for e in local.events_since(mark)]
    assert statuses == ["InProgress", "Failed"]


def test_duplicate_and_invalid_names_are_refused(local: Local) -> None:
    local.jobs.train(_linear("unit-linear-dup"))
    with pytest.raises(JobError, match="already exists"):
        local.jobs.train(_linear("unit-linear-dup"))
    with pytest.raises(JobError, match="name pattern"):
        local.jobs.train(_linear("no_underscores"))
    with pytest.raises(JobError, match="32 characters"):
        LocalTuning(local.jobs).tune(
            TuningRequest("x" * 33, algorithms.SOFTMAX, {"lr": ["0.1"]}, "train:loss", "Minimize")
        )


def test_a_tuning_job_reports_its_real_best_training_job(local: Local) -> None:
    mark = local.router.mark()
    report = LocalTuning(local.jobs).tune(
        TuningRequest(
            name="unit-hpo",
            algorithm=algorithms.LINEAR_LEARNER,
            ranges={"mini_batch_size": ["300", "100", "200"]},
            objective="train:objective_loss:final",
            goal="Minimize",
            tags=TAGS,
        )
    )
    assert report.status == "Completed"
    names = [job.name for job in report.jobs]
    assert [name.rsplit("-", 1)[0] for name in names] == [
        "unit-hpo-001",
        "unit-hpo-002",
        "unit-hpo-003",
    ]
    described = local.sagemaker.describe_hyper_parameter_tuning_job(
        HyperParameterTuningJobName="unit-hpo"
    )
    best = described["BestTrainingJob"]
    assert best["TrainingJobName"] == names[1]  # mini_batch_size 100: the lowest loss
    assert best["TunedHyperParameters"] == {"mini_batch_size": "100"}
    losses = [job.metrics["train:objective_loss:final"] for job in report.jobs]
    assert best["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] == min(losses)
    assert described["TrainingJobStatusCounters"]["Completed"] == 3
    child = local.sagemaker.describe_training_job(TrainingJobName=names[0])
    assert child["TuningJobArn"] == report.arn
    assert child["HyperParameters"]["_tuning_objective_metric"] == "train:objective_loss:final"

    events = local.events_since(mark)
    tuning = [e for e in events if e["detail-type"].startswith("SageMaker HyperParameter")]
    assert [e["detail"]["HyperParameterTuningJobStatus"] for e in tuning] == [
        "InProgress",
        "Completed",
    ]
    assert "BestTrainingJob" not in tuning[-1]["detail"]
    assert tuning[-1]["detail"]["Tags"] == TAGS
    assert tuning[-1]["detail"]["LastModifiedTime"].isdigit()
    assert sum(e["detail-type"].startswith("SageMaker Training") for e in events) == 6


def _deploy(local: Local, name: str, job: str) -> None:
    local.sagemaker.create_model(
        ModelName=job,
        ExecutionRoleArn="arn:aws:iam::123456789012:role/Unit",
        PrimaryContainer={"Image": "local", "ModelDataUrl": f"s3://{BUCKET}/models/{job}"},
    )
    local.sagemaker.create_endpoint_config(
        EndpointConfigName=job,
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": job,
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
                "InitialVariantWeight": 1.0,
            }
        ],
    )


def _endpoint_statuses(events: list[dict[str, Any]]) -> list[str]:
    return [
        e["detail"]["EndpointStatus"]
        for e in events
        if e["detail-type"] == "SageMaker Endpoint State Change"
    ]


def test_endpoints_are_created_then_in_service_with_events(local: Local) -> None:
    _deploy(local, "unit-endpoint", "unit-model-a")
    mark = local.router.mark()
    local.sagemaker.create_endpoint(EndpointName="unit-endpoint", EndpointConfigName="unit-model-a")
    assert local.sagemaker.describe_endpoint(EndpointName="unit-endpoint")["EndpointStatus"] == (
        "Creating"
    )
    local.clock.advance(DELAY)
    events = local.events_since(mark)
    assert _endpoint_statuses(events) == ["CREATING", "IN_SERVICE"]
    detail = events[-1]["detail"]
    assert detail["EndpointConfigName"] == "unit-model-a"
    assert detail["ProductionVariants"] == [
        {"VariantName": "AllTraffic", "DesiredWeight": 1.0, "DesiredInstanceCount": 1.0}
    ]
    assert isinstance(detail["LastModifiedTime"], int)
    assert local.sagemaker.describe_endpoint(EndpointName="unit-endpoint")["EndpointStatus"] == (
        "InService"
    )


def test_an_update_with_a_deployment_config_is_busy_then_done(local: Local) -> None:
    _deploy(local, "unit-canary", "unit-model-b")
    _deploy(local, "unit-canary", "unit-model-c")
    local.sagemaker.create_endpoint(EndpointName="unit-canary", EndpointConfigName="unit-model-b")
    local.clock.advance(DELAY)
    mark = local.router.mark()
    deployment: Any = {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": {
                "Type": "CANARY",
                "WaitIntervalInSeconds": 0,
                "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 10},
            }
        },
        "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": "unit-5xx"}]},
    }
    local.sagemaker.update_endpoint(
        EndpointName="unit-canary", EndpointConfigName="unit-model-c", DeploymentConfig=deployment
    )
    described = local.sagemaker.describe_endpoint(EndpointName="unit-canary")
    assert described["EndpointStatus"] == "Updating"
    assert described["LastDeploymentConfig"] == deployment
    local.clock.advance(DELAY - 1)
    status = local.sagemaker.describe_endpoint(EndpointName="unit-canary")["EndpointStatus"]
    assert status == "Updating"
    local.clock.advance(1)
    events = local.events_since(mark)
    assert _endpoint_statuses(events) == ["UPDATING", "IN_SERVICE"]
    assert events[-1]["detail"]["EndpointConfigName"] == "unit-model-c"
