"""SageMakerGateway against a real botocore client: Stubber and before-send hooks."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, NamedTuple

import pytest
import urllib3
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.compat import HTTPHeaders
from botocore.exceptions import EndpointConnectionError
from botocore.stub import Stubber
from mypy_boto3_sagemaker.client import SageMakerClient

from chalicelib.definitions import SAGEMAKER_NAME
from chalicelib.errors import (
    Conflict,
    DeploymentFailed,
    EndpointBusy,
    EndpointUnavailable,
    NotFound,
    SagewireError,
)
from chalicelib.gateways.sagemaker import SageMakerGateway, control_plane_client_config
from chalicelib.models import EndpointSpec, ModelOverride, Strategy
from chalicelib.naming import resource_name
from chalicelib.processing.model_containers import ServingContainer, serving_container
from chalicelib.records import Channel, EndpointState, Run, Variant

ACCOUNT = "123456789012"
ARN_PREFIX = f"arn:aws:sagemaker:us-east-1:{ACCOUNT}"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/SageMakerExecution"
IMAGE = "382416733822.dkr.ecr.us-east-1.amazonaws.com/linear-learner:1"
ARTIFACT = "s3://sagewire-demo/digits-zero/linear-learner-mb-200/output/model.tar.gz"
JOB = "linear-learner-mb-200"
ENDPOINT = "digits-zero"
CONFIG = "digits-zero-linear-learner-mb-200"
MODEL = "digits-zero-linear-learner-mb-200"
RETRY_AFTER = 7
CREATED = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
STARTED = datetime(2024, 5, 1, 12, 2, tzinfo=UTC)
ENDED = datetime(2024, 5, 1, 12, 9, tzinfo=UTC)
MODIFIED = datetime(2024, 5, 1, 12, 10, tzinfo=UTC)
TAGS = {"Project": "Project_Binary_Classifier"}
URL = "https://api.sagemaker.us-east-1.amazonaws.com/"
SPEC = EndpointSpec(name=ENDPOINT, instance_type="ml.m5.large", instance_count=2)
VARIANTS = (Variant("champion", MODEL, 0.9), Variant("challenger", "digits-zero-mb-100", 0.1))

Handler = Callable[[AWSPreparedRequest], AWSResponse]


@pytest.fixture
def gateway(client: SageMakerClient) -> SageMakerGateway:
    return SageMakerGateway(client, retry_after_seconds=RETRY_AFTER)


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Botocore's retry backoff, recorded instead of slept."""
    recorded: list[float] = []
    monkeypatch.setattr(time, "sleep", recorded.append)
    return recorded


def run(**changes: Any) -> Run:
    fields: dict[str, Any] = {
        "name": JOB,
        "arn": f"{ARN_PREFIX}:training-job/{JOB}",
        "status": "Completed",
        "last_modified_at": MODIFIED,
        "model_artifact": ARTIFACT,
        "training_image": IMAGE,
        "role_arn": ROLE,
    }
    return Run(**(fields | changes))


def training_job(**changes: Any) -> dict[str, Any]:
    """A DescribeTrainingJob answer for a linear-learner job started by a tuning job."""
    job: dict[str, Any] = {
        "TrainingJobName": JOB,
        "TrainingJobArn": f"{ARN_PREFIX}:training-job/{JOB}",
        "TuningJobArn": f"{ARN_PREFIX}:hyper-parameter-tuning-job/digits-zero-tuning",
        "ModelArtifacts": {"S3ModelArtifacts": ARTIFACT},
        "TrainingJobStatus": "Completed",
        "SecondaryStatus": "Completed",
        "HyperParameters": {
            "feature_dim": "784",
            "predictor_type": "binary_classifier",
            "mini_batch_size": "200",
        },
        "AlgorithmSpecification": {"TrainingImage": IMAGE, "TrainingInputMode": "File"},
        "RoleArn": ROLE,
        "InputDataConfig": [
            {
                "ChannelName": "train",
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "S3Prefix",
                        "S3Uri": "s3://sagewire-demo/digits/train/",
                    }
                },
            },
            {
                "ChannelName": "validation",
                "DataSource": {
                    "FileSystemDataSource": {
                        "FileSystemId": "fs-0123456789abcdef0",
                        "FileSystemAccessMode": "ro",
                        "FileSystemType": "EFS",
                        "DirectoryPath": "/digits/validation",
                    }
                },
            },
        ],
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
        "CreationTime": CREATED,
        "TrainingStartTime": STARTED,
        "TrainingEndTime": ENDED,
        "LastModifiedTime": MODIFIED,
        "FinalMetricDataList": [
            {"MetricName": "train:objective_loss:final", "Value": 0.0351, "Timestamp": ENDED},
            {"MetricName": "validation:binary_f_beta", "Value": 0.962, "Timestamp": ENDED},
            {"MetricName": "validation:objective_loss", "Value": float("nan"), "Timestamp": ENDED},
        ],
        "ExperimentConfig": {"ExperimentName": "digits-zero", "TrialName": "mb-200"},
    }
    return job | changes


def production_variants(weights: tuple[float, float] = (0.9, 0.1)) -> list[dict[str, Any]]:
    return [
        {
            "VariantName": variant.name,
            "ModelName": variant.model_name,
            "InitialInstanceCount": 2,
            "InstanceType": "ml.m5.large",
            "InitialVariantWeight": weight,
        }
        for variant, weight in zip(VARIANTS, weights, strict=True)
    ]


def endpoint(status: str, **changes: Any) -> dict[str, Any]:
    return {
        "EndpointName": ENDPOINT,
        "EndpointArn": f"{ARN_PREFIX}:endpoint/{ENDPOINT}",
        "EndpointConfigName": CONFIG,
        "EndpointStatus": status,
        "CreationTime": CREATED,
        "LastModifiedTime": MODIFIED,
    } | changes


def wire(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> AWSResponse:
    all_headers = {"Content-Type": "application/x-amz-json-1.1", **(headers or {})}
    raw = urllib3.HTTPResponse(
        body=io.BytesIO(json.dumps(body).encode()),
        status=status,
        headers=all_headers,
        preload_content=False,
    )
    return AWSResponse(URL, status, HTTPHeaders.from_dict(all_headers), raw)


def throttled(_: AWSPreparedRequest) -> AWSResponse:
    return wire(
        400,
        {"__type": "ThrottlingException", "message": "Rate exceeded"},
        {"x-amzn-ErrorType": "ThrottlingException"},
    )


def on_send(
    client: SageMakerClient, operation: str, handlers: list[Handler]
) -> list[dict[str, Any]]:
    """Answers the n-th attempt with handlers[n] (the last one repeats); returns sent params."""
    sent: list[dict[str, Any]] = []

    def handler(request: AWSPreparedRequest, **_: object) -> AWSResponse:
        assert isinstance(request.body, bytes)
        sent.append(json.loads(request.body))
        return handlers[min(len(sent), len(handlers)) - 1](request)

    # The stubs type every handler as returning None; before-send handlers may answer instead.
    client.meta.events.register(f"before-send.sagemaker.{operation}", handler)  # type: ignore[arg-type]
    return sent


def assert_clean(error: SagewireError) -> None:
    assert len(error.message) <= 200
    for leak in ("arn:", ACCOUNT, "\r", "\n", "\x1b"):
        assert leak not in error.message


def test_config_uses_standard_retries_with_five_attempts_and_short_timeouts(
    client: SageMakerClient,
) -> None:
    options = vars(control_plane_client_config())

    assert options["retries"] == {"mode": "standard", "total_max_attempts": 5}
    assert 0 < options["connect_timeout"] <= options["read_timeout"] <= 10
    assert vars(client.meta.config)["read_timeout"] == options["read_timeout"]


def trial_component(**changes: Any) -> dict[str, Any]:
    """DescribeTrialComponent of the training job's component (run in an experiment)."""
    name = f"{JOB}-aws-training-job"
    component = {
        "TrialComponentName": name,
        "TrialComponentArn": f"{ARN_PREFIX}:experiment-trial-component/{name}",
        "DisplayName": "Training",
        "Source": {
            "SourceArn": f"{ARN_PREFIX}:training-job/{JOB}",
            "SourceType": "SageMakerTrainingJob",
        },
        "Metrics": [
            {
                "MetricName": "validation:binary_f_beta",
                "SourceArn": f"{ARN_PREFIX}:training-job/{JOB}",
                "TimeStamp": ENDED,
                "Max": 0.97,
                "Min": 0.81,
                "Last": 0.962,
                "Count": 15,
                "Avg": 0.93,
                "StdDev": 0.04,
            },
            {"MetricName": "validation:objective_loss", "Max": float("nan"), "Last": 0.2},
            {"MetricName": "train:progress", "Avg": float("inf")},
        ],
    }
    return component | changes


def test_describe_training_job_returns_the_run_with_finite_metrics_and_the_event_tags(
    stubber: Stubber, gateway: SageMakerGateway
) -> None:
    stubber.add_response("describe_training_job", training_job(), {"TrainingJobName": JOB})
    stubber.add_response(
        "describe_trial_component",
        trial_component(),
        {"TrialComponentName": f"{JOB}-aws-training-job"},
    )

    described = gateway.describe_training_job(JOB, TAGS)

    assert described == Run(
        name=JOB,
        arn=f"{ARN_PREFIX}:training-job/{JOB}",
        status="Completed",
        last_modified_at=MODIFIED,
        metrics={"train:objective_loss:final": 0.0351, "validation:binary_f_beta": 0.962},
        hyperparameters={
            "feature_dim": "784",
            "predictor_type": "binary_classifier",
            "mini_batch_size": "200",
        },
        channels=(Channel("train", "s3://sagewire-demo/digits/train/"),),
        model_artifact=ARTIFACT,
        training_image=IMAGE,
        role_arn=ROLE,
        tags=TAGS,
        experiment_name="digits-zero",
        trial_name="mb-200",
        tuning_job_name="digits-zero-tuning",
        created_at=CREATED,
        started_at=STARTED,
        ended_at=ENDED,
        metric_statistics={
            "validation:binary_f_beta": {
                "max": 0.97,
                "min": 0.81,
                "avg": 0.93,
                "last": 0.962,
                "count": 15.0,
                "std_dev": 0.04,
            },
            "validation:objective_loss": {"last": 0.2},
        },
    )
    assert described.last_modified_at.tzinfo is not None
    stubber.assert_no_pending_responses()


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("ResourceNotFound", "Trial component does not exist."),
        ("ValidationException", "Could not find trial component 'linear-learner-mb-200'."),
    ],
)
def test_a_training_job_without_its_trial_component_has_no_metric_statistics(
    stubber: Stubber, gateway: SageMakerGateway, code: str, message: str
) -> None:
    stubber.add_response("describe_training_job", training_job(), {"TrainingJobName": JOB})
    stubber.add_client_error(
        "describe_trial_component",
        code,
        message,
        400,
        expected_params={"TrialComponentName": f"{JOB}-aws-training-job"},
    )

    described = gateway.describe_training_job(JOB, TAGS)

    assert described.metric_statistics == {}
    assert described.metrics["validation:binary_f_beta"] == 0.962


def test_a_job_that_names_only_its_trial_belongs_to_the_trials_experiment_read_once(
    stubber: Stubber, gateway: SageMakerGateway
) -> None:
    # As Estimator.fit(experiment_config={"TrialName": "mb-200"}) starts it.
    trial_only = training_job(ExperimentConfig={"TrialName": "mb-200"})
    stubber.add_response("describe_training_job", trial_only, {"TrainingJobName": JOB})
    stubber.add_response(
        "describe_trial",
        {"TrialName": "mb-200", "ExperimentName": "digits-zero"},
        {"TrialName": "mb-200"},
    )
    stubber.add_client_error("describe_trial_component", "ResourceNotFound", "none", 400)
    # The second describe of a job of that trial asks SageMaker nothing about the trial.
    stubber.add_response("describe_training_job", trial_only, {"TrainingJobName": JOB})
    stubber.add_client_error("describe_trial_component", "ResourceNotFound", "none", 400)

    first = gateway.describe_training_job(JOB, TAGS)
    again = gateway.describe_training_job(JOB, TAGS)

    assert (first.experiment_name, first.trial_name) == ("digits-zero", "mb-200")
    assert again.experiment_name == "digits-zero"
    stubber.assert_no_pending_responses()


def test_a_trial_sagemaker_does_not_have_leaves_the_experiment_unknown(
    stubber: Stubber, gateway: SageMakerGateway
) -> None:
    trial_only = training_job(ExperimentConfig={"TrialName": "gone"})
    stubber.add_response("describe_training_job", trial_only, {"TrainingJobName": JOB})
    stubber.add_client_error(
        "describe_trial",
        "ResourceNotFound",
        "Trial 'gone' does not exist.",
        400,
        expected_params={"TrialName": "gone"},
    )
    stubber.add_client_error("describe_trial_component", "ResourceNotFound", "none", 400)

    described = gateway.describe_training_job(JOB, TAGS)

    assert (described.experiment_name, described.trial_name) == (None, "gone")


def test_a_trial_component_that_cannot_be_read_fails_the_describe(
    stubber: Stubber, gateway: SageMakerGateway
) -> None:
    stubber.add_response("describe_training_job", training_job(), {"TrainingJobName": JOB})
    stubber.add_client_error(
        "describe_trial_component",
        "AccessDeniedException",
        f"not authorized to perform sagemaker:DescribeTrialComponent on {ARN_PREFIX}:x",
        400,
        expected_params={"TrialComponentName": f"{JOB}-aws-training-job"},
    )

    with pytest.raises(DeploymentFailed) as raised:
        gateway.describe_training_job(JOB, TAGS)

    assert f"{JOB}-aws-training-job" in raised.value.message
    assert_clean(raised.value)


def test_describe_failed_training_job_keeps_the_failure_reason(
    stubber: Stubber, gateway: SageMakerGateway
) -> None:
    failed = training_job(
        TrainingJobStatus="Failed",
        SecondaryStatus="Failed",
        FailureReason="AlgorithmError: feature_dim 784 does not match the data (64)",
    )
    for key in ("FinalMetricDataList", "TuningJobArn", "ExperimentConfig", "LastModifiedTime"):
        del failed[key]
    stubber.add_response("describe_training_job", failed, {"TrainingJobName": JOB})

    described = gateway.describe_training_job(JOB, {})

    assert described.status == "Failed"
    assert described.failure_reason == (
        "AlgorithmError: feature_dim 784 does not match the data (64)"
    )
    assert described.metrics == {}
    assert described.tuning_job_name is None
    assert described.experiment_name is None
    assert described.last_modified_at == CREATED


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("ValidationException", "Requested resource not found."),
        ("ValidationException", f"Could not find training job '{ARN_PREFIX}:training-job/{JOB}'."),
    ],
)
def test_describe_missing_training_job_is_not_found(
    stubber: Stubber, gateway: SageMakerGateway, code: str, message: str
) -> None:
    stubber.add_client_error(
        "describe_training_job", code, message, 400, expected_params={"TrainingJobName": JOB}
    )

    with pytest.raises(NotFound) as raised:
        gateway.describe_training_job(JOB, TAGS)

    assert JOB in raised.value.message
    assert_clean(raised.value)


def test_describe_training_job_being_deleted_is_not_found(
    stubber: Stubber, gateway: SageMakerGateway
) -> None:
    stubber.add_response(
        "describe_training_job",
        training_job(TrainingJobStatus="Deleting"),
        {"TrainingJobName": JOB},
    )

    with pytest.raises(NotFound):
        gateway.describe_training_job(JOB, TAGS)


def tuning_job(**changes: Any) -> dict[str, Any]:
    return {
        "HyperParameterTuningJobName": "digits-zero-tuning",
        "HyperParameterTuningJobArn": f"{ARN_PREFIX}:hyper-parameter-tuning-job/digits-zero-tuning",
        "HyperParameterTuningJobConfig": {
            "Strategy": "Bayesian",
            "ResourceLimits": {"MaxNumberOfTrainingJobs": 6, "MaxParallelTrainingJobs": 2},
        },
        "HyperParameterTuningJobStatus": "Completed",
        "CreationTime": CREATED,
        "TrainingJobStatusCounters": {"Completed": 6},
        "ObjectiveStatusCounters": {"Succeeded": 6},
    } | changes


def test_best_training_job_names_the_tuning_jobs_winner(
    stubber: Stubber, gateway: SageMakerGateway
) -> None:
    best = {
        "TrainingJobName": "digits-zero-tuning-004-3f2a1b0c",
        "TrainingJobArn": f"{ARN_PREFIX}:training-job/digits-zero-tuning-004-3f2a1b0c",
        "CreationTime": CREATED,
        "TrainingJobStatus": "Completed",
        "TunedHyperParameters": {"lr": "0.0123", "batch-size": "128"},
    }
    stubber.add_response(
        "describe_hyper_parameter_tuning_job",
        tuning_job(BestTrainingJob=best),
        {"HyperParameterTuningJobName": "digits-zero-tuning"},
    )

    assert gateway.best_training_job("digits-zero-tuning") == "digits-zero-tuning-004-3f2a1b0c"


def test_best_training_job_is_none_before_any_job_succeeded(
    stubber: Stubber, gateway: SageMakerGateway
) -> None:
    stubber.add_response(
        "describe_hyper_parameter_tuning_job",
        tuning_job(HyperParameterTuningJobStatus="Failed"),
        {"HyperParameterTuningJobName": "digits-zero-tuning"},
    )

    assert gateway.best_training_job("digits-zero-tuning") is None


def test_best_training_job_of_a_missing_tuning_job_is_not_found(
    stubber: Stubber, gateway: SageMakerGateway
) -> None:
    stubber.add_client_error(
        "describe_hyper_parameter_tuning_job",
        "ResourceNotFound",
        "Amazon SageMaker can't find a tuning job with name digits-zero-tuning",
        400,
        expected_params={"HyperParameterTuningJobName": "digits-zero-tuning"},
    )

    with pytest.raises(NotFound):
        gateway.best_training_job("digits-zero-tuning")


def create_model_params(name: str = MODEL) -> dict[str, Any]:
    return {
        "ModelName": name,
        "PrimaryContainer": {"Image": IMAGE, "ModelDataUrl": ARTIFACT},
        "ExecutionRoleArn": ROLE,
        "EnableNetworkIsolation": True,
        "Tags": [{"Key": "sagewire:run", "Value": JOB}],
    }


def model_already_exists(stubber: Stubber, environment: dict[str, str] | None = None) -> None:
    params = create_model_params()
    if environment:
        params["PrimaryContainer"] = params["PrimaryContainer"] | {"Environment": environment}
    stubber.add_client_error(
        "create_model",
        "ValidationException",
        f'Cannot create already existing model "{ARN_PREFIX}:model/{MODEL}".',
        400,
        expected_params=params,
    )


def ensure(
    gateway: SageMakerGateway,
    name: str,
    job: Run,
    environment: dict[str, str] | None = None,
    isolated: bool = True,
) -> None:
    """EnsureModel of the run's own artifact, served by IMAGE with `environment`."""
    container = ServingContainer(IMAGE, environment or {}, job.model_artifact)
    gateway.ensure_model(name, job, ROLE, isolated, container)


def existing_model(
    stubber: Stubber, environment: dict[str, str] | None = None, **changes: Any
) -> None:
    """CreateModel (with `environment`) finds the model there already; DescribeModel tells it,
    with `changes`."""
    model_already_exists(stubber, environment)
    model = {
        "ModelName": MODEL,
        "ModelArn": f"{ARN_PREFIX}:model/{MODEL}",
        "CreationTime": CREATED,
        "PrimaryContainer": {"Image": IMAGE, "ModelDataUrl": ARTIFACT},
        "ExecutionRoleArn": ROLE,
        "EnableNetworkIsolation": True,
    }
    stubber.add_response("describe_model", model | changes, {"ModelName": MODEL})


def test_ensure_model_creates_the_model_from_the_runs_image_and_artifact(
    stubber: Stubber, gateway: SageMakerGateway
) -> None:
    stubber.add_response(
        "create_model", {"ModelArn": f"{ARN_PREFIX}:model/{MODEL}"}, create_model_params()
    )

    ensure(gateway, MODEL, run())


def test_ensure_model_reuses_an_identical_existing_model(
    stubber: Stubber, gateway: SageMakerGateway
) -> None:
    existing_model(stubber)

    ensure(gateway, MODEL, run())


def test_ensure_model_creates_a_model_with_network_access_only_when_asked(
    stubber: Stubber, gateway: SageMakerGateway
) -> None:
    params = create_model_params() | {"EnableNetworkIsolation": False}
    stubber.add_response("create_model", {"ModelArn": f"{ARN_PREFIX}:model/{MODEL}"}, params)

    ensure(gateway, MODEL, run(), isolated=False)


def test_ensure_model_refuses_an_existing_model_that_is_not_isolated(
    stubber: Stubber, gateway: SageMakerGateway
) -> None:
    existing_model(stubber, EnableNetworkIsolation=False)

    with pytest.raises(Conflict) as raised:
        ensure(gateway, MODEL, run())

    assert raised.value.message == f"model {MODEL} already exists with another network isolation"


def test_ensure_model_refuses_an_existing_model_with_another_artifact(
    stubber: Stubber, gateway: SageMakerGateway
) -> None:
    existing_model(
        stubber, PrimaryContainer={"Image": IMAGE, "ModelDataUrl": "s3://elsewhere/model.tar.gz"}
    )

    with pytest.raises(Conflict) as raised:
        ensure(gateway, MODEL, run())

    assert raised.value.message == f"model {MODEL} already exists with another artifact"


@pytest.mark.parametrize("missing", ["training_image", "model_artifact"])
def test_ensure_model_of_a_run_without_image_or_artifact_fails_without_calls(
    stubber: Stubber, gateway: SageMakerGateway, missing: str
) -> None:
    with pytest.raises(DeploymentFailed):
        ensure(gateway, MODEL, run(**{missing: None}))


def test_ensure_model_names_longer_than_63_characters_are_shortened_validly(
    stubber: Stubber, gateway: SageMakerGateway
) -> None:
    long_run = run(name="pytorch-cnn-hidden-channels-64-lr-0-0123-batch-size-128-2024-05-01")
    name = resource_name("digits-classifier-with-a-rather-long-project-name", long_run.name)
    params = create_model_params(name) | {"Tags": [{"Key": "sagewire:run", "Value": long_run.name}]}
    stubber.add_response("create_model", {"ModelArn": f"{ARN_PREFIX}:model/{name}"}, params)

    ensure(gateway, name, long_run)

    assert len(name) <= 63
    assert SAGEMAKER_NAME.fullmatch(name)


DLC = "763104351884.dkr.ecr.us-east-1.amazonaws.com"
XGBOOST_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
SKLEARN_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
SOURCE = "s3://sagewire-demo/digits/pytorch-cnn/source/sourcedir.tar.gz"
# The script-mode hyperparameters as the SDK's Framework estimators write them (JSON-encoded).
SCRIPT_MODE = {
    "sagemaker_program": '"mnist.py"',
    "sagemaker_submit_directory": json.dumps(SOURCE),
    "sagemaker_container_log_level": "20",
    "sagemaker_region": '"us-east-1"',
    "sagemaker_job_name": '"pytorch-cnn"',
    "lr": "0.01",
}
SCRIPT_ENVIRONMENT = {
    "SAGEMAKER_PROGRAM": "mnist.py",
    "SAGEMAKER_SUBMIT_DIRECTORY": SOURCE,
    "SAGEMAKER_CONTAINER_LOG_LEVEL": "20",
    "SAGEMAKER_REGION": "us-east-1",
}


@pytest.mark.parametrize(
    ("training_image", "hyperparameters", "instance_type", "override", "container"),
    [
        pytest.param(
            IMAGE,
            {"predictor_type": "binary_classifier"},
            "ml.m5.large",
            ModelOverride(),
            {"Image": IMAGE},
            id="linear-learner",
        ),
        pytest.param(
            XGBOOST_IMAGE,
            {"objective": "binary:logistic", "num_round": "50"},
            "ml.m5.large",
            ModelOverride(),
            {"Image": XGBOOST_IMAGE},
            id="xgboost",
        ),
        pytest.param(
            f"{DLC}/pytorch-training:2.1-cpu-py310",
            SCRIPT_MODE,
            "ml.m5.large",
            ModelOverride(),
            {
                "Image": f"{DLC}/pytorch-inference:2.1-cpu-py310",
                "Environment": SCRIPT_ENVIRONMENT,
            },
            id="pytorch-on-cpu",
        ),
        pytest.param(
            f"{DLC}/pytorch-training:2.1-cpu-py310",
            SCRIPT_MODE,
            "ml.g4dn.xlarge",
            ModelOverride(),
            {
                "Image": f"{DLC}/pytorch-inference:2.1-gpu-py310",
                "Environment": SCRIPT_ENVIRONMENT,
            },
            id="pytorch-on-gpu",
        ),
        pytest.param(
            SKLEARN_IMAGE,
            SCRIPT_MODE,
            "ml.m5.large",
            ModelOverride(),
            {"Image": SKLEARN_IMAGE, "Environment": SCRIPT_ENVIRONMENT},
            id="scikit-learn",
        ),
        pytest.param(
            f"{DLC}/pytorch-training:2.1-cpu-py310",
            SCRIPT_MODE,
            "ml.g4dn.xlarge",
            ModelOverride(
                f"{DLC}/pytorch-inference:2.3-gpu-py311",
                {"SAGEMAKER_PROGRAM": "serve.py", "TS_MAX_RESPONSE_SIZE": "20000000"},
            ),
            {
                "Image": f"{DLC}/pytorch-inference:2.3-gpu-py311",
                "Environment": SCRIPT_ENVIRONMENT
                | {"SAGEMAKER_PROGRAM": "serve.py", "TS_MAX_RESPONSE_SIZE": "20000000"},
            },
            id="override",
        ),
    ],
)
def test_ensure_model_creates_the_container_deploy_would(
    stubber: Stubber,
    gateway: SageMakerGateway,
    training_image: str,
    hyperparameters: dict[str, str],
    instance_type: str,
    override: ModelOverride,
    container: dict[str, Any],
) -> None:
    trained = run(training_image=training_image, hyperparameters=hyperparameters)
    endpoint = EndpointSpec(ENDPOINT, instance_type=instance_type, model=override)
    params = create_model_params() | {"PrimaryContainer": container | {"ModelDataUrl": ARTIFACT}}
    stubber.add_response("create_model", {"ModelArn": f"{ARN_PREFIX}:model/{MODEL}"}, params)
    serving = serving_container(trained, endpoint)

    gateway.ensure_model(MODEL, trained, ROLE, True, serving)


def test_ensure_model_reuses_an_existing_model_with_the_same_environment(
    stubber: Stubber, gateway: SageMakerGateway
) -> None:
    container = {"Image": IMAGE, "ModelDataUrl": ARTIFACT, "Environment": SCRIPT_ENVIRONMENT}
    existing_model(stubber, SCRIPT_ENVIRONMENT, PrimaryContainer=container)

    ensure(gateway, MODEL, run(), SCRIPT_ENVIRONMENT)


def test_ensure_model_refuses_an_existing_model_with_another_environment(
    stubber: Stubber, gateway: SageMakerGateway
) -> None:
    existing_model(stubber, SCRIPT_ENVIRONMENT)

    with pytest.raises(Conflict) as raised:
        ensure(gateway, MODEL, run(), SCRIPT_ENVIRONMENT)

    assert raised.value.message == f"model {MODEL} already exists with another environment"


def config_already_exists(stubber: Stubber) -> None:
    stubber.add_client_error(
        "create_endpoint_config",
        "ValidationException",
        f'Cannot create already existing endpoint configuration "{ARN_PREFIX}:endpoint-config/'
        f'{CONFIG}".',
        400,
        expected_params=create_config_params(),
    )


def create_config_params() -> dict[str, Any]:
    """CreateEndpointConfig's request, tagged with the endpoint it is made for."""
    return {
        "EndpointConfigName": CONFIG,
        "ProductionVariants": production_variants(),
        "Tags": [{"Key": "sagewire:endpoint", "Value": ENDPOINT}],
    }


def describe_config(stubber: Stubber, weights: tuple[float, float]) -> None:
    stubber.add_response(
        "describe_endpoint_config",
        {
            "EndpointConfigName": CONFIG,
            "EndpointConfigArn": f"{ARN_PREFIX}:endpoint-config/{CONFIG}",
            "ProductionVariants": list(reversed(production_variants(weights))),
            "CreationTime": CREATED,
        },
        {"EndpointConfigName": CONFIG},
    )


def test_ensure_endpoint_config_creates_one_variant_per_model(
    stubber: Stubber, gateway: SageMakerGateway
) -> None:
    stubber.add_response(
        "create_endpoint_config",
        {"EndpointConfigArn": f"{ARN_PREFIX}:endpoint-config/{CONFIG}"},
        create_config_params(),
    )

    gateway.ensure_endpoint_config(CONFIG, VARIANTS, SPEC)


def test_ensure_endpoint_config_reuses_an_identical_existing_config(
    stubber: Stubber, gateway: SageMakerGateway
) -> None:
    config_already_exists(stubber)
    describe_config(stubber, (0.9, 0.1))

    gateway.ensure_endpoint_config(CONFIG, VARIANTS, SPEC)


def test_ensure_endpoint_config_refuses_an_existing_config_with_other_weights(
    stubber: Stubber, gateway: SageMakerGateway
) -> None:
    config_already_exists(stubber)
    describe_config(stubber, (0.5, 0.5))

    with pytest.raises(Conflict) as raised:
        gateway.ensure_endpoint_config(CONFIG, VARIANTS, SPEC)

    assert CONFIG in raised.value.message


def test_describe_endpoint_in_service(stubber: Stubber, gateway: SageMakerGateway) -> None:
    stubber.add_response("describe_endpoint", endpoint("InService"), {"EndpointName": ENDPOINT})

    assert gateway.describe_endpoint(ENDPOINT) == EndpointState(ENDPOINT, "InService", CONFIG)


def test_describe_endpoint_updating_names_the_pending_config(
    stubber: Stubber, gateway: SageMakerGateway
) -> None:
    pending = {"EndpointConfigName": "digits-zero-mb-100", "StartTime": MODIFIED}
    stubber.add_response(
        "describe_endpoint",
        endpoint("Updating", PendingDeploymentSummary=pending),
        {"EndpointName": ENDPOINT},
    )

    assert gateway.describe_endpoint(ENDPOINT) == EndpointState(
        ENDPOINT, "Updating", CONFIG, pending_config_name="digits-zero-mb-100"
    )


def test_describe_failed_endpoint_keeps_the_failure_reason(
    stubber: Stubber, gateway: SageMakerGateway
) -> None:
    reason = "The primary container for production variant champion did not pass the ping check."
    stubber.add_response(
        "describe_endpoint",
        endpoint("Failed", FailureReason=reason),
        {"EndpointName": ENDPOINT},
    )

    assert gateway.describe_endpoint(ENDPOINT) == EndpointState(
        ENDPOINT, "Failed", CONFIG, failure_reason=reason
    )


def test_describe_missing_endpoint_is_absent(stubber: Stubber, gateway: SageMakerGateway) -> None:
    stubber.add_client_error(
        "describe_endpoint",
        "ValidationException",
        f'Could not find endpoint "{ARN_PREFIX}:endpoint/{ENDPOINT}".',
        400,
        expected_params={"EndpointName": ENDPOINT},
    )

    assert gateway.describe_endpoint(ENDPOINT) == EndpointState(ENDPOINT, "Absent", None)


def test_create_endpoint(stubber: Stubber, gateway: SageMakerGateway) -> None:
    stubber.add_response(
        "create_endpoint",
        {"EndpointArn": f"{ARN_PREFIX}:endpoint/{ENDPOINT}"},
        {"EndpointName": ENDPOINT, "EndpointConfigName": CONFIG},
    )

    gateway.create_endpoint(ENDPOINT, CONFIG)


def test_create_existing_endpoint_is_busy(stubber: Stubber, gateway: SageMakerGateway) -> None:
    stubber.add_client_error(
        "create_endpoint",
        "ValidationException",
        f'Cannot create already existing endpoint "{ARN_PREFIX}:endpoint/{ENDPOINT}".',
        400,
        expected_params={"EndpointName": ENDPOINT, "EndpointConfigName": CONFIG},
    )

    with pytest.raises(EndpointBusy):
        gateway.create_endpoint(ENDPOINT, CONFIG)


@pytest.mark.parametrize(
    ("strategy", "deployment"),
    [
        pytest.param(Strategy("all_at_once"), None, id="all_at_once"),
        pytest.param(Strategy("ab", challenger_weight=0.1), None, id="ab"),
        pytest.param(
            Strategy(
                "canary", canary_percent=10, wait_seconds=600, rollback_alarms=("digits-zero-5xx",)
            ),
            {
                "BlueGreenUpdatePolicy": {
                    "TrafficRoutingConfiguration": {
                        "Type": "CANARY",
                        "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": 10},
                        "WaitIntervalInSeconds": 600,
                    }
                },
                "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": "digits-zero-5xx"}]},
            },
            id="canary",
        ),
        pytest.param(
            Strategy("linear", linear_step_percent=25, wait_seconds=300),
            {
                "BlueGreenUpdatePolicy": {
                    "TrafficRoutingConfiguration": {
                        "Type": "LINEAR",
                        "LinearStepSize": {"Type": "CAPACITY_PERCENT", "Value": 25},
                        "WaitIntervalInSeconds": 300,
                    }
                }
            },
            id="linear",
        ),
    ],
)
def test_update_endpoint_sends_the_strategys_deployment_config(
    stubber: Stubber,
    gateway: SageMakerGateway,
    strategy: Strategy,
    deployment: dict[str, Any] | None,
) -> None:
    expected: dict[str, Any] = {"EndpointName": ENDPOINT, "EndpointConfigName": CONFIG}
    if deployment is not None:
        expected["DeploymentConfig"] = deployment
    stubber.add_response(
        "update_endpoint", {"EndpointArn": f"{ARN_PREFIX}:endpoint/{ENDPOINT}"}, expected
    )

    gateway.update_endpoint(ENDPOINT, CONFIG, strategy)


def test_update_endpoint_canary_without_a_percentage_fails_without_calls(
    stubber: Stubber, gateway: SageMakerGateway
) -> None:
    with pytest.raises(DeploymentFailed):
        gateway.update_endpoint(ENDPOINT, CONFIG, Strategy("canary"))


def test_update_of_a_busy_endpoint_is_endpoint_busy(
    stubber: Stubber, gateway: SageMakerGateway
) -> None:
    stubber.add_client_error(
        "update_endpoint",
        "ValidationException",
        f'Cannot update in-progress endpoint "{ARN_PREFIX}:endpoint/{ENDPOINT}".',
        400,
        expected_params={"EndpointName": ENDPOINT, "EndpointConfigName": CONFIG},
    )

    with pytest.raises(EndpointBusy) as raised:
        gateway.update_endpoint(ENDPOINT, CONFIG, Strategy())

    assert (
        raised.value.message
        == f'endpoint {ENDPOINT}: Cannot update in-progress endpoint "{ENDPOINT}".'
    )


def test_resource_limit_exceeded_is_deployment_failed(
    stubber: Stubber, gateway: SageMakerGateway
) -> None:
    stubber.add_client_error(
        "create_endpoint",
        "ResourceLimitExceeded",
        f"The account-level service limit 'ml.m5.large for endpoint usage' is 0 Instances, "
        f"with current utilization of 0 Instances and a request delta of 2 Instances, "
        f"for account {ACCOUNT}.",
        400,
        expected_params={"EndpointName": ENDPOINT, "EndpointConfigName": CONFIG},
    )

    with pytest.raises(DeploymentFailed) as raised:
        gateway.create_endpoint(ENDPOINT, CONFIG)

    assert "service limit" in raised.value.message
    assert_clean(raised.value)


def test_other_validation_errors_are_deployment_failed_with_a_clean_short_message(
    stubber: Stubber, gateway: SageMakerGateway
) -> None:
    stubber.add_client_error(
        "create_model",
        "ValidationException",
        f"Could not access model data at {ARTIFACT}.\r\n\x1b[31mPlease ensure that the role "
        f'"{ROLE}" exists and that its trust relationship policy allows the action '
        f'"sts:AssumeRole" for the service principal "sagemaker.amazonaws.com". ' + "x" * 300,
        400,
        expected_params=create_model_params(),
    )

    with pytest.raises(DeploymentFailed) as raised:
        ensure(gateway, MODEL, run())

    assert raised.value.message.startswith(f"model {MODEL}: Could not access model data")
    assert '"SageMakerExecution"' in raised.value.message
    assert_clean(raised.value)


@pytest.mark.parametrize("code", ["ThrottlingException", "InternalFailure", "ServiceUnavailable"])
def test_transient_faults_left_after_botocores_retries_are_endpoint_unavailable(
    stubber: Stubber, gateway: SageMakerGateway, code: str
) -> None:
    stubber.add_client_error(
        "describe_endpoint", code, "Rate exceeded", 400, expected_params={"EndpointName": ENDPOINT}
    )

    with pytest.raises(EndpointUnavailable) as raised:
        gateway.describe_endpoint(ENDPOINT)

    assert raised.value.retry_after == RETRY_AFTER


def test_throttling_is_retried_by_botocore_then_succeeds(
    client: SageMakerClient, gateway: SageMakerGateway, sleeps: list[float]
) -> None:
    in_service = json.loads(json.dumps(endpoint("InService"), default=lambda t: t.timestamp()))
    sent = on_send(client, "DescribeEndpoint", [throttled, lambda _: wire(200, in_service)])

    state = gateway.describe_endpoint(ENDPOINT)

    assert state == EndpointState(ENDPOINT, "InService", CONFIG)
    assert sent == [{"EndpointName": ENDPOINT}] * 2
    assert len(sleeps) == 1


def test_throttling_that_outlasts_the_retries_is_endpoint_unavailable(
    client: SageMakerClient, gateway: SageMakerGateway, sleeps: list[float]
) -> None:
    sent = on_send(client, "UpdateEndpoint", [throttled])

    with pytest.raises(EndpointUnavailable) as raised:
        gateway.update_endpoint(ENDPOINT, CONFIG, Strategy())

    assert raised.value.retry_after == RETRY_AFTER
    assert sent == [{"EndpointName": ENDPOINT, "EndpointConfigName": CONFIG}] * 5
    assert len(sleeps) == 4


def test_an_unreachable_sagemaker_is_endpoint_unavailable_after_the_retries(
    client: SageMakerClient, gateway: SageMakerGateway, sleeps: list[float]
) -> None:
    def unreachable(_: AWSPreparedRequest) -> AWSResponse:
        raise EndpointConnectionError(endpoint_url=URL)

    sent = on_send(client, "CreateEndpoint", [unreachable])

    with pytest.raises(EndpointUnavailable) as raised:
        gateway.create_endpoint(ENDPOINT, CONFIG)

    assert raised.value.retry_after == RETRY_AFTER
    assert sent == [{"EndpointName": ENDPOINT, "EndpointConfigName": CONFIG}] * 5


# ListModels and ListEndpointConfigs: paged, filtered by prefix, translated like every call


class Listing(NamedTuple):
    operation: str
    key: str
    name_field: str
    arn_field: str
    resource: str


# by gateway method
LISTINGS = {
    "list_models": Listing("ListModels", "Models", "ModelName", "ModelArn", "model"),
    "list_endpoint_configs": Listing(
        "ListEndpointConfigs",
        "EndpointConfigs",
        "EndpointConfigName",
        "EndpointConfigArn",
        "endpoint-config",
    ),
}
PREFIX = "digits-zero-"


def listing_page(method: str, names: list[str], next_token: str | None = None) -> dict[str, Any]:
    listing = LISTINGS[method]
    summaries = [
        {
            listing.name_field: name,
            listing.arn_field: f"{ARN_PREFIX}:{listing.resource}/{name}",
            "CreationTime": CREATED,
        }
        for name in names
    ]
    return {listing.key: summaries} | ({"NextToken": next_token} if next_token else {})


def list_names(gateway: SageMakerGateway, method: str) -> list[str]:
    names: list[str] = getattr(gateway, method)(PREFIX)
    return names


@pytest.mark.parametrize("method", LISTINGS)
def test_listings_read_every_page_and_keep_the_names_that_start_with_the_prefix(
    stubber: Stubber, gateway: SageMakerGateway, method: str
) -> None:
    first = [f"{PREFIX}mb-200", f"old-{PREFIX}mb-100"]
    stubber.add_response(
        method, listing_page(method, first, "page-2"), expected_params={"NameContains": PREFIX}
    )
    stubber.add_response(
        method,
        listing_page(method, [f"{PREFIX}mb-100"]),
        expected_params={"NameContains": PREFIX, "NextToken": "page-2"},
    )

    assert list_names(gateway, method) == [f"{PREFIX}mb-100", f"{PREFIX}mb-200"]


@pytest.mark.parametrize("method", LISTINGS)
def test_a_listing_throttled_on_a_later_page_is_endpoint_unavailable(
    stubber: Stubber, gateway: SageMakerGateway, method: str
) -> None:
    stubber.add_response(
        method,
        listing_page(method, [f"{PREFIX}mb-200"], "page-2"),
        expected_params={"NameContains": PREFIX},
    )
    stubber.add_client_error(
        method,
        "ThrottlingException",
        "Rate exceeded",
        400,
        expected_params={"NameContains": PREFIX, "NextToken": "page-2"},
    )

    with pytest.raises(EndpointUnavailable) as raised:
        list_names(gateway, method)

    assert raised.value.retry_after == RETRY_AFTER
    assert raised.value.message.endswith(f"{PREFIX}*: Rate exceeded")


@pytest.mark.parametrize("method", LISTINGS)
def test_a_listing_denied_is_deployment_failed_with_a_clean_message(
    stubber: Stubber, gateway: SageMakerGateway, method: str
) -> None:
    operation = LISTINGS[method].operation
    stubber.add_client_error(
        method,
        "AccessDeniedException",
        f"User: arn:aws:sts::{ACCOUNT}:assumed-role/sagewire-dev/sagewire-dev is not "
        f"authorized to perform: sagemaker:{operation} because no identity-based policy "
        f"allows the sagemaker:{operation} action",
        400,
        expected_params={"NameContains": PREFIX},
    )

    with pytest.raises(DeploymentFailed) as raised:
        list_names(gateway, method)

    assert f"is not authorized to perform: sagemaker:{operation}" in raised.value.message
    assert_clean(raised.value)


@pytest.mark.parametrize("method", LISTINGS)
def test_a_listing_throttled_past_botocores_retries_is_endpoint_unavailable(
    client: SageMakerClient, gateway: SageMakerGateway, sleeps: list[float], method: str
) -> None:
    sent = on_send(client, LISTINGS[method].operation, [throttled])

    with pytest.raises(EndpointUnavailable) as raised:
        list_names(gateway, method)

    assert raised.value.retry_after == RETRY_AFTER
    assert sent == [{"NameContains": PREFIX}] * 5
    assert len(sleeps) == 4
