"""The policy grants every AWS call sagewire's code makes, and nothing it does not use."""

from __future__ import annotations

import ast
import inspect
import re

from aws_lambda_powertools.utilities.idempotency.persistence import dynamodb as powertools

from deploy.policy import allowed_resources
from deploy.stages import PROJECT_DIR
from tests.deploy.support import make_stage

GATEWAYS = PROJECT_DIR / "chalicelib" / "gateways"
# The IAM service of each gateway's client (sagemaker-runtime's actions are `sagemaker:`).
SERVICES = {
    "champions.py": "dynamodb",
    "datasets.py": "dynamodb",
    "projects.py": "dynamodb",
    "runs.py": "dynamodb",
    "table.py": "dynamodb",
    "s3.py": "s3",
    "sagemaker.py": "sagemaker",
    "sagemaker_runtime.py": "sagemaker",
    "sagemaker_shapes.py": "sagemaker",
    "sagemaker_errors.py": "sagemaker",
    "sagemaker_search.py": "sagemaker",
    "sagemaker_deletes.py": "sagemaker",
    "sagemaker_variants.py": "sagemaker",
    "cloudwatch.py": "cloudwatch",
    "imports.py": "dynamodb",
    "boards.py": "dynamodb",
    "board_writes.py": "dynamodb",
    "event_bus.py": "events",
    "model_registry.py": "sagemaker",
}
# Client methods whose IAM action is not their own name.
ACTIONS = {
    "s3:HeadObject": "s3:GetObject",
    # A multipart upload's calls are authorized as PutObject; a copy as PutObject of its
    # destination (and GetObject of its source); a presigned URL is signed, not called, and
    # reads with the signer's GetObject.
    "s3:CreateMultipartUpload": "s3:PutObject",
    "s3:UploadPart": "s3:PutObject",
    "s3:CompleteMultipartUpload": "s3:PutObject",
    "s3:CopyObject": "s3:PutObject",
    "s3:GeneratePresignedUrl": "s3:GetObject",
}
# A transaction is authorized item by item.
TRANSACTION_ITEMS = {
    "Put": "dynamodb:PutItem",
    "Update": "dynamodb:UpdateItem",
    "Delete": "dynamodb:DeleteItem",
    "ConditionCheck": "dynamodb:ConditionCheckItem",
}
# Granted although no client call names them, and why.
NOT_CALLS = {
    "logs:CreateLogGroup": "Lambda creates a function's log group if no stack did (chalice deploy)",
    "logs:CreateLogStream": "Lambda writes the functions' logs with their role",
    "logs:PutLogEvents": "Lambda writes the functions' logs with their role",
    "sqs:SendMessage": "Lambda's on-failure destination sends with the function's role",
    "s3:ListBucket": "S3 answers 404, not 403, for a missing key only with it",
    "sagemaker:AddTags": "CreateModel and CreateEndpointConfig with Tags need it",
    "iam:PassRole": "CreateModel passes the execution role",
    "cloudwatch:DescribeAlarms": "UpdateEndpoint with auto-rollback alarms needs it",
}


def pascal(method: str) -> str:
    return "".join(part.capitalize() for part in method.split("_"))


def client_calls(source: str, client: str) -> set[str]:
    """Methods called on `<...>.<client>` and operations paginated from it."""
    calls: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        target = node.func.value
        if isinstance(target, ast.Attribute) and target.attr == client:
            method = node.func.attr
            if method == "get_paginator" and isinstance(node.args[0], ast.Constant):
                calls.add(str(node.args[0].value))
            else:
                calls.add(method)
    return calls


def actions_of(source: str, service: str, client: str, items: str | None = None) -> set[str]:
    """The IAM actions of the calls in `source`; a transaction's by the kinds of item that
    `items` (the source that builds them, by default `source` itself) writes."""
    actions: set[str] = set()
    for method in client_calls(source, client):
        if method == "transact_write_items":
            kinds = set(re.findall(r'"(Put|Update|Delete|ConditionCheck)":', items or source))
            actions |= {TRANSACTION_ITEMS[kind] for kind in kinds}
            continue
        action = f"{service}:{pascal(method)}"
        actions.add(ACTIONS.get(action, action))
    return actions


def used_actions() -> dict[str, str]:
    used: dict[str, str] = {}
    paths = [
        path
        for path in sorted(GATEWAYS.glob("*.py"))
        # Powertools makes idempotency's calls; user_agent.py makes none (it tunes clients).
        if path.name not in ("__init__.py", "idempotency.py", "user_agent.py")
    ]
    # The table module makes every DynamoDB call (its `client`) for the gateways that build items.
    table_items = "".join(p.read_text() for p in paths if SERVICES.get(p.name) == "dynamodb")
    for path in paths:
        assert path.name in SERVICES, f"classify the AWS service of {path}"
        source, service = path.read_text(), SERVICES[path.name]
        if path.name == "table.py":
            found = actions_of(source, service, "client", table_items)
        else:
            found = actions_of(source, service, "_client")
        for action in found:
            used.setdefault(action, path.name)
    # Powertools idempotency keeps its records in the table through its own client calls.
    for action in actions_of(inspect.getsource(powertools), "dynamodb", "client"):
        used.setdefault(action, "aws_lambda_powertools idempotency")
    return used


def test_the_scan_finds_the_calls_the_gateways_are_known_to_make() -> None:
    used = used_actions()

    for action in (
        "dynamodb:Query",
        "dynamodb:DeleteItem",
        "s3:GetObject",
        "sagemaker:ListModels",
        "sagemaker:CreateModel",
        "sagemaker:InvokeEndpoint",
    ):
        assert action in used


def test_every_aws_call_of_the_code_is_granted() -> None:
    granted = set(allowed_resources(make_stage()))

    missing = {action: where for action, where in used_actions().items() if action not in granted}

    assert not missing, f"grant these in deploy/policy.py (and run make policies): {missing}"


def test_every_grant_is_used_by_the_code_or_explained() -> None:
    granted = set(allowed_resources(make_stage()))

    unused = granted - set(used_actions()) - set(NOT_CALLS)

    assert not unused, f"no code calls these any more; drop them from deploy/policy.py: {unused}"
