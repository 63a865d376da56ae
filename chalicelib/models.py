"""Frozen domain values shared by every layer."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from chalicelib.inference_spec import InferenceSpec, InputKind

Goal = Literal["minimize", "maximize"]
StrategyType = Literal["all_at_once", "canary", "linear", "ab", "manual"]
# A ledger entry's: a project's strategy, an operator's variants (PUT) or weights (PATCH).
LedgerStrategy = Literal["all_at_once", "canary", "linear", "ab", "manual", "variants", "weights"]
Statistic = Literal["last", "max", "min", "avg"]
FloatArray = npt.NDArray[np.float32]
ReportKind = Literal["json", "html", "csv", "openlineage"]
REPORT_CONTENT_TYPES: dict[ReportKind, str] = {
    "json": "application/json",
    "html": "text/html; charset=utf-8",
    "csv": "text/csv; charset=utf-8",
    "openlineage": "application/x-ndjson",
}


@dataclass(frozen=True)
class Match:
    tags: dict[str, str] = field(default_factory=dict)
    experiment_name: str | None = None
    trial_name: str | None = None
    tuning_job_name: str | None = None


@dataclass(frozen=True)
class Objective:
    metric: str
    goal: Goal = "minimize"
    min_improvement: float = 0.0
    # Over the run's logged values (SageMaker Experiments); "last" is the job's final metric.
    statistic: Statistic = "last"


@dataclass(frozen=True)
class Guard:
    metric: str
    op: Literal["<", "<=", ">", ">=", "==", "!="]
    value: float


@dataclass(frozen=True)
class Strategy:
    type: StrategyType = "all_at_once"
    canary_percent: int | None = None
    linear_step_percent: int | None = None
    wait_seconds: int = 600
    rollback_alarms: tuple[str, ...] = ()
    challenger_weight: float | None = None


@dataclass(frozen=True)
class ModelOverride:
    """What the project says the model's container serves with, over what the run implies."""

    image: str | None = None
    environment: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class EndpointSpec:
    name: str
    instance_type: str = "ml.m5.large"
    instance_count: int = 1
    execution_role_arn: str | None = None
    strategy: Strategy = field(default_factory=Strategy)
    network_isolation: bool = True
    model: ModelOverride = field(default_factory=ModelOverride)
    # False: an existing endpoint sagewire fronts for predictions and lineage and never changes.
    managed: bool = True


@dataclass(frozen=True)
class Access:
    """Who may call a project's predictions when API Gateway authenticates them by Cognito or key.

    IAM callers are authorized by API Gateway on the route's resource ARN, which names the project.
    """

    groups: tuple[str, ...] = ()
    api_keys: tuple[str, ...] = ()


@dataclass(frozen=True)
class Trust:
    """What a run must have been built from to be promoted automatically: image repositories or
    registries, `s3://` artifact prefixes, training role ARNs (no roles: any role)."""

    images: tuple[str, ...] = ()
    artifacts: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()


@dataclass(frozen=True)
class ImportPolicy:
    """What an import of existing runs may do: rank them always; deploy the best if `promote`."""

    promote: bool = False


@dataclass(frozen=True)
class Project:
    name: str
    objective: Objective
    endpoint: EndpointSpec
    inference: InferenceSpec
    match: Match = field(default_factory=Match)
    guards: tuple[Guard, ...] = ()
    access: Access = field(default_factory=Access)
    # None: the stage's trust policy; a field the project names replaces the stage's.
    trust: Trust | None = None
    imports: ImportPolicy = field(default_factory=ImportPolicy)
    leaderboard_metrics: tuple[str, ...] = ()


CallerKind = Literal["iam", "cognito", "api_key", "local"]


@dataclass(frozen=True)
class Caller:
    """Who made a request, as API Gateway's authorizer established it (`local`: no authorizer)."""

    kind: CallerKind
    principal: str = ""
    groups: frozenset[str] = frozenset()


@dataclass(frozen=True, eq=False)
class RawInput:
    """One decoded input: image pixels (uint8, HxW or HxWxC), a numeric array (float64), or a
    text (then `values` is empty)."""

    values: npt.NDArray[Any]
    kind: InputKind
    text: str = ""


@dataclass(frozen=True)
class Invocation:
    """One model answer: the response body as the container sent it."""

    body: bytes
    content_type: str
    variant: str | None


@dataclass(frozen=True)
class PredictionResult:
    project: str
    endpoint: str
    variant: str | None
    predictions: list[dict[str, Any]]


RunStatus = Literal["InProgress", "Completed", "Failed", "Stopping", "Stopped"]
# `torn_down`: a teardown's entry (services/teardown.py); `rejected`: in the Model Registry.
PromotionOutcome = Literal[
    "recorded", "pending", "deploying", "succeeded", "failed", "superseded", "torn_down", "rejected"
]
# A promotion in one of these states never changes again.
SETTLED_OUTCOMES: tuple[PromotionOutcome, ...] = (
    "succeeded",
    "failed",
    "superseded",
    "recorded",
    "torn_down",
    "rejected",
)
EndpointStatus = Literal[
    "OutOfService",
    "Creating",
    "Updating",
    "SystemUpdating",
    "RollingBack",
    "InService",
    "Deleting",
    "Failed",
    "UpdateRollbackFailed",
    "Absent",
]


@dataclass(frozen=True)
class Channel:
    name: str
    s3_uri: str


@dataclass(frozen=True)
class Run:
    """One training job as sagewire records it (DescribeTrainingJob plus the event's tags)."""

    name: str
    arn: str
    status: RunStatus
    last_modified_at: datetime
    metrics: dict[str, float] = field(default_factory=dict)
    hyperparameters: dict[str, str] = field(default_factory=dict)
    channels: tuple[Channel, ...] = ()
    model_artifact: str | None = None
    training_image: str | None = None
    role_arn: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    experiment_name: str | None = None
    trial_name: str | None = None
    tuning_job_name: str | None = None
    failure_reason: str | None = None
    created_at: datetime | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    # Per metric, its statistics over the values the job logged ("max", "min", "avg", "last",
    # "count", "std_dev"), from its experiment trial component; empty outside an experiment.
    metric_statistics: dict[str, dict[str, float]] = field(default_factory=dict)


@dataclass(frozen=True)
class TrainingJobChange:
    """A normalized "SageMaker Training Job State Change" event."""

    name: str
    arn: str
    status: RunStatus
    last_modified_at: datetime
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TuningJobChange:
    """A normalized "SageMaker HyperParameter Tuning Job State Change" event."""

    name: str
    arn: str
    status: str
    last_modified_at: datetime
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class EndpointChange:
    """A normalized endpoint (or endpoint deployment) state change event."""

    name: str
    arn: str
    status: EndpointStatus
    last_modified_at: datetime
    config_name: str | None = None


@dataclass(frozen=True)
class EndpointState:
    """What an endpoint serves right now, from DescribeEndpoint."""

    name: str
    status: EndpointStatus
    config_name: str | None
    pending_config_name: str | None = None
    failure_reason: str | None = None


@dataclass(frozen=True)
class Variant:
    name: str
    model_name: str
    weight: float


@dataclass(frozen=True)
class RunVariant(Variant):
    """A variant an operator chose (PUT .../variants), with the run behind its model."""

    run_name: str


@dataclass(frozen=True)
class Champion:
    """The best eligible run of a project; `version` grows with every change."""

    project: str
    run_name: str
    objective_value: float
    version: int
    model_name: str
    endpoint_config_name: str
    promotion_id: str
    changed_at: datetime
    # The run an A/B split serves beside this one: the champion it replaced, unless it serves alone.
    previous_run_name: str | None = None
    variants: tuple[RunVariant, ...] = ()  # an operator's split; empty: as `strategy` makes it


@dataclass(frozen=True)
class Promotion:
    """One entry of a project's append-only promotion ledger."""

    project: str
    promotion_id: str
    run_name: str
    previous_run_name: str | None
    cause: str
    strategy: LedgerStrategy
    outcome: PromotionOutcome
    model_name: str
    endpoint_config_name: str
    previous_endpoint_config_name: str | None
    created_at: datetime
    updated_at: datetime
    message: str | None = None
    # Why the run was outside the trust policy, when an operator promoted it all the same.
    untrusted: str | None = None
    # The Model Registry version the promotion registered (or, cause `registry:`, was approved).
    model_package_arn: str | None = None
    variants: tuple[RunVariant, ...] = ()  # `variants`: the split; `weights`: its new weights


def document(value: Any) -> Any:
    """A domain value as JSON-safe data: dataclasses as objects, datetimes as ISO-8601."""
    if isinstance(value, datetime):
        return value.isoformat()
    if hasattr(value, "__dataclass_fields__"):
        return {name: document(getattr(value, name)) for name in value.__dataclass_fields__}
    if isinstance(value, dict):
        return {key: document(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [document(item) for item in value]
    return value


@dataclass(frozen=True)
class DatasetVersion:
    """One version of one S3 object under the datasets prefix."""

    uri: str
    etag: str
    size: int
    last_modified_at: datetime
    version_id: str | None = None
    sequencer: str | None = None


@dataclass(frozen=True)
class ObjectCreated:
    """A normalized S3 "Object Created" EventBridge event; the key is as stored (not encoded)."""

    bucket: str
    key: str
    etag: str
    size: int
    time: datetime
    version_id: str | None = None
    sequencer: str | None = None

    @property
    def uri(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


@dataclass(frozen=True)
class StoredObject:
    """An S3 object's metadata and, when it was read, its bytes."""

    bucket: str
    key: str
    etag: str
    size: int
    content_type: str | None = None
    version_id: str | None = None
    body: bytes | None = None


@dataclass(frozen=True)
class TrialComponent:
    """A SageMaker Experiments trial component, e.g. a preprocessing step and its parameters."""

    name: str
    display_name: str | None
    parameters: dict[str, str | float]
    source_arn: str | None = None


@dataclass(frozen=True)
class ModelInfo:
    """A SageMaker model as DescribeModel tells it: its (first) container's image and artifact."""

    name: str
    arn: str
    image: str | None
    artifact: str | None
    role_arn: str | None
    environment: dict[str, str] = field(default_factory=dict)
