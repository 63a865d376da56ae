"""The lineage chain's frozen values: endpoint -> variants -> models -> runs -> datasets."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from chalicelib.records import (
    Channel,
    DatasetVersion,
    EndpointStatus,
    PromotionOutcome,
    Run,
    RunStatus,
    StoredObject,
    TrialComponent,
)
from chalicelib.services.selection import Eligibility

Provenance = Literal["recorded", "current-object", "unversioned"]
# `described`: no run recorded; the training job its artifact names, read live.
RunSource = Literal["ledger", "artifact", "tag", "described", "unresolved"]


@dataclass(frozen=True)
class ChannelLineage:
    """An input channel and the dataset versions it read.

    `recorded`: the newest recorded version of each object under the URI when training started.
    `current-object`: nothing recorded; the URI names an object and this is what S3 holds now.
    `unversioned`: nothing is known about which bytes the run read."""

    name: str
    s3_uri: str
    provenance: Provenance
    versions: tuple[DatasetVersion, ...] = ()
    current_object: StoredObject | None = None


@dataclass(frozen=True)
class TrainingLineage:
    """A run with its upstream: inputs and the other components of its experiment trial."""

    run: Run
    inputs: tuple[ChannelLineage, ...]
    trial_components: tuple[TrialComponent, ...]


@dataclass(frozen=True)
class ModelLineage:
    """A model: the image and environment that serve it (DescribeModel), artifact, run."""

    name: str
    image: str | None
    artifact: str | None
    run_name: str | None
    run_source: RunSource
    training: TrainingLineage | None
    environment: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class VariantLineage:
    name: str
    weight: float
    traffic_share: float
    model: ModelLineage


@dataclass(frozen=True)
class InferenceLineage:
    """The owning project's serving-side inference spec and the SHA-256 of its canonical JSON."""

    project: str
    spec: dict[str, Any]
    sha256: str
    # The ETag of a text project's vocabulary as S3 holds it now (None: gone or unreadable).
    vocabulary_etag: str | None = None


@dataclass(frozen=True)
class EndpointLineage:
    endpoint: str
    status: EndpointStatus
    config_name: str | None
    pending_config_name: str | None
    project: str | None
    variants: tuple[VariantLineage, ...]
    inference: InferenceLineage | None


@dataclass(frozen=True)
class Deployment:
    """A promotion that put a run's model into an endpoint config; `serving` when the endpoint
    serves that config now."""

    project: str
    endpoint: str
    promotion_id: str
    promoted_run: str
    model_name: str
    endpoint_config_name: str
    outcome: PromotionOutcome
    serving: bool


@dataclass(frozen=True)
class RunLineage:
    run: Run
    inputs: tuple[ChannelLineage, ...]
    trial_components: tuple[TrialComponent, ...]
    deployments: tuple[Deployment, ...]
    # Per project the run matches: may it be promoted automatically, and if not, why.
    eligibility: tuple[Eligibility, ...] = ()


@dataclass(frozen=True)
class DatasetRun:
    run_name: str
    status: RunStatus
    channels: tuple[Channel, ...]
    deployments: tuple[Deployment, ...]


@dataclass(frozen=True)
class DatasetLineage:
    uri: str
    runs: tuple[DatasetRun, ...]
