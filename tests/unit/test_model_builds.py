"""A promoted run's model: its container, and its artifact repacked with the code when needed."""

from __future__ import annotations

import pytest

from chalicelib.errors import DeploymentFailed
from chalicelib.models import EndpointSpec
from chalicelib.services.model_builds import ModelBuilds
from tests.fakes import FakePacker, FakeSageMaker
from tests.unit.test_model_containers import ARTIFACT, DLC, SCRIPT_MODE, SOURCE, run

SKLEARN = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"


def build(image: str, isolation: bool) -> tuple[FakeSageMaker, FakePacker]:
    sagemaker, packer = FakeSageMaker(), FakePacker()
    builds = ModelBuilds(sagemaker, packer, "s3://stage/models/", 1000)
    endpoint = EndpointSpec(name="cnn", network_isolation=isolation)
    builds.ensure("cnn-model", run(image, **SCRIPT_MODE), endpoint, "arn:aws:iam::1:role/r")
    return sagemaker, packer


def test_an_isolated_script_mode_model_serves_its_code_from_its_own_artifact() -> None:
    sagemaker, packer = build(SKLEARN, isolation=True)
    assert packer.packed == [(ARTIFACT, SOURCE, "s3://stage/models/cnn-model/model.tar.gz", 1000)]
    assert sagemaker.models["cnn-model"][2] == "s3://stage/models/cnn-model/model.tar.gz"
    environment = sagemaker.environments["cnn-model"]
    assert environment["SAGEMAKER_SUBMIT_DIRECTORY"] == "/opt/ml/model/code"
    assert environment["SAGEMAKER_PROGRAM"] == "mnist.py"


def test_a_container_that_downloads_its_code_keeps_the_trained_artifact() -> None:
    sagemaker, packer = build(SKLEARN, isolation=False)
    assert packer.packed == []
    assert sagemaker.models["cnn-model"][2] == ARTIFACT
    assert sagemaker.environments["cnn-model"]["SAGEMAKER_SUBMIT_DIRECTORY"] == SOURCE


def test_a_torchserve_model_gets_its_code_packed_whatever_the_isolation() -> None:
    sagemaker, packer = build(f"{DLC}/pytorch-training:2.1-cpu-py310", isolation=False)
    assert len(packer.packed) == 1
    assert sagemaker.environments["cnn-model"]["SAGEMAKER_SUBMIT_DIRECTORY"] == "/opt/ml/model/code"


def test_without_a_packer_a_model_that_needs_one_is_a_failed_deployment() -> None:
    builds = ModelBuilds(FakeSageMaker())
    with pytest.raises(DeploymentFailed, match="packed"):
        builds.ensure("m", run(SKLEARN, **SCRIPT_MODE), EndpointSpec(name="e"), "arn:r")
