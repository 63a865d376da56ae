"""`python -m deploy harden`: what `chalice deploy` leaves out, put on the deployed stage."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from deploy import gateway_responses as gr
from deploy import template as tpl
from deploy.checks import s3_pattern
from deploy.stages import ARCHITECTURE, PROJECT_DIR, RUNTIME, Stage

if TYPE_CHECKING:
    from mypy_boto3_lambda.client import LambdaClient

# requirements-dev.txt has boto3-stubs for Lambda only of the services used here.
Client = Any
# A stack in one of these states has its resources and outputs.
STACK_READY = frozenset(
    {"CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE", "IMPORT_COMPLETE"}
)


class HardenError(RuntimeError):
    """The stage is not deployed as `harden` needs it; nothing was changed after the check."""


def deployed_path(stage: Stage, project_dir: Path = PROJECT_DIR) -> Path:
    return project_dir / ".chalice" / "deployed" / f"{stage.name}.json"


def resources_stack_name(stage: Stage) -> str:
    return f"{stage.prefix}-resources"


def _arn_parts(arn: str) -> list[str]:
    return arn.split(":")


def _function_of(arn: str) -> str | None:
    """The function name of a Lambda function ARN (qualified or not), else None."""
    parts = _arn_parts(arn)
    if len(parts) >= 7 and parts[2] == "lambda" and parts[5] == "function":
        return parts[6]
    return None


@dataclass(frozen=True)
class Deployment:
    """What `chalice deploy` recorded of the stage in `.chalice/deployed/<stage>.json`
    (schema 2.0: a list of resources with their `resource_type`)."""

    functions: dict[str, str]  # function name -> ARN
    rules: tuple[str, ...]
    rest_api_id: str | None
    region: str

    @classmethod
    def read(cls, path: Path, stage: Stage) -> Deployment:
        try:
            document = json.loads(path.read_text())
        except FileNotFoundError:
            raise HardenError(
                f"{path}: not found; run `chalice deploy --stage {stage.name}` first"
            ) from None
        if document.get("schema_version") != "2.0":
            raise HardenError(f"{path}: schema_version {document.get('schema_version')}, not 2.0")
        functions: dict[str, str] = {}
        rules: list[str] = []
        rest_api_id = None
        for resource in document.get("resources", []):
            kind = resource.get("resource_type")
            if kind == "lambda_function":
                arn = str(resource["lambda_arn"])
                functions[_function_of(arn) or arn] = arn
            elif kind == "cloudwatch_event":  # patterns and schedules alike
                rules.append(str(resource["rule_name"]))
            elif kind == "rest_api":
                rest_api_id = str(resource["rest_api_id"])
        if not functions:
            raise HardenError(f"{path}: no functions; run `chalice deploy --stage {stage.name}`")
        regions: set[str] = set()
        for name, arn in functions.items():
            parts = _arn_parts(arn)
            if _function_of(arn) is None or not stage.owns_function(name):
                raise HardenError(f"{path}: {arn} is not a function of the stage {stage.name}")
            if (parts[1], parts[4]) != (stage.partition, stage.account):
                raise HardenError(
                    f"{path}: {arn} is not in the stage's account {stage.account} (the account "
                    "of SAGEWIRE_EXECUTION_ROLE_ARN)"
                )
            regions.add(parts[3])
        if len(regions) != 1:
            raise HardenError(f"{path}: functions in several regions {sorted(regions)}")
        for rule in rules:
            # The dead-letter queue takes undelivered events from these rules only.
            if not rule.startswith(f"{stage.prefix}-"):
                raise HardenError(f"{path}: rule {rule} does not start with {stage.prefix}-")
        return cls(functions, tuple(rules), rest_api_id, regions.pop())


@dataclass
class Report:
    """What `harden` changed (or, dry, would change) and what it found as wanted."""

    dry_run: bool = False
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    def change(self, what: str) -> bool:
        """Records a change; whether to make it."""
        self.changed.append(what)
        return not self.dry_run

    def same(self, what: str) -> None:
        self.unchanged.append(what)

    def lines(self, interrupted: bool = False) -> Iterator[str]:
        """`interrupted`: an error stopped `harden`, maybe in the call that made the last change
        recorded, so that one is said to have been attempted, not made."""
        verb = "would change" if self.dry_run else "changed"
        for index, what in enumerate(self.changed):
            last = index == len(self.changed) - 1
            said = "attempted" if interrupted and last and not self.dry_run else verb
            yield f"  {said:<12}  {what}"
        for what in self.unchanged:
            yield f"  {'unchanged':<12}  {what}"
        yield f"{len(self.changed)} {verb}, {len(self.unchanged)} unchanged"


def contains(current: Any, wanted: Any) -> bool:
    """Whether `current` (an API's answer) has every key of `wanted`, recursively, with equal
    values: what the API adds (ids, timestamps, defaults) does not count as a difference."""
    if isinstance(wanted, dict):
        return isinstance(current, dict) and all(
            contains(current.get(key), value) for key, value in wanted.items()
        )
    if isinstance(wanted, list):
        return (
            isinstance(current, list)
            and len(current) == len(wanted)
            and all(contains(c, w) for c, w in zip(current, wanted, strict=True))
        )
    return bool(current == wanted)


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _pages(client: Client, operation: str, key: str, **params: Any) -> Iterator[dict[str, Any]]:
    for page in client.get_paginator(operation).paginate(**params):
        yield from page.get(key, [])


class ResourcesStack:
    """The stack of `python -m deploy resources`: the dead-letter queue and the alarm topic."""

    def __init__(self, cloudformation: Client) -> None:
        self._client = cloudformation

    def outputs(self, name: str, stage: Stage) -> tuple[str, str]:
        """(the dead-letter queue's ARN, the alarm topic's ARN)."""
        try:
            stack = self._client.describe_stacks(StackName=name)["Stacks"][0]
        except ClientError as error:
            raise HardenError(
                f"stack {name}: {error}; deploy `python -m deploy resources --stage {stage.name}`"
                " first"
            ) from error
        if stack["StackStatus"] not in STACK_READY:
            raise HardenError(f"stack {name} is {stack['StackStatus']}")
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
        arns = (outputs.get(tpl.DLQ_ARN_OUTPUT, ""), outputs.get(tpl.TOPIC_ARN_OUTPUT, ""))
        expected = (stage.dlq_name, f"{stage.prefix}-alarms")
        for arn, resource in zip(arns, expected, strict=True):
            parts = _arn_parts(arn)
            if len(parts) != 6 or (parts[1], parts[4], parts[5]) != (
                stage.partition,
                stage.account,
                resource,
            ):
                raise HardenError(
                    f"stack {name}: outputs {tpl.DLQ_ARN_OUTPUT} and {tpl.TOPIC_ARN_OUTPUT} "
                    f"should name {', '.join(expected)} in account {stage.account}: {arns}"
                )
        return arns


class Functions:
    """The stage's Lambda functions and their asynchronous invocation settings."""

    def __init__(self, lambda_client: LambdaClient) -> None:
        self._client = lambda_client

    def require(self, name: str, stage: Stage) -> None:
        """The function exists, on the stage's runtime and architecture, traced if the stage
        traces; Chalice takes the runtime from the Python that runs `chalice deploy`."""
        try:
            configuration = self._client.get_function(FunctionName=name)["Configuration"]
        except ClientError as error:
            if _code(error) == "ResourceNotFoundException":
                raise HardenError(
                    f"function {name} is in .chalice/deployed but not in Lambda; run "
                    "`chalice deploy` again"
                ) from error
            raise
        runtime = configuration.get("Runtime")
        architectures = configuration.get("Architectures", [ARCHITECTURE])
        if runtime != RUNTIME or architectures != [ARCHITECTURE]:
            raise HardenError(
                f"function {name} runs {runtime} on {architectures}, not {RUNTIME} on "
                f"{ARCHITECTURE}: run `chalice deploy` with Python {RUNTIME[6:]}"
            )
        tracing = configuration.get("TracingConfig", {}).get("Mode")
        if stage.settings.tracing and tracing != "Active":
            raise HardenError(
                f"function {name} is not traced (SAGEWIRE_TRACING=true): set `xray: true` for "
                f"the stage {stage.name} in .chalice/config.json and run `chalice deploy` again"
            )

    def invoke_config(self, name: str, wanted: dict[str, Any], report: Report) -> None:
        try:
            current: Any = self._client.get_function_event_invoke_config(FunctionName=name)
        except ClientError as error:
            if _code(error) != "ResourceNotFoundException":
                raise
            current = None
        summary = (
            f"{name}: failed async invocations, after {wanted['MaximumRetryAttempts']} retries "
            f"within {wanted['MaximumEventAgeInSeconds']} s, go to the dead-letter queue"
        )
        if contains(current, wanted):
            report.same(summary)
        elif report.change(summary):
            self._client.put_function_event_invoke_config(FunctionName=name, **wanted)


@dataclass(frozen=True)
class Rule:
    name: str
    schedule: str | None
    pattern: dict[str, Any] | None
    targets: list[dict[str, Any]]

    def check_pattern(self, stage: Stage) -> None:
        """Events reach the app through patterns fixed when `chalice deploy` imported it: they
        must name the stage's account, bucket and prefixes, not those of the deploying shell."""
        if self.pattern is not None and self.pattern.get("account") != [stage.account]:
            raise HardenError(
                f"rule {self.name} matches account {self.pattern.get('account')}, not "
                f"[{stage.account!r}]: set SAGEWIRE_ACCOUNT_ID in the stage and run "
                "`chalice deploy` in a shell without SAGEWIRE_* variables"
            )
        s3 = s3_pattern(self.pattern or {})
        if s3 is None:
            return
        buckets, _, prefixes = s3
        settings = stage.settings
        expected = {settings.datasets_prefix, settings.batch_input_prefix}
        if buckets != [settings.bucket_name] or not prefixes or not prefixes <= expected:
            raise HardenError(
                f"rule {self.name} matches buckets {buckets} under {sorted(prefixes)}, not "
                f"{settings.bucket_name} under {sorted(expected)}: run `chalice deploy` in a shell "
                "without SAGEWIRE_* variables"
            )


class Rules:
    """The stage's EventBridge rules: each target retries, then dead-letters."""

    def __init__(self, events: Client) -> None:
        self._client = events

    def read(self, name: str) -> Rule:
        try:
            rule = self._client.describe_rule(Name=name)
        except ClientError as error:
            if _code(error) == "ResourceNotFoundException":
                raise HardenError(
                    f"rule {name} is in .chalice/deployed but not in EventBridge; run "
                    "`chalice deploy` again"
                ) from error
            raise
        targets = list(_pages(self._client, "list_targets_by_rule", "Targets", Rule=name))
        pattern = rule.get("EventPattern")
        return Rule(
            name, rule.get("ScheduleExpression"), json.loads(pattern) if pattern else None, targets
        )

    def harden(self, rule: Rule, wanted: dict[str, Any], report: Report) -> None:
        """Adds `wanted` (RetryPolicy, DeadLetterConfig) to every target that lacks it, keeping
        the rest of the target (Id, Arn, Input...) as it is."""
        stale = [target for target in rule.targets if not contains(target, wanted)]
        retry = wanted["RetryPolicy"]
        summary = (
            f"{rule.name}: targets retry {retry['MaximumRetryAttempts']} times within "
            f"{retry['MaximumEventAgeInSeconds']} s, then dead-letter"
        )
        if not stale:
            report.same(summary)
            return
        ids = ", ".join(str(target["Id"]) for target in stale)
        if not report.change(f"{summary} (targets {ids})"):
            return
        response = self._client.put_targets(
            Rule=rule.name, Targets=[{**target, **wanted} for target in stale]
        )
        if response.get("FailedEntryCount"):
            raise HardenError(f"{rule.name}: PutTargets failed: {response.get('FailedEntries')}")


class LogGroups:
    """The functions' log groups, with the stage's retention (Lambda creates them without)."""

    def __init__(self, logs: Client) -> None:
        self._client = logs

    def retain(self, stage: Stage, functions: Iterable[str], days: int, report: Report) -> None:
        # One prefix covers both namings of the stage's functions.
        prefix = f"/aws/lambda/{stage.prefix}"
        current = {
            group["logGroupName"]: group.get("retentionInDays")
            for group in _pages(
                self._client, "describe_log_groups", "logGroups", logGroupNamePrefix=prefix
            )
        }
        for function in sorted(functions):
            group = f"/aws/lambda/{function}"
            if current.get(group) == days:
                report.same(f"{group}: kept {days} days")
                continue
            missing = group not in current
            if not report.change(f"{group}: {'created, ' if missing else ''}kept {days} days"):
                continue
            if missing:
                self._client.create_log_group(logGroupName=group)
            self._client.put_retention_policy(logGroupName=group, retentionInDays=days)


class Alarms:
    """CloudWatch alarms, written with PutMetricAlarm when they differ from what is wanted."""

    def __init__(self, cloudwatch: Client) -> None:
        self._client = cloudwatch

    def put(self, alarms: list[dict[str, Any]], report: Report) -> None:
        names = [alarm["AlarmName"] for alarm in alarms]
        current = {
            alarm["AlarmName"]: alarm
            for alarm in _pages(self._client, "describe_alarms", "MetricAlarms", AlarmNames=names)
        }
        for alarm in alarms:
            summary = f"alarm {alarm['AlarmName']}: {alarm['AlarmDescription']}"
            if contains(current.get(alarm["AlarmName"]), alarm):
                report.same(summary)
            elif report.change(summary):
                self._client.put_metric_alarm(**alarm)


def _camel(cloudformation: dict[str, Any]) -> dict[str, Any]:
    """`{"RateLimit": 50}` (CloudFormation's) -> `{"rateLimit": 50}` (API Gateway's API)."""
    return {key[0].lower() + key[1:]: value for key, value in cloudformation.items()}


class UsagePlans:
    """With `SAGEWIRE_PREDICTIONS_AUTH=api_key`: the packaged stack's API key and usage plan, on
    the API that `chalice deploy` created."""

    def __init__(self, apigateway: Client) -> None:
        self._client = apigateway

    def attach(self, stage: Stage, api_id: str, report: Report) -> None:
        name = tpl.usage_plan_name(stage)
        api_stage = {"apiId": api_id, "stage": stage.api_stage}
        throttle, quota = _camel(tpl.API_KEY_THROTTLE), _camel(tpl.API_KEY_QUOTA)
        plans = [p for p in _pages(self._client, "get_usage_plans", "items") if p["name"] == name]
        plan = plans[0] if plans else None
        summary = (
            f"usage plan {name} on {api_id}/{stage.api_stage}: {throttle['rateLimit']} requests/s "
            f"(bursts of {throttle['burstLimit']}), {quota['limit']} a {quota['period'].lower()}"
        )
        if plan is None:
            if report.change(summary):
                plan = self._client.create_usage_plan(
                    name=name, apiStages=[api_stage], throttle=throttle, quota=quota
                )
        else:
            patches = self._patches(plan, api_stage, throttle, quota)
            if not patches:
                report.same(summary)
            elif report.change(summary):
                self._client.update_usage_plan(usagePlanId=plan["id"], patchOperations=patches)
        key = self._key(name, report)
        self._plan_key(name, plan, key, report)

    @staticmethod
    def _patches(
        plan: dict[str, Any],
        api_stage: dict[str, str],
        throttle: dict[str, Any],
        quota: dict[str, Any],
    ) -> list[dict[str, str]]:
        patches = []
        if not any(contains(current, api_stage) for current in plan.get("apiStages", [])):
            value = f"{api_stage['apiId']}:{api_stage['stage']}"
            patches.append({"op": "add", "path": "/apiStages", "value": value})
        for section, wanted in (("throttle", throttle), ("quota", quota)):
            current = plan.get(section, {})
            patches += [
                {"op": "replace", "path": f"/{section}/{key}", "value": str(value)}
                for key, value in wanted.items()
                if current.get(key) != value
            ]
        return patches

    def _key(self, name: str, report: Report) -> dict[str, Any] | None:
        keys = [
            key
            for key in _pages(self._client, "get_api_keys", "items", nameQuery=name)
            if key["name"] == name
        ]
        if keys:
            report.same(f"API key {name}: {keys[0]['id']}")
            return keys[0]
        if report.dry_run:
            report.change(f"API key {name}: created")
            return None
        key: dict[str, Any] = self._client.create_api_key(name=name, enabled=True)
        # Its id only: the value is a credential (`aws apigateway get-api-key --include-value`).
        report.change(f"API key {name}: created, id {key['id']}")
        return key

    def _plan_key(
        self, name: str, plan: dict[str, Any] | None, key: dict[str, Any] | None, report: Report
    ) -> None:
        summary = f"usage plan {name}: takes the API key {name}"
        if plan is not None and key is not None:
            plan_keys = _pages(self._client, "get_usage_plan_keys", "items", usagePlanId=plan["id"])
            if any(plan_key["id"] == key["id"] for plan_key in plan_keys):
                report.same(summary)
                return
        if report.change(summary) and plan is not None and key is not None:
            self._client.create_usage_plan_key(
                usagePlanId=plan["id"], keyId=key["id"], keyType="API_KEY"
            )


class GatewayResponses:
    """API Gateway's own error answers in sagewire's envelope (deploy/gateway_responses.py), on
    the API that `chalice deploy` created: its definition has none, and each deploy overwrites
    the definition."""

    def __init__(self, apigateway: Client) -> None:
        self._client = apigateway

    def put(self, stage: Stage, api_id: str, report: Report) -> None:
        current = {
            response["responseType"]: response
            for response in _pages(self._client, "get_gateway_responses", "items", restApiId=api_id)
        }
        stale = False
        for kind, wanted in gr.api_gateway_responses().items():
            status = wanted.get("statusCode", "API Gateway's status")
            summary = f"gateway response {kind} of {api_id}: {status} in sagewire's envelope"
            if _same_response(current.get(kind, {}), wanted):
                report.same(summary)
                continue
            stale = True
            if report.change(summary):
                self._client.put_gateway_response(restApiId=api_id, responseType=kind, **wanted)
        if stale and report.change(
            f"REST API {api_id}: deployed to its stage {stage.api_stage}, for the gateway "
            "responses to take effect"
        ):
            self._client.create_deployment(restApiId=api_id, stageName=stage.api_stage)


def _same_response(current: dict[str, Any], wanted: dict[str, Any]) -> bool:
    """Exactly: a PUT replaces the whole response, so an extra header or template differs."""
    return all(
        current.get(key) == wanted.get(key) or not (current.get(key) or wanted.get(key))
        for key in ("statusCode", "responseParameters", "responseTemplates")
    )


@dataclass(frozen=True)
class Services:
    """The AWS services `harden` works with, each around its client."""

    stack: ResourcesStack
    functions: Functions
    rules: Rules
    log_groups: LogGroups
    alarms: Alarms
    usage_plans: UsagePlans
    gateway_responses: GatewayResponses


def harden(
    stage: Stage, deployment: Deployment, stack_name: str, services: Services, report: Report
) -> None:
    """Connects what `chalice deploy` created to the resources stack, as the packaged template
    does: every rule target retries and dead-letters, every function the rules invoke sends its
    failed invocations to the same queue, every function's log group has a retention and its
    errors an alarm; with API keys, the usage plan; API Gateway's own errors in sagewire's
    envelope, deployed to the API's stage. Reads everything it needs first, so a
    missing function or rule fails before any change; idempotent."""
    dlq_arn, topic_arn = services.stack.outputs(stack_name, stage)
    for name in sorted(deployment.functions):
        services.functions.require(name, stage)
    rules = [services.rules.read(name) for name in deployment.rules]
    for rule in rules:
        rule.check_pattern(stage)
    if stage.settings.predictions_auth == "api_key" and deployment.rest_api_id is None:
        raise HardenError("SAGEWIRE_PREDICTIONS_AUTH=api_key, but chalice deployed no REST API")
    lambda_ages: dict[str, int] = {}
    for rule in rules:
        bridge_age, lambda_age = tpl.event_ages(rule.schedule)
        wanted = {"RetryPolicy": tpl.retry_policy(bridge_age), "DeadLetterConfig": {"Arn": dlq_arn}}
        services.rules.harden(rule, wanted, report)
        for target in rule.targets:
            function = _function_of(str(target["Arn"]))
            if function is not None and function in deployment.functions:
                lambda_ages[function] = max(lambda_ages.get(function, 0), lambda_age)
    for function, age in sorted(lambda_ages.items()):
        services.functions.invoke_config(function, tpl.async_invoke_config(age, dlq_arn), report)
    services.log_groups.retain(stage, deployment.functions, tpl.log_retention_days(stage), report)
    services.alarms.put(
        [tpl.function_errors_alarm(name, topic_arn) for name in sorted(deployment.functions)],
        report,
    )
    if deployment.rest_api_id is None:
        return
    if stage.settings.predictions_auth == "api_key":
        services.usage_plans.attach(stage, deployment.rest_api_id, report)
    services.gateway_responses.put(stage, deployment.rest_api_id, report)
