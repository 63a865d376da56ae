"""The stages' IAM policies: generated from the configuration, least privilege, and the checker."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from deploy.checks import missing_grants
from deploy.policy import (
    CATALOG,
    UNSCOPABLE_WRITES,
    WRITE_ACCESS,
    allowed_resources,
    applies,
    build_policy,
    check_policy,
    covered,
    policy_path,
    render_policy,
)
from deploy.stages import StageError, deployable_stages, load_config, load_stage
from tests.deploy.support import ROLE_ARN, make_stage

STAGES = deployable_stages(load_config())
ACCOUNT = "123456789012"


def statements(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["Sid"]: s for s in document["Statement"]}


def grants(document: dict[str, Any], action: str) -> list[str]:
    return [r for s in document["Statement"] if action in s["Action"] for r in s["Resource"]]


def test_the_deployable_stages_are_dev_and_prod() -> None:
    assert sorted(STAGES) == ["dev", "prod"]


@pytest.mark.parametrize("name", STAGES)
def test_the_committed_policy_file_is_what_the_generator_writes(name: str) -> None:
    stage = load_stage(name)

    assert policy_path(stage).read_text() == render_policy(build_policy(stage)), (
        f"{policy_path(stage).name} is stale: run `make policies`"
    )


@pytest.mark.parametrize("name", STAGES)
def test_each_stage_policy_passes_the_checker_and_grants_what_the_stage_needs(name: str) -> None:
    stage = load_stage(name)
    document = build_policy(stage)

    assert check_policy(document, stage) == []
    assert missing_grants(document, allowed_resources(stage)) == []


@pytest.mark.parametrize("name", STAGES)
def test_no_wildcard_action_and_no_star_resource_but_on_read_only_unscopable_lists(
    name: str,
) -> None:
    document = build_policy(load_stage(name))

    for statement in document["Statement"]:
        assert statement["Effect"] == "Allow"
        for action in statement["Action"]:
            assert "*" not in action
            info = CATALOG[action]
            if "*" in statement["Resource"]:
                # Lists, and sagemaker:Search: a read that takes no resource but "*".
                assert info.access in ("List", "Read")
                assert not info.resource_types
            if info.access in WRITE_ACCESS:
                assert "*" not in statement["Resource"]


def test_the_prod_policy_scopes_every_resource_by_name() -> None:
    stage = load_stage("prod")
    document = build_policy(stage)
    by_sid = statements(document)

    assert grants(document, "dynamodb:PutItem") == [
        f"arn:aws:dynamodb:*:{ACCOUNT}:table/sagewire-prod",
        f"arn:aws:dynamodb:*:{ACCOUNT}:table/sagewire-prod/index/*",
    ]
    assert grants(document, "s3:PutObject") == [
        "arn:aws:s3:::sagewire-prod/batch/output/*",
        "arn:aws:s3:::sagewire-prod/reports/*",
        "arn:aws:s3:::sagewire-prod/models/*",
    ]
    assert grants(document, "s3:GetObject") == [
        "arn:aws:s3:::sagewire-prod/datasets/*",
        "arn:aws:s3:::sagewire-prod/batch/input/*",
        "arn:aws:s3:::sagewire-prod/batch/output/*",
        "arn:aws:s3:::sagewire-prod/reports/*",
        "arn:aws:s3:::sagewire-prod/models/*",
        "arn:aws:s3:::sagewire-prod/vocabularies/*",
    ]
    assert grants(document, "s3:ListBucket") == ["arn:aws:s3:::sagewire-prod"]
    assert grants(document, "sagemaker:CreateModel") == [
        f"arn:aws:sagemaker:*:{ACCOUNT}:model/sagewire-prod-*"
    ]
    assert grants(document, "sagemaker:AddTags") == [
        f"arn:aws:sagemaker:*:{ACCOUNT}:model/sagewire-prod-*",
        f"arn:aws:sagemaker:*:{ACCOUNT}:endpoint-config/sagewire-prod-*",
    ]
    # One statement for the teardown's deletes: IAM gives each action the resources of its type.
    for action in ("DeleteEndpoint", "DeleteEndpointConfig", "DeleteModel"):
        assert grants(document, f"sagemaker:{action}") == [
            f"arn:aws:sagemaker:*:{ACCOUNT}:endpoint/sagewire-prod-*",
            f"arn:aws:sagemaker:*:{ACCOUNT}:endpoint-config/sagewire-prod-*",
            f"arn:aws:sagemaker:*:{ACCOUNT}:model/sagewire-prod-*",
        ]
    assert grants(document, "s3:DeleteObject") == ["arn:aws:s3:::sagewire-prod/models/*"]
    assert grants(document, "sagemaker:UpdateEndpoint") == [
        f"arn:aws:sagemaker:*:{ACCOUNT}:endpoint/sagewire-prod-*",
        f"arn:aws:sagemaker:*:{ACCOUNT}:endpoint-config/sagewire-prod-*",
    ]
    assert grants(document, "sagemaker:InvokeEndpoint") == [
        f"arn:aws:sagemaker:*:{ACCOUNT}:endpoint/sagewire-prod-*"
    ]
    assert grants(document, "logs:PutLogEvents") == [
        f"arn:aws:logs:*:{ACCOUNT}:log-group:/aws/lambda/sagewire-prod:log-stream:*",
        f"arn:aws:logs:*:{ACCOUNT}:log-group:/aws/lambda/sagewire-prod-*:log-stream:*",
    ]
    assert grants(document, "logs:CreateLogGroup") == [
        f"arn:aws:logs:*:{ACCOUNT}:log-group:/aws/lambda/sagewire-prod:*",
        f"arn:aws:logs:*:{ACCOUNT}:log-group:/aws/lambda/sagewire-prod-*:*",
    ]
    assert grants(document, "sqs:SendMessage") == [f"arn:aws:sqs:*:{ACCOUNT}:sagewire-prod-dlq"]
    assert by_sid["PassExecutionRoleToSageMaker"] == {
        "Sid": "PassExecutionRoleToSageMaker",
        "Effect": "Allow",
        "Action": ["iam:PassRole"],
        "Resource": [ROLE_ARN],
        "Condition": {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
    }
    assert by_sid["ListSageMaker"]["Resource"] == ["*"]
    assert not any(
        action.startswith("xray:") for s in document["Statement"] for action in s["Action"]
    )


def test_the_dev_policy_cannot_touch_prod() -> None:
    document = build_policy(load_stage("dev"))
    text = render_policy(document)

    assert "sagewire-prod" not in text
    assert grants(document, "sagemaker:CreateEndpointConfig") == [
        f"arn:aws:sagemaker:*:{ACCOUNT}:endpoint-config/sagewire-dev-*"
    ]


def test_sagemaker_names_are_matched_in_lower_case_as_sagemaker_arns_carry_them() -> None:
    stage = make_stage(SAGEWIRE_ENDPOINT_PREFIX="Team-A-")

    assert grants(build_policy(stage), "sagemaker:CreateModel") == [
        f"arn:aws:sagemaker:*:{ACCOUNT}:model/team-a-*"
    ]


def test_models_are_created_only_with_network_isolation_unless_the_stage_allows_otherwise() -> None:
    required = statements(build_policy(make_stage()))
    optional = statements(build_policy(make_stage(SAGEWIRE_REQUIRE_NETWORK_ISOLATION="false")))

    assert required["CreateOwnModels"]["Action"] == ["sagemaker:CreateModel"]
    assert required["CreateOwnModels"]["Condition"] == {
        "Bool": {"sagemaker:NetworkIsolation": "true"}
    }
    assert "Condition" not in optional["CreateOwnModels"]
    # Tagging carries no such key: conditioned on it, tag-on-create would be denied.
    assert "Condition" not in required["TagOwnModels"]


def test_tracing_adds_x_ray_on_star_the_only_unscopable_writes() -> None:
    stage = make_stage(tracing=True)
    document = build_policy(stage)

    assert statements(document)["Tracing"]["Resource"] == ["*"]
    assert set(statements(document)["Tracing"]["Action"]) == UNSCOPABLE_WRITES
    assert check_policy(document, stage) == []
    # ... and a stage without tracing may not have them.
    assert any("not needed" in v for v in check_policy(document, make_stage()))


@pytest.mark.parametrize(
    "env",
    [
        {"SAGEWIRE_EXECUTION_ROLE_ARN": ""},
        {"SAGEWIRE_EXECUTION_ROLE_ARN": "not-an-arn"},
    ],
)
def test_a_stage_without_a_role_arn_is_refused(env: dict[str, str], tmp_path: Path) -> None:
    config = load_config()
    config["stages"]["prod"]["environment_variables"].update(env)
    (tmp_path / ".chalice").mkdir()
    (tmp_path / ".chalice" / "config.json").write_text(json.dumps(config))

    with pytest.raises(StageError, match="SAGEWIRE_EXECUTION_ROLE_ARN"):
        load_stage("prod", tmp_path)


@pytest.mark.parametrize("account", ["", "210987654321"])
def test_a_stage_whose_account_is_not_its_roles_is_refused(account: str, tmp_path: Path) -> None:
    config = load_config()
    config["stages"]["prod"]["environment_variables"]["SAGEWIRE_ACCOUNT_ID"] = account
    (tmp_path / ".chalice").mkdir()
    (tmp_path / ".chalice" / "config.json").write_text(json.dumps(config))

    with pytest.raises(StageError, match=f"SAGEWIRE_ACCOUNT_ID={ACCOUNT}"):
        load_stage("prod", tmp_path)


def test_fronted_endpoints_may_be_invoked_and_nothing_more() -> None:
    stage = make_stage(SAGEWIRE_FRONTED_ENDPOINTS="KMeansEndpoint-2026-01-01, xgboost-2024")
    document = build_policy(stage)
    fronted = [
        f"arn:aws:sagemaker:*:{ACCOUNT}:endpoint/kmeansendpoint-2026-01-01",
        f"arn:aws:sagemaker:*:{ACCOUNT}:endpoint/xgboost-2024",
    ]

    assert statements(document)["InvokeFrontedEndpoints"]["Resource"] == fronted
    assert statements(document)["InvokeOwnEndpoints"]["Resource"] == [
        f"arn:aws:sagemaker:*:{ACCOUNT}:endpoint/sagewire-prod-*"
    ]
    assert check_policy(document, stage) == []
    assert missing_grants(document, allowed_resources(stage)) == []
    for statement in document["Statement"]:
        for action in statement["Action"]:
            if action != "sagemaker:InvokeEndpoint" and any(
                covered(arn, resource) for arn in fronted for resource in statement["Resource"]
            ):
                # Lineage's describes span the account; nothing else may name them.
                assert CATALOG[action].access not in WRITE_ACCESS, (statement["Sid"], action)
    assert "InvokeFrontedEndpoints" not in statements(build_policy(make_stage()))


@pytest.mark.parametrize(
    ("fronted", "refusal"),
    [("sagewire-prod-legacy", "inside SAGEWIRE_ENDPOINT_PREFIX"), ("bad_name", "not a SageMaker")],
)
def test_a_fronted_endpoint_the_stage_could_change_or_not_name_is_refused(
    fronted: str, refusal: str, tmp_path: Path
) -> None:
    config = load_config()
    config["stages"]["prod"]["environment_variables"]["SAGEWIRE_FRONTED_ENDPOINTS"] = fronted
    (tmp_path / ".chalice").mkdir()
    (tmp_path / ".chalice" / "config.json").write_text(json.dumps(config))

    with pytest.raises(StageError, match=refusal):
        load_stage("prod", tmp_path)


def test_the_local_stage_is_not_deployable() -> None:
    with pytest.raises(StageError, match="iam_policy_file"):
        load_stage("local")


def test_the_stage_account_and_partition_come_from_the_execution_role() -> None:
    stage = load_stage("prod")

    assert (stage.partition, stage.account) == ("aws", ACCOUNT)


# ---------------------------------------------------------------------------------------------
# The checker refuses what least privilege forbids


def with_statement(statement: dict[str, Any]) -> dict[str, Any]:
    document = copy.deepcopy(build_policy(make_stage()))
    document["Statement"].append({"Effect": "Allow", **statement})
    return document


BAD: dict[str, tuple[dict[str, Any], str]] = {
    "service wildcard": (
        {
            "Action": "sagemaker:*",
            "Resource": f"arn:aws:sagemaker:*:{ACCOUNT}:model/sagewire-prod-*",
        },
        "wildcard action 'sagemaker:*'",
    ),
    "star action": ({"Action": "*", "Resource": "*"}, "wildcard action '*'"),
    "prefix wildcard": (
        {"Action": ["s3:Get*"], "Resource": "arn:aws:s3:::sagewire-prod/*"},
        "wildcard action 's3:Get*'",
    ),
    "write on star": (
        {"Action": "dynamodb:PutItem", "Resource": "*"},
        "dynamodb:PutItem on Resource '*' but it supports resource-level scoping",
    ),
    "unscopable write on star": (
        {"Action": "cloudwatch:PutMetricData", "Resource": "*"},
        "write action cloudwatch:PutMetricData on Resource '*'",
    ),
    "scopable read on star": (
        {"Action": "sagemaker:DescribeEndpoint", "Resource": "*"},
        "sagemaker:DescribeEndpoint on Resource '*' but it supports resource-level scoping",
    ),
    "write not scoped by name": (
        {"Action": "sagemaker:CreateModel", "Resource": f"arn:aws:sagemaker:*:{ACCOUNT}:model/*"},
        "write action sagemaker:CreateModel on arn:aws:sagemaker:*:123456789012:model/* is not "
        "scoped by name",
    ),
    "unconditioned PassRole": (
        {"Action": "iam:PassRole", "Resource": ROLE_ARN},
        "iam:PassRole without Condition StringEquals iam:PassedToService",
    ),
    "PassRole to another service": (
        {
            "Action": "iam:PassRole",
            "Resource": ROLE_ARN,
            "Condition": {"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}},
        },
        "iam:PassRole without Condition",
    ),
    "PassRole on any role": (
        {
            "Action": "iam:PassRole",
            "Resource": f"arn:aws:iam::{ACCOUNT}:role/*",
            "Condition": {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
        },
        "iam:PassRole on a wildcard role",
    ),
    "NotAction": ({"NotAction": "iam:*", "Resource": "*"}, "NotAction grants everything"),
    "unclassified action": (
        {"Action": "ec2:RunInstances", "Resource": f"arn:aws:ec2:*:{ACCOUNT}:instance/i-1"},
        "unclassified action 'ec2:RunInstances'",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_the_checker_refuses_without_knowing_the_stage(case: str) -> None:
    statement, message = BAD[case]

    violations = check_policy(with_statement(statement))

    assert any(message in v for v in violations), violations


SCOPE: dict[str, tuple[dict[str, Any], str]] = {
    "another stage's endpoints": (
        {
            "Action": "sagemaker:UpdateEndpoint",
            "Resource": f"arn:aws:sagemaker:*:{ACCOUNT}:endpoint/sagewire-dev-*",
        },
        "is outside",
    ),
    "a write under a read-only prefix": (
        {"Action": "s3:PutObject", "Resource": "arn:aws:s3:::sagewire-prod/datasets/*"},
        "s3:PutObject on arn:aws:s3:::sagewire-prod/datasets/* is outside",
    ),
    "the whole bucket": (
        {"Action": "s3:PutObject", "Resource": "arn:aws:s3:::sagewire-prod/*"},
        "is outside",
    ),
    "another table": (
        {"Action": "dynamodb:DeleteItem", "Resource": f"arn:aws:dynamodb:*:{ACCOUNT}:table/other"},
        "is outside",
    ),
    "any account": (
        {"Action": "dynamodb:GetItem", "Resource": "arn:aws:dynamodb:*:*:table/sagewire-prod"},
        "is outside",
    ),
    "another role": (
        {
            "Action": "iam:PassRole",
            "Resource": f"arn:aws:iam::{ACCOUNT}:role/admin",
            "Condition": {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
        },
        "iam:PassRole on arn:aws:iam::123456789012:role/admin is outside",
    ),
    "an action sagewire does not use": (
        {
            "Action": "dynamodb:Scan",
            "Resource": f"arn:aws:dynamodb:*:{ACCOUNT}:table/sagewire-prod",
        },
        "dynamodb:Scan is not needed by sagewire",
    ),
    "tags of endpoints too": (
        {"Action": "sagemaker:ListTags", "Resource": f"arn:aws:sagemaker:*:{ACCOUNT}:endpoint/*"},
        "sagemaker:ListTags on arn:aws:sagemaker:*:123456789012:endpoint/* is outside",
    ),
    "other log groups": (
        {"Action": "logs:PutLogEvents", "Resource": f"arn:aws:logs:*:{ACCOUNT}:log-group:*"},
        "is outside",
    ),
}


@pytest.mark.parametrize("case", sorted(SCOPE))
def test_the_checker_refuses_what_the_stage_does_not_need(case: str) -> None:
    statement, message = SCOPE[case]

    violations = check_policy(with_statement(statement), make_stage())
    assert any(message in v for v in violations), violations


def test_the_checker_lets_a_deny_be() -> None:
    document = with_statement({"Action": "s3:*", "Resource": "*"})
    document["Statement"][-1]["Effect"] = "Deny"

    assert check_policy(document, make_stage()) == []


def test_resources_of_another_type_grant_an_action_nothing() -> None:
    assert not applies(f"arn:aws:sagemaker:*:{ACCOUNT}:endpoint/x", "sagemaker:DescribeModel")
    assert not applies("arn:aws:s3:::bucket/key", "dynamodb:GetItem")
    assert applies(f"arn:aws:sagemaker:*:{ACCOUNT}:*", "sagemaker:DescribeModel")
    assert applies("*", "sagemaker:CreateModel")
    assert applies(f"arn:aws:logs:*:{ACCOUNT}:log-group:/aws/lambda/x-*", "logs:PutLogEvents")


def test_missing_grants_names_what_a_policy_lacks() -> None:
    stage = make_stage()
    document = build_policy(stage)
    document["Statement"] = [s for s in document["Statement"] if s["Sid"] != "ReadModelTags"]

    assert missing_grants(document, allowed_resources(stage)) == [
        f"sagemaker:ListTags on arn:aws:sagemaker:*:{ACCOUNT}:model/*",
        f"sagemaker:ListTags on arn:aws:sagemaker:*:{ACCOUNT}:endpoint-config/*",
    ]


@pytest.mark.parametrize(
    ("resource", "pattern", "expected"),
    [
        ("arn:aws:s3:::b/reports/x.json", "arn:aws:s3:::b/reports/*", True),
        ("arn:aws:s3:::b/reports/*", "arn:aws:s3:::b/reports/*", True),
        ("arn:aws:s3:::b/*", "arn:aws:s3:::b/reports/*", False),
        ("arn:aws:dynamodb:us-east-1:1:table/t", "arn:aws:dynamodb:*:1:table/t", True),
        ("arn:aws:dynamodb:*:*:table/t", "arn:aws:dynamodb:*:1:table/t", False),
        ("*", "arn:aws:dynamodb:*:1:table/t", False),
    ],
)
def test_covered_means_every_arn_the_resource_names_is_in_the_pattern(
    resource: str, pattern: str, expected: bool
) -> None:
    assert covered(resource, pattern) is expected


def test_every_action_the_stage_needs_is_classified() -> None:
    assert set(allowed_resources(make_stage(tracing=True))) <= set(CATALOG)
