"""Frozen domain values shared by every layer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

Goal = Literal["minimize", "maximize"]
StrategyType = Literal["all_at_once", "canary", "linear", "ab", "manual"]
PostprocessKind = Literal["linear_learner", "kmeans", "classifier", "regression", "raw"]
ResizeFilter = Literal["nearest", "box", "bilinear", "bicubic", "lanczos"]
JsonLayout = Literal["list", "instances", "features"]
ModelOutputs = Literal["auto", "logits", "probabilities"]
InputKind = Literal["image", "array"]

FloatArray = npt.NDArray[np.float32]


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
class EndpointSpec:
    name: str
    instance_type: str = "ml.m5.large"
    instance_count: int = 1
    execution_role_arn: str | None = None
    strategy: Strategy = field(default_factory=Strategy)


@dataclass(frozen=True)
class InputSpec:
    """How a raw input becomes the model's features (the serving-side preprocessing)."""

    shape: tuple[int, ...]
    scale: float = 1.0
    mean: float = 0.0
    std: float = 1.0
    flatten: bool = True
    channel_first: bool = False
    invert: bool = False
    resize_filter: ResizeFilter = "box"


@dataclass(frozen=True)
class RequestSpec:
    content_type: str = "text/csv"
    json_layout: JsonLayout = "list"


@dataclass(frozen=True)
class ResponseSpec:
    accept: str = "application/json"
    postprocess: PostprocessKind = "raw"
    outputs: ModelOutputs = "auto"
    labels: tuple[str, ...] | None = None


@dataclass(frozen=True)
class InferenceSpec:
    input: InputSpec
    request: RequestSpec = field(default_factory=RequestSpec)
    response: ResponseSpec = field(default_factory=ResponseSpec)


@dataclass(frozen=True)
class Project:
    name: str
    objective: Objective
    endpoint: EndpointSpec
    inference: InferenceSpec
    match: Match = field(default_factory=Match)
    guards: tuple[Guard, ...] = ()


@dataclass(frozen=True, eq=False)
class RawInput:
    """One decoded input: image pixels (uint8, HxW or HxWxC) or a numeric array (float64)."""

    values: npt.NDArray[Any]
    kind: InputKind


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
