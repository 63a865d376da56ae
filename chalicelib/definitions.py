"""Project definitions: validated from JSON documents into frozen `Project` values and back."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any, cast, get_args

from chalicelib.boards import MAX_SORTABLE, default_metrics
from chalicelib.errors import InvalidDefinition
from chalicelib.fields import Fields
from chalicelib.inference_spec import parse_inference
from chalicelib.models import (
    Access,
    EndpointSpec,
    Goal,
    Guard,
    ImportPolicy,
    Match,
    ModelOverride,
    Objective,
    Project,
    Statistic,
    Strategy,
    StrategyType,
    Trust,
)

# SageMaker resource names: at most 63 characters.
SAGEMAKER_NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")
PROJECT_NAME = SAGEMAKER_NAME
ROLE_ARN = re.compile(r"arn:aws[a-z\-]*:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+")
INSTANCE_TYPE = re.compile(r"ml\.[a-z0-9]+\.[a-z0-9]+")
METRIC_NAME = re.compile(r".{1,255}", re.DOTALL)
GUARD_OPS = ("<", "<=", ">", ">=", "==", "!=")
# A Cognito group name without the separators API Gateway uses when it flattens the claim.
GROUP_NAME = re.compile(r"[^\s,\[\]]{1,128}")
API_KEY_ID = re.compile(r"[a-zA-Z0-9]{1,128}")
# A registry host, optionally a repository path in it: what a trust policy's images name.
IMAGE_PREFIX = re.compile(
    r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+(:[0-9]{1,5})?"
    r"(/[a-z0-9]+([._-]+[a-z0-9]+)*)*/?"
)
# A bucket, optionally a key prefix in it; no empty, "." or ".." segments.
ARTIFACT_PREFIX = re.compile(
    r"s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/(?!\.{1,2}(/|$))[\x21-\x2e\x30-\x7e]+)*/?"
)
# An image as CreateModel takes it: a registry host, a repository path, a tag or a digest.
IMAGE = re.compile(
    r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+(:[0-9]{1,5})?"
    r"(/[a-z0-9]+([._-]+[a-z0-9]+)*)+(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}|@sha256:[0-9a-f]{64})"
)
# A container's environment as CreateModel takes it: at most 100 variables of 1024 characters.
ENVIRONMENT_KEY = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]{0,1023}")
MAX_ENVIRONMENT = 100
MAX_TRUSTED = 100
# What only deploying uses: refused for an endpoint sagewire does not manage, which it never
# deploys to (such a definition has the manual strategy: its winners are recorded, no more).
DEPLOY_FIELDS = (
    "instance_type",
    "instance_count",
    "execution_role_arn",
    "strategy",
    "network_isolation",
    "model",
)


def parse_project(document: Any, name: str | None = None) -> Project:
    """Validates a definition; `name` (from the URL) must agree with the document's name."""
    root = Fields(
        document,
        "",
        (
            "name",
            "match",
            "objective",
            "guards",
            "endpoint",
            "inference",
            "access",
            "trust",
            "import",
            "leaderboard",
        ),
    )
    if name is not None and not root.has("name"):
        project_name = name
    else:
        project_name = root.string("name", PROJECT_NAME)
    if not PROJECT_NAME.fullmatch(project_name):
        raise InvalidDefinition("name", f"must match {PROJECT_NAME.pattern}")
    if name is not None and project_name != name:
        raise InvalidDefinition("name", f"must equal the project in the path ({name!r})")
    objective = _objective(
        root.obj("objective", ("metric", "goal", "min_improvement", "statistic"), True)
    )
    return Project(
        name=project_name,
        match=_match(
            root.obj("match", ("tags", "experiment_name", "trial_name", "tuning_job_name"))
        ),
        objective=objective,
        guards=tuple(_guard(path, value) for path, value in root.items("guards", 32)),
        endpoint=_endpoint(root.obj("endpoint", ("name", "managed", *DEPLOY_FIELDS), True)),
        inference=parse_inference(root.obj("inference", ("input", "request", "response"), True)),
        access=_access(root.obj("access", ("groups", "api_keys"))),
        trust=_trust(root.obj("trust", ("images", "artifacts", "roles")))
        if root.has("trust")
        else None,
        imports=ImportPolicy(promote=root.obj("import", ("promote",)).boolean("promote", False)),
        leaderboard_metrics=_sortable(root.obj("leaderboard", ("metrics",)), objective),
    )


def _sortable(fields: Fields, objective: Objective) -> tuple[str, ...]:
    """The metrics named sortable, or by default the other metrics of the objective's built-in
    algorithm; the objective's index is always kept, named or not."""
    if not fields.has("metrics"):
        return default_metrics(objective.metric)
    metrics: list[str] = []
    for path, value in fields.items("metrics", MAX_SORTABLE):
        if not isinstance(value, str) or not METRIC_NAME.fullmatch(value):
            raise InvalidDefinition(path, "must be a metric name of 1 to 255 characters")
        if value in metrics:
            raise InvalidDefinition(path, f"names {value!r} twice")
        metrics.append(value)
    return tuple(metrics)


def _names(fields: Fields, key: str, pattern: re.Pattern[str], max_items: int) -> tuple[str, ...]:
    values = []
    for path, value in fields.items(key, max_items):
        if not isinstance(value, str) or len(value) > 1024 or not pattern.fullmatch(value):
            raise InvalidDefinition(path, f"must match {pattern.pattern}")
        values.append(value)
    return tuple(values)


def _trust(fields: Fields) -> Trust:
    return Trust(
        images=_names(fields, "images", IMAGE_PREFIX, MAX_TRUSTED),
        artifacts=_names(fields, "artifacts", ARTIFACT_PREFIX, MAX_TRUSTED),
        roles=_names(fields, "roles", ROLE_ARN, MAX_TRUSTED),
    )


def _access(fields: Fields) -> Access:
    return Access(
        groups=_names(fields, "groups", GROUP_NAME, 100),
        api_keys=_names(fields, "api_keys", API_KEY_ID, 100),
    )


def _match(fields: Fields) -> Match:
    # Absent or null is no tags; any other value must be an object (false, 0, "" and [] too).
    tags = fields.raw("tags") if fields.has("tags") else {}
    if not isinstance(tags, Mapping) or not all(
        isinstance(key, str) and isinstance(value, str) and key and len(key) <= 128
        for key, value in tags.items()
    ):
        raise InvalidDefinition(fields.path("tags"), "must map non-empty strings to strings")
    return Match(
        tags=dict(tags),
        experiment_name=fields.optional_string("experiment_name", SAGEMAKER_NAME),
        trial_name=fields.optional_string("trial_name", SAGEMAKER_NAME),
        tuning_job_name=fields.optional_string("tuning_job_name", SAGEMAKER_NAME),
    )


def _objective(fields: Fields) -> Objective:
    return Objective(
        metric=fields.string("metric", METRIC_NAME),
        goal=cast(Goal, fields.choice("goal", get_args(Goal), "minimize")),
        min_improvement=fields.number("min_improvement", 0.0, minimum=0.0),
        statistic=cast(Statistic, fields.choice("statistic", get_args(Statistic), "last")),
    )


def _guard(path: str, value: Any) -> Guard:
    fields = Fields(value, path, ("metric", "op", "value"))
    return Guard(
        metric=fields.string("metric", METRIC_NAME),
        op=cast(Any, fields.choice("op", GUARD_OPS, ">=")),
        value=fields.number("value"),
    )


def _endpoint(fields: Fields) -> EndpointSpec:
    if not fields.boolean("managed", True):
        for key in DEPLOY_FIELDS:
            if fields.has(key):
                raise InvalidDefinition(
                    fields.path(key),
                    "is for endpoints sagewire deploys; with managed: false it never changes "
                    "the endpoint",
                )
        name = fields.string("name", SAGEMAKER_NAME)
        return EndpointSpec(name=name, strategy=Strategy(type="manual"), managed=False)
    strategy = fields.obj(
        "strategy",
        (
            "type",
            "canary_percent",
            "linear_step_percent",
            "wait_seconds",
            "rollback_alarms",
            "challenger_weight",
        ),
    )
    strategy_type = cast(
        StrategyType, strategy.choice("type", get_args(StrategyType), "all_at_once")
    )
    alarms = []
    for path, alarm in strategy.items("rollback_alarms", 10):
        if not isinstance(alarm, str) or not 1 <= len(alarm) <= 255:
            raise InvalidDefinition(path, "must be a CloudWatch alarm name")
        alarms.append(alarm)
    canary_percent = strategy.optional_integer("canary_percent", 1, 99)
    linear_step_percent = strategy.optional_integer("linear_step_percent", 1, 50)
    if strategy_type == "canary" and canary_percent is None:
        raise InvalidDefinition(strategy.path("canary_percent"), "is required for a canary")
    if strategy_type == "linear" and linear_step_percent is None:
        raise InvalidDefinition(strategy.path("linear_step_percent"), "is required for linear")
    challenger_weight = (
        strategy.number("challenger_weight", exclusive_minimum=0.0)
        if strategy.has("challenger_weight")
        else None
    )
    if challenger_weight is not None and challenger_weight >= 1.0:
        raise InvalidDefinition(strategy.path("challenger_weight"), "must be below 1")
    return EndpointSpec(
        name=fields.string("name", SAGEMAKER_NAME),
        instance_type=fields.string("instance_type", INSTANCE_TYPE, "ml.m5.large"),
        instance_count=fields.integer("instance_count", 1, 1, 100),
        execution_role_arn=fields.optional_string("execution_role_arn", ROLE_ARN),
        strategy=Strategy(
            type=strategy_type,
            canary_percent=canary_percent,
            linear_step_percent=linear_step_percent,
            wait_seconds=strategy.integer("wait_seconds", 600, 0, 3600),
            rollback_alarms=tuple(alarms),
            challenger_weight=challenger_weight,
        ),
        network_isolation=fields.boolean("network_isolation", True),
        model=_model(fields.obj("model", ("image", "environment"))),
    )


def _model(fields: Fields) -> ModelOverride:
    environment = fields.raw("environment") if fields.has("environment") else {}
    if not isinstance(environment, Mapping) or len(environment) > MAX_ENVIRONMENT:
        raise InvalidDefinition(
            fields.path("environment"), f"must be an object of at most {MAX_ENVIRONMENT} variables"
        )
    for key, value in environment.items():
        if not isinstance(key, str) or not ENVIRONMENT_KEY.fullmatch(key):
            raise InvalidDefinition(fields.path("environment"), "names must be variable names")
        if not isinstance(value, str) or len(value) > 1024:
            raise InvalidDefinition(
                f"{fields.path('environment')}.{key}", "must be a string of at most 1024 characters"
            )
    image = fields.optional_string("image", IMAGE)
    if image is not None and len(image) > 255:
        raise InvalidDefinition(fields.path("image"), "must be at most 255 characters")
    return ModelOverride(image=image, environment=dict(environment))


def project_to_document(project: Project) -> dict[str, Any]:
    """The canonical JSON document of a project: what GET returns and what is stored."""
    document = asdict(project)
    document["import"] = document.pop("imports")
    document["leaderboard"] = {"metrics": list(document.pop("leaderboard_metrics"))}
    document["guards"] = list(document["guards"])
    for part in ("access", "trust"):
        if document[part] is not None:
            document[part] = {key: list(values) for key, values in document[part].items()}
    document["inference"]["input"]["shape"] = list(project.inference.input.shape)
    strategy = document["endpoint"]["strategy"]
    strategy["rollback_alarms"] = list(strategy["rollback_alarms"])
    labels = project.inference.response.labels
    document["inference"]["response"]["labels"] = list(labels) if labels else None
    if not project.endpoint.managed:
        document["endpoint"] = {"name": project.endpoint.name, "managed": False}
    return document
