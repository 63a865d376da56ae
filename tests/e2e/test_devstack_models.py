"""End to end: every kind of model in the SageMaker examples, trained as the examples train it,
auto-promoted by sagewire and predicting through it (the `make demo` model-kind stories)."""

from __future__ import annotations

import io
import tarfile
from typing import Any

import boto3
import pytest
import requests

from devstack import demo_models, images
from devstack.demo_client import Api
from devstack.demo_models import ModelKindStories
from devstack.experiments import TRAINING_COMPONENT_SUFFIX
from devstack.stack import Stack

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stories(in_process_stack: Stack) -> ModelKindStories:
    return ModelKindStories(in_process_stack, Api(in_process_stack.api_url))


def _champion(stories: ModelKindStories, project: str) -> dict[str, Any]:
    """GET /v1/projects/{project}/champion."""
    response = requests.get(f"{stories.api.url}/v1/projects/{project}/champion", timeout=30)
    assert response.status_code == 200, response.text
    champion: dict[str, Any] = response.json()["champion"]
    return champion


def test_a_scikit_learn_script_mode_model_is_promoted_as_deploy_would_and_predicts(
    stories: ModelKindStories,
) -> None:
    outcome = stories.sklearn_script_mode()
    champion = _champion(stories, demo_models.SKLEARN)
    assert champion["run_name"] == demo_models.SKLEARN_JOB
    region = boto3.session.Session().region_name or "us-east-1"
    model = boto3.client("sagemaker").describe_model(ModelName=outcome.serving.model)
    container = model["PrimaryContainer"]
    # The framework image serves from its training image, with the script-mode environment; under
    # network isolation its code is packed into the model's own artifact, as deploy() packs it.
    assert container["Image"] == images.sklearn_image(region)
    assert container["Environment"] == {
        "SAGEMAKER_PROGRAM": "train.py",
        "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
    }
    assert model["EnableNetworkIsolation"] is True
    bucket, _, key = container["ModelDataUrl"].removeprefix("s3://").partition("/")
    assert key == f"models/{outcome.serving.model}/model.tar.gz"
    packed = boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(packed), mode="r:gz") as tar:
        names = tar.getnames()
    assert {"model.joblib", "code/train.py"} <= set(names)
    assert outcome.serving.run == demo_models.SKLEARN_JOB
    assert outcome.score >= demo_models.MIN_SKLEARN_ACCURACY


def test_an_xgboost_regressor_on_tabular_rows_is_promoted_and_predicts(
    stories: ModelKindStories,
) -> None:
    outcome = stories.xgboost_regressor()
    champion = _champion(stories, demo_models.XGBOOST)
    assert champion["run_name"] == demo_models.XGBOOST_JOB
    assert outcome.serving.image.endswith("/sagemaker-xgboost:1.7-1")
    assert outcome.serving.environment == {}
    # Predicting the training mean scores about 70.3 on these rows.
    assert outcome.score < demo_models.MAX_XGBOOST_RMSE
    assert outcome.score == pytest.approx(outcome.objective, rel=1e-3)


def test_an_experiment_s_trials_are_ranked_and_promoted_by_the_metric_s_max(
    stories: ModelKindStories,
) -> None:
    outcome = stories.experiment_by_max()
    metric = demo_models.PEAK_METRIC
    champion = _champion(stories, demo_models.PEAK)
    components = {
        trial: boto3.client("sagemaker").describe_trial_component(
            TrialComponentName=trial + TRAINING_COMPONENT_SUFFIX
        )
        for trial in demo_models.PEAK_TRIALS
    }
    logged = {
        trial: next(m for m in component["Metrics"] if m["MetricName"] == metric)
        for trial, component in components.items()
    }
    best_max = max(logged, key=lambda trial: logged[trial]["Max"])
    best_last = max(logged, key=lambda trial: logged[trial]["Last"])
    assert champion["run_name"] == outcome.champion == best_max
    assert champion["objective_value"] == pytest.approx(logged[best_max]["Max"])
    # The trials are chosen so that the final values would have chosen another one.
    assert best_last != best_max
    assert outcome.serving.run == best_max
    assert list(outcome.ranked) == sorted(logged, key=lambda trial: -logged[trial]["Max"])
    assert outcome.score >= demo_models.MIN_PEAK_ACCURACY
