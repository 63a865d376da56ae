"""In-memory fakes of the services' ports, thread-safe, with the real stores' semantics."""

from __future__ import annotations

import hashlib
import math
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal

import orjson

from chalicelib.boards import BoardIndex, boards, indexed_metrics, metric_board, objective_board
from chalicelib.errors import (
    Conflict,
    DeploymentFailed,
    EndpointBusy,
    InputTooLarge,
    NotFound,
    PreconditionFailed,
    SagewireError,
    ServiceUnavailable,
)
from chalicelib.gateways.board_writes import sortable_number
from chalicelib.imports import RunImport, SearchCursor, SearchPage
from chalicelib.models import EndpointSpec, Invocation, Match, Project, Strategy
from chalicelib.objectives import metric_value, objective_metric
from chalicelib.processing.model_containers import ServingContainer
from chalicelib.records import (
    SETTLED_OUTCOMES,
    Champion,
    DatasetVersion,
    EndpointChange,
    EndpointState,
    ModelInfo,
    Promotion,
    PromotionOutcome,
    Run,
    StoredObject,
    TrialComponent,
    Variant,
)
from chalicelib.registry import ModelPackage, ModelPackageChange, PackageRequest
from chalicelib.services.boards import BoardService
from devstack.container_codecs import parse_request

EPOCH = datetime(2026, 11, 23, tzinfo=UTC)
MODEL_ARN_PREFIX = "arn:aws:sagemaker:us-east-1:123456789012:model/"


class FakeProjects:
    """Revisions are `<writes so far>-fake`: never reused, even across a delete."""

    def __init__(self, *projects: Project) -> None:
        self._projects = {project.name: project for project in projects}
        self._revisions = {project.name: "0-fake" for project in projects}
        self._writes = 0

    def get(self, name: str) -> Project | None:
        return self._projects.get(name)

    def versioned(self, name: str) -> tuple[Project, str] | None:
        project = self._projects.get(name)
        return None if project is None else (project, self._revisions[name])

    def all(self) -> list[Project]:
        return list(self._projects.values())

    def put(self, project: Project, if_match: frozenset[str] | None = None) -> tuple[bool, str]:
        self._require(project.name, if_match)
        created = project.name not in self._projects
        self._writes += 1
        self._projects[project.name] = project
        self._revisions[project.name] = f"{self._writes}-fake"
        return created, self._revisions[project.name]

    def delete(self, name: str, if_match: frozenset[str] | None = None) -> bool:
        self._require(name, if_match)
        self._revisions.pop(name, None)
        return self._projects.pop(name, None) is not None

    def _require(self, name: str, if_match: frozenset[str] | None) -> None:
        if if_match is None:
            return
        revision = self._revisions.get(name)
        if revision is None or not ({"*", revision} & if_match):
            raise PreconditionFailed(f"project {name!r} is not at the revision given")

    def owner_of(self, endpoint: str) -> str | None:
        wanted = endpoint.lower()
        owners = (p.name for p in self._projects.values() if p.endpoint.name.lower() == wanted)
        return next(owners, None)


class FakeRuns:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.runs: dict[str, Run] = {}
        self.memberships: dict[str, set[str]] = {}
        # project -> run -> its gsi1sk, for the runs that had the project's objective when put.
        self.ranks: dict[str, dict[str, str]] = {}
        # (project, named metric) -> run -> its entry's gsi1sk.
        self.boards: dict[tuple[str, str], dict[str, str]] = {}

    def put_run(self, run: Run, projects: Sequence[Project] = ()) -> bool:
        with self._lock:
            current = self.runs.get(run.name)
            if current is not None and current.last_modified_at >= run.last_modified_at:
                return False
            self.runs[run.name] = run
            for project in projects:
                self._index(run, project, boards(project))
            return True

    def join(self, run: Run, projects: Sequence[Project]) -> None:
        with self._lock:
            for project in projects:
                self._index(run, project, boards(project))

    def reindex(
        self,
        project: Project,
        building: frozenset[str],
        start_key: dict[str, str] | None,
        limit: int,
    ) -> dict[str, str] | None:
        keys = [
            {"pk": f"PROJECT#{project.name}", "sk": f"RUN#{name}"}
            for name in sorted(self.memberships.get(project.name, ()))
        ]
        page, next_key = self._page(keys, "sk", False, limit, start_key)
        with self._lock:
            for run, _ in page:
                self._index(run, project, building)
        return next_key

    def _index(self, run: Run, project: Project, indexes: frozenset[str]) -> None:
        """The run's membership and its entries in the project's `indexes` (boards.py)."""
        self.memberships.setdefault(project.name, set()).add(run.name)
        if objective_board(project.objective) in indexes:
            self._rank(
                self.ranks.setdefault(project.name, {}),
                run,
                objective_metric(run, project.objective),
            )
        for metric in indexed_metrics(project):
            if metric_board(metric) in indexes:
                entries = self.boards.setdefault((project.name, metric), {})
                self._rank(entries, run, metric_value(run, metric))

    @staticmethod
    def _rank(entries: dict[str, str], run: Run, value: float | None) -> None:
        entries.pop(run.name, None)
        if value is not None and math.isfinite(value):
            entries[run.name] = f"{sortable_number(value)}#{run.name}"

    def get_run(self, name: str) -> Run | None:
        return self.runs.get(name)

    def project_runs(self, project: str) -> list[Run]:
        """Runs recorded with `project` among their projects, by name."""
        return [self.runs[name] for name in sorted(self.memberships.get(project, ()))]

    def each_project_run(self, project: str) -> Iterator[Run]:
        yield from self.project_runs(project)

    def leaderboard(
        self,
        project: str,
        objective_order: Literal["asc", "desc"],
        limit: int,
        start_key: dict[str, str] | None = None,
        metric: str | None = None,
    ) -> tuple[list[tuple[Run, dict[str, str]]], dict[str, str] | None]:
        """gsi1's order and keys; a page ends at `limit` items or at the index's end."""
        if metric is None:
            ranks = self.ranks.get(project, {})
            board, sk = f"LEADERBOARD#{project}", "RUN#{}"
        else:
            ranks = self.boards.get((project, metric), {})
            board, sk = f"LEADERBOARD#{project}#{metric}", f"BOARD#{{}}#{metric}"
        keys = sorted(
            (
                {"gsi1pk": board, "gsi1sk": rank, "pk": f"PROJECT#{project}", "sk": sk.format(name)}
                for name, rank in ranks.items()
            ),
            key=lambda key: key["gsi1sk"],
            reverse=objective_order == "desc",
        )
        return self._page(keys, "gsi1sk", objective_order == "desc", limit, start_key)

    def unranked_runs(
        self,
        project: str,
        limit: int,
        start_key: dict[str, str] | None = None,
        metric: str | None = None,
    ) -> tuple[list[tuple[Run, dict[str, str]]], dict[str, str] | None]:
        """Like DynamoDB's Query with a filter: `limit` counts the items read, ranked or not;
        for a named metric, unfiltered (its index is not on the membership)."""
        keys = [
            {"pk": f"PROJECT#{project}", "sk": f"RUN#{name}"}
            for name in sorted(self.memberships.get(project, ()))
        ]
        runs, next_key = self._page(keys, "sk", False, limit, start_key)
        ranked = self.ranks.get(project, {}) if metric is None else {}
        return [(run, key) for run, key in runs if run.name not in ranked], next_key

    def _page(
        self,
        keys: list[dict[str, str]],
        sort_key: str,
        descending: bool,
        limit: int,
        start_key: dict[str, str] | None,
    ) -> tuple[list[tuple[Run, dict[str, str]]], dict[str, str] | None]:
        if start_key is not None:
            after = start_key[sort_key]
            keys = [k for k in keys if (k[sort_key] < after if descending else k[sort_key] > after)]
        page = keys[:limit]
        runs = [(self.runs[key["sk"].split("#")[1]], key) for key in page]
        # As DynamoDB does, a full page names its last key even when nothing follows it.
        return runs, page[-1] if len(page) == limit else None

    def runs_reading(self, uri: str) -> list[tuple[str, str]]:
        """Channels under `uri`, or reading it as a prefix that ends at a "/" of its key."""
        return sorted(
            (run.name, channel.name)
            for run in self.runs.values()
            for channel in run.channels
            if channel.s3_uri.startswith(uri)
            or (
                uri.startswith(channel.s3_uri)
                and (channel.s3_uri.endswith("/") or uri[len(channel.s3_uri)] == "/")
            )
        )


class FakeChampions:
    """Compare-and-swap on the champion's version, the ledger written in the same step."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.champions: dict[str, Champion] = {}
        self.ledger: dict[tuple[str, str], Promotion] = {}
        self.history: dict[tuple[str, str], list[PromotionOutcome]] = {}

    def get_champion(self, project: str) -> Champion | None:
        return self.champions.get(project)

    def replace(self, champion: Champion, expected_version: int, promotion: Promotion) -> bool:
        with self._lock:
            current = self.champions.get(champion.project)
            if (current.version if current else 0) != expected_version:
                return False
            key = (promotion.project, promotion.promotion_id)
            if key in self.ledger:
                return False
            self.champions[champion.project] = champion
            self.ledger[key] = promotion
            self.history[key] = [promotion.outcome]
            return True

    def get_promotion(self, project: str, promotion_id: str) -> Promotion | None:
        return self.ledger.get((project, promotion_id))

    def set_outcome(
        self,
        project: str,
        promotion_id: str,
        outcome: PromotionOutcome,
        message: str | None,
        expected: PromotionOutcome | None = None,
    ) -> bool:
        with self._lock:
            key = (project, promotion_id)
            promotion = self.ledger.get(key)
            if promotion is None:
                return False
            if expected is not None and promotion.outcome != expected:
                return False
            if expected is None and promotion.outcome in SETTLED_OUTCOMES:
                return False
            self.ledger[key] = replace(promotion, outcome=outcome, message=message)
            self.history[key].append(outcome)
            return True

    def set_model_package(self, project: str, promotion_id: str, arn: str) -> bool:
        with self._lock:
            promotion = self.ledger.get((project, promotion_id))
            if promotion is None or promotion.model_package_arn is not None:
                return False
            self.ledger[(project, promotion_id)] = replace(promotion, model_package_arn=arn)
            return True

    def retire(self, champion: Champion, promotion: Promotion) -> bool:
        with self._lock:
            current = self.champions.get(champion.project)
            key = (promotion.project, promotion.promotion_id)
            if current is None or current.version != champion.version or key in self.ledger:
                return False
            del self.champions[champion.project]
            self.ledger[key] = promotion
            self.history[key] = [promotion.outcome]
            return True

    def promotions(self, project: str, limit: int = 100) -> list[Promotion]:
        entries = [p for (name, _), p in self.ledger.items() if name == project]
        return sorted(entries, key=lambda p: p.promotion_id, reverse=True)[:limit]


@dataclass
class FakeEndpoint:
    status: str = "Absent"
    config: str | None = None
    pending: str | None = None


@dataclass
class FakeSageMaker:
    """A control plane whose endpoints stay busy until `settle` finishes their updates."""

    jobs: dict[str, Run] = field(default_factory=dict)
    best: dict[str, str] = field(default_factory=dict)
    models: dict[str, tuple[str, str | None, str | None]] = field(default_factory=dict)
    configs: dict[str, tuple[Variant, ...]] = field(default_factory=dict)
    endpoints: dict[str, FakeEndpoint] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    fail_once: dict[str, Exception] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    model_runs: dict[str, str] = field(default_factory=dict)
    # Whether each model was created with network isolation.
    isolated: dict[str, bool] = field(default_factory=dict)
    # Each model's container Environment.
    environments: dict[str, dict[str, str]] = field(default_factory=dict)
    trials: dict[str, list[TrialComponent]] = field(default_factory=dict)
    # The endpoint each config was made for (its `sagewire:endpoint` tag); hand-made: none.
    config_endpoints: dict[str, str] = field(default_factory=dict)
    # Each endpoint's variant weights set by UpdateEndpointWeightsAndCapacities (else its
    # config's initial weights).
    weights: dict[str, dict[str, float]] = field(default_factory=dict)

    def _call(self, name: str) -> None:
        self.calls.append(name)
        failure = self.fail_once.pop(name, None)
        if failure is not None:
            raise failure

    def describe_training_job(self, name: str, tags: dict[str, str]) -> Run:
        self._call("DescribeTrainingJob")
        if name not in self.jobs:
            raise NotFound(name)
        return replace(self.jobs[name], tags=tags)

    def best_training_job(self, tuning_job_name: str) -> str | None:
        self._call("DescribeHyperParameterTuningJob")
        return self.best.get(tuning_job_name)

    def ensure_model(
        self,
        name: str,
        run: Run,
        role_arn: str,
        network_isolation: bool,
        container: ServingContainer,
    ) -> None:
        self._call("CreateModel")
        with self.lock:
            wanted = (role_arn, container.image, container.artifact)
            if self.models.setdefault(name, wanted) != wanted:
                raise Conflict(f"model {name} exists with other settings")
            environment = container.environment
            if self.environments.setdefault(name, environment) != environment:
                raise Conflict(f"model {name} exists with another environment")
            self.model_runs.setdefault(name, run.name)
            self.isolated.setdefault(name, network_isolation)

    def ensure_endpoint_config(
        self, name: str, variants: Sequence[Variant], endpoint: EndpointSpec
    ) -> None:
        self._call("CreateEndpointConfig")
        with self.lock:
            if self.configs.setdefault(name, tuple(variants)) != tuple(variants):
                raise Conflict(f"endpoint config {name} exists with other variants")
            self.config_endpoints.setdefault(name, endpoint.name)

    def describe_endpoint(self, name: str) -> EndpointState:
        self._call("DescribeEndpoint")
        with self.lock:
            endpoint = self.endpoints.get(name, FakeEndpoint())
            return EndpointState(name, endpoint.status, endpoint.config, endpoint.pending)  # type: ignore[arg-type]

    def create_endpoint(self, name: str, config_name: str) -> None:
        self._call("CreateEndpoint")
        with self.lock:
            if name in self.endpoints:
                raise EndpointBusy(f"endpoint {name} already exists")
            self.endpoints[name] = FakeEndpoint("Creating", None, config_name)

    def update_endpoint(self, name: str, config_name: str, strategy: Strategy) -> None:
        self._call("UpdateEndpoint")
        with self.lock:
            endpoint = self.endpoints.get(name)
            if endpoint is None:
                raise NotFound(f"Could not find endpoint {name}")
            if endpoint.status != "InService":
                raise EndpointBusy("Cannot update in-progress endpoint")
            endpoint.status, endpoint.pending = "Updating", config_name

    def variant_weights(self, endpoint: str) -> dict[str, tuple[float | None, float | None]]:
        self._call("DescribeEndpoint")
        with self.lock:
            served = self.endpoints.get(endpoint)
            if served is None or served.config is None:
                return {}
            initial = {variant.name: variant.weight for variant in self.configs[served.config]}
            weights = {**initial, **self.weights.get(endpoint, {})}
            return {name: (weight, weight) for name, weight in weights.items()}

    def update_weights(self, endpoint: str, weights: dict[str, float]) -> None:
        """Applied at once (as moto does); refused while the endpoint is busy."""
        self._call("UpdateEndpointWeightsAndCapacities")
        with self.lock:
            served = self.endpoints.get(endpoint)
            if served is None:
                raise NotFound(f"Could not find endpoint {endpoint}")
            if served.status != "InService" or served.config is None:
                raise EndpointBusy("Cannot update in-progress endpoint")
            names = {variant.name for variant in self.configs[served.config]}
            if not set(weights) <= names:
                raise DeploymentFailed(f"no variants {sorted(set(weights) - names)}")
            self.weights.setdefault(endpoint, {}).update(weights)

    def describe_endpoint_config(self, name: str) -> tuple[Variant, ...]:
        self._call("DescribeEndpointConfig")
        if name not in self.configs:
            raise NotFound(f"Could not find endpoint configuration {name}")
        return self.configs[name]

    def describe_model(self, name: str) -> ModelInfo:
        self._call("DescribeModel")
        if name not in self.models:
            raise NotFound(f"Could not find model {name}")
        role, image, artifact = self.models[name]
        environment = dict(self.environments.get(name, {}))
        return ModelInfo(name, f"{MODEL_ARN_PREFIX}{name}", image, artifact, role, environment)

    def model_run_tag(self, model_arn: str) -> str | None:
        self._call("ListTags")
        return self.model_runs.get(model_arn.removeprefix(MODEL_ARN_PREFIX))

    def trial_components(self, trial_name: str) -> list[TrialComponent]:
        self._call("ListTrialComponents")
        components = self.trials.get(trial_name, [])
        self.calls.extend("DescribeTrialComponent" for _ in components)
        return list(components)

    def list_models(self, name_prefix: str) -> list[str]:
        self._call("ListModels")
        return sorted(name for name in self.models if name.startswith(name_prefix))

    def list_endpoint_configs(self, name_prefix: str) -> list[str]:
        self._call("ListEndpointConfigs")
        return sorted(name for name in self.configs if name.startswith(name_prefix))

    def endpoint_config_tag(self, name: str) -> str | None:
        self._call("ListTags")
        if name not in self.configs:
            raise NotFound(f"Could not find endpoint configuration {name}")
        return self.config_endpoints.get(name)

    def delete_endpoint(self, name: str) -> None:
        self._call("DeleteEndpoint")
        with self.lock:
            if self.endpoints.pop(name, None) is None:
                raise NotFound(f"Could not find endpoint {name}")

    def delete_endpoint_config(self, name: str) -> None:
        self._call("DeleteEndpointConfig")
        with self.lock:
            if self.configs.pop(name, None) is None:
                raise NotFound(f"Could not find endpoint configuration {name}")
            self.config_endpoints.pop(name, None)

    def delete_model(self, name: str) -> None:
        self._call("DeleteModel")
        with self.lock:
            if self.models.pop(name, None) is None:
                raise NotFound(f"Could not find model {name}")
            for facts in (self.model_runs, self.isolated, self.environments):
                facts.pop(name, None)

    def settle(self, name: str, succeed: bool = True) -> EndpointChange | None:
        """Finishes the endpoint's update; the change is what SageMaker's event would say."""
        with self.lock:
            endpoint = self.endpoints.get(name)
            if endpoint is None or endpoint.pending is None:
                return None
            if succeed:
                endpoint.config = endpoint.pending
            endpoint.status, endpoint.pending = "InService", None
            if endpoint.config is None:
                endpoint.status = "Failed"
            return EndpointChange(name, f"arn:{name}", endpoint.status, EPOCH, endpoint.config)  # type: ignore[arg-type]


@dataclass
class FakeTraffic:
    """CloudWatch's invocations per (endpoint, variant); `failure` is raised by every call."""

    invocations_by_variant: dict[tuple[str, str], float] = field(default_factory=dict)
    failure: Exception | None = None
    windows: list[tuple[datetime, datetime]] = field(default_factory=list)

    def invocations(
        self, endpoint: str, variant: str, start: datetime, end: datetime
    ) -> float | None:
        self.windows.append((start, end))
        if self.failure is not None:
            raise self.failure
        return self.invocations_by_variant.get((endpoint, variant))


class FakePacker:
    """Repacks nothing: answers the destination and records each call."""

    def __init__(self) -> None:
        self.packed: list[tuple[str, str, str, int]] = []

    def repack_model(self, artifact: str, code: str, destination: str, max_bytes: int) -> str:
        self.packed.append((artifact, code, destination, max_bytes))
        return destination


class FakeObjects:
    """S3 in memory: (bucket, key) -> (body, content type); ETags are MD5s of the bodies;
    `puts` lists the keys written, in order."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], tuple[bytes, str]] = {}
        self.puts: list[str] = []

    def get(self, bucket: str, key: str, max_bytes: int) -> StoredObject:
        stored = self.head(bucket, key)
        if stored is None:
            raise NotFound("the object does not exist")
        if stored.size > max_bytes:
            raise InputTooLarge(f"the object is over the limit of {max_bytes} bytes")
        return replace(stored, body=self.objects[bucket, key][0])

    def head(self, bucket: str, key: str) -> StoredObject | None:
        if (bucket, key) not in self.objects:
            return None
        body, content_type = self.objects[bucket, key]
        etag = hashlib.md5(body, usedforsecurity=False).hexdigest()
        return StoredObject(bucket, key, etag, len(body), content_type)

    def put(self, bucket: str, key: str, body: bytes, content_type: str) -> None:
        self.objects[bucket, key] = (body, content_type)
        self.puts.append(key)

    def delete(self, bucket: str, key: str) -> None:
        self.objects.pop((bucket, key), None)

    @contextmanager
    def writer(self, bucket: str, key: str, content_type: str) -> Iterator[FakeWriter]:
        """The object exists only once the block ends without error, as S3's would."""
        writer = FakeWriter()
        yield writer
        self.put(bucket, key, bytes(writer.body), content_type)

    def copy(self, bucket: str, source: str, destination: str) -> None:
        if (bucket, source) not in self.objects:
            raise NotFound("the object does not exist")
        self.objects[bucket, destination] = self.objects[bucket, source]
        self.puts.append(destination)

    @contextmanager
    def lines(self, bucket: str, key: str) -> Iterator[Iterator[bytes]]:
        if (bucket, key) not in self.objects:
            raise NotFound("the object does not exist")
        yield iter(self.objects[bucket, key][0].splitlines())

    def presigned_get(self, bucket: str, key: str, seconds: int) -> str:
        return f"https://{bucket}.s3.example/{key}?expires={seconds}"


class FakeWriter:
    def __init__(self) -> None:
        self.body = bytearray()

    def write(self, data: bytes) -> None:
        self.body += data


class FakeDatasets:
    """Dataset versions, recorded once per (URI, sequencer); each object's newest listed last."""

    def __init__(self) -> None:
        self.versions: list[DatasetVersion] = []

    def put_version(self, version: DatasetVersion) -> bool:
        if any((v.uri, v.sequencer) == (version.uri, version.sequencer) for v in self.versions):
            return False
        self.versions.append(version)
        return True

    def versions_under(self, uri_prefix: str) -> list[DatasetVersion]:
        under = [v for v in self.versions if v.uri.startswith(uri_prefix)]
        return sorted(under, key=lambda v: (v.uri, v.sequencer or "", v.last_modified_at))


@dataclass
class FakeRuntime:
    """A linear-learner-shaped sagemaker-runtime: the score is the mean feature; every call is
    recorded.
    `failure` is raised by every call, `failures` one per call in turn."""

    calls: list[dict[str, Any]] = field(default_factory=list)
    failure: Exception | None = None
    failures: list[SagewireError] = field(default_factory=list)
    answer: bytes | None = None
    variant: str = "AllTraffic"

    def invoke(
        self,
        endpoint: str,
        body: bytes,
        content_type: str,
        accept: str,
        target_variant: str | None = None,
    ) -> Invocation:
        self.calls.append(
            {
                "endpoint": endpoint,
                "body": body,
                "content_type": content_type,
                "accept": accept,
                "target_variant": target_variant,
            }
        )
        if self.failure is not None:
            raise self.failure
        if self.failures:
            raise self.failures.pop(0)
        rows = parse_request(body, content_type)
        scores = rows.mean(axis=1)
        predictions = [
            {"score": float(score), "predicted_label": int(score > 0.5)} for score in scores
        ]
        return Invocation(
            body=self.answer or orjson.dumps({"predictions": predictions}),
            content_type="application/json",
            variant=target_variant or self.variant,
        )


@dataclass
class FakeMetrics:
    """A MetricsSink that keeps every value it is given, as (name, value, dimensions)."""

    recorded: list[tuple[str, float, dict[str, str]]] = field(default_factory=list)

    def count(self, name: str, value: int = 1, **dimensions: str) -> None:
        self.recorded.append((name, value, dimensions))

    def milliseconds(self, name: str, value: float, **dimensions: str) -> None:
        self.recorded.append((name, value, dimensions))

    def total(self, name: str, **dimensions: str) -> float:
        """The sum of `name`'s values recorded with exactly these dimensions."""
        return sum(v for n, v, d in self.recorded if n == name and d == dimensions)


class FakeRunFinder:
    """SageMaker Search over a list of runs, oldest first: tokens are offsets; `throttled` calls
    answer ServiceUnavailable first; `expire_tokens` makes every token refused (restart)."""

    def __init__(self, runs: Sequence[Run] = ()) -> None:
        self.runs = sorted(runs, key=lambda run: (run.created_at or EPOCH, run.name))
        self.calls = 0
        self.throttled = 0
        self.expire_tokens = False

    def search_runs(self, match: Match, cursor: SearchCursor, page_size: int = 100) -> SearchPage:
        self.calls += 1
        if self.throttled:
            self.throttled -= 1
            raise ServiceUnavailable("search: ThrottlingException", 2)
        found = [
            run
            for run in self.runs
            if all(run.tags.get(key) == value for key, value in match.tags.items())
            and (cursor.since is None or (run.created_at or EPOCH) >= cursor.since)
        ]
        start = 0
        if cursor.next_token is not None and not self.expire_tokens:
            start = int(cursor.next_token)
        elif cursor.next_token is not None:
            cursor = SearchCursor(None, cursor.last_created, cursor.last_created)
            found = [run for run in found if (run.created_at or EPOCH) >= (cursor.since or EPOCH)]
        page = found[start : start + page_size]
        last = max((run.created_at or EPOCH for run in page), default=cursor.last_created)
        more = start + page_size < len(found)
        following = SearchCursor(str(start + page_size), cursor.since, last) if more else None
        return SearchPage(tuple(page), following)


class FakeImports:
    """Imports by (project, id), saves conditional on `pages`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.imports: dict[tuple[str, str], RunImport] = {}
        self.saves = 0

    def create(self, run_import: RunImport) -> bool:
        with self._lock:
            key = (run_import.project, run_import.import_id)
            if key in self.imports:
                return False
            self.imports[key] = run_import
            return True

    def save(self, run_import: RunImport, after_pages: int) -> bool:
        with self._lock:
            key = (run_import.project, run_import.import_id)
            if key not in self.imports or self.imports[key].pages != after_pages:
                return False
            self.imports[key] = run_import
            self.saves += 1
            return True

    def get(self, project: str, import_id: str) -> RunImport | None:
        return self.imports.get((project, import_id))

    def latest(self, project: str) -> RunImport | None:
        mine = [item for (name, _), item in self.imports.items() if name == project]
        return max(mine, key=lambda item: item.import_id, default=None)


class FakeBoards:
    """Leaderboard index states by project, saves `after` a state conditional on it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.states: dict[str, BoardIndex] = {}
        self.saves = 0

    def get(self, project: str) -> BoardIndex | None:
        return self.states.get(project)

    def save(self, index: BoardIndex, after: BoardIndex | None = None) -> bool:
        with self._lock:
            current = self.states.get(index.project)
            if after is not None and (
                current is None or (current.job_id, current.pages) != (after.job_id, after.pages)
            ):
                return False
            self.states[index.project] = index
            self.saves += 1
            return True


class FakeBus:
    """EventBridge PutEvents: what was published, in order; `down` refuses every event."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.down = False

    def publish(self, detail_type: str, detail: dict[str, Any]) -> str:
        if self.down:
            raise ServiceUnavailable("EventBridge refused the event", 2)
        self.events.append((detail_type, detail))
        return f"event-{len(self.events)}"


class FakeModelRegistry:
    """The ModelRegistry port in memory: groups, versions (a ClientToken answers its first
    version), approvals changed by the test as Studio would."""

    def __init__(self) -> None:
        self.groups: dict[str, str] = {}
        self.packages: dict[str, ModelPackage] = {}
        self.requests: dict[str, PackageRequest] = {}
        self._tokens: dict[str, str] = {}
        self.failures: list[Exception] = []

    def ensure_group(self, name: str, description: str) -> None:
        self.groups.setdefault(name, description)

    def create_package(self, request: PackageRequest) -> str:
        if self.failures:
            raise self.failures.pop(0)
        if request.token in self._tokens:
            return self._tokens[request.token]
        version = 1 + sum(1 for p in self.packages.values() if p.group == request.group)
        arn = f"arn:aws:sagemaker:us-east-1:123456789012:model-package/{request.group}/{version}"
        self._tokens[request.token] = arn
        self.requests[arn] = request
        self.packages[arn] = ModelPackage(
            arn, request.group, request.approval, request.artifact, dict(request.metadata)
        )
        return arn

    def describe_package(self, arn: str) -> ModelPackage:
        if arn not in self.packages:
            raise NotFound(f"model package {arn} not found")
        return self.packages[arn]

    def decide(self, arn: str, approval: str) -> ModelPackageChange:
        """Studio's approve or reject button: the package's new status, and its event."""
        self.packages[arn] = replace(self.packages[arn], approval=approval)
        group = self.packages[arn].group or ""
        return ModelPackageChange(arn, group, approval, datetime.now(UTC))


def board_service(
    projects: FakeProjects | None = None,
    runs: FakeRuns | None = None,
    states: FakeBoards | None = None,
    bus: FakeBus | None = None,
    page_size: int = 100,
) -> BoardService:
    """Leaderboard indexes over fakes; with no state saved, only the objective's is complete."""
    return BoardService(
        projects or FakeProjects(),
        runs or FakeRuns(),
        states or FakeBoards(),
        bus or FakeBus(),
        page_size=page_size,
    )
