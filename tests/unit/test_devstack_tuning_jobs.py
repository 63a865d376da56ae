"""CreateHyperParameterTuningJob by plain boto3 on the devstack: planned, trained, its real best."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest
from botocore.exceptions import ClientError

from devstack import images, xgboost_builtin
from devstack.events import EventRouter
from devstack.jobs import JobReport
from devstack.tuning_jobs import Objective, TuningJobs, best_of
from tests.local_aws import local_aws

if TYPE_CHECKING:
    from mypy_boto3_sagemaker.client import SageMakerClient

REGION = "us-east-1"
BUCKET = "devstack-tuning-unit"
TAGS: Any = [{"Key": "Project", "Value": "digits-xgb"}]
OBJECTIVE = "validation:merror"


@dataclass(frozen=True)
class Local:
    sagemaker: SageMakerClient
    router: EventRouter
    channels: list[Any]


@pytest.fixture(scope="module")
def local() -> Iterator[Local]:
    with local_aws(BUCKET, REGION) as aws:
        aws.control.training.attach(aws.jobs)
        aws.control.tuning.attach(TuningJobs(aws.jobs, max_parallel=2))
        yield Local(aws.sagemaker, aws.router, list(aws.jobs.channels()))


def _definition(local: Local, **static: str) -> Any:
    """XGBoost multi:softprob over the stack's 8x8 digits (CSV, label first)."""
    return {
        "StaticHyperParameters": {
            "objective": "multi:softprob",
            "num_class": "10",
            "num_round": "8",
            **static,
        },
        "AlgorithmSpecification": {
            "TrainingImage": images.image_uri(images.XGBOOST, REGION, "1.7-1"),
            "TrainingInputMode": "File",
        },
        "RoleArn": "arn:aws:iam::123456789012:role/SageMakerRole",
        "InputDataConfig": local.channels,
        "OutputDataConfig": {"S3OutputPath": f"s3://{BUCKET}/tuning"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
        "StoppingCondition": {"MaxRuntimeInSeconds": 600},
    }


def _config(strategy: str = "Random", jobs: int = 3, **ranges: Any) -> Any:
    return {
        "Strategy": strategy,
        "HyperParameterTuningJobObjective": {"Type": "Minimize", "MetricName": OBJECTIVE},
        "ResourceLimits": {"MaxNumberOfTrainingJobs": jobs, "MaxParallelTrainingJobs": 2},
        "ParameterRanges": ranges
        or {
            "IntegerParameterRanges": [{"Name": "max_depth", "MinValue": "1", "MaxValue": "4"}],
            "ContinuousParameterRanges": [
                {"Name": "eta", "MinValue": "0.05", "MaxValue": "0.5", "ScalingType": "Logarithmic"}
            ],
        },
    }


def _until_done(sagemaker: SageMakerClient, name: str) -> Any:
    deadline = time.monotonic() + 120
    while True:
        described = sagemaker.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
        if described["HyperParameterTuningJobStatus"] != "InProgress":
            return described
        assert time.monotonic() < deadline
        time.sleep(0.2)


def test_a_random_search_trains_every_job_and_names_the_real_best(local: Local) -> None:
    mark = local.router.mark()
    local.sagemaker.create_hyper_parameter_tuning_job(
        HyperParameterTuningJobName="unit-xgb-random",
        HyperParameterTuningJobConfig=_config(),
        TrainingJobDefinition=_definition(local),
        Tags=TAGS,
    )
    described = _until_done(local.sagemaker, "unit-xgb-random")
    assert described["HyperParameterTuningJobStatus"] == "Completed", described.get("FailureReason")
    assert described["TrainingJobStatusCounters"]["Completed"] == 3
    assert described["ConsumedResources"]["RuntimeInSeconds"] >= 0
    listed = local.sagemaker.list_training_jobs_for_hyper_parameter_tuning_job(
        HyperParameterTuningJobName="unit-xgb-random"
    )["TrainingJobSummaries"]
    assert [s["TrainingJobName"] for s in listed] == sorted(s["TrainingJobName"] for s in listed)
    assert [s["TrainingJobName"].rsplit("-", 1)[0] for s in listed] == [
        "unit-xgb-random-001",
        "unit-xgb-random-002",
        "unit-xgb-random-003",
    ]
    # merror is not xgboost's default metric for softprob: the container adds the objective's.
    scores = {
        s["TrainingJobName"]: s["FinalHyperParameterTuningJobObjectiveMetric"] for s in listed
    }
    best = described["BestTrainingJob"]
    assert best["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] == min(
        score["Value"] for score in scores.values()
    )
    assert scores[best["TrainingJobName"]]["Value"] < 0.3  # 10 classes: chance is 0.9
    assert set(best["TunedHyperParameters"]) == {"eta", "max_depth"}
    child = local.sagemaker.describe_training_job(TrainingJobName=best["TrainingJobName"])
    assert child["HyperParameters"]["_tuning_objective_metric"] == OBJECTIVE
    assert child["TuningJobArn"] == described["HyperParameterTuningJobArn"]
    assert child["HyperParameters"]["num_round"] == "8"

    assert local.router.wait_idle(10)
    events = [d.event for d in local.router.published_since(mark)]
    tuning = [e for e in events if e["detail-type"].startswith("SageMaker HyperParameter")]
    assert [e["detail"]["HyperParameterTuningJobStatus"] for e in tuning] == [
        "InProgress",
        "Completed",
    ]
    training = [e for e in events if e["detail-type"].startswith("SageMaker Training")]
    assert len(training) == 6  # InProgress and Completed of each
    assert all(e["detail"]["Tags"] == {"Project": "digits-xgb"} for e in training)


def test_listing_sorts_filters_and_pages(local: Local) -> None:
    name = "unit-xgb-list"
    local.sagemaker.create_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=name,
        HyperParameterTuningJobConfig=_config(
            "Grid",
            jobs=4,
            CategoricalParameterRanges=[
                {"Name": "max_depth", "Values": ["1", "3"]},
                {"Name": "eta", "Values": ["0.05", "0.3"]},
            ],
        ),
        TrainingJobDefinition=_definition(local),
    )
    _until_done(local.sagemaker, name)
    sagemaker = local.sagemaker
    page = sagemaker.list_training_jobs_for_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=name,
        SortBy="FinalObjectiveMetricValue",
        SortOrder="Descending",
        MaxResults=3,
    )
    rest = sagemaker.list_training_jobs_for_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=name,
        SortBy="FinalObjectiveMetricValue",
        SortOrder="Descending",
        MaxResults=3,
        NextToken=page["NextToken"],
    )
    summaries = page["TrainingJobSummaries"] + rest["TrainingJobSummaries"]
    assert "NextToken" not in rest
    values = [s["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] for s in summaries]
    assert len(values) == 4
    assert values == sorted(values, reverse=True)
    tuned = {
        (s["TunedHyperParameters"]["max_depth"], s["TunedHyperParameters"]["eta"])
        for s in summaries
    }
    assert tuned == {("1", "0.05"), ("1", "0.3"), ("3", "0.05"), ("3", "0.3")}
    failed = sagemaker.list_training_jobs_for_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=name, StatusEquals="Failed"
    )
    assert failed["TrainingJobSummaries"] == []
    with pytest.raises(ClientError, match="ResourceNotFound"):
        sagemaker.list_training_jobs_for_hyper_parameter_tuning_job(
            HyperParameterTuningJobName="unit-no-such-tuning"
        )


def test_a_tuning_job_whose_jobs_all_fail_fails(local: Local) -> None:
    local.sagemaker.create_hyper_parameter_tuning_job(
        HyperParameterTuningJobName="unit-xgb-all-fail",
        HyperParameterTuningJobConfig=_config(jobs=2),
        TrainingJobDefinition=_definition(local, num_class="3"),  # labels go up to 9
    )
    described = _until_done(local.sagemaker, "unit-xgb-all-fail")
    assert described["HyperParameterTuningJobStatus"] == "Failed"
    assert (
        described["FailureReason"] == f"No training job reported the objective metric {OBJECTIVE}."
    )
    assert described["TrainingJobStatusCounters"]["NonRetryableError"] == 2
    listed = local.sagemaker.list_training_jobs_for_hyper_parameter_tuning_job(
        HyperParameterTuningJobName="unit-xgb-all-fail"
    )["TrainingJobSummaries"]
    assert [s["ObjectiveStatus"] for s in listed] == ["Failed", "Failed"]
    assert all("labels must be 0..num_class-1" in s["FailureReason"] for s in listed)


@pytest.mark.parametrize(
    ("change", "code", "message"),
    [
        ({"HyperParameterTuningJobName": "unit_underscore"}, "ValidationException", "pattern"),
        ({"HyperParameterTuningJobName": "unit-xgb-random"}, "ResourceInUse", "already exists"),
        (
            {
                "WarmStartConfig": {
                    "WarmStartType": "TransferLearning",
                    "ParentHyperParameterTuningJobs": [
                        {"HyperParameterTuningJobName": "unit-xgb-random"}
                    ],
                }
            },
            "ValidationException",
            "WarmStartConfig",
        ),
        ({"static": {"eta": "0.1"}}, "ValidationException", "eta are both static and tuned"),
        ({"metric": "validation:rmse-ish"}, "ValidationException", "is not among"),
        ({"strategy": "Grid"}, "ValidationException", "categorical parameter ranges only"),
        ({"image": "sklearn"}, "ValidationException", "Provide a metric in the metric definitions"),
        ({"strategy": "Annealing"}, "ValidationException", "Strategy"),
    ],
)
def test_requests_sagemaker_refuses_are_refused(
    local: Local, change: dict[str, Any], code: str, message: str
) -> None:
    config = _config(change.pop("strategy", "Random"))
    config["HyperParameterTuningJobObjective"]["MetricName"] = change.pop("metric", OBJECTIVE)
    request: dict[str, Any] = {
        "HyperParameterTuningJobName": "unit-xgb-refused",
        "HyperParameterTuningJobConfig": config,
        "TrainingJobDefinition": _definition(local, **change.pop("static", {})),
        **change,
    }
    if request.pop("image", None):
        image = images.sklearn_image(REGION)
        request["TrainingJobDefinition"]["AlgorithmSpecification"]["TrainingImage"] = image
    with pytest.raises(ClientError) as refused:
        local.sagemaker.create_hyper_parameter_tuning_job(**request)
    assert refused.value.response["Error"]["Code"] == code
    assert message in refused.value.response["Error"]["Message"]
    names = [
        s["HyperParameterTuningJobName"]
        for s in local.sagemaker.list_hyper_parameter_tuning_jobs()[
            "HyperParameterTuningJobSummaries"
        ]
    ]
    assert request["HyperParameterTuningJobName"] not in names or code == "ResourceInUse"


def _report(name: str, status: str, value: float | None) -> JobReport:
    metrics = {} if value is None else {OBJECTIVE: value}
    return JobReport(name, "", status, metrics, {}, None, None, 0.0)


def test_the_best_is_the_first_of_the_best_completed_jobs() -> None:
    reports = [
        _report("a", "Completed", 0.2),
        _report("b", "Failed", None),
        _report("c", "Completed", 0.1),
        _report("d", "Completed", 0.1),
        _report("e", "Completed", None),
    ]
    assert best_of(Objective(OBJECTIVE, "Minimize"), reports) == reports[2]
    assert best_of(Objective(OBJECTIVE, "Maximize"), reports) == reports[0]
    assert best_of(Objective(OBJECTIVE, "Minimize"), reports[1:2]) is None


@pytest.mark.parametrize(
    ("values", "objective", "evaluated"),
    [
        ({"objective": "multi:softprob"}, "validation:merror", "mlogloss,merror"),
        ({"eval_metric": "auc"}, "validation:rmse", "auc,rmse"),
        ({"eval_metric": "rmse,mae"}, "train:mae", "rmse,mae"),
        ({}, "validation:rmse", "rmse"),
    ],
)
def test_the_objective_metric_is_evaluated(
    values: dict[str, str], objective: str, evaluated: str
) -> None:
    assert xgboost_builtin.with_objective_metric(values, objective)["eval_metric"] == evaluated


def test_a_metric_xgboost_does_not_know_changes_nothing() -> None:
    values = {"objective": "reg:squarederror"}
    assert xgboost_builtin.with_objective_metric(values, "validation:r2") == values
    assert xgboost_builtin.with_objective_metric(values, None) == values
