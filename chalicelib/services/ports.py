"""The small interfaces services depend on; gateways and test fakes implement them."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:  # annotations only: the ports add nothing to a function's import
    from chalicelib.boards import BoardIndex
    from chalicelib.imports import RunImport, SearchCursor, SearchPage
    from chalicelib.models import EndpointSpec, Invocation, Match, Project, Strategy
    from chalicelib.processing.model_containers import ServingContainer
    from chalicelib.processing.text import Vocabulary
    from chalicelib.records import (
        Champion,
        DatasetVersion,
        EndpointState,
        ModelInfo,
        Promotion,
        PromotionOutcome,
        Run,
        StoredObject,
        TrialComponent,
        Variant,
    )
    from chalicelib.registry import ModelPackage, PackageRequest


class ProjectStore(Protocol):
    """Definitions with revisions: `if_match` (revisions, or `*` for any) makes a write
    conditional on the stored revision, atomically; PreconditionFailed when it does not hold."""

    def get(self, name: str) -> Project | None: ...

    def versioned(self, name: str) -> tuple[Project, str] | None: ...

    def all(self) -> list[Project]: ...

    def put(self, project: Project, if_match: frozenset[str] | None = None) -> tuple[bool, str]: ...

    def delete(self, name: str, if_match: frozenset[str] | None = None) -> bool: ...

    def owner_of(self, endpoint: str) -> str | None: ...


class VocabularySource(Protocol):
    """Project vocabularies by `s3://` URI (services/vocabularies.py); `fresh` skips any cache."""

    def get(self, uri: str, fresh: bool = False) -> Vocabulary: ...


class ModelPacker(Protocol):
    """Model artifacts repacked with their inference code (gateways/s3.py)."""

    def repack_model(self, artifact: str, code: str, destination: str, max_bytes: int) -> str: ...


class EndpointInvoker(Protocol):
    def invoke(
        self,
        endpoint: str,
        body: bytes,
        content_type: str,
        accept: str,
        target_variant: str | None = None,
    ) -> Invocation: ...


class ControlPlane(Protocol):
    """The SageMaker control plane (gateways/sagemaker.py)."""

    def describe_training_job(self, name: str, tags: dict[str, str]) -> Run: ...

    def best_training_job(self, tuning_job_name: str) -> str | None: ...

    def ensure_model(
        self,
        name: str,
        run: Run,
        role_arn: str,
        network_isolation: bool,
        container: ServingContainer,
    ) -> None: ...

    def ensure_endpoint_config(
        self, name: str, variants: Sequence[Variant], endpoint: EndpointSpec
    ) -> None: ...

    def describe_endpoint(self, name: str) -> EndpointState: ...

    def create_endpoint(self, name: str, config_name: str) -> None: ...

    def update_endpoint(self, name: str, config_name: str, strategy: Strategy) -> None: ...

    def describe_endpoint_config(self, name: str) -> tuple[Variant, ...]: ...

    def describe_model(self, name: str) -> ModelInfo: ...

    def model_run_tag(self, model_arn: str) -> str | None: ...

    def trial_components(self, trial_name: str) -> list[TrialComponent]: ...

    def list_models(self, name_prefix: str) -> list[str]: ...

    def list_endpoint_configs(self, name_prefix: str) -> list[str]: ...


class VariantWeights(Protocol):
    """An endpoint's variant weights (gateways/sagemaker_variants.py): per variant its current
    and desired weight (DescribeEndpoint; empty without the endpoint), and new desired weights
    (UpdateEndpointWeightsAndCapacities: no new endpoint config)."""

    def variant_weights(self, endpoint: str) -> dict[str, tuple[float | None, float | None]]: ...

    def update_weights(self, endpoint: str, weights: dict[str, float]) -> None: ...


class TrafficMetrics(Protocol):
    """CloudWatch's AWS/SageMaker metrics (gateways/cloudwatch.py): a variant's invocations from
    `start` to `end`, None without datapoints; ServiceUnavailable when CloudWatch fails."""

    def invocations(
        self, endpoint: str, variant: str, start: datetime, end: datetime
    ) -> float | None: ...


class RunStore(Protocol):
    def put_run(self, run: Run, projects: Sequence[Project] = ()) -> bool: ...

    def join(self, run: Run, projects: Sequence[Project]) -> None: ...

    def get_run(self, name: str) -> Run | None: ...

    def runs_reading(self, uri: str) -> list[tuple[str, str]]: ...

    def project_runs(self, project: str) -> list[Run]: ...

    def each_project_run(self, project: str) -> Iterator[Run]: ...

    def leaderboard(
        self,
        project: str,
        objective_order: Literal["asc", "desc"],
        limit: int,
        start_key: dict[str, str] | None = None,
        metric: str | None = None,
    ) -> tuple[list[tuple[Run, dict[str, str]]], dict[str, str] | None]: ...

    def unranked_runs(
        self,
        project: str,
        limit: int,
        start_key: dict[str, str] | None = None,
        metric: str | None = None,
    ) -> tuple[list[tuple[Run, dict[str, str]]], dict[str, str] | None]: ...

    def reindex(
        self,
        project: Project,
        building: frozenset[str],
        start_key: dict[str, str] | None,
        limit: int,
    ) -> dict[str, str] | None: ...


class BoardStore(Protocol):
    """Leaderboard index states (gateways/boards.py); a save `after` a state is conditional on
    it still being the stored one."""

    def get(self, project: str) -> BoardIndex | None: ...

    def save(self, index: BoardIndex, after: BoardIndex | None = None) -> bool: ...


class RunFinder(Protocol):
    """A project's existing runs, a page at a time (gateways/sagemaker_search.py)."""

    def search_runs(
        self, match: Match, cursor: SearchCursor, page_size: int = 100
    ) -> SearchPage: ...


class ImportStore(Protocol):
    """Run imports (gateways/imports.py); `save` is conditional on the pages saved before."""

    def create(self, run_import: RunImport) -> bool: ...

    def save(self, run_import: RunImport, after_pages: int) -> bool: ...

    def get(self, project: str, import_id: str) -> RunImport | None: ...

    def latest(self, project: str) -> RunImport | None: ...


class EventPublisher(Protocol):
    """sagewire's own events on EventBridge (gateways/event_bus.py); the event's id."""

    def publish(self, detail_type: str, detail: dict[str, Any]) -> str: ...


class ChampionStore(Protocol):
    def get_champion(self, project: str) -> Champion | None: ...

    def replace(self, champion: Champion, expected_version: int, promotion: Promotion) -> bool: ...

    def get_promotion(self, project: str, promotion_id: str) -> Promotion | None: ...

    def set_outcome(
        self,
        project: str,
        promotion_id: str,
        outcome: PromotionOutcome,
        message: str | None,
        expected: PromotionOutcome | None = None,
    ) -> bool:
        """Moves a non-terminal entry (or, `expected` given, only one in that outcome)."""
        ...

    def set_model_package(self, project: str, promotion_id: str, arn: str) -> bool:
        """Stores the entry's model package ARN once; False when it has one or is missing."""
        ...

    def promotions(self, project: str, limit: int = 100) -> list[Promotion]: ...

    def retire(self, champion: Champion, promotion: Promotion) -> bool:
        """Removes the champion (at its version) and records `promotion`, atomically: False
        when the champion has changed or the promotion id is taken; nothing is written then."""
        ...


class ModelRegistry(Protocol):
    """SageMaker's Model Registry (gateways/model_registry.py)."""

    def ensure_group(self, name: str, description: str) -> None: ...

    def create_package(self, request: PackageRequest) -> str: ...

    def describe_package(self, arn: str) -> ModelPackage: ...


class ResourceDeleter(Protocol):
    """SageMaker deletes (gateways/sagemaker_deletes.py); NotFound when already gone."""

    def endpoint_config_tag(self, name: str) -> str | None: ...

    def delete_endpoint(self, name: str) -> None: ...

    def delete_endpoint_config(self, name: str) -> None: ...

    def delete_model(self, name: str) -> None: ...


class ObjectStore(Protocol):
    """S3 (gateways/s3.py)."""

    def get(self, bucket: str, key: str, max_bytes: int) -> StoredObject: ...

    def head(self, bucket: str, key: str) -> StoredObject | None: ...

    def put(self, bucket: str, key: str, body: bytes, content_type: str) -> None: ...

    def delete(self, bucket: str, key: str) -> None: ...

    def writer(
        self, bucket: str, key: str, content_type: str
    ) -> AbstractContextManager[ObjectWriter]: ...

    def copy(self, bucket: str, source: str, destination: str) -> None: ...

    def lines(self, bucket: str, key: str) -> AbstractContextManager[Iterator[bytes]]: ...

    def presigned_get(self, bucket: str, key: str, seconds: int) -> str: ...


class ObjectWriter(Protocol):
    """An object written in pieces; it exists once its `writer` context ends without error."""

    def write(self, data: bytes) -> None: ...


class DatasetStore(Protocol):
    def put_version(self, version: DatasetVersion) -> bool: ...

    def versions_under(self, uri_prefix: str) -> list[DatasetVersion]: ...


class MetricsSink(Protocol):
    """The current invocation's metrics (observability.py writes them as EMF when it ends).
    Dimensions take a few fixed values each: never a project, run or endpoint name."""

    def count(self, name: str, value: int = 1, **dimensions: str) -> None: ...

    def milliseconds(self, name: str, value: float, **dimensions: str) -> None: ...


class NoMetrics:
    """The default sink: measures nothing."""

    def count(self, name: str, value: int = 1, **dimensions: str) -> None:
        return None

    def milliseconds(self, name: str, value: float, **dimensions: str) -> None:
        return None


NO_METRICS = NoMetrics()
