"""A prediction's cold start loads only the prediction path: no event-side values, parsers or
import and registry modules, no S3 client; and `import app` leaves the cyclic GC running."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.factories import project_document

ROOT = Path(__file__).resolve().parents[2]
FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}
# A fresh process: imports the app, serves a CSV prediction (DynamoDB and SageMaker Runtime
# answered by Stubbers, no test module imported), and reports on its last line what it loaded.
CHILD = """
import base64, gc, io, json, sys
import app
report = {"gc_enabled": gc.isenabled(), "frozen": gc.get_freeze_count()}
from botocore.response import StreamingBody
from botocore.stub import Stubber
from chalicelib import wiring

definition = sys.argv[1]
answer = b'{"predictions": [{"score": 0.9, "predicted_label": 1.0}]}'
container = wiring.container()
projects = Stubber(container.dynamodb_client)
projects.add_response("get_item", {"Item": {"definition": {"S": definition}}})
runtime = Stubber(container.runtime_client)
runtime.add_response("invoke_endpoint", {
    "Body": StreamingBody(io.BytesIO(answer), len(answer)), "ContentType": "application/json"
})
resource = "/v1/projects/{project}/predictions"
event = {
    "resource": resource,
    "path": "/v1/projects/digits-zero/predictions",
    "httpMethod": "POST",
    "headers": {"Content-Type": "text/csv"},
    "multiValueHeaders": None,
    "queryStringParameters": None,
    "multiValueQueryStringParameters": None,
    "pathParameters": {"project": "digits-zero"},
    "stageVariables": None,
    "requestContext": {"resourcePath": resource, "httpMethod": "POST", "requestId": "r"},
    "body": base64.b64encode(b",".join([b"1"] * 64)).decode(),
    "isBase64Encoded": True,
}
with projects, runtime:
    report["served"] = app.app(event, None)["statusCode"]
report["modules"] = sorted(name for name in sys.modules if name.startswith("chalicelib"))
report["built"] = sorted(name for name in vars(container) if name.endswith("_client"))
print(json.dumps(report))
"""
# Loaded by the functions that handle SageMaker's and S3's events, imports and reports only.
EVENT_SIDE = (
    "chalicelib.records",
    "chalicelib.imports",
    "chalicelib.registry",
    "chalicelib.processing.events",
    "chalicelib.gateways.s3",
    "chalicelib.gateways.sagemaker",
    "chalicelib.services.rollout",
    "chalicelib.services.selection",
)


def served() -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SAGEWIRE_", "POWERTOOLS_"))}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(project_document("digits-zero"))],
        cwd=ROOT,
        env={**env, **FAKE_AWS},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return result


def test_a_prediction_loads_no_event_side_module_and_builds_no_s3_client() -> None:
    result = served()
    assert result["served"] == 200
    assert "chalicelib.models" in result["modules"]
    assert [name for name in EVENT_SIDE if name in result["modules"]] == []
    assert result["built"] == ["dynamodb_client", "runtime_client"]


def test_import_app_freezes_what_it_made_and_leaves_the_gc_running() -> None:
    result = served()
    assert result["gc_enabled"]
    assert result["frozen"] > 10_000
