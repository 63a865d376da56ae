"""The `chalice deploy` path's resources stack and names: the same resources as the packaged
stack's, cfn-lint clean, and a policy that covers what Chalice names."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from deploy import template as tpl
from deploy.__main__ import main
from deploy.checks import check_cfn_lint, check_resources_template
from deploy.policy import allowed_resources, build_policy, check_policy, covered
from deploy.stages import load_stage
from tests.deploy.support import chalice_deploy_names, make_stage, packaged

SHARED = (
    tpl.TABLE,
    tpl.BUCKET,
    tpl.BUCKET_POLICY,
    tpl.QUEUE,
    "DeadLetterQueueDepthAlarm",
    tpl.TOPIC,
    "AlarmEmailSubscription",
)


def queue_statement(template: dict[str, Any]) -> dict[str, Any]:
    statement: dict[str, Any] = template["Resources"][tpl.QUEUE_POLICY]["Properties"][
        "PolicyDocument"
    ]["Statement"][0]
    return statement


@pytest.mark.parametrize("name", ["prod", "dev"])
def test_the_resources_stack_is_the_packaged_stacks_storage_queue_and_topic(name: str) -> None:
    stage = make_stage(name=name)
    resources = tpl.resources_template(stage)
    merged = packaged(stage)

    for logical_id in SHARED:
        assert resources["Resources"][logical_id] == merged["Resources"][logical_id], logical_id
    assert set(resources["Resources"]) == {*SHARED, tpl.QUEUE_POLICY}
    assert resources["Parameters"] == merged["Parameters"]
    for output in ("DeadLetterQueueArn", "AlarmTopicArn", "TableName", "BucketName"):
        assert resources["Outputs"][output] == merged["Outputs"][output]
    # The queue policy differs in its condition only: Chalice's rules by their name prefix.
    by_prefix, by_name = queue_statement(resources), queue_statement(merged)
    assert {**by_prefix, "Condition": None} == {**by_name, "Condition": None}
    assert by_prefix["Condition"] == {
        "ArnLike": {
            "aws:SourceArn": {
                "Fn::Sub": "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:rule/"
                f"sagewire-{name}-*"
            }
        }
    }


@pytest.mark.parametrize("name", ["prod", "dev"])
def test_the_queue_takes_dead_letters_from_every_rule_chalice_deploys_and_no_other_stage(
    name: str,
) -> None:
    statement = queue_statement(tpl.resources_template(make_stage(name=name)))
    glob = statement["Condition"]["ArnLike"]["aws:SourceArn"]["Fn::Sub"].replace(
        "${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}", "aws:events:us-east-1:1"
    )
    other = "dev" if name == "prod" else "prod"

    for rule in chalice_deploy_names(name).rules.values():
        assert covered(f"arn:aws:events:us-east-1:1:rule/{rule}", glob)
    for rule in chalice_deploy_names(other).rules.values():
        assert not covered(f"arn:aws:events:us-east-1:1:rule/{rule}", glob)


@pytest.mark.parametrize(
    "stage",
    [make_stage(), make_stage(name="dev"), make_stage(auth="api_key")],
    ids=["prod", "dev", "api_key"],
)
def test_the_resources_stack_passes_its_checks_and_cfn_lint(stage: Any, tmp_path: Path) -> None:
    path = tmp_path / "resources.json"
    template = tpl.resources_template(stage)
    path.write_text(json.dumps(template))

    findings = check_resources_template(template, stage)
    check_cfn_lint(path, findings)

    assert findings.violations == []
    assert any("cfn-lint 1.51.0: resources.json passes" in line for line in findings.checked)


def test_the_checks_fail_on_a_queue_open_to_any_rule_or_a_stack_with_roles() -> None:
    stage = make_stage()
    template = copy.deepcopy(tpl.resources_template(stage))
    condition = queue_statement(template)["Condition"]["ArnLike"]
    condition["aws:SourceArn"]["Fn::Sub"] = condition["aws:SourceArn"]["Fn::Sub"].replace(
        "sagewire-prod-*", "*"
    )
    template["Resources"]["Role"] = {"Type": "AWS::IAM::Role", "Properties": {}}
    del template["Outputs"]["DeadLetterQueueArn"]

    violations = check_resources_template(template, stage).violations

    assert any("senders ['*'], expected the rules sagewire-prod-*" in v for v in violations)
    assert any("AWS::IAM::Role" in v for v in violations)
    assert any("which `harden` reads" in v for v in violations)


def test_the_command_writes_the_stack_and_says_how_to_deploy_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "prod-resources.json"

    status = main(["resources", "--stage", "prod", "--out", str(out)])

    assert status == 0
    assert json.loads(out.read_text()) == tpl.resources_template(load_stage("prod"))
    printed = capsys.readouterr().out
    assert "0 failed" in printed
    assert "--stack-name sagewire-prod-resources" in printed


# ---------------------------------------------------------------------------------------------
# Both namings under the stage's policy


def _log_arn(group: str, suffix: str) -> str:
    return f"arn:aws:logs:us-east-1:123456789012:log-group:{group}{suffix}"


@pytest.mark.parametrize("name", ["prod", "dev"])
def test_the_policy_lets_every_function_log_under_chalices_and_the_packaged_names(
    name: str,
) -> None:
    stage = load_stage(name)
    allowed = allowed_resources(stage)
    chalice = set(chalice_deploy_names(name).functions.values())
    merged = {
        f["Properties"]["FunctionName"]
        for f in tpl.functions(packaged(make_stage(name=name))).values()
    }
    assert f"sagewire-{name}" in chalice  # the API handler, under `chalice deploy`
    assert f"sagewire-{name}-on_batch_object" in chalice
    assert f"sagewire-{name}-on-batch-object" in merged

    for function in chalice | merged:
        group = f"/aws/lambda/{function}"
        assert stage.owns_function(function)
        assert any(covered(_log_arn(group, ":*"), p) for p in allowed["logs:CreateLogGroup"])
        for action in ("logs:CreateLogStream", "logs:PutLogEvents"):
            stream = _log_arn(group, ":log-stream:2026/01/01/[$LATEST]abc")
            assert any(covered(stream, p) for p in allowed[action]), (function, action)


@pytest.mark.parametrize(
    "group",
    [
        "/aws/lambda/sagewire-dev",
        "/aws/lambda/sagewire-dev-reconcile",
        "/aws/lambda/sagewire-production",
        "/aws/lambda/other",
        "/aws/apigateway/sagewire-prod",
    ],
)
def test_the_prod_policy_creates_and_writes_no_other_log_group(group: str) -> None:
    allowed = allowed_resources(load_stage("prod"))

    for action in ("logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"):
        for suffix in (":*", ":log-stream:x"):
            assert not any(covered(_log_arn(group, suffix), p) for p in allowed[action])


def test_creating_log_groups_is_scoped_by_name_and_passes_the_checker() -> None:
    stage = load_stage("prod")
    document = build_policy(stage)
    statement = next(s for s in document["Statement"] if s["Sid"] == "CreateOwnLogGroups")

    assert statement["Action"] == ["logs:CreateLogGroup"]
    assert check_policy(document, stage) == []
    broad = copy.deepcopy(document)
    broad["Statement"].append(
        {
            "Effect": "Allow",
            "Action": "logs:CreateLogGroup",
            "Resource": "arn:aws:logs:*:123456789012:*",
        }
    )
    assert any("is not scoped by name" in v for v in check_policy(broad, stage))
