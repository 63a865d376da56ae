"""The devstack's SageMaker Experiments: shared preprocessing and per-job training components."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import boto3
import pytest

from chalicelib.gateways.sagemaker import SageMakerGateway
from devstack import algorithms, digits, trainer
from devstack.aws import ControlPlane
from devstack.events import EventRouter
from devstack.experiments import preprocessing_component_name
from devstack.jobs import LocalSageMaker

if TYPE_CHECKING:
    from mypy_boto3_sagemaker.client import SageMakerClient

BUCKET = "devstack-experiments-unit"
EXPERIMENT = "unit-hidden"
# 4 epochs of 3 metrics: more values than one BatchPutMetrics call takes.
EPOCHS = {"0": "2", "8": "4"}


@dataclass(frozen=True)
class Local:
    sagemaker: SageMakerClient
    jobs: LocalSageMaker


@pytest.fixture(scope="module")
def local() -> Iterator[Local]:
    control = ControlPlane()
    router = EventRouter([], function_prefix="unit-")
    control.attach(router, lambda environ, start_response: [])
    control.start()
    router.start()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_ENDPOINT_URL", control.url)
        session = boto3.session.Session(region_name="us-east-1")
        s3, sagemaker = session.client("s3"), session.client("sagemaker")
        s3.create_bucket(Bucket=BUCKET)
        jobs = LocalSageMaker(sagemaker, s3, BUCKET, router)
        for hidden in ("0", "8"):
            jobs.train(
                trainer.TrainingJob(
                    f"unit-hidden-{hidden}",
                    algorithms.SOFTMAX,
                    {"hidden_channels": hidden, "epochs": EPOCHS[hidden]},
                    experiment=EXPERIMENT,
                    trial=f"unit-hidden-{hidden}",
                )
            )
        try:
            yield Local(sagemaker, jobs)
        finally:
            router.stop()
            control.stop()


def _components(sagemaker: SageMakerClient, **filters: str) -> list[str]:
    summaries = sagemaker.list_trial_components(**filters)["TrialComponentSummaries"]  # type: ignore[arg-type]
    return [s["TrialComponentName"] for s in summaries]


def test_the_constants_sent_to_sagewire_are_the_training_data_normalization() -> None:
    mean, std = digits.normalization()
    assert (mean, std) == (digits.CLASSIFIER_MEAN, digits.CLASSIFIER_STD)
    assert 0 < mean < 1
    assert 0 < std < 1


def test_every_trial_lists_the_shared_preprocessing_and_its_own_training(local: Local) -> None:
    preprocessing = preprocessing_component_name(EXPERIMENT)
    for hidden in ("0", "8"):
        assert _components(local.sagemaker, TrialName=f"unit-hidden-{hidden}") == [
            preprocessing,
            f"unit-hidden-{hidden}-aws-training-job",
        ]
    assert set(_components(local.sagemaker, ExperimentName=EXPERIMENT)) == {
        preprocessing,
        "unit-hidden-0-aws-training-job",
        "unit-hidden-8-aws-training-job",
    }
    assert _components(local.sagemaker, TrialName="no-such-trial") == []


def test_the_preprocessing_component_holds_the_computed_parameters(local: Local) -> None:
    described = local.sagemaker.describe_trial_component(
        TrialComponentName=preprocessing_component_name(EXPERIMENT)
    )
    mean, std = digits.normalization()
    assert described["DisplayName"] == "Preprocessing"
    assert described["Parameters"] == {
        "mean": {"NumberValue": mean},
        "std": {"NumberValue": std},
        "scale": {"NumberValue": 255.0},
    }
    assert described["InputArtifacts"]["train"]["Value"] == f"s3://{BUCKET}/datasets/digits/train/"


def test_the_training_component_points_at_its_job(local: Local) -> None:
    job = local.sagemaker.describe_training_job(TrainingJobName="unit-hidden-8")
    assert job["ExperimentConfig"] == {
        "ExperimentName": EXPERIMENT,
        "TrialName": "unit-hidden-8",
        "TrialComponentDisplayName": "Training",
    }
    described = local.sagemaker.describe_trial_component(
        TrialComponentName="unit-hidden-8-aws-training-job"
    )
    assert described["Source"] == {
        "SourceArn": job["TrainingJobArn"],
        "SourceType": "SageMakerTrainingJob",
    }
    assert described["Status"]["PrimaryStatus"] == "Completed"
    assert described["Parameters"]["hidden_channels"] == {"NumberValue": 8.0}
    assert (
        described["OutputArtifacts"]["SageMaker.ModelArtifact"]["Value"]
        == (job["ModelArtifacts"]["S3ModelArtifacts"])
    )
    final = {m["MetricName"]: m["Value"] for m in job["FinalMetricDataList"]}
    logged = {m["MetricName"]: m["Last"] for m in described["Metrics"]}
    assert logged == pytest.approx(final)


def test_listing_filters_by_source_and_pages(local: Local) -> None:
    arn = local.sagemaker.describe_training_job(TrainingJobName="unit-hidden-0")["TrainingJobArn"]
    assert _components(local.sagemaker, SourceArn=arn) == ["unit-hidden-0-aws-training-job"]
    first = local.sagemaker.list_trial_components(ExperimentName=EXPERIMENT, MaxResults=2)
    rest = local.sagemaker.list_trial_components(
        ExperimentName=EXPERIMENT, MaxResults=2, NextToken=first["NextToken"]
    )
    names = [s["TrialComponentName"] for s in first["TrialComponentSummaries"]]
    names += [s["TrialComponentName"] for s in rest["TrialComponentSummaries"]]
    assert len(names) == len(set(names)) == 3
    assert "NextToken" not in rest
    summary = first["TrialComponentSummaries"][0]
    assert summary["DisplayName"] == "Preprocessing"
    assert summary["Status"]["PrimaryStatus"] == "Completed"


@pytest.mark.parametrize("hidden", ["0", "8"])
def test_the_training_component_has_statistics_over_every_epochs_metrics(
    local: Local, hidden: str
) -> None:
    described = local.sagemaker.describe_trial_component(
        TrialComponentName=f"unit-hidden-{hidden}-aws-training-job"
    )
    hyperparameters = {"hidden_channels": hidden, "epochs": EPOCHS[hidden]}
    trained = algorithms.train(algorithms.SOFTMAX, hyperparameters, trainer.channels("softmax"))
    assert {m["MetricName"] for m in described["Metrics"]} == set(trained.history)
    for metric in described["Metrics"]:
        values = trained.history[metric["MetricName"]]
        assert len(values) == metric["Count"] == int(EPOCHS[hidden])
        assert (metric["Max"], metric["Min"], metric["Last"]) == pytest.approx(
            (max(values), min(values), values[-1])
        )
        assert metric["Avg"] == pytest.approx(sum(values) / len(values))
    losses = trained.history["validation:loss"]
    assert len(set(losses)) == len(losses)  # one value per epoch, not the final one repeated


def test_sagewire_reads_the_statistics_of_a_job_run_in_an_experiment(local: Local) -> None:
    run = SageMakerGateway(local.sagemaker, 1).describe_training_job("unit-hidden-8", {})
    assert run.experiment_name == EXPERIMENT
    assert set(run.metric_statistics) == set(run.metrics)
    for name, final in run.metrics.items():
        statistics = run.metric_statistics[name]
        assert statistics["last"] == pytest.approx(final)
        assert statistics["count"] == 4
        assert statistics["min"] <= statistics["avg"] <= statistics["max"]
