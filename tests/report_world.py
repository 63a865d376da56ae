"""A realistic world for lineage reports: projects, runs, champions and endpoints over fakes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from chalicelib.definitions import parse_project
from chalicelib.errors import NotFound
from chalicelib.models import Project
from chalicelib.records import Channel, Run, TrainingJobChange, TrialComponent, Variant
from chalicelib.services.lineage_values import (
    ChannelLineage,
    EndpointLineage,
    ModelLineage,
    TrainingLineage,
    VariantLineage,
)
from chalicelib.services.reports import ReportService
from tests.factories import Automation, automation, project_document
from tests.fakes import (
    EPOCH,
    FakeChampions,
    FakeEndpoint,
    FakeObjects,
    FakeProjects,
    FakeRuns,
    FakeSageMaker,
)

ROLE = "arn:aws:iam::123456789012:role/SageMakerExecution"
TAGS = {"Project": "Project_Binary_Classifier"}
METRIC = "train:objective_loss:final"
HOSTILE = "<script>alert(1)</script>"
BUCKET = "sagewire-reports"


def project(name: str = "digits-zero") -> Project:
    document = project_document(name)
    document["endpoint"]["execution_role_arn"] = ROLE
    return parse_project(document)


def run(name: str, loss: float, batch: int, **tags: str) -> Run:
    return Run(
        name=name,
        arn=f"arn:aws:sagemaker:us-east-1:123456789012:training-job/{name}",
        status="Completed",
        last_modified_at=EPOCH,
        ended_at=EPOCH - timedelta(minutes=1),
        metrics={METRIC: loss, "validation:binary_f_beta": 0.9 - loss / 10},
        hyperparameters={"mini_batch_size": str(batch), "predictor_type": "binary_classifier"},
        channels=(
            Channel("train", "s3://sagewire-data/digits/train/"),
            Channel("validation", "s3://sagewire-data/digits/validation/data.csv"),
        ),
        model_artifact=f"s3://sagewire-models/{name}/output/model.tar.gz",
        training_image="382416733822.dkr.ecr.us-east-1.amazonaws.com/linear-learner:1",
        role_arn=ROLE,
        tags={**TAGS, **tags},
        experiment_name="digits",
        trial_name=f"trial-{name}",
    )


@dataclass
class FakeLineage:
    """The chain behind an endpoint, from the fake control plane."""

    sagemaker: FakeSageMaker

    def serving(self, name: str) -> tuple[FakeEndpoint, tuple[Variant, ...]]:
        endpoint = self.sagemaker.endpoints.get(name)
        if endpoint is None or endpoint.config is None:
            raise NotFound(f"no endpoint named {name!r}")
        return endpoint, self.sagemaker.configs[endpoint.config]

    def endpoint(self, name: str) -> object:
        endpoint, variants = self.serving(name)
        return {
            "endpoint": name,
            "endpoint_config": endpoint.config,
            "variants": [
                {"variant": v.name, "model": v.model_name, "weight": v.weight} for v in variants
            ],
        }


@dataclass
class ChainLineage(FakeLineage):
    """The chain behind an endpoint as services/lineage.py describes it (EndpointLineage), from
    the fake control plane and the recorded runs."""

    runs: FakeRuns = field(default_factory=FakeRuns)

    def endpoint(self, name: str) -> object:
        endpoint, variants = self.serving(name)
        total = sum(v.weight for v in variants)
        return EndpointLineage(
            endpoint=name,
            status="InService",
            config_name=endpoint.config,
            pending_config_name=endpoint.pending,
            project=None,
            variants=tuple(
                VariantLineage(v.name, v.weight, v.weight / total, self._model(v.model_name))
                for v in variants
            ),
            inference=None,
        )

    def _model(self, name: str) -> ModelLineage:
        run_name = self.sagemaker.model_runs.get(name)
        run = None if run_name is None else self.runs.runs.get(run_name)
        training = (
            None
            if run is None
            else TrainingLineage(
                run,
                tuple(ChannelLineage(c.name, c.s3_uri, "unversioned") for c in run.channels),
                (),
            )
        )
        return ModelLineage(name, None, None, run_name, "ledger", training)


@dataclass
class ReportWorld:
    """Champion automation and the report service over the same fakes."""

    projects: FakeProjects = field(
        default_factory=lambda: FakeProjects(project(), project("digits-backup"))
    )
    runs: FakeRuns = field(default_factory=FakeRuns)
    champions: FakeChampions = field(default_factory=FakeChampions)
    sagemaker: FakeSageMaker = field(default_factory=FakeSageMaker)
    objects: FakeObjects = field(default_factory=FakeObjects)
    ticks: int = 0
    # The lineage chain as services/lineage.py has it; False: the fixtures' smaller chain.
    chains: bool = False

    def clock(self) -> datetime:
        self.ticks += 1
        return EPOCH + timedelta(seconds=self.ticks)

    @property
    def automation(self) -> Automation:
        return automation(self.projects, self.runs, self.champions, self.sagemaker, self.clock)

    @property
    def reports(self) -> ReportService:
        return ReportService(
            self.projects,
            self.runs,
            self.champions,
            self.automation.rollout,
            self.sagemaker,
            ChainLineage(self.sagemaker, self.runs) if self.chains else FakeLineage(self.sagemaker),
            self.objects,
            BUCKET,
            "us-east-1",
        )

    def train(self, job: Run, settle: bool = True) -> None:
        """The job completes; every endpoint it changed settles."""
        self.sagemaker.jobs[job.name] = job
        if job.trial_name:
            self.sagemaker.trials[job.trial_name] = [
                TrialComponent(f"{job.name}-job", None, {"lr": 0.1}, source_arn=job.arn),
                TrialComponent(
                    f"{job.name}-prep",
                    "normalize",
                    {"mean": 0.1307, "std": 0.3081, "note": HOSTILE},
                ),
            ]
        change = TrainingJobChange(job.name, job.arn, "Completed", job.last_modified_at, job.tags)
        self.automation.selection.on_training_job(change, cause=f"event:{job.name}")
        if settle:
            for name in sorted(self.sagemaker.endpoints):
                settled = self.sagemaker.settle(name)
                if settled is not None:
                    self.automation.rollout.on_endpoint(settled)


def trained_world(chains: bool = False) -> ReportWorld:
    """Three linear-learner runs over mini_batch_size, one with a hostile name, one failed."""
    world = ReportWorld(chains=chains)
    world.train(run("ll-batch-100", 0.31, 100))
    world.train(run("ll-batch-200", 0.12, 200))
    world.train(run("ll-batch-300", 0.27, 300))
    world.train(run(HOSTILE, 0.45, 50, Note=HOSTILE))
    failed = run("ll-failed", 0.0, 400)
    reason = "AlgorithmError: ExecuteUserScriptError: exit code 1"
    world.train(
        Run(**{**vars(failed), "status": "Failed", "metrics": {}, "failure_reason": reason})
    )
    return world
