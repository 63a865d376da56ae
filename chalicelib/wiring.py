"""Composition root: lazily built, cached boto3 clients, gateways and services."""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING, Any

import boto3

from chalicelib.config import PACKED_MODELS_PREFIX, Settings, get_settings
from chalicelib.gateways.projects import ProjectTable
from chalicelib.gateways.sagemaker_runtime import SageMakerRuntimeGateway, runtime_client_config
from chalicelib.gateways.table import client_config as table_client_config
from chalicelib.gateways.user_agent import reuse_user_agent
from chalicelib.observability import Observability
from chalicelib.processing.decode import DecodeLimits
from chalicelib.services import ports
from chalicelib.services.inference import InferenceService
from chalicelib.services.project_cache import CachedProjectStore
from chalicelib.services.projects import ProjectService
from chalicelib.services.vocabularies import Vocabularies

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_events.client import EventBridgeClient
    from mypy_boto3_s3.client import S3Client
    from mypy_boto3_sagemaker.client import SageMakerClient
    from mypy_boto3_sagemaker_runtime.client import SageMakerRuntimeClient

    from chalicelib.gateways.sagemaker import SageMakerGateway
    from chalicelib.services.batch import BatchService
    from chalicelib.services.datasets import DatasetService
    from chalicelib.services.event_handlers import EventHandlers, ObjectEventHandlers
    from chalicelib.services.imports import ImportRequests, ImportService
    from chalicelib.services.leaderboard import LeaderboardService
    from chalicelib.services.lineage import LineageService
    from chalicelib.services.model_builds import ModelBuilds
    from chalicelib.services.registry import Approvals, Registrar
    from chalicelib.services.reports import ReportService
    from chalicelib.services.rollout import RolloutService
    from chalicelib.services.selection import ChampionService
    from chalicelib.services.teardown import TeardownService
    from chalicelib.services.trust import TrustPolicy
    from chalicelib.services.variants import VariantService


# What the prediction route does not use is imported inside its property, on first use: each
# module is import and compile time that a cold start would otherwise pay (bench/coldstart.py).
class Container:
    """Builds each collaborator on first use; tests replace any of them by assignment."""

    def __init__(self, settings: Settings | None = None) -> None:
        self._settings = settings

    @cached_property
    def settings(self) -> Settings:
        return self._settings or get_settings()

    @cached_property
    def observability(self) -> Observability:
        return Observability(self.settings)

    @cached_property
    def session(self) -> boto3.session.Session:
        return boto3.session.Session(region_name=self.settings.region)

    @cached_property
    def dynamodb_client(self) -> DynamoDBClient:
        return reuse_user_agent(self.session.client("dynamodb", config=table_client_config()))

    @cached_property
    def runtime_client(self) -> SageMakerRuntimeClient:
        config = runtime_client_config(self.settings)
        return reuse_user_agent(self.session.client("sagemaker-runtime", config=config))

    @cached_property
    def sagemaker_client(self) -> SageMakerClient:
        from chalicelib.gateways.sagemaker import control_plane_client_config

        config = control_plane_client_config()
        return reuse_user_agent(self.session.client("sagemaker", config=config))

    @cached_property
    def s3_client(self) -> S3Client:
        from chalicelib.gateways.s3 import client_config as s3_client_config

        return reuse_user_agent(self.session.client("s3", config=s3_client_config()))

    @cached_property
    def events_client(self) -> EventBridgeClient:
        return reuse_user_agent(self.session.client("events"))

    @property
    def _table(self) -> tuple[DynamoDBClient, str, int]:
        """What every table gateway is built from: the client, the table, Retry-After seconds."""
        settings = self.settings
        return self.dynamodb_client, settings.table_name, settings.retry_after_seconds

    @cached_property
    def object_store(self) -> ports.ObjectStore:
        from chalicelib.gateways.s3 import S3Gateway

        return S3Gateway(self.s3_client)

    @cached_property
    def dataset_store(self) -> ports.DatasetStore:
        from chalicelib.gateways.datasets import DatasetTable

        return DatasetTable(*self._table)

    @cached_property
    def datasets(self) -> DatasetService:
        from chalicelib.services.datasets import DatasetService

        return DatasetService(self.dataset_store)

    @cached_property
    def batch(self) -> BatchService:
        from chalicelib.services.batch import BatchService

        return BatchService(self.projects, self.inference, self.object_store, self.settings)

    @cached_property
    def object_event_handlers(self) -> ObjectEventHandlers:
        from chalicelib.services.event_handlers import ObjectEventHandlers

        return ObjectEventHandlers(self.datasets, self.batch, self._idempotent)

    @cached_property
    def project_store(self) -> ports.ProjectStore:
        return ProjectTable(*self._table)

    @cached_property
    def endpoint_invoker(self) -> ports.EndpointInvoker:
        return SageMakerRuntimeGateway(self.runtime_client, self.settings.retry_after_seconds)

    @cached_property
    def control_plane(self) -> ports.ControlPlane:
        return self.sagemaker_gateway

    @cached_property
    def sagemaker_gateway(self) -> SageMakerGateway:
        """SageMaker itself, for the gateways built over it, whatever `control_plane` is."""
        from chalicelib.gateways.sagemaker import SageMakerGateway

        return SageMakerGateway(self.sagemaker_client, self.settings.retry_after_seconds)

    @cached_property
    def run_store(self) -> ports.RunStore:
        from chalicelib.gateways.runs import RunTable

        return RunTable(*self._table)

    @cached_property
    def champion_store(self) -> ports.ChampionStore:
        from chalicelib.gateways.champions import ChampionTable

        return ChampionTable(*self._table)

    @cached_property
    def projects(self) -> ProjectService:
        """Definitions as the API and the predictions (batch ones too) read them: from memory for
        a few seconds. SageMaker's events read the table every time, through `project_store`."""
        settings = self.settings
        return ProjectService(
            CachedProjectStore(self.project_store, settings.definition_cache_seconds),
            settings.endpoint_prefix,
            settings.execution_role_arn,
            settings.require_network_isolation,
            self.vocabularies,
            settings.vocabulary_prefixes,
            settings.fronted_endpoints,
            start_import=lambda project, cause: self.import_requests.start(project, cause),
            start_reindex=lambda new, old: self.leaderboard.boards.start(new, old),
        )

    @cached_property
    def vocabularies(self) -> Vocabularies:
        return Vocabularies(lambda: self.object_store, self.settings.vocabulary_cache_seconds)

    @cached_property
    def inference(self) -> InferenceService:
        return InferenceService(
            self.projects,
            self.endpoint_invoker,
            self.settings.max_invoke_bytes,
            DecodeLimits(max_request_pixels=self.settings.max_request_pixels),
            metrics=self.observability.metrics,
            vocabularies=self.vocabularies,
        )

    @cached_property
    def rollout(self) -> RolloutService:
        from chalicelib.services.rollout import RolloutService

        return RolloutService(
            self.project_store,
            self.run_store,
            self.champion_store,
            self.control_plane,
            metrics=self.observability.metrics,
            models=self.model_builds,
        )

    @cached_property
    def model_builds(self) -> ModelBuilds:
        from chalicelib.gateways.s3 import S3Gateway
        from chalicelib.services.model_builds import ModelBuilds

        settings = self.settings
        return ModelBuilds(
            self.control_plane,
            S3Gateway(self.s3_client),
            f"s3://{settings.bucket_name}/{PACKED_MODELS_PREFIX}",
            settings.max_repack_bytes,
        )

    @cached_property
    def registry(self) -> tuple[Registrar, Approvals]:
        """The Model Registry: registrations (selection, reconcile) and approvals (events)."""
        from chalicelib.gateways.model_registry import ModelRegistryGateway
        from chalicelib.services.registry import Approvals, Registrar, RegistryStores

        registry = ModelRegistryGateway(self.sagemaker_client, self.sagemaker_gateway)
        stores = RegistryStores(self.project_store, self.run_store, self.champion_store, registry)
        return Registrar(stores, self.model_builds), Approvals(
            stores, lambda *args: self.champions.promote(*args)
        )

    @cached_property
    def resource_deleter(self) -> ports.ResourceDeleter:
        from chalicelib.gateways.sagemaker_deletes import SageMakerDeletes

        return SageMakerDeletes(self.sagemaker_client, self.sagemaker_gateway)

    @cached_property
    def teardown(self) -> TeardownService:
        from chalicelib.services.teardown import TeardownService

        return TeardownService(
            self.projects,
            self.champion_store,
            self.control_plane,
            self.resource_deleter,
            self.object_store,
            f"s3://{self.settings.bucket_name}/{PACKED_MODELS_PREFIX}",
        )

    @cached_property
    def champions(self) -> ChampionService:
        from chalicelib.services.selection import ChampionService

        return ChampionService(
            self.project_store,
            self.run_store,
            self.champion_store,
            self.control_plane,
            self.rollout,
            self.trust,
            registrar=self.registry[0],
        )

    @cached_property
    def variant_weights(self) -> ports.VariantWeights:
        from chalicelib.gateways.sagemaker_variants import SageMakerVariants

        return SageMakerVariants(self.sagemaker_client, self.settings.retry_after_seconds)

    @cached_property
    def traffic_metrics(self) -> ports.TrafficMetrics:
        from chalicelib.gateways.cloudwatch import CloudWatchMetrics, metrics_client_config

        client = self.session.client("cloudwatch", config=metrics_client_config())
        return CloudWatchMetrics(reuse_user_agent(client), self.settings.retry_after_seconds)

    @cached_property
    def variants(self) -> VariantService:
        from chalicelib.services.variants import VariantService

        return VariantService(
            self.project_store,
            self.run_store,
            self.champion_store,
            self.control_plane,
            self.variant_weights,
            self.traffic_metrics,
            self.rollout,
            self.trust,
        )

    @cached_property
    def import_requests(self) -> ImportRequests:
        from chalicelib.event_types import IMPORT_SOURCE
        from chalicelib.gateways.event_bus import EventBus
        from chalicelib.gateways.imports import ImportTable
        from chalicelib.services.imports import ImportRequests

        bus = EventBus(self.events_client, IMPORT_SOURCE, self.settings.retry_after_seconds)
        return ImportRequests(ImportTable(*self._table), bus)

    @cached_property
    def imports(self) -> ImportService:
        from chalicelib.gateways.imports import ImportTable
        from chalicelib.gateways.sagemaker_search import RunSearch
        from chalicelib.services.imports import ImportService

        retry_after = self.settings.retry_after_seconds
        return ImportService(
            self.project_store,
            RunSearch(self.sagemaker_client, self.sagemaker_gateway, retry_after),
            self.run_store,
            ImportTable(*self._table),
            self.import_requests,
            self.champions,
            self.champion_store,
            self.trust,
        )

    @cached_property
    def trust(self) -> TrustPolicy:
        from chalicelib.services.trust import TrustPolicy

        return TrustPolicy.from_settings(self.settings)

    @cached_property
    def leaderboard(self) -> LeaderboardService:
        from chalicelib.gateways.boards import BoardTable
        from chalicelib.services.boards import BoardService
        from chalicelib.services.leaderboard import LeaderboardService

        states = BoardTable(*self._table)
        boards = BoardService(self.project_store, self.run_store, states, self.import_requests.bus)
        return LeaderboardService(self.project_store, self.run_store, self.trust, boards)

    @cached_property
    def event_handlers(self) -> EventHandlers:
        from chalicelib.services.event_handlers import EventHandlers

        return EventHandlers(self.champions, self.rollout, self._idempotent, self.registry)

    def _idempotent(self, handler: str, function: Callable[..., Any]) -> Callable[..., Any]:
        # Powertools' idempotency is imported on first use: a prediction does not need it.
        from chalicelib.gateways.idempotency import Idempotent

        return Idempotent(
            handler,
            function,
            self.dynamodb_client,
            self.settings.table_name,
            self.observability.metrics,
        )

    @cached_property
    def lineage(self) -> LineageService:
        return self._lineage(self.control_plane)

    def _lineage(self, sagemaker: ports.ControlPlane) -> LineageService:
        from chalicelib.services.lineage import LineageService

        stores = (self.project_store, self.run_store, self.champion_store)
        return LineageService(*stores, sagemaker, self.dataset_store, self.object_store, self.trust)

    @cached_property
    def reports(self) -> ReportService:
        from chalicelib.services.reports import ReportService
        from chalicelib.services.rollout import RolloutService
        from chalicelib.services.snapshot import DescribeOnce

        # The report's own view of SageMaker: each endpoint and config described once a report.
        sagemaker = DescribeOnce(self.control_plane)
        rollout = RolloutService(self.project_store, self.run_store, self.champion_store, sagemaker)
        lineage = self._lineage(sagemaker)
        return ReportService(
            self.project_store,
            self.run_store,
            self.champion_store,
            rollout,
            sagemaker,
            lineage,
            self.object_store,
            self.settings.bucket_name,
            self.settings.region,
            fresh_view=sagemaker.reset,
        )


_container: Container | None = None


def container() -> Container:
    global _container
    _container = _container or Container()
    return _container


def use(replacement: Container | None) -> None:
    """Installs a container (tests, the devstack); None goes back to the default."""
    global _container
    _container = replacement
