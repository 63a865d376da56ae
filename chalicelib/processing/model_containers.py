"""The container a promoted run's model serves with: its image and environment, as the SageMaker
Python SDK's `deploy()` would build them from the training job (pure; no AWS)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Final

from chalicelib.errors import DeploymentFailed
from chalicelib.models import EndpointSpec
from chalicelib.records import Run

# The script-mode hyperparameters the SDK's Framework estimators set (JSON-encoded), and the
# container variables its Model._script_mode_env_vars() sets from them.
SCRIPT_MODE: Final = {
    "sagemaker_program": "SAGEMAKER_PROGRAM",
    "sagemaker_submit_directory": "SAGEMAKER_SUBMIT_DIRECTORY",
    "sagemaker_container_log_level": "SAGEMAKER_CONTAINER_LOG_LEVEL",
    "sagemaker_region": "SAGEMAKER_REGION",
}
PROGRAM: Final = "sagemaker_program"
SUBMIT_DIRECTORY: Final = "sagemaker_submit_directory"

# <registry>/<repository>-training:<tag> (a digest names one image: it has no inference twin).
_DLC: Final = re.compile(r"(?P<head>.+/[a-z0-9._/-]*?)-training:(?P<tag>[A-Za-z0-9._-]+)")
_CUDA: Final = re.compile(r"cu\d+")
_PYTHON: Final = re.compile(r"py\d+")
# "ml.<family>.<size>" (the SDK's utils.get_instance_type_family).
_FAMILY: Final = re.compile(r"ml[._](?P<family>[a-z\d-]+)\.?\w*")
# A relative file path: no leading "/", no "." or ".." segment, no empty segment, printable.
_PROGRAM_PATH: Final = re.compile(r"[\w.+-]+(?:/[\w.+-]+)*")


@dataclass(frozen=True)
class ServingContainer:
    """What a model is created from: its image, environment and artifact (ModelDataUrl)."""

    image: str
    environment: dict[str, str] = field(default_factory=dict)
    artifact: str | None = None


def processor(instance_type: str) -> str:
    """`gpu` for the ml.g* and ml.p* families, `cpu` for every other one (the SDK's
    image_uris._processor; its neuron images for ml.inf* and ml.trn* are not derived here)."""
    match = _FAMILY.fullmatch(instance_type)
    family = match["family"] if match else ""
    return "gpu" if family[:1] in ("g", "p") else "cpu"


def inference_image(training_image: str, instance_type: str) -> str:
    """The deep learning container for inference that matches a `-training` one, for the
    endpoint's processor; any other image (built-in algorithms, sagemaker-scikit-learn and
    sagemaker-xgboost, which serve from their training image, custom images) is kept."""
    match = _DLC.fullmatch(training_image)
    if match is None:
        return training_image
    head, tokens = match["head"], match["tag"].split("-")
    if not {"cpu", "gpu"} & set(tokens):
        return training_image  # e.g. "latest": no device to switch
    device = processor(instance_type)
    tag = [device if token in ("cpu", "gpu") else token for token in tokens]
    if device == "cpu":
        tag = [token for token in tag if not _CUDA.fullmatch(token)]
    if head.endswith("/tensorflow") and len(tag) == 3 and _PYTHON.fullmatch(tag[2]):
        tag = tag[:2]  # the SDK's short TensorFlow Serving tags carry no Python version
    return f"{head}-inference:{'-'.join(tag)}"


def hyperparameter(run: Run, name: str) -> str | None:
    """A hyperparameter as the script sees it: the SDK JSON-encodes them (`'"train.py"'`)."""
    raw = run.hyperparameters.get(name)
    if raw is None:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return raw
    if isinstance(value, str):
        return value
    return raw if isinstance(value, (dict, list)) else json.dumps(value)


def program_problem(run: Run) -> str | None:
    """Why the run's `sagemaker_program` cannot be served, or None (also when it has none): the
    toolkits import it from the code directory, so it must be a relative path inside it."""
    program = hyperparameter(run, PROGRAM)
    if program is None:
        return None
    if len(program) > 256 or not _PROGRAM_PATH.fullmatch(program):
        return "sagemaker_program must be a relative file path"
    if any(part in (".", "..") for part in program.split("/")):
        return "sagemaker_program must not have . or .. segments"
    return None


def script_environment(run: Run) -> dict[str, str]:
    """SAGEMAKER_PROGRAM and the rest from the run's script-mode hyperparameters; empty for a
    run without `sagemaker_program` (built-in algorithms)."""
    if hyperparameter(run, PROGRAM) is None:
        return {}
    return {
        variable: value
        for name, variable in SCRIPT_MODE.items()
        if (value := hyperparameter(run, name)) is not None
    }


def serving_container(run: Run, endpoint: EndpointSpec) -> ServingContainer:
    """The image and environment the run's model is created with: the definition's
    `endpoint.model` over what the run implies (its keys win)."""
    problem = None if "SAGEMAKER_PROGRAM" in endpoint.model.environment else program_problem(run)
    if problem is not None:
        raise DeploymentFailed(f"run {run.name}: {problem}")
    image = endpoint.model.image
    if image is None:
        if not run.training_image:
            raise DeploymentFailed(f"run {run.name} has no training image")
        image = inference_image(run.training_image, endpoint.instance_type)
    environment = {**script_environment(run), **endpoint.model.environment}
    return ServingContainer(image, environment, run.model_artifact)
