"""Lineage: what serves behind an endpoint, where a run came from, what a dataset fed into."""

from __future__ import annotations

import contextlib
import hashlib
import re
from datetime import datetime
from typing import Any

import orjson

from chalicelib import naming
from chalicelib.definitions import SAGEMAKER_NAME, project_to_document
from chalicelib.errors import EndpointNotFound, InvalidParameter, NotFound
from chalicelib.models import Project
from chalicelib.records import (
    Channel,
    DatasetVersion,
    EndpointState,
    Promotion,
    Run,
    TrialComponent,
)
from chalicelib.services.lineage_values import (
    ChannelLineage,
    DatasetLineage,
    DatasetRun,
    Deployment,
    EndpointLineage,
    InferenceLineage,
    ModelLineage,
    Provenance,
    RunLineage,
    RunSource,
    TrainingLineage,
    VariantLineage,
)
from chalicelib.services.ports import (
    ChampionStore,
    ControlPlane,
    DatasetStore,
    ObjectStore,
    ProjectStore,
    RunStore,
)
from chalicelib.services.selection import eligibility, matches
from chalicelib.services.trust import TrustPolicy

# Enough of a project's ledger for lineage: every promotion of a year of daily retraining.
LEDGER_LIMIT = 1000
# s3://bucket/ and a key of at most 1024 bytes (S3's limit); no control characters.
_S3_URI = re.compile(r"s3://[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]/[^\x00-\x1f\x7f]{0,1024}")


def inference_hash(spec: dict[str, Any]) -> str:
    """SHA-256 of the spec as canonical JSON (sorted keys, no whitespace)."""
    return hashlib.sha256(orjson.dumps(spec, option=orjson.OPT_SORT_KEYS)).hexdigest()


def models_of(project: Project, promotion: Promotion) -> list[tuple[str, str]]:
    """(run, model) pairs in the promotion's endpoint config: an A/B split also serves the
    previous champion's model."""
    pairs = [(promotion.run_name, promotion.model_name)]
    previous = promotion.previous_run_name
    if promotion.strategy == "ab" and previous is not None and previous != promotion.run_name:
        pairs.append((previous, naming.model_name(project.endpoint.name, previous)))
    return pairs


class LineageService:
    def __init__(
        self,
        projects: ProjectStore,
        runs: RunStore,
        champions: ChampionStore,
        sagemaker: ControlPlane,
        datasets: DatasetStore,
        objects: ObjectStore,
        trust: TrustPolicy,
    ) -> None:
        self._projects = projects
        self._runs = runs
        self._champions = champions
        self._sagemaker = sagemaker
        self._datasets = datasets
        self._objects = objects
        self._trust = trust

    def _etag(self, uri: str) -> str | None:
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        with contextlib.suppress(NotFound):
            stored = self._objects.head(bucket, key)
            return stored.etag if stored else None
        return None

    def endpoint(self, endpoint_name: str) -> EndpointLineage:
        """Endpoint -> config -> variants -> models -> runs -> inputs, from sagewire's records
        first (the owning project's ledger, run records); Describe calls only fill gaps."""
        if not SAGEMAKER_NAME.fullmatch(endpoint_name):
            raise InvalidParameter("the endpoint name is not a valid SageMaker name")
        state = self._sagemaker.describe_endpoint(endpoint_name)
        if state.status == "Absent":
            raise EndpointNotFound(f"no endpoint named {endpoint_name!r}")
        owner = self._projects.owner_of(endpoint_name)
        project = None if owner is None else self._projects.get(owner)
        runs_by_model: dict[str, str] = {}
        # A fronted endpoint's ledger names models sagewire never created: Describe calls tell.
        if project is not None and project.endpoint.managed:
            for promotion in self._champions.promotions(project.name, LEDGER_LIMIT):
                for run_name, model_name in models_of(project, promotion):
                    runs_by_model.setdefault(model_name, run_name)
        variants = (
            ()
            if state.config_name is None
            else self._sagemaker.describe_endpoint_config(state.config_name)
        )
        total = sum(variant.weight for variant in variants)
        inference = None
        if project is not None:
            spec = project_to_document(project)["inference"]
            text = project.inference.input.text
            etag = self._etag(text.vocabulary) if text and text.vocabulary else None
            inference = InferenceLineage(project.name, spec, inference_hash(spec), etag)
        return EndpointLineage(
            endpoint=endpoint_name,
            status=state.status,
            config_name=state.config_name,
            pending_config_name=state.pending_config_name,
            project=None if project is None else project.name,
            variants=tuple(
                VariantLineage(
                    name=variant.name,
                    weight=variant.weight,
                    traffic_share=variant.weight / total if total > 0 else 0.0,
                    model=self._model(variant.model_name, runs_by_model.get(variant.model_name)),
                )
                for variant in variants
            ),
            inference=inference,
        )

    def run(self, name: str) -> RunLineage:
        """A recorded run with its upstream and the promotions that deployed it."""
        if not SAGEMAKER_NAME.fullmatch(name):
            raise InvalidParameter("the training job name is not a valid SageMaker name")
        run = self._runs.get_run(name)
        if run is None:
            raise NotFound(f"no recorded run named {name!r}")
        training = self._training(run)
        deployments = self._deployments({run.name}).get(run.name, ())
        verdicts = tuple(
            eligibility(project, run, self._trust)
            for project in sorted(self._projects.all(), key=lambda project: project.name)
            if matches(project, run)
        )
        return RunLineage(run, training.inputs, training.trial_components, deployments, verdicts)

    def datasets(self, uri: str) -> DatasetLineage:
        """The runs that read `uri` (a prefix, or an object read through a larger prefix) and
        where each was deployed, now or before."""
        if not _S3_URI.fullmatch(uri):
            raise InvalidParameter("uri must be s3://<bucket>/<key or prefix>")
        channels_by_run: dict[str, set[str]] = {}
        for run_name, channel in self._runs.runs_reading(uri):
            channels_by_run.setdefault(run_name, set()).add(channel)
        recorded = [
            (run, names)
            for run_name, names in sorted(channels_by_run.items())
            if (run := self._runs.get_run(run_name)) is not None
        ]
        deployments = self._deployments({run.name for run, _ in recorded})
        return DatasetLineage(
            uri,
            tuple(
                DatasetRun(
                    run_name=run.name,
                    status=run.status,
                    channels=tuple(c for c in run.channels if c.name in names),
                    deployments=deployments.get(run.name, ()),
                )
                for run, names in recorded
            ),
        )

    def _model(self, model_name: str, ledger_run: str | None) -> ModelLineage:
        run = None if ledger_run is None else self._runs.get_run(ledger_run)
        try:
            model = self._sagemaker.describe_model(model_name)
        except NotFound:
            model = None
        if run is not None:  # sagewire created the model from the run record (and verifies it)
            image, environment = (None, {}) if model is None else (model.image, model.environment)
            training = self._training(run)
            return ModelLineage(
                model_name, image, run.model_artifact, run.name, "ledger", training, environment
            )
        if model is None:
            return ModelLineage(model_name, None, None, ledger_run, "unresolved", None)
        source: RunSource = "ledger"
        if ledger_run is None:
            run, source = self._run_of_artifact(model_name, model.artifact), "artifact"
            if run is None:
                tagged = self._sagemaker.model_run_tag(model.arn)
                run = None if tagged is None else self._runs.get_run(tagged)
                source = "tag" if run is not None else "unresolved"
            if run is None:
                run = self._described_run(model.artifact)
                source = "described" if run is not None else "unresolved"
        return ModelLineage(
            model_name,
            model.image,
            model.artifact,
            ledger_run if run is None else run.name,
            source,
            None if run is None else self._training(run),
            dict(model.environment),
        )

    def _run_of_artifact(self, model_name: str, artifact: str | None) -> Run | None:
        """The recorded run that produced `artifact`: SageMaker writes it to
        `<output path>/<training job>/output/model.tar.gz`, and sagewire names models
        `<project>-<run>`; each candidate counts only when its recorded artifact is the same."""
        if artifact is None:
            return None
        parts = artifact.split("/")
        candidates = [parts[-3]] if len(parts) >= 3 and parts[-2] == "output" else []
        candidates += [
            model_name[len(project.name) + 1 :]
            for project in self._projects.all()
            if model_name.startswith(f"{project.name}-")
        ]
        for candidate in dict.fromkeys(candidates):
            run = self._runs.get_run(candidate) if SAGEMAKER_NAME.fullmatch(candidate) else None
            if run is not None and run.model_artifact == artifact:
                return run
        return None

    def _described_run(self, artifact: str | None) -> Run | None:
        """The training job named by an artifact's path (`<output path>/<job>/output/
        model.tar.gz`), read live with DescribeTrainingJob when sagewire recorded no run for it
        (a model made by hand or by `estimator.deploy()`); it counts only when the job's own
        artifact is that one."""
        parts = (artifact or "").split("/")
        if len(parts) < 3 or parts[-2] != "output" or not SAGEMAKER_NAME.fullmatch(parts[-3]):
            return None
        try:
            run = self._sagemaker.describe_training_job(parts[-3], {})
        except NotFound:
            return None
        return run if run.model_artifact == artifact else None

    def _training(self, run: Run) -> TrainingLineage:
        return TrainingLineage(
            run,
            tuple(self._channel(run, channel) for channel in run.channels),
            self._trial_components(run),
        )

    def _trial_components(self, run: Run) -> tuple[TrialComponent, ...]:
        """The other components of the run's trial (its own training component left out)."""
        if run.trial_name is None:
            return ()
        try:
            components = self._sagemaker.trial_components(run.trial_name)
        except NotFound:  # the trial was deleted after the run
            return ()
        return tuple(c for c in components if c.source_arn != run.arn)

    def _channel(self, run: Run, channel: Channel) -> ChannelLineage:
        recorded = self._datasets.versions_under(channel.s3_uri)
        if recorded:
            read = _in_force(recorded, run.started_at or run.created_at)
            provenance: Provenance = "recorded" if read else "unversioned"
            return ChannelLineage(channel.name, channel.s3_uri, provenance, read)
        bucket, _, key = channel.s3_uri.removeprefix("s3://").partition("/")
        if channel.s3_uri.startswith("s3://") and key and not key.endswith("/"):
            try:
                stored = self._objects.head(bucket, key)
            except NotFound:  # not ours to read: nothing known of its version
                stored = None
            if stored is not None:
                return ChannelLineage(
                    channel.name, channel.s3_uri, "current-object", current_object=stored
                )
        return ChannelLineage(channel.name, channel.s3_uri, "unversioned")

    def _deployments(self, run_names: set[str]) -> dict[str, tuple[Deployment, ...]]:
        """Every ledger entry whose endpoint config holds a model of one of the runs, newest
        first; each endpoint is described once."""
        if not run_names:
            return {}
        states: dict[str, EndpointState] = {}
        found: dict[str, list[Deployment]] = {}
        for project in self._projects.all():
            endpoint = project.endpoint.name
            for promotion in self._champions.promotions(project.name, LEDGER_LIMIT):
                for run_name, model_name in models_of(project, promotion):
                    if run_name not in run_names:
                        continue
                    if endpoint not in states:
                        states[endpoint] = self._sagemaker.describe_endpoint(endpoint)
                    serving = states[endpoint].config_name == promotion.endpoint_config_name
                    found.setdefault(run_name, []).append(
                        Deployment(
                            project=project.name,
                            endpoint=endpoint,
                            promotion_id=promotion.promotion_id,
                            promoted_run=promotion.run_name,
                            model_name=model_name,
                            endpoint_config_name=promotion.endpoint_config_name,
                            outcome=promotion.outcome,
                            serving=serving,
                        )
                    )
        return {run_name: tuple(entries) for run_name, entries in found.items()}


def _in_force(versions: list[DatasetVersion], at: datetime | None) -> tuple[DatasetVersion, ...]:
    """The newest version of each object as of `at` (the newest of all when `at` is None);
    the store lists each object's versions oldest first."""
    newest: dict[str, DatasetVersion] = {}
    for version in versions:
        if at is None or version.last_modified_at <= at:
            newest[version.uri] = version
    return tuple(newest[uri] for uri in sorted(newest))
