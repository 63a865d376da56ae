"""End to end: a job that names only its trial (as Estimator.fit(experiment_config={"TrialName":
...}) starts it) belongs to the trial's experiment, and the experiment's project ranks it."""

from __future__ import annotations

import boto3
import pytest
import requests

from devstack.demo_client import settle
from devstack.jobs import ROLE_ARN
from devstack.stack import Stack
from tests.e2e.test_devstack_imports import train

pytestmark = pytest.mark.e2e
EXPERIMENT = "trial-only-exp"
TRIAL = "trial-only-t1"
JOB = "trial-only-xgb"


def test_a_job_naming_only_its_trial_is_ranked_by_its_experiments_project(
    in_process_stack: Stack,
) -> None:
    stack = in_process_stack
    sagemaker = boto3.client("sagemaker", region_name=stack.state.region)
    sagemaker.create_experiment(ExperimentName=EXPERIMENT)
    sagemaker.create_trial(TrialName=TRIAL, ExperimentName=EXPERIMENT)
    project = {
        "name": "trial-only",
        "match": {"experiment_name": EXPERIMENT},
        "objective": {"metric": "validation:rmse", "goal": "minimize"},
        "endpoint": {"name": "trial-only", "execution_role_arn": ROLE_ARN},
        "inference": {
            "input": {"shape": [10]},
            "request": {"content_type": "text/csv"},
            "response": {"accept": "text/csv", "postprocess": "regression"},
        },
    }
    put = requests.put(f"{stack.api_url}/v1/projects/trial-only", json=project, timeout=30)
    assert put.status_code == 201, put.text

    train(stack, JOB, 10, ExperimentConfig={"TrialName": TRIAL})
    settle(stack)

    run = requests.get(f"{stack.api_url}/v1/runs/{JOB}", timeout=30).json()
    champion = requests.get(f"{stack.api_url}/v1/projects/trial-only/champion", timeout=30).json()
    assert (run["run"]["experiment_name"], run["run"]["trial_name"]) == (EXPERIMENT, TRIAL)
    assert champion["champion"]["run_name"] == JOB
