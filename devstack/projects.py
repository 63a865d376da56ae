"""The demo projects: what to train, their sagewire definitions, and their first deployment."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from devstack import algorithms, digits, images, trainer
from devstack.jobs import ROLE_ARN

if TYPE_CHECKING:
    from mypy_boto3_sagemaker.client import SageMakerClient
    from mypy_boto3_sagemaker.type_defs import ProductionVariantTypeDef, TagTypeDef

INSTANCE_TYPE: Final = "ml.m5.large"
VARIANT = "AllTraffic"
PIXEL_INPUT: dict[str, Any] = {
    "shape": [digits.SIDE, digits.SIDE],
    "scale": digits.PIXEL_SCALE,
    "flatten": True,
}


@dataclass(frozen=True)
class DemoProject:
    """`bootstrap`: the stack trains and deploys a first model itself; otherwise the project
    waits for sagewire to deploy its first champion."""

    name: str
    algorithm: str
    hyperparameters: dict[str, str]
    definition: dict[str, Any]
    bootstrap: bool = True

    @property
    def tags(self) -> dict[str, str]:
        """The tags its definition matches: what its runs are tagged with."""
        return dict(self.definition["match"].get("tags", {}))


def _definition(
    name: str,
    objective: dict[str, Any],
    input_spec: dict[str, Any],
    io: dict[str, Any],
    tags: dict[str, str] | None = None,
    strategy: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "name": name,
        "match": {"tags": tags or {"Project": name}},
        "objective": objective,
        "endpoint": {
            "name": name,
            "instance_type": INSTANCE_TYPE,
            "instance_count": 1,
            "execution_role_arn": ROLE_ARN,
            "strategy": strategy or {"type": "all_at_once"},
        },
        "inference": {"input": input_spec, **io},
    }


ZERO_IO: dict[str, Any] = {
    "request": {"content_type": "text/csv"},
    "response": {"accept": "application/json", "postprocess": "linear_learner"},
}
CLASSIFIER_INPUT = {**PIXEL_INPUT, "mean": digits.CLASSIFIER_MEAN, "std": digits.CLASSIFIER_STD}
CLASSIFIER_IO: dict[str, Any] = {
    "request": {"content_type": "application/json", "json_layout": "list"},
    "response": {
        "accept": "application/json",
        "postprocess": "classifier",
        "outputs": "logits",
        "labels": [str(label) for label in range(10)],
    },
}
# The PyTorch notebook's experiment: its runs compete for the digits-hidden endpoint.
HIDDEN_EXPERIMENT = "digits-hidden"
# The notebook's tag: every run tagged so competes for the digits-zero-auto endpoint.
BINARY_CLASSIFIER_TAGS = {"Project": "Project_Binary_Classifier"}

DEMO_PROJECTS = (
    DemoProject(
        name="digits-zero",
        algorithm=algorithms.LINEAR_LEARNER,
        hyperparameters={"predictor_type": "binary_classifier", "mini_batch_size": "100"},
        definition={
            **_definition(
                "digits-zero",
                {"metric": "train:objective_loss:final", "goal": "minimize"},
                PIXEL_INPUT,
                ZERO_IO,
            ),
            "guards": [{"metric": "validation:binary_f_beta", "op": ">=", "value": 0.9}],
        },
    ),
    DemoProject(
        name="digits-kmeans",
        algorithm=algorithms.KMEANS,
        hyperparameters={"k": "10", "feature_dim": str(digits.FEATURES)},
        definition=_definition(
            "digits-kmeans",
            {"metric": "train:msd", "goal": "minimize"},
            PIXEL_INPUT,
            {
                "request": {"content_type": "application/x-recordio-protobuf"},
                "response": {"accept": "application/json", "postprocess": "kmeans"},
            },
        ),
    ),
    DemoProject(
        name="digits-classifier",
        algorithm=algorithms.SOFTMAX,
        hyperparameters={"hidden_channels": "32", "lr": "0.05", "batch-size": "32", "epochs": "30"},
        definition=_definition(
            "digits-classifier",
            {"metric": "validation:accuracy", "goal": "maximize"},
            CLASSIFIER_INPUT,
            CLASSIFIER_IO,
        ),
    ),
    DemoProject(
        name="digits-zero-auto",
        algorithm=algorithms.LINEAR_LEARNER,
        hyperparameters={"predictor_type": "binary_classifier"},
        definition={
            **_definition(
                "digits-zero-auto",
                {"metric": "train:objective_loss:final", "goal": "minimize"},
                PIXEL_INPUT,
                ZERO_IO,
                tags=BINARY_CLASSIFIER_TAGS,
                strategy={"type": "canary", "canary_percent": 10, "wait_seconds": 0},
            ),
            "guards": [{"metric": "validation:binary_f_beta", "op": ">=", "value": 0.9}],
        },
        bootstrap=False,
    ),
    DemoProject(
        name="digits-ab",
        algorithm=algorithms.SOFTMAX,
        hyperparameters={"epochs": "30"},
        definition=_definition(
            "digits-ab",
            {"metric": "validation:accuracy", "goal": "maximize"},
            CLASSIFIER_INPUT,
            CLASSIFIER_IO,
            strategy={"type": "ab", "challenger_weight": 0.5},
        ),
        bootstrap=False,
    ),
    DemoProject(
        name=HIDDEN_EXPERIMENT,
        algorithm=algorithms.SOFTMAX,
        hyperparameters={"epochs": "30"},
        definition={
            **_definition(
                HIDDEN_EXPERIMENT,
                {"metric": "validation:accuracy", "goal": "maximize"},
                CLASSIFIER_INPUT,
                CLASSIFIER_IO,
            ),
            "match": {"experiment_name": HIDDEN_EXPERIMENT},
        },
        bootstrap=False,
    ),
)


def deploy(
    sagemaker: SageMakerClient, endpoint: str, job: trainer.TrainingJob, model_data_url: str
) -> str:
    """Model, endpoint config and endpoint for one training job, as the notebooks do it."""
    region = sagemaker.meta.region_name
    tags: list[TagTypeDef] = [{"Key": key, "Value": value} for key, value in job.tags.items()]
    variant: ProductionVariantTypeDef = {
        "VariantName": VARIANT,
        "ModelName": job.name,
        "InitialInstanceCount": 1,
        "InstanceType": INSTANCE_TYPE,
        "InitialVariantWeight": 1.0,
    }
    sagemaker.create_model(
        ModelName=job.name,
        ExecutionRoleArn=ROLE_ARN,
        PrimaryContainer={
            "Image": images.serving_image_uri(job.algorithm, region),
            "ModelDataUrl": model_data_url,
        },
        Tags=tags,
    )
    sagemaker.create_endpoint_config(
        EndpointConfigName=job.name,
        ProductionVariants=[variant],
        Tags=tags,
    )
    sagemaker.create_endpoint(EndpointName=endpoint, EndpointConfigName=job.name, Tags=tags)
    return job.name


def wait_in_service(sagemaker: SageMakerClient, endpoints: list[str], timeout: float) -> None:
    """Polls DescribeEndpoint (the boto3 waiter polls every 30 s) until all are InService."""
    deadline = time.monotonic() + timeout
    waiting = list(endpoints)
    while waiting:
        status = sagemaker.describe_endpoint(EndpointName=waiting[0])["EndpointStatus"]
        if status == "InService":
            waiting.pop(0)
        elif status == "Failed" or time.monotonic() > deadline:
            raise TimeoutError(f"endpoint {waiting[0]} is {status}, not InService")
        else:
            time.sleep(0.05)
