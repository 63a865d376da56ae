"""The event handlers end to end: fixture events in, SageMaker calls (Stubber), DynamoDB (moto)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.stub import ANY, Stubber
from chalice.test import Client

from chalicelib import wiring
from chalicelib.processing.events import event_time
from tests.factories import project_document, register_project
from tests.fakes import EPOCH

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "events"
PACKAGES = "arn:aws:sagemaker:us-east-1:123456789012:model-package"
ROLE = "arn:aws:iam::123456789012:role/SageMakerExecution"
MODEL = "mnist-zero-linear-mbs-100"


def fixture(name: str) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((FIXTURES / name).read_text())
    return event


def described_job(name: str = "linear-mbs-100", **changes: Any) -> dict[str, Any]:
    """The fixture's DescribeTrainingJob answer, with the fields its abridgement left out."""
    job: dict[str, Any] = {
        key: event_time(value, key) if key.endswith("Time") else value
        for key, value in fixture("describe-training-job-response.json").items()
        if key != "_comment" and value is not None
    }
    for metric in job["FinalMetricDataList"]:
        metric["Timestamp"] = event_time(metric["Timestamp"], "Timestamp")
    job.update(
        TrainingJobName=name,
        TrainingJobArn=f"arn:aws:sagemaker:us-east-1:123456789012:training-job/{name}",
        ResourceConfig={"InstanceType": "ml.c4.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30},
        StoppingCondition={"MaxRuntimeInSeconds": 86400},
        **changes,
    )
    return job


def expect_described_job(sagemaker: Stubber, job: dict[str, Any] | None = None) -> None:
    """DescribeTrainingJob, then DescribeTrialComponent of the job's training component (the
    fixture's job runs in an experiment), which logged each final metric once."""
    job = described_job() if job is None else job
    name = job["TrainingJobName"]
    sagemaker.add_response("describe_training_job", job, {"TrainingJobName": name})
    component = f"{name}-aws-training-job"
    sagemaker.add_response(
        "describe_trial_component",
        {
            "TrialComponentName": component,
            "Metrics": [
                {
                    "MetricName": metric["MetricName"],
                    **dict.fromkeys(("Max", "Min", "Avg", "Last"), metric["Value"]),
                    "Count": 1,
                }
                for metric in job.get("FinalMetricDataList", [])
            ],
        },
        {"TrialComponentName": component},
    )


@pytest.fixture
def sagemaker(client: Client) -> Iterator[Stubber]:
    container = wiring.container()
    document = project_document("mnist-zero")
    document["endpoint"]["execution_role_arn"] = ROLE
    register_project(client, document)
    with Stubber(container.sagemaker_client) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def expect_registration(sagemaker: Stubber, version: int = 1, approval: str = "Approved") -> None:
    """The Model Registry's answers to one promotion's registration (the group is created for
    the first; the same function knows it exists after that)."""
    if version == 1:
        sagemaker.add_response(
            "create_model_package_group",
            {"ModelPackageGroupArn": f"{PACKAGES}-group/mnist-zero"},
            {"ModelPackageGroupName": "mnist-zero", "ModelPackageGroupDescription": ANY},
        )
    sagemaker.add_response(
        "create_model_package",
        {"ModelPackageArn": f"{PACKAGES}/mnist-zero/{version}"},
        {
            "ModelPackageGroupName": "mnist-zero",
            "ModelPackageDescription": ANY,
            "InferenceSpecification": ANY,
            "ModelApprovalStatus": approval,
            "CustomerMetadataProperties": ANY,
            "ClientToken": ANY,
        },
    )


def expect_first_deployment(sagemaker: Stubber, until: str = "create_endpoint") -> None:
    """SageMaker's answers to a first deployment, up to the call `until`."""
    expect_described_job(sagemaker)
    expect_registration(sagemaker)
    sagemaker.add_response(
        "create_model",
        {"ModelArn": f"arn:aws:sagemaker:us-east-1:123456789012:model/{MODEL}"},
        {
            "ModelName": MODEL,
            "PrimaryContainer": {
                "Image": "382416733822.dkr.ecr.us-east-1.amazonaws.com/linear-learner:1",
                "ModelDataUrl": described_job()["ModelArtifacts"]["S3ModelArtifacts"],
            },
            "ExecutionRoleArn": ROLE,
            "EnableNetworkIsolation": True,
            "Tags": ANY,
        },
    )
    sagemaker.add_response(
        "create_endpoint_config",
        {"EndpointConfigArn": "arn:aws:sagemaker:us-east-1:123456789012:endpoint-config/c"},
        {"EndpointConfigName": ANY, "ProductionVariants": ANY, "Tags": ANY},
    )
    if until == "create_endpoint_config":
        return
    sagemaker.add_client_error(
        "update_endpoint",
        service_error_code="ValidationException",
        service_message='Could not find endpoint "mnist-zero".',
        expected_params={"EndpointName": "mnist-zero", "EndpointConfigName": ANY},
    )
    sagemaker.add_response(
        "create_endpoint",
        {"EndpointArn": "arn:aws:sagemaker:us-east-1:123456789012:endpoint/mnist-zero"},
        {"EndpointName": "mnist-zero", "EndpointConfigName": ANY},
    )


def test_a_completed_training_job_is_recorded_selected_and_deployed(
    client: Client, sagemaker: Stubber
) -> None:
    expect_first_deployment(sagemaker)
    client.lambda_.invoke("on_training_job_state_change", fixture("training-job-completed.json"))
    champion = client.http.get("/v1/projects/mnist-zero/promotions").json_body
    [promotion] = champion["promotions"]
    assert promotion["run_name"] == "linear-mbs-100"
    assert promotion["outcome"] == "deploying"
    assert promotion["cause"] == "event:844e2571-85d4-695f-b930-0153b71dcb42"


@pytest.mark.parametrize("where", ["account", "resources", "TrainingJobArn"])
def test_an_event_about_another_account_is_skipped_before_any_call(
    client: Client, sagemaker: Stubber, where: str
) -> None:
    event = fixture("training-job-completed.json")
    theirs = "210987654321"
    if where == "account":
        event["account"] = theirs
    elif where == "resources":
        event["resources"] = [arn.replace("123456789012", theirs) for arn in event["resources"]]
    else:
        event["detail"][where] = event["detail"][where].replace("123456789012", theirs)

    payload = client.lambda_.invoke("on_training_job_state_change", event).payload

    assert payload["skipped"].endswith("123456789012")  # no SageMaker call: the Stubber is empty
    assert client.http.get("/v1/projects/mnist-zero/promotions").json_body["promotions"] == []
    assert client.http.get("/v1/runs/linear-mbs-100").status_code == 404


def test_a_duplicate_delivery_under_another_event_id_changes_nothing(
    client: Client, sagemaker: Stubber
) -> None:
    expect_first_deployment(sagemaker)
    event = fixture("training-job-completed.json")
    first = client.lambda_.invoke("on_training_job_state_change", event).payload
    event["id"] = "another-delivery"
    again = client.lambda_.invoke("on_training_job_state_change", event).payload
    assert again == first  # the stored result; the Stubber has no answers left for new calls
    assert len(client.http.get("/v1/projects/mnist-zero/promotions").json_body["promotions"]) == 1


def test_the_endpoint_event_closes_the_promotion(client: Client, sagemaker: Stubber) -> None:
    expect_first_deployment(sagemaker)
    client.lambda_.invoke("on_training_job_state_change", fixture("training-job-completed.json"))
    config = client.http.get("/v1/projects/mnist-zero/promotions").json_body["promotions"][0][
        "endpoint_config_name"
    ]
    in_service = {
        "EndpointName": "mnist-zero",
        "EndpointArn": "arn:aws:sagemaker:us-east-1:123456789012:endpoint/mnist-zero",
        "EndpointConfigName": config,
        "EndpointStatus": "InService",
        "CreationTime": event_time("2026-11-20T12:30:00Z", "t"),
        "LastModifiedTime": event_time("2026-11-20T12:40:00Z", "t"),
    }
    sagemaker.add_response("describe_endpoint", in_service, {"EndpointName": "mnist-zero"})
    client.lambda_.invoke("on_endpoint_state_change", fixture("endpoint-state-change.json"))
    sagemaker.add_response("describe_endpoint", in_service, {"EndpointName": "mnist-zero"})
    weights = [{"VariantName": "AllTraffic", "CurrentWeight": 1.0, "DesiredWeight": 1.0}]
    with_weights = {**in_service, "ProductionVariants": weights}
    sagemaker.add_response("describe_endpoint", with_weights, {"EndpointName": "mnist-zero"})
    view = client.http.get("/v1/projects/mnist-zero/champion").json_body
    assert view["champion"]["run_name"] == "linear-mbs-100"
    assert view["promotion"]["outcome"] == "succeeded"
    assert view["serving"]["config_name"] == config
    assert view["serving_run_name"] == "linear-mbs-100"
    # CloudWatch (moto's) has no datapoints: the invocations are unknown, never an error.
    assert view["variants"] == [
        {
            "name": "AllTraffic",
            "run_name": "linear-mbs-100",
            "model_name": view["champion"]["model_name"],
            "initial_weight": 1.0,
            "current_weight": 1.0,
            "desired_weight": 1.0,
            "invocations": None,
        }
    ]


def test_a_tuning_jobs_best_training_job_is_recorded_and_deployed(
    client: Client, sagemaker: Stubber
) -> None:
    sagemaker.add_response(
        "describe_hyper_parameter_tuning_job",
        {
            "HyperParameterTuningJobName": "pytorch-mnist-hpo",
            "HyperParameterTuningJobArn": "arn:aws:sagemaker:us-east-1:123456789012:"
            "hyper-parameter-tuning-job/pytorch-mnist-hpo",
            "HyperParameterTuningJobConfig": {
                "Strategy": "Bayesian",
                "ResourceLimits": {"MaxParallelTrainingJobs": 3},
            },
            "HyperParameterTuningJobStatus": "Completed",
            "CreationTime": event_time("2026-11-20T13:00:00Z", "t"),
            "TrainingJobStatusCounters": {},
            "ObjectiveStatusCounters": {},
            "BestTrainingJob": {
                "TrainingJobName": "linear-mbs-100",
                "TrainingJobArn": "arn:aws:sagemaker:us-east-1:123456789012:"
                "training-job/linear-mbs-100",
                "CreationTime": event_time("2026-11-20T13:00:00Z", "t"),
                "TrainingJobStatus": "Completed",
                "TunedHyperParameters": {"mini_batch_size": "100"},
            },
        },
        {"HyperParameterTuningJobName": "pytorch-mnist-hpo"},
    )
    expect_first_deployment(sagemaker)
    event = fixture("tuning-job-completed.json")
    event["detail"]["Tags"] = {"Project": "Project_Binary_Classifier"}
    client.lambda_.invoke("on_tuning_job_state_change", event)
    promotions = client.http.get("/v1/projects/mnist-zero/promotions").json_body["promotions"]
    assert [p["run_name"] for p in promotions] == ["linear-mbs-100"]


def test_reconcile_runs_on_its_schedule(client: Client, sagemaker: Stubber) -> None:
    event = client.events.generate_cw_event(
        source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]
    )
    result = client.lambda_.invoke("reconcile", event)
    assert result.payload == {"advanced": [], "drift": [], "registered": []}


def test_promotions_api_rolls_back_to_a_named_run(client: Client, sagemaker: Stubber) -> None:
    expect_first_deployment(sagemaker)
    client.lambda_.invoke("on_training_job_state_change", fixture("training-job-completed.json"))
    response = client.http.post(
        "/v1/projects/mnist-zero/promotions",
        headers={"Content-Type": "application/json"},
        body=b'{"run": "no-such-run"}',
    )
    assert response.status_code == 404
    response = client.http.post(
        "/v1/projects/mnist-zero/promotions",
        headers={"Content-Type": "application/json"},
        body=b'{"runs": 1}',
    )
    assert response.status_code == 400
    assert client.http.get("/v1/projects/nobody/champion").status_code == 404
    assert client.http.get("/v1/projects/mnist-zero/promotions?limit=0").status_code == 400


def test_a_crash_midway_is_finished_by_the_redelivered_event(
    client: Client, sagemaker: Stubber
) -> None:
    """The runtime dies after CreateModel and CreateEndpointConfig, before UpdateEndpoint, on
    the real SageMaker gateway. Powertools drops the failed run's in-progress record, so the
    redelivery is not refused; it verifies and reuses what the first attempt created."""
    sent: dict[str, dict[str, Any]] = {}
    events = wiring.container().sagemaker_client.meta.events

    def record(params: dict[str, Any], model: Any, **_: Any) -> None:
        sent[model.name] = params

    def die(**_: Any) -> None:
        events.unregister("provide-client-params.sagemaker.UpdateEndpoint", die)
        raise RuntimeError("the Lambda runtime died")

    events.register("provide-client-params.sagemaker.*", record)
    events.register("provide-client-params.sagemaker.UpdateEndpoint", die)
    expect_first_deployment(sagemaker, until="create_endpoint_config")
    event = fixture("training-job-completed.json")
    with pytest.raises(RuntimeError, match="died"):
        client.lambda_.invoke("on_training_job_state_change", event)
    sagemaker.assert_no_pending_responses()

    model, config = sent["CreateModel"], sent["CreateEndpointConfig"]
    expect_described_job(sagemaker)
    for operation, described, answer in (
        (
            "create_model",
            "describe_model",
            {
                **model,
                "ModelArn": f"arn:aws:sagemaker:us-east-1:123456789012:model/{MODEL}",
                "CreationTime": EPOCH,
            },
        ),
        (
            "create_endpoint_config",
            "describe_endpoint_config",
            {
                **config,
                "EndpointConfigArn": "arn:aws:sagemaker:us-east-1:123456789012:endpoint-config/c",
                "CreationTime": EPOCH,
            },
        ),
    ):
        sagemaker.add_client_error(
            operation,
            service_error_code="ValidationException",
            service_message="Cannot create already existing resource",
        )
        answer.pop("Tags", None)
        sagemaker.add_response(described, answer)
    sagemaker.add_client_error(
        "describe_endpoint",
        service_error_code="ValidationException",
        service_message='Could not find endpoint "mnist-zero".',
    )
    sagemaker.add_response(
        "create_endpoint",
        {"EndpointArn": "arn:aws:sagemaker:us-east-1:123456789012:endpoint/mnist-zero"},
        {"EndpointName": "mnist-zero", "EndpointConfigName": config["EndpointConfigName"]},
    )
    client.lambda_.invoke("on_training_job_state_change", event)

    [promotion] = client.http.get("/v1/projects/mnist-zero/promotions").json_body["promotions"]
    assert promotion["outcome"] == "deploying"
    assert promotion["endpoint_config_name"] == config["EndpointConfigName"]


PACKAGE_FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "events"


def package_event(**detail: Any) -> dict[str, Any]:
    event: dict[str, Any] = json.loads(
        (PACKAGE_FIXTURES / "model-package-state-change.json").read_text()
    )
    event["detail"].update(detail)
    return event


def test_a_package_in_a_group_of_no_project_is_skipped_before_any_call(
    client: Client, sagemaker: Stubber
) -> None:
    event = package_event(ModelPackageGroupName="someone-elses")
    result = client.lambda_.invoke("on_model_package_state_change", event)
    assert result.payload["verdict"] == "skipped"
    assert result.payload["reason"] == "the group belongs to no project"


def test_the_approved_creation_event_of_a_deploying_promotion_changes_nothing(
    client: Client, sagemaker: Stubber
) -> None:
    expect_first_deployment(sagemaker)
    client.lambda_.invoke("on_training_job_state_change", fixture("training-job-completed.json"))
    [promotion] = client.http.get("/v1/projects/mnist-zero/promotions").json_body["promotions"]
    arn = f"{PACKAGES}/mnist-zero/1"
    assert promotion["model_package_arn"] == arn
    sagemaker.add_response(
        "describe_model_package",
        {
            "ModelPackageName": "mnist-zero",
            "ModelPackageGroupName": "mnist-zero",
            "ModelPackageArn": arn,
            "CreationTime": datetime(2026, 11, 20, tzinfo=UTC),
            "ModelPackageStatus": "Completed",
            "ModelPackageStatusDetails": {"ValidationStatuses": []},
            "ModelApprovalStatus": "Approved",
            "CustomerMetadataProperties": {
                "sagewire:project": "mnist-zero",
                "sagewire:promotion": promotion["promotion_id"],
            },
        },
        {"ModelPackageName": arn},
    )
    event = package_event(ModelPackageArn=arn)
    first = client.lambda_.invoke("on_model_package_state_change", event)
    # The same change delivered again (another event id) is answered from the first.
    again = client.lambda_.invoke("on_model_package_state_change", event | {"id": "another"})
    assert first.payload["verdict"] == "skipped"
    assert first.payload["reason"] == "its promotion is deploying"
    assert again.payload == first.payload
    promotions = client.http.get("/v1/projects/mnist-zero/promotions").json_body["promotions"]
    assert [p["outcome"] for p in promotions] == ["deploying"]
