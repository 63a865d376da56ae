"""The merge template and the resources stack: storage, dead letters, alarms, runtime, API keys."""

from __future__ import annotations

import re
from typing import Any

from chalicelib.gateways.table import TABLE_SCHEMA
from deploy.gateway_responses import sam_gateway_responses
from deploy.stages import ARCHITECTURE, RUNTIME, Stage

FUNCTION = "AWS::Serverless::Function"
ASYNC_EVENT_TYPES = ("CloudWatchEvent", "Schedule")
# Powertools idempotency records (DynamoDBPersistenceLayer's `expiry_attr`) expire on this.
TTL_ATTRIBUTE = "expiration"
DLQ_RETENTION_SECONDS = 14 * 24 * 3600
# EventBridge keeps retrying a failed delivery for at most a day and 185 times.
EVENT_MAX_AGE_SECONDS = 24 * 3600
EVENT_MAX_RETRIES = 185
# Lambda's asynchronous invocations: at most 2 retries, kept at most 6 hours.
ASYNC_MAX_RETRIES = 2
ASYNC_MAX_AGE_SECONDS = 6 * 3600
ALARM_PERIOD_SECONDS = 300
LOG_RETENTION_DAYS = {"prod": 90}
DEFAULT_LOG_RETENTION_DAYS = 30
# API keys: what one client of the predictions route may spend.
API_KEY_THROTTLE = {"RateLimit": 50, "BurstLimit": 100}
API_KEY_QUOTA = {"Limit": 100_000, "Period": "DAY"}
MAX_NAME_LENGTH = 64  # Lambda function and EventBridge rule names

QUEUE = "DeadLetterQueue"
QUEUE_POLICY = "DeadLetterQueuePolicy"
TOPIC = "AlarmTopic"
TABLE = "Table"
BUCKET = "Bucket"
BUCKET_POLICY = "BucketPolicy"
API = "RestAPI"  # chalice's name for the API
# The outputs `python -m deploy harden` reads from the resources stack.
DLQ_ARN_OUTPUT = "DeadLetterQueueArn"
TOPIC_ARN_OUTPUT = "AlarmTopicArn"
_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


def kebab(logical_id: str) -> str:
    """`OnDatasetObject` -> `on-dataset-object`, `APIHandler` -> `api-handler`."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "-", logical_id).lower()


def function_name(stage: Stage, logical_id: str) -> str:
    return _bounded(stage.function_name(kebab(logical_id)))


def rule_name(stage: Stage, event_id: str) -> str:
    return _bounded(f"{stage.prefix}-{kebab(event_id)}")


def _bounded(name: str) -> str:
    if len(name) > MAX_NAME_LENGTH:
        raise ValueError(f"{name} is longer than {MAX_NAME_LENGTH} characters")
    return name


def schedule_seconds(expression: str) -> int:
    """The period of `rate(N unit)`; a day for anything else (cron)."""
    match = _RATE.match(expression)
    if match is None:
        return EVENT_MAX_AGE_SECONDS
    return int(match[1]) * _UNIT_SECONDS[match[2].rstrip("s")]


def functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        logical_id: resource
        for logical_id, resource in template.get("Resources", {}).items()
        if resource.get("Type") == FUNCTION
    }


def async_events(function: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The function's EventBridge events (patterns and schedules): Lambda runs them async."""
    return {
        event_id: event
        for event_id, event in function.get("Properties", {}).get("Events", {}).items()
        if event.get("Type") in ASYNC_EVENT_TYPES
    }


def event_ages(schedule: str | None) -> tuple[int, int]:
    """(EventBridge's max event age, Lambda's max event age) for a rule's events: `schedule` is
    its schedule expression, None for an event pattern.

    A schedule's event is worth nothing once the next one is due; an AWS service's event (a
    training job finished, an object arrived) must not be lost: the longest ages there are.
    """
    if schedule is not None:
        period = max(schedule_seconds(schedule), 60)
        return min(period, EVENT_MAX_AGE_SECONDS), min(period, ASYNC_MAX_AGE_SECONDS)
    return EVENT_MAX_AGE_SECONDS, ASYNC_MAX_AGE_SECONDS


def _event_ages(event: dict[str, Any]) -> tuple[int, int]:
    if event["Type"] == "Schedule":
        return event_ages(str(event["Properties"]["Schedule"]))
    return event_ages(None)


def retry_policy(event_age: int) -> dict[str, int]:
    """A rule target's RetryPolicy: EventBridge could not deliver (throttled, no permission,
    gone)."""
    return {"MaximumEventAgeInSeconds": event_age, "MaximumRetryAttempts": EVENT_MAX_RETRIES}


def async_invoke_config(event_age: int, destination: Any) -> dict[str, Any]:
    """A function's asynchronous invocation settings (Lambda's PutFunctionEventInvokeConfig):
    delivered, but the function failed; Lambda retries, then sends it to `destination`."""
    return {
        "MaximumRetryAttempts": ASYNC_MAX_RETRIES,
        "MaximumEventAgeInSeconds": event_age,
        "DestinationConfig": {"OnFailure": {"Destination": destination}},
    }


def log_retention_days(stage: Stage) -> int:
    return LOG_RETENTION_DAYS.get(stage.name, DEFAULT_LOG_RETENTION_DAYS)


def function_errors_alarm(name: str, topic: Any) -> dict[str, Any]:
    """The properties of a function's `Errors` alarm (CloudFormation's and PutMetricAlarm's)."""
    return alarm_properties(
        f"{name}-errors",
        f"{name} failed",
        namespace="AWS/Lambda",
        metric="Errors",
        statistic="Sum",
        dimensions={"FunctionName": name},
        topic=topic,
    )


def usage_plan_name(stage: Stage) -> str:
    """The name of the stage's API key and of its usage plan."""
    return f"{stage.prefix}-clients"


def _queue_arn() -> dict[str, Any]:
    return {"Fn::GetAtt": [QUEUE, "Arn"]}


def _rule_arn(name: str) -> dict[str, Any]:
    """The rule's ARN in this stack's account and region; `name` may be an IAM glob."""
    arn = "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:rule/"
    return {"Fn::Sub": arn + name}


def merge_template(chalice_template: dict[str, Any], stage: Stage) -> dict[str, Any]:
    """What `chalice package --merge-template` merges into Chalice's own template.

    Chalice's deep merge keeps every key of its template that this one does not name and
    replaces the rest; lists are replaced whole.
    """
    resources: dict[str, Any] = {}
    outputs: dict[str, Any] = {}
    rule_names: list[str] = []
    settings = stage.settings
    for logical_id, function in functions(chalice_template).items():
        name = function_name(stage, logical_id)
        log_group = f"{logical_id}LogGroup"
        properties: dict[str, Any] = {
            "FunctionName": name,
            # Chalice writes the interpreter that runs `chalice package`; Lambda runs this one,
            # and the vendored wheels are built for it (deploy/package.py).
            "Runtime": RUNTIME,
            "Architectures": [ARCHITECTURE],
        }
        if settings.tracing:
            properties["Tracing"] = "Active"
        events = async_events(function)
        if events:
            merged_events: dict[str, Any] = {}
            lambda_ages: list[int] = []
            for event_id, event in events.items():
                rule = rule_name(stage, event_id)
                rule_names.append(rule)
                bridge_age, lambda_age = _event_ages(event)
                lambda_ages.append(lambda_age)
                name_key = "Name" if event["Type"] == "Schedule" else "RuleName"
                merged_events[event_id] = {
                    "Properties": {
                        name_key: rule,
                        "RetryPolicy": retry_policy(bridge_age),
                        "DeadLetterConfig": {"Arn": _queue_arn()},
                    }
                }
            properties["Events"] = merged_events
            invoke_config = async_invoke_config(max(lambda_ages), _queue_arn())
            invoke_config["DestinationConfig"]["OnFailure"]["Type"] = "SQS"  # SAM's, not Lambda's
            properties["EventInvokeConfig"] = invoke_config
        resources[logical_id] = {"DependsOn": [log_group], "Properties": properties}
        resources[log_group] = {
            "Type": "AWS::Logs::LogGroup",
            "Properties": {
                "LogGroupName": f"/aws/lambda/{name}",
                "RetentionInDays": log_retention_days(stage),
            },
        }
        resources[f"{logical_id}ErrorsAlarm"] = {
            "Type": "AWS::CloudWatch::Alarm",
            "Properties": function_errors_alarm(name, {"Ref": TOPIC}),
        }
    rule_arns = [_rule_arn(name) for name in sorted(rule_names)]
    senders = {"ArnEquals": {"aws:SourceArn": rule_arns}} if rule_arns else None
    resources.update(_dead_letter_queue(stage, senders))
    resources.update(_storage(stage))
    resources.update(_alarm_topic(stage))
    if API in chalice_template.get("Resources", {}):
        resources.update(_api(chalice_template, stage))
        if settings.predictions_auth == "api_key":
            resources.update(_api_keys(stage))
            outputs["ApiKeyId"] = {"Value": {"Ref": "ApiKey"}}
    outputs.update(_outputs(stage))
    return _stack(f"sagewire ({stage.name}): SageMaker inference and lineage", resources, outputs)


def resources_template(stage: Stage) -> dict[str, Any]:
    """A standalone CloudFormation template of the stage's data and failure handling, for
    `chalice deploy`, which creates the functions, rules and API but none of these: the table,
    the bucket, the dead-letter queue, the alarm topic and the queue's alarm.
    `python -m deploy harden` then connects Chalice's functions and rules to them.

    The queue takes EventBridge's undelivered events from the stage's rules by name prefix, as
    their names are Chalice's (`sagewire-<stage>-<handler>-event`).
    """
    stage_rules = {"ArnLike": {"aws:SourceArn": _rule_arn(f"{stage.prefix}-*")}}
    resources = {
        **_dead_letter_queue(stage, stage_rules),
        **_storage(stage),
        **_alarm_topic(stage),
    }
    description = f"sagewire ({stage.name}): storage and failure handling for `chalice deploy`"
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        **_stack(description, resources, _outputs(stage)),
    }


def _stack(description: str, resources: dict[str, Any], outputs: dict[str, Any]) -> dict[str, Any]:
    return {
        "Description": description,
        "Parameters": {
            "AlarmEmail": {
                "Type": "String",
                "Default": "",
                "Description": "Who the alarms e-mail (none when empty)",
            }
        },
        "Conditions": {"HasAlarmEmail": {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmEmail"}, ""]}]}},
        "Resources": resources,
        "Outputs": outputs,
    }


def alarm_properties(
    name: str,
    description: str,
    *,
    namespace: str,
    metric: str,
    statistic: str,
    dimensions: dict[str, Any],
    topic: Any,
) -> dict[str, Any]:
    """An alarm on any datapoint above zero, notifying `topic` (a `Ref` or an ARN). The keys are
    both AWS::CloudWatch::Alarm's properties and PutMetricAlarm's parameters."""
    return {
        "AlarmName": name,
        "AlarmDescription": description,
        "Namespace": namespace,
        "MetricName": metric,
        "Dimensions": [{"Name": key, "Value": value} for key, value in dimensions.items()],
        "Statistic": statistic,
        "Period": ALARM_PERIOD_SECONDS,
        "EvaluationPeriods": 1,
        "Threshold": 0,
        "ComparisonOperator": "GreaterThanThreshold",
        "TreatMissingData": "notBreaching",
        "AlarmActions": [topic],
        "OKActions": [topic],
    }


def _alarm(name: str, description: str, **metric: Any) -> dict[str, Any]:
    return {
        "Type": "AWS::CloudWatch::Alarm",
        "Properties": alarm_properties(name, description, topic={"Ref": TOPIC}, **metric),
    }


def _dead_letter_queue(stage: Stage, senders: dict[str, Any] | None) -> dict[str, Any]:
    """One queue for both kinds of failure: EventBridge's undeliverable events (the event as
    sent, with RULE_ARN/TARGET_ARN/ERROR_* attributes) and Lambda's failed async invocations
    (a record with requestContext, requestPayload and responsePayload). `senders` is the
    condition on `aws:SourceArn` naming the rules EventBridge may send for (None: no rules)."""
    resources: dict[str, Any] = {
        QUEUE: {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "QueueName": stage.dlq_name,
                "MessageRetentionPeriod": DLQ_RETENTION_SECONDS,
                # SQS-managed keys: EventBridge cannot send to a queue under the AWS-managed key.
                "SqsManagedSseEnabled": True,
            },
        },
        "DeadLetterQueueDepthAlarm": _alarm(
            f"{stage.dlq_name}-depth",
            f"{stage.dlq_name} holds events that were not processed",
            namespace="AWS/SQS",
            metric="ApproximateNumberOfMessagesVisible",
            statistic="Maximum",
            dimensions={"QueueName": {"Fn::GetAtt": [QUEUE, "QueueName"]}},
        ),
    }
    if senders is None:
        return resources
    # Lambda's on-failure destination sends with the function's role (its policy grants
    # sqs:SendMessage on this queue); only EventBridge needs the queue's consent.
    resources[QUEUE_POLICY] = {
        "Type": "AWS::SQS::QueuePolicy",
        "Properties": {
            "Queues": [{"Ref": QUEUE}],
            "PolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "EventBridgeRulesSendUndeliveredEvents",
                        "Effect": "Allow",
                        "Principal": {"Service": "events.amazonaws.com"},
                        "Action": "sqs:SendMessage",
                        "Resource": _queue_arn(),
                        "Condition": senders,
                    }
                ],
            },
        },
    }
    return resources


def _storage(stage: Stage) -> dict[str, Any]:
    settings = stage.settings
    bucket_arn = {"Fn::GetAtt": [BUCKET, "Arn"]}
    objects_arn = {"Fn::Sub": f"${{{BUCKET}.Arn}}/*"}
    retained = {"DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain"}
    return {
        TABLE: {
            "Type": "AWS::DynamoDB::Table",
            **retained,
            "Properties": {
                "TableName": settings.table_name,
                **{key: TABLE_SCHEMA[key] for key in ("AttributeDefinitions", "KeySchema")},
                "GlobalSecondaryIndexes": TABLE_SCHEMA["GlobalSecondaryIndexes"],
                "BillingMode": TABLE_SCHEMA["BillingMode"],
                "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
                "SSESpecification": {"SSEEnabled": True},
                "TimeToLiveSpecification": {"AttributeName": TTL_ATTRIBUTE, "Enabled": True},
                "DeletionProtectionEnabled": True,
            },
        },
        BUCKET: {
            "Type": "AWS::S3::Bucket",
            **retained,
            "Properties": {
                "BucketName": settings.bucket_name,
                # Dataset versions are lineage: a training job read that version.
                "VersioningConfiguration": {"Status": "Enabled"},
                # on_dataset_object and on_batch_object match S3's EventBridge events.
                "NotificationConfiguration": {
                    "EventBridgeConfiguration": {"EventBridgeEnabled": True}
                },
                "BucketEncryption": {
                    "ServerSideEncryptionConfiguration": [
                        {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
                    ]
                },
                "PublicAccessBlockConfiguration": {
                    "BlockPublicAcls": True,
                    "BlockPublicPolicy": True,
                    "IgnorePublicAcls": True,
                    "RestrictPublicBuckets": True,
                },
                "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
                "LifecycleConfiguration": {
                    "Rules": [
                        {
                            "Id": "AbortIncompleteUploads",
                            "Status": "Enabled",
                            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
                        }
                    ]
                },
            },
        },
        BUCKET_POLICY: {
            "Type": "AWS::S3::BucketPolicy",
            "Properties": {
                "Bucket": {"Ref": BUCKET},
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "DenyWithoutTls",
                            "Effect": "Deny",
                            "Principal": "*",
                            "Action": "s3:*",
                            "Resource": [bucket_arn, objects_arn],
                            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                        },
                        {
                            "Sid": "DenyTlsBelow12",
                            "Effect": "Deny",
                            "Principal": "*",
                            "Action": "s3:*",
                            "Resource": [bucket_arn, objects_arn],
                            "Condition": {"NumericLessThan": {"s3:TlsVersion": "1.2"}},
                        },
                    ],
                },
            },
        },
    }


def _alarm_topic(stage: Stage) -> dict[str, Any]:
    return {
        TOPIC: {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": f"{stage.prefix}-alarms"}},
        "AlarmEmailSubscription": {
            "Type": "AWS::SNS::Subscription",
            "Condition": "HasAlarmEmail",
            "Properties": {
                "TopicArn": {"Ref": TOPIC},
                "Protocol": "email",
                "Endpoint": {"Ref": "AlarmEmail"},
            },
        },
    }


def api_name(stage: Stage) -> str:
    return stage.prefix


def _api(chalice_template: dict[str, Any], stage: Stage) -> dict[str, Any]:
    api_stage = chalice_template["Resources"][API]["Properties"]["StageName"]
    return {
        # The API's name (the metrics' ApiName) is its OpenAPI title: one per stage.
        API: {
            "Properties": {
                "DefinitionBody": {"info": {"title": api_name(stage)}},
                # API Gateway's own 401/403/429/... in sagewire's error envelope.
                "GatewayResponses": sam_gateway_responses(),
            }
        },
        "Api5xxAlarm": _alarm(
            f"{stage.prefix}-api-5xx",
            f"{api_name(stage)} answered with 5xx",
            namespace="AWS/ApiGateway",
            metric="5XXError",
            statistic="Sum",
            dimensions={"ApiName": api_name(stage), "Stage": api_stage},
        ),
    }


def _api_keys(stage: Stage) -> dict[str, Any]:
    return {
        "ApiKey": {
            "Type": "AWS::ApiGateway::ApiKey",
            "Properties": {"Name": usage_plan_name(stage), "Enabled": True},
        },
        "UsagePlan": {
            "Type": "AWS::ApiGateway::UsagePlan",
            "Properties": {
                "UsagePlanName": usage_plan_name(stage),
                # `RestAPI.Stage` is SAM's reference to the stage it creates for the API.
                "ApiStages": [{"ApiId": {"Ref": API}, "Stage": {"Ref": f"{API}.Stage"}}],
                "Throttle": dict(API_KEY_THROTTLE),
                "Quota": dict(API_KEY_QUOTA),
            },
        },
        "UsagePlanKey": {
            "Type": "AWS::ApiGateway::UsagePlanKey",
            "Properties": {
                "KeyId": {"Ref": "ApiKey"},
                "KeyType": "API_KEY",
                "UsagePlanId": {"Ref": "UsagePlan"},
            },
        },
    }


def _outputs(stage: Stage) -> dict[str, Any]:
    def output(value: Any, export: str) -> dict[str, Any]:
        return {"Value": value, "Export": {"Name": f"{stage.prefix}-{export}"}}

    return {
        "DeadLetterQueueUrl": output({"Ref": QUEUE}, "dlq-url"),
        DLQ_ARN_OUTPUT: output(_queue_arn(), "dlq-arn"),
        "TableName": output({"Ref": TABLE}, "table"),
        "BucketName": output({"Ref": BUCKET}, "bucket"),
        TOPIC_ARN_OUTPUT: output({"Ref": TOPIC}, "alarm-topic"),
    }
