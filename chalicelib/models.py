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
