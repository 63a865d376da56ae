"""Builders of valid test values shared by every test layer."""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from chalicelib.config import Settings
from chalicelib.models import Trust
from chalicelib.records import Run
from chalicelib.services.model_builds import ModelBuilds
from chalicelib.services.ports import (
    NO_METRICS,
    ChampionStore,
    ControlPlane,
    MetricsSink,
    ProjectStore,
    RunStore,
)
from chalicelib.services.rollout import RolloutService
from chalicelib.services.selection import ChampionService
from chalicelib.services.trust import TrustPolicy
from tests.fakes import EPOCH, FakePacker

# The registries of the images and the buckets of the artifacts that tests' runs use.
TRUSTED = TrustPolicy(
    Trust(
        images=(
            "382416733822.dkr.ecr.us-east-1.amazonaws.com",
            "763104351884.dkr.ecr.us-east-1.amazonaws.com",
        ),
        artifacts=(
            "s3://bucket/",
            "s3://out/",
            "s3://example-bucket/",
            "s3://sagewire-models/",
            "s3://sagewire-demo/",
        ),
    )
)


ROLE = "arn:aws:iam::123456789012:role/SageMakerExecution"
TAGS = {"Project": "Project_Binary_Classifier"}
OBJECTIVE = "train:objective_loss:final"
LINEAR_LEARNER = "382416733822.dkr.ecr.us-east-1.amazonaws.com/linear-learner:1"


def completed_run(name: str, loss: float, **changes: Any) -> Run:
    """A completed, trusted linear-learner run tagged for `project_document`'s projects, with
    `loss` as its objective."""
    base = Run(
        name=name,
        arn=f"arn:aws:sagemaker:us-east-1:123456789012:training-job/{name}",
        status="Completed",
        last_modified_at=EPOCH,
        metrics={OBJECTIVE: loss},
        model_artifact=f"s3://bucket/{name}/output/model.tar.gz",
        training_image=LINEAR_LEARNER,
        role_arn=ROLE,
        tags=TAGS,
    )
    return replace(base, **changes)


def trusting(settings: Settings) -> Settings:
    """The settings of a stage that trusts what TRUSTED does and its own bucket."""
    trust = TRUSTED.defaults
    return replace(
        settings,
        trusted_images=trust.images,
        trusted_artifacts=(*trust.artifacts, f"s3://{settings.bucket_name}/"),
        trusted_roles=trust.roles,
    )


def project_document(name: str = "digits-zero", endpoint: str | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "match": {"tags": {"Project": "Project_Binary_Classifier"}},
        "objective": {"metric": "train:objective_loss:final", "goal": "minimize"},
        "endpoint": {"name": endpoint or name, "instance_type": "ml.m5.large"},
        "inference": {
            "input": {"shape": [8, 8], "scale": 255.0},
            "request": {"content_type": "text/csv"},
            "response": {"accept": "application/json", "postprocess": "linear_learner"},
        },
    }


def register_project(client: Any, document: dict[str, Any]) -> None:
    """PUTs a new project definition through the API (a chalice.test.Client)."""
    response = client.http.put(
        f"/v1/projects/{document['name']}",
        headers={"Content-Type": "application/json"},
        body=json.dumps(document).encode(),
    )
    assert response.status_code == 201, response.json_body


@dataclass(frozen=True)
class Automation:
    """Champion selection and rollout over the same stores, as the composition root builds them."""

    selection: ChampionService
    rollout: RolloutService


def automation(
    projects: ProjectStore,
    runs: RunStore,
    champions: ChampionStore,
    sagemaker: ControlPlane,
    clock: Callable[[], datetime] | None = None,
    metrics: MetricsSink = NO_METRICS,
    trust: TrustPolicy = TRUSTED,
) -> Automation:
    ticking: dict[str, Any] = {} if clock is None else {"clock": clock}
    models = ModelBuilds(sagemaker, FakePacker(), "s3://sagewire/models/", 1 << 20)
    rollout = RolloutService(
        projects, runs, champions, sagemaker, metrics=metrics, models=models, **ticking
    )
    return Automation(
        ChampionService(projects, runs, champions, sagemaker, rollout, trust, **ticking), rollout
    )


def tar_gz(files: dict[str, bytes], extra: Sequence[tarfile.TarInfo] = ()) -> bytes:
    """A .tar.gz of regular files (and any `extra` members, without data)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for info in extra:
            tar.addfile(info)
    return buffer.getvalue()
