"""The lineage routes end to end: records in DynamoDB (moto), SageMaker answering by Stubber."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.stub import Stubber
from chalice.test import Client

from chalicelib import wiring
from chalicelib.records import Champion, Channel, DatasetVersion, Promotion, Run
from tests.factories import project_document, register_project

ACCOUNT_ARN = "arn:aws:sagemaker:us-east-1:123456789012"
ROLE = "arn:aws:iam::123456789012:role/SageMakerExecution"
IMAGE = "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-training:2.1-cpu-py310"
T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
RUN = "pytorch-hpo-003"
MODEL = f"mnist-zero-{RUN}"
CONFIG = f"mnist-zero-{RUN}-1a2b3c4d"
TRAIN = "s3://sagewire-data/mnist/train/"
SERVING = "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.1-cpu-py310"
ENVIRONMENT = {
    "SAGEMAKER_PROGRAM": "mnist.py",
    "SAGEMAKER_SUBMIT_DIRECTORY": f"s3://sagewire-models/{RUN}/source/sourcedir.tar.gz",
}


def recorded_run() -> Run:
    return Run(
        name=RUN,
        arn=f"{ACCOUNT_ARN}:training-job/{RUN}",
        status="Completed",
        last_modified_at=T0 + timedelta(hours=1),
        metrics={"train:objective_loss:final": 0.05},
        hyperparameters={"lr": "0.01", "batch-size": "64"},
        channels=(Channel("training", TRAIN),),
        model_artifact=f"s3://sagewire-models/{RUN}/output/model.tar.gz",
        training_image=IMAGE,
        role_arn=ROLE,
        trial_name="mnist-trial-3",
        tuning_job_name="pytorch-mnist-hpo",
        started_at=T0,
    )


@pytest.fixture
def sagemaker(client: Client) -> Iterator[Stubber]:
    """A project whose run was promoted, with the run's training data recorded."""
    container = wiring.container()
    document = project_document("mnist-zero")
    document["endpoint"]["execution_role_arn"] = ROLE
    register_project(client, document)
    run = recorded_run()
    assert container.run_store.put_run(run)
    promotion_id = f"2026-11-20T13:00:00.000000Z#{RUN}"
    champion = Champion("mnist-zero", RUN, 0.05, 1, MODEL, CONFIG, promotion_id, T0)
    promotion = Promotion(
        "mnist-zero", promotion_id, RUN, None, "event:1", "all_at_once", "succeeded",
        MODEL, CONFIG, None, T0, T0,
    )  # fmt: skip
    assert container.champion_store.replace(champion, 0, promotion)
    container.dataset_store.put_version(
        DatasetVersion(f"{TRAIN}part-0.npy", "etag-1", 2048, T0 - timedelta(days=1), "v1", "0A")
    )
    with Stubber(container.sagemaker_client) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def in_service() -> dict[str, Any]:
    return {
        "EndpointName": "mnist-zero",
        "EndpointArn": f"{ACCOUNT_ARN}:endpoint/mnist-zero",
        "EndpointConfigName": CONFIG,
        "EndpointStatus": "InService",
        "CreationTime": T0,
        "LastModifiedTime": T0,
    }


def expect_trial(sagemaker: Stubber) -> None:
    sagemaker.add_response(
        "list_trial_components",
        {"TrialComponentSummaries": [{"TrialComponentName": "mnist-preprocessing"}]},
        {"TrialName": "mnist-trial-3"},
    )
    sagemaker.add_response(
        "describe_trial_component",
        {
            "TrialComponentName": "mnist-preprocessing",
            "DisplayName": "Preprocessing",
            "Parameters": {"mean": {"NumberValue": 0.1307}, "std": {"NumberValue": 0.3081}},
        },
        {"TrialComponentName": "mnist-preprocessing"},
    )


def test_the_endpoint_chain_reaches_the_run_its_data_and_preprocessing(
    client: Client, sagemaker: Stubber
) -> None:
    sagemaker.add_response("describe_endpoint", in_service(), {"EndpointName": "mnist-zero"})
    sagemaker.add_response(
        "describe_endpoint_config",
        {
            "EndpointConfigName": CONFIG,
            "EndpointConfigArn": f"{ACCOUNT_ARN}:endpoint-config/{CONFIG}",
            "CreationTime": T0,
            "ProductionVariants": [
                {"VariantName": "AllTraffic", "ModelName": MODEL, "InitialVariantWeight": 1.0}
            ],
        },
        {"EndpointConfigName": CONFIG},
    )
    sagemaker.add_response(
        "describe_model",
        {
            "ModelName": MODEL,
            "ModelArn": f"{ACCOUNT_ARN}:model/{MODEL}",
            "CreationTime": T0,
            "PrimaryContainer": {
                "Image": SERVING,
                "ModelDataUrl": f"s3://sagewire-models/{RUN}/output/model.tar.gz",
                "Environment": ENVIRONMENT,
            },
            "ExecutionRoleArn": ROLE,
        },
        {"ModelName": MODEL},
    )
    expect_trial(sagemaker)
    response = client.http.get("/v1/lineage/endpoints/mnist-zero")
    assert response.status_code == 200
    body = response.json_body
    assert (body["status"], body["config_name"], body["project"]) == (
        "InService",
        CONFIG,
        "mnist-zero",
    )
    [variant] = body["variants"]
    model = variant["model"]
    assert (model["name"], model["run_name"], model["run_source"]) == (MODEL, RUN, "ledger")
    # What serves (DescribeModel), beside what trained.
    assert (model["image"], model["environment"]) == (SERVING, ENVIRONMENT)
    training = model["training"]
    assert training["run"]["training_image"] == IMAGE
    assert training["run"]["hyperparameters"] == {"lr": "0.01", "batch-size": "64"}
    assert training["run"]["tuning_job_name"] == "pytorch-mnist-hpo"
    [channel] = training["inputs"]
    assert channel["provenance"] == "recorded"
    assert [v["version_id"] for v in channel["versions"]] == ["v1"]
    [component] = training["trial_components"]
    assert component["parameters"] == {"mean": 0.1307, "std": 0.3081}
    assert len(body["inference"]["sha256"]) == 64


def test_an_unknown_endpoint_is_a_404(client: Client, sagemaker: Stubber) -> None:
    sagemaker.add_client_error(
        "describe_endpoint",
        service_error_code="ValidationException",
        service_message='Could not find endpoint "nowhere".',
        expected_params={"EndpointName": "nowhere"},
    )
    response = client.http.get("/v1/lineage/endpoints/nowhere")
    assert response.status_code == 404
    assert response.json_body["error"]["code"] == "EndpointNotFound"


def test_a_malformed_endpoint_name_is_a_400(client: Client, sagemaker: Stubber) -> None:
    response = client.http.get("/v1/lineage/endpoints/not_a_name")
    assert response.status_code == 400
    assert response.json_body["error"]["code"] == "InvalidParameter"


def test_a_dataset_leads_to_the_endpoint_that_serves_its_run(
    client: Client, sagemaker: Stubber
) -> None:
    sagemaker.add_response("describe_endpoint", in_service(), {"EndpointName": "mnist-zero"})
    response = client.http.get(f"/v1/lineage/datasets?uri={TRAIN}part-0.npy")
    assert response.status_code == 200
    [run] = response.json_body["runs"]
    assert run["run_name"] == RUN
    assert run["channels"] == [{"name": "training", "s3_uri": TRAIN}]
    [deployment] = run["deployments"]
    assert (deployment["endpoint"], deployment["model_name"], deployment["serving"]) == (
        "mnist-zero",
        MODEL,
        True,
    )


@pytest.mark.parametrize("query", ["", "?uri=", "?uri=https://example.com/x", "?uri=s3://b"])
def test_a_dataset_query_without_an_s3_uri_is_a_400(
    client: Client, sagemaker: Stubber, query: str
) -> None:
    response = client.http.get(f"/v1/lineage/datasets{query}")
    assert response.status_code == 400
    assert response.json_body["error"]["code"] == "InvalidParameter"


def test_a_run_has_its_upstream_and_downstream(client: Client, sagemaker: Stubber) -> None:
    expect_trial(sagemaker)
    sagemaker.add_response("describe_endpoint", in_service(), {"EndpointName": "mnist-zero"})
    response = client.http.get(f"/v1/runs/{RUN}")
    assert response.status_code == 200
    body = response.json_body
    assert body["run"]["name"] == RUN
    assert body["inputs"][0]["versions"][0]["etag"] == "etag-1"
    assert body["trial_components"][0]["display_name"] == "Preprocessing"
    [deployment] = body["deployments"]
    assert (deployment["outcome"], deployment["serving"]) == ("succeeded", True)


def test_an_unknown_run_is_a_404(client: Client, sagemaker: Stubber) -> None:
    response = client.http.get("/v1/runs/never-ran")
    assert response.status_code == 404
    assert response.json_body["error"]["code"] == "NotFound"
