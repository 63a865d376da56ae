"""End to end: a project defined after its runs imports them through SageMaker Search, by tags and
by experiment, through throttling, and ranks them all."""

from __future__ import annotations

import os
from typing import Any

import boto3
import pytest
import requests

from devstack import images
from devstack.demo_boto3 import FAST, channel
from devstack.demo_client import settle
from devstack.jobs import ROLE_ARN
from devstack.stack import Stack

pytestmark = pytest.mark.e2e
TAG = {"Key": "Project", "Value": "imported-before"}
EXPERIMENT = "imported-exp"
TRIAL = "imported-trial"


def train(stack: Stack, name: str, rounds: int, **extra: Any) -> None:
    """An XGBoost regressor on the stack's diabetes data, started as plain boto3 starts it."""
    sagemaker = boto3.client("sagemaker", region_name=stack.state.region)
    sagemaker.create_training_job(
        TrainingJobName=name,
        RoleArn=ROLE_ARN,
        AlgorithmSpecification={
            "TrainingImage": images.image_uri(images.XGBOOST, stack.state.region, "1.7-1"),
            "TrainingInputMode": "File",
        },
        HyperParameters={"objective": "reg:squarederror", "num_round": str(rounds)},
        InputDataConfig=[
            channel(part, stack.state.datasets[f"diabetes/{part}"], "text/csv")
            for part in ("train", "validation")
        ],
        OutputDataConfig={"S3OutputPath": f"s3://{stack.state.bucket}/imported/output"},
        ResourceConfig={"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 5},
        StoppingCondition={"MaxRuntimeInSeconds": 600},
        **extra,
    )
    sagemaker.get_waiter("training_job_completed_or_stopped").wait(
        TrainingJobName=name, WaiterConfig=FAST
    )


def definition(name: str, match: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "match": match,
        "objective": {"metric": "validation:rmse", "goal": "minimize"},
        "endpoint": {"name": name, "execution_role_arn": ROLE_ARN},
        "inference": {
            "input": {"shape": [10]},
            "request": {"content_type": "text/csv"},
            "response": {"accept": "text/csv", "postprocess": "regression"},
        },
    }


def get(stack: Stack, path: str) -> Any:
    answer = requests.get(f"{stack.api_url}{path}", timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_a_project_defined_after_its_runs_imports_them_through_throttling(
    in_process_stack: Stack,
) -> None:
    stack = in_process_stack
    jobs = {f"imported-xgb-{rounds}": rounds for rounds in (2, 8, 30)}
    for name, rounds in jobs.items():
        train(stack, name, rounds, Tags=[TAG])
    settle(stack)
    # Six throttled answers: botocore's five attempts fail the first invocation, the retry goes on.
    throttle = requests.post(
        f"{os.environ['AWS_ENDPOINT_URL']}/_devstack/throttle",
        json={"operation": "Search", "times": 6},
        timeout=30,
    )
    assert throttle.status_code == 200, throttle.text

    put = requests.put(
        f"{stack.api_url}/v1/projects/imported",
        json=definition("imported", {"tags": {TAG["Key"]: TAG["Value"]}}),
        timeout=30,
    )
    assert put.status_code == 201, put.text
    settle(stack)

    done = get(stack, "/v1/projects/imported/imports/latest")
    board = get(stack, "/v1/projects/imported/leaderboard")
    champion = get(stack, "/v1/projects/imported/champion")
    # The stack told sagewire of each job as it ended: recorded then, in no project's leaderboard.
    assert (done["status"], done["seen"], done["already_recorded"]) == ("completed", 3, 3)
    ranked = [entry["name"] for entry in board["runs"]]
    assert sorted(ranked) == sorted(jobs)
    assert champion["champion"]["run_name"] == ranked[0] == done["champion"]
    (promotion,) = get(stack, "/v1/projects/imported/promotions")["promotions"]
    assert promotion["outcome"] == "recorded"
    assert promotion["cause"] == f"import:{done['import_id']}"
    # The SageMaker Search example's own leaderboard, as its notebook asks for it.
    sagemaker = boto3.client("sagemaker", region_name=stack.state.region)
    results = sagemaker.search(
        Resource="TrainingJob",
        SearchExpression={
            "Filters": [{"Name": f"Tags.{TAG['Key']}", "Operator": "Equals", "Value": TAG["Value"]}]
        },
        SortBy="Metrics.validation:rmse",
        SortOrder="Ascending",
        MaxResults=10,
    )["Results"]
    assert [result["TrainingJob"]["TrainingJobName"] for result in results] == ranked


def test_an_experiments_project_imports_its_runs_through_their_trial_components(
    in_process_stack: Stack,
) -> None:
    stack = in_process_stack
    sagemaker = boto3.client("sagemaker", region_name=stack.state.region)
    sagemaker.create_experiment(ExperimentName=EXPERIMENT)
    sagemaker.create_trial(TrialName=TRIAL, ExperimentName=EXPERIMENT)
    train(stack, "imported-exp-xgb", 5, ExperimentConfig={"TrialName": TRIAL})
    settle(stack)

    put = requests.put(
        f"{stack.api_url}/v1/projects/imported-exp",
        json=definition("imported-exp", {"experiment_name": EXPERIMENT}),
        timeout=30,
    )
    assert put.status_code == 201, put.text
    settle(stack)

    done = get(stack, "/v1/projects/imported-exp/imports/latest")
    run = get(stack, "/v1/runs/imported-exp-xgb")["run"]
    assert (done["status"], done["seen"], done["champion"]) == (
        "completed",
        1,
        "imported-exp-xgb",
    )
    assert (run["experiment_name"], run["trial_name"]) == (EXPERIMENT, TRIAL)
