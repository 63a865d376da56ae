"""In-memory fakes of the services' ports, thread-safe, with the real stores' semantics."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from chalicelib.errors import Conflict, EndpointBusy, NotFound
from chalicelib.models import (
    SETTLED_OUTCOMES,
    Champion,
    EndpointChange,
    EndpointSpec,
    EndpointState,
    Project,
    Promotion,
    PromotionOutcome,
    Run,
    Strategy,
    Variant,
)

EPOCH = datetime(2026, 11, 23, tzinfo=UTC)


class FakeProjects:
    def __init__(self, *projects: Project) -> None:
        self._projects = {project.name: project for project in projects}

    def get(self, name: str) -> Project | None:
        return self._projects.get(name)

    def all(self) -> list[Project]:
        return list(self._projects.values())

    def put(self, project: Project) -> bool:
        created = project.name not in self._projects
        self._projects[project.name] = project
        return created

    def delete(self, name: str) -> bool:
        return self._projects.pop(name, None) is not None

    def owner_of(self, endpoint: str) -> str | None:
        return next((p.name for p in self._projects.values() if p.endpoint.name == endpoint), None)


class FakeRuns:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.runs: dict[str, Run] = {}

    def put_run(self, run: Run, projects: Sequence[Project] = ()) -> bool:
        with self._lock:
            current = self.runs.get(run.name)
            if current is not None and current.last_modified_at >= run.last_modified_at:
                return False
            self.runs[run.name] = run
            return True

    def get_run(self, name: str) -> Run | None:
        return self.runs.get(name)


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
        self, project: str, promotion_id: str, outcome: PromotionOutcome, message: str | None
    ) -> bool:
        with self._lock:
            key = (project, promotion_id)
            promotion = self.ledger.get(key)
            if promotion is None or promotion.outcome in SETTLED_OUTCOMES:
                return False
            self.ledger[key] = replace(promotion, outcome=outcome, message=message)
            self.history[key].append(outcome)
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

    def ensure_model(self, name: str, run: Run, role_arn: str) -> None:
        self._call("CreateModel")
        with self.lock:
            wanted = (role_arn, run.training_image, run.model_artifact)
            if self.models.setdefault(name, wanted) != wanted:
                raise Conflict(f"model {name} exists with other settings")

    def ensure_endpoint_config(
        self, name: str, variants: Sequence[Variant], endpoint: EndpointSpec
    ) -> None:
        self._call("CreateEndpointConfig")
        with self.lock:
            if self.configs.setdefault(name, tuple(variants)) != tuple(variants):
                raise Conflict(f"endpoint config {name} exists with other variants")

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
