"""The serving container of a promoted run: the inference image and the script-mode environment
the SageMaker Python SDK's deploy() would give it, under the definition's endpoint.model."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from chalicelib.errors import DeploymentFailed
from chalicelib.models import EndpointSpec, ModelOverride
from chalicelib.processing.model_containers import (
    ServingContainer,
    inference_image,
    processor,
    serving_container,
)
from chalicelib.records import Run
from tests.fakes import EPOCH

# Made by bench/make_inference_images_golden.py with the SDK's image_uris.retrieve.
GOLDEN = json.loads((Path(__file__).parent / "data" / "inference_images.json").read_text())
DLC = "763104351884.dkr.ecr.us-east-1.amazonaws.com"
SOURCE = "s3://bucket/cnn/source/sourcedir.tar.gz"
ARTIFACT = "s3://bucket/cnn/output/model.tar.gz"
SCRIPT_MODE = {
    "sagemaker_program": '"mnist.py"',
    "sagemaker_submit_directory": json.dumps(SOURCE),
    "sagemaker_container_log_level": "20",
    "sagemaker_region": '"us-east-1"',
    "sagemaker_job_name": '"cnn"',
    "lr": "0.01",
}


def run(image: str = f"{DLC}/pytorch-training:2.1-cpu-py310", **hyperparameters: str) -> Run:
    return Run(
        name="cnn",
        arn="arn:aws:sagemaker:us-east-1:123456789012:training-job/cnn",
        status="Completed",
        last_modified_at=EPOCH,
        hyperparameters=hyperparameters,
        model_artifact=ARTIFACT,
        training_image=image,
    )


def endpoint(instance_type: str = "ml.m5.large", **model: Any) -> EndpointSpec:
    return EndpointSpec("cnn", instance_type=instance_type, model=ModelOverride(**model))


def test_the_golden_table_covers_every_framework_both_ways() -> None:
    cases = GOLDEN["cases"]
    repositories = {c["training_image"].split("/")[1].split(":")[0] for c in cases}
    assert repositories == {
        "pytorch-training",
        "tensorflow-training",
        "mxnet-training",
        "huggingface-pytorch-training",
        "huggingface-tensorflow-training",
    }
    moves = {(c["training_image"].count("-gpu-") > 0, processor(c["instance_type"])) for c in cases}
    assert moves == {(False, "cpu"), (False, "gpu"), (True, "cpu"), (True, "gpu")}


@pytest.mark.parametrize(
    "case",
    GOLDEN["cases"],
    ids=lambda c: f"{c['training_image'].split('/')[1]}@{c['instance_type']}",
)
def test_the_inference_image_is_the_sdks(case: dict[str, str]) -> None:
    assert inference_image(case["training_image"], case["instance_type"]) == case["inference_image"]


@pytest.mark.parametrize(
    ("instance_type", "device"),
    [
        ("ml.m5.large", "cpu"),
        ("ml.c5.xlarge", "cpu"),
        ("ml.t2.medium", "cpu"),
        ("ml.g4dn.xlarge", "gpu"),
        ("ml.g5.12xlarge", "gpu"),
        ("ml.p3.2xlarge", "gpu"),
        ("ml.p4d.24xlarge", "gpu"),
        # Neuron (ml.inf*, ml.trn*) images are not derived: their CPU twin serves.
        ("ml.inf2.xlarge", "cpu"),
        ("ml.trn1.2xlarge", "cpu"),
    ],
)
def test_gpu_families_are_the_sdks(instance_type: str, device: str) -> None:
    assert processor(instance_type) == device


@pytest.mark.parametrize(
    "image",
    [
        "382416733822.dkr.ecr.us-east-1.amazonaws.com/linear-learner:1",
        "382416733822.dkr.ecr.us-east-1.amazonaws.com/kmeans:1",
        "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1",
        "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3",
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/my-training:v3",
        f"{DLC}/pytorch-training@sha256:{'a' * 64}",
        f"{DLC}/pytorch-training:latest",
    ],
)
def test_other_images_serve_from_the_training_image(image: str) -> None:
    assert inference_image(image, "ml.g4dn.xlarge") == image


def test_a_script_mode_run_serves_its_program_from_its_submit_directory() -> None:
    assert serving_container(run(**SCRIPT_MODE), endpoint("ml.g4dn.xlarge")) == ServingContainer(
        f"{DLC}/pytorch-inference:2.1-gpu-py310",
        {
            "SAGEMAKER_PROGRAM": "mnist.py",
            "SAGEMAKER_SUBMIT_DIRECTORY": SOURCE,
            "SAGEMAKER_CONTAINER_LOG_LEVEL": "20",
            "SAGEMAKER_REGION": "us-east-1",
        },
        ARTIFACT,
    )


def test_values_that_are_not_json_are_taken_as_they_are() -> None:
    served = serving_container(
        run(sagemaker_program="train.py", sagemaker_submit_directory=SOURCE), endpoint()
    )
    assert served.environment == {
        "SAGEMAKER_PROGRAM": "train.py",
        "SAGEMAKER_SUBMIT_DIRECTORY": SOURCE,
    }


def test_a_built_in_algorithm_run_has_no_environment() -> None:
    image = "382416733822.dkr.ecr.us-east-1.amazonaws.com/linear-learner:1"
    served = serving_container(run(image, feature_dim="784", sagemaker_region='"x"'), endpoint())
    assert served == ServingContainer(image, {}, ARTIFACT)


def test_the_definition_overrides_the_image_and_its_variables_win() -> None:
    served = serving_container(
        run(**SCRIPT_MODE),
        endpoint(
            image=f"{DLC}/pytorch-inference:2.3-cpu-py311",
            environment={"SAGEMAKER_CONTAINER_LOG_LEVEL": "10", "TS_DEFAULT_WORKERS": "2"},
        ),
    )
    assert served.image == f"{DLC}/pytorch-inference:2.3-cpu-py311"
    assert served.environment["SAGEMAKER_CONTAINER_LOG_LEVEL"] == "10"
    assert served.environment["TS_DEFAULT_WORKERS"] == "2"
    assert served.environment["SAGEMAKER_PROGRAM"] == "mnist.py"


def test_a_program_outside_the_code_cannot_be_deployed_unless_the_definition_names_one() -> None:
    escaping = run(**(SCRIPT_MODE | {"sagemaker_program": '"../serve.py"'}))
    with pytest.raises(DeploymentFailed, match="must not have"):
        serving_container(escaping, endpoint())
    own = serving_container(escaping, endpoint(environment={"SAGEMAKER_PROGRAM": "serve.py"}))
    assert own.environment["SAGEMAKER_PROGRAM"] == "serve.py"


def test_a_run_without_a_training_image_needs_the_definitions() -> None:
    bare = replace(run(), training_image=None)
    with pytest.raises(DeploymentFailed):
        serving_container(bare, endpoint())
    assert serving_container(bare, endpoint(image=f"{DLC}/x:1")).image == f"{DLC}/x:1"
