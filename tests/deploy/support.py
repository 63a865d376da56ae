"""Stages and Chalice-shaped templates for the deploy tests, without running Chalice."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from chalice.package import TemplateDeepMerger

from chalicelib.config import PredictionsAuth, Settings
from deploy.policy import build_policy
from deploy.stages import PROJECT_DIR, Stage, load_config
from deploy.template import merge_template

ROLE_ARN = "arn:aws:iam::123456789012:role/sagewire-prod-sagemaker-execution"


def make_stage(
    name: str = "prod", auth: PredictionsAuth = "iam", tracing: bool = False, **env: str
) -> Stage:
    environment = {
        "SAGEWIRE_TABLE": f"sagewire-{name}",
        "SAGEWIRE_BUCKET": f"sagewire-{name}",
        "SAGEWIRE_STAGE": name,
        "SAGEWIRE_ACCOUNT_ID": "123456789012",
        "SAGEWIRE_ENDPOINT_PREFIX": f"sagewire-{name}-",
        "SAGEWIRE_EXECUTION_ROLE_ARN": ROLE_ARN,
        "SAGEWIRE_PREDICTIONS_AUTH": auth,
        "SAGEWIRE_TRACING": "true" if tracing else "false",
        **env,
    }
    return Stage(
        name=name,
        settings=Settings.from_environ(environment),
        environment=environment,
        policy_file=f"policy-{name}.json",
        partition="aws",
        account="123456789012",
    )


def _function(handler: str, role: str, events: dict[str, Any] | None = None) -> dict[str, Any]:
    properties: dict[str, Any] = {
        # What Chalice writes: the interpreter that runs `chalice package`.
        "Runtime": "python3.11",
        "Handler": handler,
        "CodeUri": "./deployment.zip",
        "Timeout": 60,
        "MemorySize": 128,
        "Architectures": ["x86_64"],
        "Role": {"Fn::GetAtt": [role, "Arn"]},
    }
    if events:
        properties["Events"] = events
    return {"Type": "AWS::Serverless::Function", "Properties": properties}


def _role(name: str, stage: Stage) -> dict[str, Any]:
    return {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "AssumeRolePolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "lambda.amazonaws.com"},
                        "Action": "sts:AssumeRole",
                    }
                ],
            },
            "Policies": [{"PolicyDocument": build_policy(stage), "PolicyName": f"{name}Policy"}],
        },
    }


def _s3_pattern(stage: Stage, prefix: str) -> dict[str, Any]:
    return {
        "account": [stage.account],
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {
            "bucket": {"name": [stage.settings.bucket_name]},
            "object": {"key": [{"prefix": prefix}]},
        },
    }


def chalice_template(stage: Stage) -> dict[str, Any]:
    """The shape of `chalice package`'s SAM template for sagewire's functions."""
    settings = stage.settings
    resources: dict[str, Any] = {
        "OnTrainingJobStateChange": _function(
            "chalicelib.entrypoints.events.on_training_job_state_change",
            "OnTrainingJobStateChangeRole",
            {
                "OnTrainingJobStateChangeEvent": {
                    "Type": "CloudWatchEvent",
                    "Properties": {
                        "Pattern": {
                            "account": [stage.account],
                            "source": ["aws.sagemaker"],
                            "detail-type": ["SageMaker Training Job State Change"],
                        }
                    },
                }
            },
        ),
        "OnDatasetObject": _function(
            "chalicelib.entrypoints.events.on_dataset_object",
            "OnDatasetObjectRole",
            {
                "OnDatasetObjectEvent": {
                    "Type": "CloudWatchEvent",
                    "Properties": {"Pattern": _s3_pattern(stage, settings.datasets_prefix)},
                }
            },
        ),
        "OnBatchObject": _function(
            "chalicelib.entrypoints.events.on_batch_object",
            "OnBatchObjectRole",
            {
                "OnBatchObjectEvent": {
                    "Type": "CloudWatchEvent",
                    "Properties": {"Pattern": _s3_pattern(stage, settings.batch_input_prefix)},
                }
            },
        ),
        "Reconcile": _function(
            "chalicelib.entrypoints.events.reconcile",
            "ReconcileRole",
            {
                "ReconcileEvent": {
                    "Type": "Schedule",
                    "Properties": {"Schedule": "rate(10 minutes)"},
                }
            },
        ),
        "LineageReport": _function(
            "chalicelib.entrypoints.events.lineage_report",
            "LineageReportRole",
            {"LineageReportEvent": {"Type": "Schedule", "Properties": {"Schedule": "rate(1 day)"}}},
        ),
        "APIHandler": _function("app.app", "ApiHandlerRole"),
        "RestAPI": {
            "Type": "AWS::Serverless::Api",
            "Properties": {
                "EndpointConfiguration": "REGIONAL",
                "StageName": "api",
                "DefinitionBody": {
                    "swagger": "2.0",
                    "info": {"version": "1.0", "title": "sagewire"},
                    "schemes": ["https"],
                    "paths": {},
                },
            },
        },
    }
    for role in (
        "OnTrainingJobStateChangeRole",
        "OnDatasetObjectRole",
        "OnBatchObjectRole",
        "ReconcileRole",
        "LineageReportRole",
        "ApiHandlerRole",
    ):
        resources[role] = _role(role, stage)
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Transform": "AWS::Serverless-2016-10-31",
        "Outputs": {"RestAPIId": {"Value": {"Ref": "RestAPI"}}},
        "Resources": resources,
    }


def packaged(stage: Stage, chalice: dict[str, Any] | None = None) -> dict[str, Any]:
    """What `chalice package --merge-template` writes: Chalice's template, merged."""
    chalice = copy.deepcopy(chalice or chalice_template(stage))
    merged: dict[str, Any] = TemplateDeepMerger().merge(merge_template(chalice, stage), chalice)
    return merged


@dataclass(frozen=True)
class ChaliceNames:
    """What `chalice deploy` names a stage's resources: function name by Chalice's resource name
    (`api_handler`, `reconcile`...), and its rules by the same."""

    functions: dict[str, str]
    rules: dict[str, str]


def chalice_deploy_names(stage: str) -> ChaliceNames:
    """The names `chalice deploy --stage <stage>` gives the real app's resources, from Chalice's
    own application graph (what its planner creates), without AWS."""
    from chalice.config import Config
    from chalice.deploy import models
    from chalice.deploy.appgraph import ApplicationGraphBuilder, DependencyBuilder

    from app import app

    config = Config.create(
        chalice_stage=stage,
        chalice_app=app,
        app_name=app.app_name,
        project_dir=str(PROJECT_DIR),
        config_from_disk=load_config(),
    )
    resources = DependencyBuilder().build_dependencies(
        ApplicationGraphBuilder().build(config, stage)
    )
    return ChaliceNames(
        functions={
            r.resource_name: r.function_name
            for r in resources
            if isinstance(r, models.LambdaFunction)
        },
        rules={
            r.resource_name: r.rule_name
            for r in resources
            if isinstance(r, models.CloudWatchEvent | models.ScheduledEvent)
        },
    )


def deployed_record(
    names: ChaliceNames,
    stage: str = "prod",
    rest_api_id: str | None = "abc123defg",
    region: str = "us-east-1",
    account: str = "123456789012",
) -> dict[str, Any]:
    """`.chalice/deployed/<stage>.json` as `chalice deploy` writes it (schema 2.0: Chalice's
    planner records each resource with RecordResourceValue/RecordResourceVariable), roles
    included (`autogen_policy: false` gives each function its own)."""
    resources: list[dict[str, Any]] = []
    for name, function in names.functions.items():
        role = f"sagewire-{stage}-{name}"
        resources.append(
            {
                "name": f"{name}_role",
                "resource_type": "iam_role",
                "role_arn": f"arn:aws:iam::{account}:role/{role}",
                "role_name": role,
            }
        )
        resources.append(
            {
                "name": name,
                "resource_type": "lambda_function",
                "lambda_arn": f"arn:aws:lambda:{region}:{account}:function:{function}",
            }
        )
    for name, rule in names.rules.items():
        resources.append({"name": name, "resource_type": "cloudwatch_event", "rule_name": rule})
    if rest_api_id is not None:
        resources.append(
            {
                "name": "rest_api",
                "resource_type": "rest_api",
                "rest_api_id": rest_api_id,
                "rest_api_url": f"https://{rest_api_id}.execute-api.{region}.amazonaws.com/api/",
            }
        )
    return {"resources": resources, "schema_version": "2.0", "backend": "api"}
