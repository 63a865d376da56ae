"""The three demo projects: what to train, their sagewire definitions, and their deployment."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from devstack import algorithms, digits, trainer

if TYPE_CHECKING:
    from mypy_boto3_sagemaker.client import SageMakerClient
    from mypy_boto3_sagemaker.type_defs import ProductionVariantTypeDef, TagTypeDef

ROLE_ARN = "arn:aws:iam::123456789012:role/SageMakerExecution"
INSTANCE_TYPE: Final = "ml.m5.large"
VARIANT = "AllTraffic"
PIXEL_INPUT: dict[str, Any] = {"shape": [digits.SIDE, digits.SIDE], "scale": 255.0, "flatten": True}


@dataclass(frozen=True)
class DemoProject:
    name: str
    algorithm: str
    hyperparameters: dict[str, str]
    definition: dict[str, Any]

    @property
    def tags(self) -> dict[str, str]:
        return {"Project": self.name}


def _definition(
    name: str, objective: dict[str, Any], input_spec: dict[str, Any], io: dict[str, Any]
) -> dict[str, Any]:
    return {
        "name": name,
        "match": {"tags": {"Project": name}},
        "objective": objective,
        "endpoint": {
            "name": name,
            "instance_type": INSTANCE_TYPE,
            "instance_count": 1,
            "execution_role_arn": ROLE_ARN,
            "strategy": {"type": "all_at_once"},
        },
        "inference": {"input": input_spec, **io},
    }


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
                {
                    "request": {"content_type": "text/csv"},
                    "response": {"accept": "application/json", "postprocess": "linear_learner"},
                },
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
            {**PIXEL_INPUT, "mean": digits.CLASSIFIER_MEAN, "std": digits.CLASSIFIER_STD},
            {
                "request": {"content_type": "application/json", "json_layout": "list"},
                "response": {
                    "accept": "application/json",
                    "postprocess": "classifier",
                    "outputs": "logits",
                    "labels": [str(label) for label in range(10)],
                },
            },
        ),
    ),
)


def deploy(sagemaker: SageMakerClient, endpoint: str, result: trainer.TrainingResult) -> str:
    """Model, endpoint config and endpoint for one training job, as the notebooks do it."""
    job = result.job
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
            "Image": trainer.image_uri(job.algorithm, region),
            "ModelDataUrl": result.model_data_url,
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
