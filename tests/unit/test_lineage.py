"""Lineage over fakes: promotions, updates, A/B splits, rollbacks, datasets, trials, spec hash."""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.definitions import parse_project, project_to_document
from chalicelib.errors import EndpointNotFound, InvalidParameter, NotFound
from chalicelib.models import Project, document
from chalicelib.naming import resource_name
from chalicelib.records import (
    Channel,
    DatasetVersion,
    Run,
    TrainingJobChange,
    TrialComponent,
    Variant,
)
from chalicelib.services.lineage import LineageService, inference_hash
from chalicelib.services.lineage_values import EndpointLineage
from tests.factories import TRUSTED, automation, project_document
from tests.fakes import (
    EPOCH,
    FakeChampions,
    FakeDatasets,
    FakeObjects,
    FakeProjects,
    FakeRuns,
    FakeSageMaker,
)

ROLE = "arn:aws:iam::123456789012:role/SageMakerExecution"
TAGS = {"Project": "Project_Binary_Classifier"}
METRIC = "train:objective_loss:final"
IMAGE = "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-training:2.1-cpu-py310"
SERVING = "763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-inference:2.1-cpu-py310"
TRAIN = "s3://data/digits/train/"
TEST = "s3://data/digits/test/test.csv"
STARTED = EPOCH + timedelta(hours=1)
PREPROCESSING = TrialComponent(
    "mnist-preprocessing", "Preprocessing", {"mean": 0.1307, "std": 0.3081, "layout": "NCHW"}
)


def project(strategy: dict[str, object] | None = None) -> Project:
    document = project_document("digits-zero")
    document["endpoint"]["execution_role_arn"] = ROLE
    document["endpoint"]["strategy"] = strategy or {"type": "all_at_once"}
    document["inference"]["input"] = {
        "shape": [28, 28],
        "scale": 255.0,
        "mean": 0.1307,
        "std": 0.3081,
    }
    return parse_project(document)


def run(name: str, loss: float, **changes: Any) -> Run:
    base = Run(
        name=name,
        arn=f"arn:aws:sagemaker:us-east-1:123456789012:training-job/{name}",
        status="Completed",
        last_modified_at=EPOCH + timedelta(hours=2),
        metrics={METRIC: loss},
        hyperparameters={"lr": "0.01", "batch-size": "64"},
        channels=(Channel("train", TRAIN), Channel("test", TEST)),
        model_artifact=f"s3://out/{name}/output/model.tar.gz",
        training_image=IMAGE,
        role_arn=ROLE,
        tags=TAGS,
        trial_name=f"trial-{name}",
        tuning_job_name="pytorch-mnist-hpo",
        started_at=STARTED,
    )
    return replace(base, **changes)


class World:
    def __init__(self, *projects: Project) -> None:
        self.projects = FakeProjects(*(projects or (project(),)))
        self.sagemaker = FakeSageMaker()
        self.runs = FakeRuns()
        self.champions = FakeChampions()
        self.datasets = FakeDatasets()
        self.objects = FakeObjects()
        self._ticks = 0
        self.automation = automation(
            self.projects, self.runs, self.champions, self.sagemaker, clock=self._tick
        )
        self.lineage = LineageService(
            self.projects,
            self.runs,
            self.champions,
            self.sagemaker,
            self.datasets,
            self.objects,
            TRUSTED,
        )

    def _tick(self) -> datetime:
        self._ticks += 1
        return EPOCH + timedelta(milliseconds=self._ticks)

    def complete(self, job: Run, succeed: bool = True) -> None:
        """A training job finishes (with its preprocessing trial component) and deploys."""
        self.sagemaker.jobs[job.name] = job
        self.sagemaker.trials[f"trial-{job.name}"] = [
            PREPROCESSING,
            TrialComponent(f"{job.name}-aws-training-job", None, {"lr": 0.01}, job.arn),
        ]
        change = TrainingJobChange(job.name, job.arn, job.status, job.last_modified_at, TAGS)
        self.automation.selection.on_training_job(change, cause=f"event:{job.name}")
        while (settled := self.sagemaker.settle("digits-zero", succeed)) is not None:
            self.automation.rollout.on_endpoint(settled)

    def serving_runs(self, lineage: EndpointLineage) -> dict[str, str | None]:
        return {variant.name: variant.model.run_name for variant in lineage.variants}


def test_after_the_first_promotion_the_chain_reaches_the_run_from_sagewires_records() -> None:
    world = World()
    world.complete(run("hpo-001", 0.3))
    world.sagemaker.calls.clear()
    lineage = world.lineage.endpoint("digits-zero")
    assert lineage.status == "InService"
    assert lineage.project == "digits-zero"
    [variant] = lineage.variants
    assert (variant.name, variant.weight, variant.traffic_share) == ("AllTraffic", 1.0, 1.0)
    model = variant.model
    assert model.name == resource_name("digits-zero", "hpo-001")
    assert (model.run_name, model.run_source) == ("hpo-001", "ledger")
    # What serves (DescribeModel) is the inference twin of the training image.
    assert (model.image, model.artifact) == (SERVING, "s3://out/hpo-001/output/model.tar.gz")
    assert model.environment == {}
    assert model.training is not None
    assert model.training.run.training_image == IMAGE
    assert model.training.run.hyperparameters == {"lr": "0.01", "batch-size": "64"}
    assert model.training.run.metrics == {METRIC: 0.3}
    assert model.training.run.tuning_job_name == "pytorch-mnist-hpo"
    # The ledger names the run: one DescribeModel (what serves), no ListTags.
    assert world.sagemaker.calls == [
        "DescribeEndpoint",
        "DescribeEndpointConfig",
        "DescribeModel",
        "ListTrialComponents",
        "DescribeTrialComponent",
        "DescribeTrialComponent",
    ]


def test_a_script_mode_model_shows_the_environment_that_serves() -> None:
    world = World()
    script_mode = {
        "sagemaker_program": '"mnist.py"',
        "sagemaker_submit_directory": '"s3://out/hpo-001/source/sourcedir.tar.gz"',
        "sagemaker_container_log_level": "20",
        "sagemaker_region": '"us-east-1"',
    }
    world.complete(run("hpo-001", 0.3, hyperparameters=script_mode))
    model = world.lineage.endpoint("digits-zero").variants[0].model
    assert model.image == SERVING
    assert model.environment == {
        "SAGEMAKER_PROGRAM": "mnist.py",
        # TorchServe reads the code from the model: packed into its artifact, as deploy() does
        "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
        "SAGEMAKER_CONTAINER_LOG_LEVEL": "20",
        "SAGEMAKER_REGION": "us-east-1",
    }
    assert document(model)["environment"] == model.environment


def test_the_trials_other_components_carry_the_preprocessing_parameters() -> None:
    world = World()
    world.complete(run("hpo-001", 0.3))
    training = world.lineage.endpoint("digits-zero").variants[0].model.training
    assert training is not None
    assert training.trial_components == (PREPROCESSING,)
    assert training.trial_components[0].parameters["mean"] == 0.1307
    assert training.trial_components[0].parameters["std"] == 0.3081


def test_after_an_update_the_chain_follows_the_new_run() -> None:
    world = World()
    world.complete(run("hpo-001", 0.3))
    world.complete(run("hpo-002", 0.1))
    assert world.serving_runs(world.lineage.endpoint("digits-zero")) == {"AllTraffic": "hpo-002"}


def test_an_ab_split_gives_two_variants_two_models_and_two_runs() -> None:
    world = World(project({"type": "ab", "challenger_weight": 0.25}))
    world.complete(run("hpo-001", 0.3))
    world.complete(run("hpo-002", 0.1))
    lineage = world.lineage.endpoint("digits-zero")
    assert world.serving_runs(lineage) == {"Champion": "hpo-001", "Challenger": "hpo-002"}
    assert {v.name: v.traffic_share for v in lineage.variants} == {
        "Champion": 0.75,
        "Challenger": 0.25,
    }
    assert {v.model.name for v in lineage.variants} == {
        resource_name("digits-zero", "hpo-001"),
        resource_name("digits-zero", "hpo-002"),
    }
    assert all(v.model.run_source == "ledger" for v in lineage.variants)


def test_after_a_rolled_back_update_the_chain_follows_what_serves_not_the_champion() -> None:
    world = World()
    world.complete(run("hpo-001", 0.3))
    world.complete(run("hpo-002", 0.1), succeed=False)
    champion = world.champions.get_champion("digits-zero")
    assert champion is not None
    assert champion.run_name == "hpo-002"
    assert world.serving_runs(world.lineage.endpoint("digits-zero")) == {"AllTraffic": "hpo-001"}


def test_a_manual_rollback_to_an_older_run_is_what_the_chain_shows() -> None:
    world = World()
    world.complete(run("hpo-001", 0.3))
    world.complete(run("hpo-002", 0.1))
    world.automation.selection.promote("digits-zero", "hpo-001", cause="api:operator")
    while (settled := world.sagemaker.settle("digits-zero")) is not None:
        world.automation.rollout.on_endpoint(settled)
    assert world.serving_runs(world.lineage.endpoint("digits-zero")) == {"AllTraffic": "hpo-001"}


def outside_model(world: World, job: Run, artifact: str, tagged: bool) -> None:
    """An endpoint whose model sagewire did not promote (no ledger entry names it)."""
    world.runs.put_run(job)
    world.sagemaker.models["legacy"] = (ROLE, IMAGE, artifact)
    if tagged:
        world.sagemaker.model_runs["legacy"] = job.name
    world.sagemaker.configs["legacy-config"] = (Variant("AllTraffic", "legacy", 1.0),)
    world.sagemaker.create_endpoint("legacy-endpoint", "legacy-config")
    world.sagemaker.settle("legacy-endpoint")


def test_without_a_ledger_entry_the_artifact_is_matched_to_a_recorded_run() -> None:
    world = World()
    outside_model(world, run("hpo-007", 0.2), "s3://out/hpo-007/output/model.tar.gz", False)
    lineage = world.lineage.endpoint("legacy-endpoint")
    assert (lineage.project, lineage.inference) == (None, None)
    model = lineage.variants[0].model
    assert (model.run_name, model.run_source) == ("hpo-007", "artifact")
    assert "ListTags" not in world.sagemaker.calls


def test_an_artifact_that_names_no_run_falls_back_to_the_run_tag() -> None:
    world = World()
    artifact = "s3://out/elsewhere/model.tar.gz"
    outside_model(world, run("hpo-008", 0.2, model_artifact=artifact), artifact, True)
    model = world.lineage.endpoint("legacy-endpoint").variants[0].model
    assert (model.run_name, model.run_source) == ("hpo-008", "tag")


def test_a_model_nothing_explains_is_unresolved() -> None:
    world = World()
    outside_model(world, run("hpo-009", 0.2), "s3://out/x/model.tar.gz", False)
    model = world.lineage.endpoint("legacy-endpoint").variants[0].model
    assert (model.run_name, model.run_source, model.training) == (None, "unresolved", None)
    assert model.artifact == "s3://out/x/model.tar.gz"


def test_a_model_of_a_job_sagewire_never_recorded_is_traced_through_describe_training_job() -> None:
    world = World()
    artifact = "s3://out/by-hand-001/output/model.tar.gz"
    outside_model(world, run("unrelated", 0.2), artifact, False)
    world.sagemaker.jobs["by-hand-001"] = run("by-hand-001", 0.4, model_artifact=artifact)

    model = world.lineage.endpoint("legacy-endpoint").variants[0].model

    assert (model.run_name, model.run_source) == ("by-hand-001", "described")
    assert model.training is not None
    assert model.training.run.metrics == world.sagemaker.jobs["by-hand-001"].metrics
    assert world.runs.get_run("by-hand-001") is None  # read live, not recorded


def test_a_described_job_whose_artifact_is_another_does_not_explain_the_model() -> None:
    world = World()
    artifact = "s3://out/by-hand-002/output/model.tar.gz"
    outside_model(world, run("unrelated", 0.2), artifact, False)
    world.sagemaker.jobs["by-hand-002"] = run("by-hand-002", 0.4, model_artifact="s3://o/x.tar.gz")
    model = world.lineage.endpoint("legacy-endpoint").variants[0].model
    assert (model.run_name, model.run_source) == (None, "unresolved")


def test_an_unknown_endpoint_is_not_found_and_a_malformed_name_is_refused() -> None:
    world = World()
    with pytest.raises(EndpointNotFound):
        world.lineage.endpoint("nothing-here")
    with pytest.raises(InvalidParameter):
        world.lineage.endpoint("not a name")


def version(uri: str, at: datetime, sequencer: str) -> DatasetVersion:
    return DatasetVersion(uri, f"etag-{sequencer}", 100, at, f"v-{sequencer}", sequencer)


def test_channels_carry_the_versions_in_force_when_training_started() -> None:
    world = World()
    for record in (
        version(f"{TRAIN}part-0.csv", EPOCH, "01"),
        version(f"{TRAIN}part-0.csv", STARTED - timedelta(minutes=1), "02"),
        version(f"{TRAIN}part-0.csv", STARTED + timedelta(minutes=1), "03"),
        version(f"{TRAIN}part-1.csv", EPOCH, "04"),
    ):
        world.datasets.put_version(record)
    world.objects.put("data", "digits/test/test.csv", b"1,2,3\n", "text/csv")
    world.complete(run("hpo-001", 0.3))
    training = world.lineage.endpoint("digits-zero").variants[0].model.training
    assert training is not None
    train, test = training.inputs
    assert train.provenance == "recorded"
    assert [(v.uri, v.sequencer) for v in train.versions] == [
        (f"{TRAIN}part-0.csv", "02"),
        (f"{TRAIN}part-1.csv", "04"),
    ]
    assert test.provenance == "current-object"
    assert test.current_object is not None
    assert test.current_object.etag == hashlib.md5(b"1,2,3\n", usedforsecurity=False).hexdigest()


def test_inputs_nothing_is_known_about_are_unversioned() -> None:
    world = World()
    world.datasets.put_version(version(f"{TRAIN}late.csv", STARTED + timedelta(hours=1), "09"))
    world.complete(run("hpo-001", 0.3))
    training = world.lineage.endpoint("digits-zero").variants[0].model.training
    assert training is not None
    assert [(c.name, c.provenance) for c in training.inputs] == [
        ("train", "unversioned"),
        ("test", "unversioned"),
    ]


def test_the_inference_spec_and_its_hash_are_the_projects_and_stable() -> None:
    world = World()
    world.complete(run("hpo-001", 0.3))
    first = world.lineage.endpoint("digits-zero").inference
    again = world.lineage.endpoint("digits-zero").inference
    assert first is not None
    assert first == again
    spec = project_to_document(project())["inference"]
    assert first.spec == spec
    canonical = json.dumps(spec, sort_keys=True, separators=(",", ":")).encode()
    assert first.sha256 == hashlib.sha256(canonical).hexdigest()
    other = project_to_document(parse_project({**project_to_document(project())}))["inference"]
    other["input"]["std"] = 0.5
    assert inference_hash(other) != first.sha256


@given(st.randoms())
def test_the_inference_hash_ignores_key_order(rng: random.Random) -> None:
    spec = project_to_document(project())["inference"]

    def shuffled(value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        keys = list(value)
        rng.shuffle(keys)
        return {key: shuffled(value[key]) for key in keys}

    assert inference_hash(shuffled(spec)) == inference_hash(spec)


def test_forward_lineage_of_a_prefix_tells_current_from_past_deployments() -> None:
    world = World()
    world.complete(run("hpo-001", 0.3))
    world.complete(run("hpo-002", 0.1))
    world.runs.put_run(run("hpo-003", 0.5, channels=(Channel("train", "s3://data/other/"),)))
    world.sagemaker.calls.clear()
    lineage = world.lineage.datasets("s3://data/digits/")
    assert [r.run_name for r in lineage.runs] == ["hpo-001", "hpo-002"]
    first, second = lineage.runs
    assert [c.name for c in first.channels] == ["train", "test"]
    assert [(d.endpoint, d.serving) for d in first.deployments] == [("digits-zero", False)]
    assert [(d.endpoint, d.serving) for d in second.deployments] == [("digits-zero", True)]
    assert second.deployments[0].model_name == resource_name("digits-zero", "hpo-002")
    assert world.sagemaker.calls == ["DescribeEndpoint"]  # once per endpoint


def test_forward_lineage_of_an_object_finds_the_runs_that_read_its_prefix() -> None:
    world = World(project({"type": "ab", "challenger_weight": 0.25}))
    world.complete(run("hpo-001", 0.3))
    world.complete(run("hpo-002", 0.1))
    lineage = world.lineage.datasets(f"{TRAIN}part-0.csv")
    assert [(r.run_name, [c.name for c in r.channels]) for r in lineage.runs] == [
        ("hpo-001", ["train"]),
        ("hpo-002", ["train"]),
    ]
    first, second = lineage.runs
    # hpo-001 serves as the A/B champion variant of hpo-002's promotion, and served alone before.
    assert [(d.promoted_run, d.serving) for d in first.deployments] == [
        ("hpo-002", True),
        ("hpo-001", False),
    ]
    assert [(d.promoted_run, d.serving) for d in second.deployments] == [("hpo-002", True)]


def test_forward_lineage_of_an_unread_dataset_is_empty() -> None:
    world = World()
    world.complete(run("hpo-001", 0.3))
    assert world.lineage.datasets("s3://data/elsewhere/").runs == ()


@pytest.mark.parametrize(
    "uri", ["", "data/digits/", "s3://", "s3://Bad_Bucket/x", "https://data/x", "s3://data/\n"]
)
def test_forward_lineage_refuses_anything_but_an_s3_uri(uri: str) -> None:
    with pytest.raises(InvalidParameter):
        World().lineage.datasets(uri)


def test_run_lineage_has_upstream_and_the_promotions_that_used_it() -> None:
    world = World()
    world.complete(run("hpo-001", 0.3))
    world.complete(run("hpo-002", 0.1))
    lineage = world.lineage.run("hpo-001")
    assert lineage.run.name == "hpo-001"
    assert [c.name for c in lineage.inputs] == ["train", "test"]
    assert lineage.trial_components == (PREPROCESSING,)
    [deployment] = lineage.deployments
    assert (deployment.project, deployment.outcome, deployment.serving) == (
        "digits-zero",
        "succeeded",
        False,
    )


def test_an_unknown_run_is_not_found() -> None:
    with pytest.raises(NotFound):
        World().lineage.run("never-ran")
    with pytest.raises(InvalidParameter):
        World().lineage.run("x" * 64)
