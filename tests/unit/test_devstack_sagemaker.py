"""The devstack's SageMaker realism: job lifecycles in moto, and the events SageMaker emits."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3
import numpy as np
import pytest

from devstack import algorithms, images, trainer
from devstack.aws import ControlPlane
from devstack.events import EventRouter
from devstack.jobs import JobError, LocalSageMaker
from devstack.tuning import LocalTuning, TuningRequest
from tests.clock import ManualClock

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client
    from mypy_boto3_sagemaker.client import SageMakerClient

BUCKET = "devstack-sagemaker-unit"
# Endpoints change state on a manual clock: a test sees "Creating" or "Updating" for as long as
# it does not advance the clock by DELAY, however slow the machine.
DELAY = 60.0
TAGS = {"Project": "Project_Binary_Classifier"}


@dataclass(frozen=True)
class Local:
    sagemaker: SageMakerClient
    s3: S3Client
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
    control.transforms.attach(router)
    control.start()
    router.start()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_ENDPOINT_URL", control.url)
        session = boto3.session.Session(region_name="us-east-1")
        s3, sagemaker = session.client("s3"), session.client("sagemaker")
        s3.create_bucket(Bucket=BUCKET)
        try:
            yield Local(sagemaker, s3, LocalSageMaker(sagemaker, s3, BUCKET, router), router, clock)
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


def _deploy(local: Local, name: str, job: str, image: str | None = None) -> None:
    centroids = {"centroids": np.zeros((1, 2))}
    local.s3.put_object(
        Bucket=BUCKET,
        Key=f"models/{job}",
        Body=algorithms.pack(algorithms.Model(algorithms.KMEANS, 2, centroids, {})),
    )
    local.sagemaker.create_model(
        ModelName=job,
        ExecutionRoleArn="arn:aws:iam::123456789012:role/Unit",
        PrimaryContainer={
            "Image": image or images.image_uri(algorithms.KMEANS, "us-east-1"),
            "ModelDataUrl": f"s3://{BUCKET}/models/{job}",
        },
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


def test_a_model_sagemaker_could_not_serve_fails_its_endpoint_with_the_reason(
    local: Local,
) -> None:
    # A framework image that serves only through an inference script, and no script named.
    image = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
    _deploy(local, "unit-refused", "unit-model-refused", image)
    mark = local.router.mark()
    local.sagemaker.create_endpoint(
        EndpointName="unit-refused", EndpointConfigName="unit-model-refused"
    )
    local.clock.advance(DELAY)
    events = local.events_since(mark)
    assert _endpoint_statuses(events) == ["CREATING", "FAILED"]
    described = local.sagemaker.describe_endpoint(EndpointName="unit-refused")
    assert described["EndpointStatus"] == "Failed"
    reason = described["FailureReason"]
    assert reason.startswith(
        "The primary container for production variant AllTraffic did not pass the ping health"
    )
    assert "SAGEMAKER_PROGRAM and SAGEMAKER_SUBMIT_DIRECTORY" in reason
    assert events[-1]["detail"]["FailureReason"] == reason


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


def test_weights_change_in_place_busy_then_done_and_refused_while_busy(local: Local) -> None:
    _deploy(local, "unit-weights", "unit-model-w")
    local.sagemaker.create_endpoint(EndpointName="unit-weights", EndpointConfigName="unit-model-w")
    weights: Any = [{"VariantName": "AllTraffic", "DesiredWeight": 3.0}]
    with pytest.raises(local.sagemaker.exceptions.ClientError, match="in-progress"):
        local.sagemaker.update_endpoint_weights_and_capacities(
            EndpointName="unit-weights", DesiredWeightsAndCapacities=weights
        )
    local.clock.advance(DELAY)
    mark = local.router.mark()
    wrong: Any
    for wrong, words in (
        ([{"VariantName": "Nope", "DesiredWeight": 1.0}], "not present"),
        ([*weights, *weights], "non-unique"),
    ):
        with pytest.raises(local.sagemaker.exceptions.ClientError, match=words):
            local.sagemaker.update_endpoint_weights_and_capacities(
                EndpointName="unit-weights", DesiredWeightsAndCapacities=wrong
            )

    local.sagemaker.update_endpoint_weights_and_capacities(
        EndpointName="unit-weights", DesiredWeightsAndCapacities=weights
    )
    described = local.sagemaker.describe_endpoint(EndpointName="unit-weights")
    assert described["EndpointStatus"] == "Updating"
    [variant] = described["ProductionVariants"]
    assert (variant["CurrentWeight"], variant["DesiredWeight"]) == (1.0, 3.0)
    assert variant["CurrentInstanceCount"] == 1  # moto's own call would make it null
    local.clock.advance(DELAY)
    [variant] = local.sagemaker.describe_endpoint(EndpointName="unit-weights")["ProductionVariants"]
    assert (variant["CurrentWeight"], variant["DesiredWeight"]) == (3.0, 3.0)
    assert _endpoint_statuses(local.events_since(mark)) == ["UPDATING", "IN_SERVICE"]
    assert local.sagemaker.describe_endpoint(EndpointName="unit-weights")["EndpointConfigName"] == (
        "unit-model-w"
    )


def test_a_transform_job_runs_and_its_state_changes_are_published(local: Local) -> None:
    _deploy(local, "unit-transform", "unit-model-transform")
    local.s3.put_object(Bucket=BUCKET, Key="transform/in/rows.csv", Body=b"0,0\n1,1\n\n2,2\n")
    mark = local.router.mark()
    local.sagemaker.create_transform_job(
        TransformJobName="unit-transform",
        ModelName="unit-model-transform",
        BatchStrategy="SingleRecord",
        TransformInput={
            "DataSource": {
                "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/transform/in/"}
            },
            "ContentType": "text/csv",
            "SplitType": "Line",
        },
        TransformOutput={"S3OutputPath": f"s3://{BUCKET}/transform/out", "AssembleWith": "Line"},
        TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1},
    )
    events = [
        e
        for e in local.events_since(mark)  # the job's thread keeps the router busy until it ends
        if e["detail-type"] == "SageMaker Transform Job State Change"
    ]
    assert [e["detail"]["TransformJobStatus"] for e in events] == ["InProgress", "Completed"]
    assert events[-1]["resources"] == [
        "arn:aws:sagemaker:us-east-1:123456789012:transform-job/unit-transform"
    ]
    out = local.s3.get_object(Bucket=BUCKET, Key="transform/out/rows.csv.out")["Body"].read()
    assert out.count(b"\n") == 3  # one line per record, the blank line is none
    described = local.sagemaker.describe_transform_job(TransformJobName="unit-transform")
    assert described["TransformJobStatus"] == "Completed"
    assert "FailureReason" not in described


def test_a_manifest_file_names_the_objects_to_transform(local: Local) -> None:
    _deploy(local, "unit-manifest", "unit-model-manifest")
    for name in ("a.csv", "b.csv", "skipped.csv"):
        local.s3.put_object(Bucket=BUCKET, Key=f"manifest/in/{name}", Body=b"0,0\n1,1\n")
    manifest = [{"prefix": f"s3://{BUCKET}/manifest/in/"}, "a.csv", "b.csv"]
    local.s3.put_object(Bucket=BUCKET, Key="manifest/list.json", Body=json.dumps(manifest))
    mark = local.router.mark()
    local.sagemaker.create_transform_job(
        TransformJobName="unit-manifest",
        ModelName="unit-model-manifest",
        TransformInput={
            "DataSource": {
                "S3DataSource": {
                    "S3DataType": "ManifestFile",
                    "S3Uri": f"s3://{BUCKET}/manifest/list.json",
                }
            },
            "ContentType": "text/csv",
            "SplitType": "Line",
        },
        TransformOutput={
            "S3OutputPath": f"s3://{BUCKET}/manifest/out",
            "Accept": "application/jsonlines",
            "AssembleWith": "Line",
        },
        TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1},
    )
    local.events_since(mark)
    listed = local.s3.list_objects_v2(Bucket=BUCKET, Prefix="manifest/out/")["Contents"]
    assert sorted(item["Key"] for item in listed) == [
        "manifest/out/a.csv.out",
        "manifest/out/b.csv.out",
    ]
    out = local.s3.get_object(Bucket=BUCKET, Key="manifest/out/a.csv.out")["Body"].read()
    assert [json.loads(line) for line in out.splitlines()] == [
        {"closest_cluster": 0.0, "distance_to_cluster": 0.0},
        {"closest_cluster": 0.0, "distance_to_cluster": pytest.approx(2**0.5)},
    ]
