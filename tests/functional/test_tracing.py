"""Tracing is opt-in: off, a served request imports neither X-Ray nor Powertools' Tracer; on, the
Tracer is created at import and every handler is a subsegment, or the import fails clearly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
# A fresh process: imports the app, serves a prediction, then a refused one, and reports the
# Powertools and X-Ray modules loaded after each (on its last line; the app writes before).
CHILD = """
import base64, json, sys
import app
from chalicelib import wiring
from chalicelib.definitions import parse_project
from tests.factories import project_document
from tests.fakes import FakeProjects, FakeRuntime

container = wiring.container()
container.project_store = FakeProjects(parse_project(project_document("digits-zero")))
container.endpoint_invoker = FakeRuntime()
resource = "/v1/projects/{project}/predictions"


def predict(project):
    event = {
        "resource": resource,
        "path": f"/v1/projects/{project}/predictions",
        "httpMethod": "POST",
        "headers": {"Content-Type": "text/csv"},
        "multiValueHeaders": None,
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": {"project": project},
        "stageVariables": None,
        "requestContext": {"resourcePath": resource, "httpMethod": "POST", "requestId": "r"},
        "body": base64.b64encode(b",".join([b"1"] * 64)).decode(),
        "isBase64Encoded": True,
    }
    return app.app(event, None)["statusCode"]


def loaded():
    prefixes = ("aws_lambda_powertools", "aws_xray_sdk")
    return sorted(name for name in sys.modules if name.startswith(prefixes))


report = {"imported": loaded(), "served": predict("digits-zero")}
report["after_served"] = loaded()
report["refused"] = predict("nobody")
report["after_refused"] = loaded()
xray = sys.modules.get("aws_xray_sdk.core")
if hasattr(xray, "patched"):  # the fake below
    report["subsegments"] = xray.xray_recorder.subsegments
    report["patched"] = xray.patched
print(json.dumps(report))
"""
# Just what Powertools' Tracer touches of the X-Ray SDK, recording what it is asked.
FAKE_XRAY = {
    "__init__.py": """
class _Config:
    def set_sdk_enabled(self, enabled):
        self.enabled = enabled


global_sdk_config = _Config()
""",
    "core.py": """
import contextlib


class _Recorder:
    def __init__(self):
        self.subsegments = []

    @contextlib.contextmanager
    def in_subsegment(self, name=None, **kwargs):
        self.subsegments.append(name)
        yield self

    def put_annotation(self, key, value):
        pass

    def configure(self, **kwargs):
        pass


xray_recorder = _Recorder()
patched = []


def patch(modules):
    patched.extend(modules)


def patch_all(**kwargs):
    patched.append("all")
""",
}


def run(**variables: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SAGEWIRE_", "POWERTOOLS_"))}
    env.update(variables)
    return subprocess.run(
        [sys.executable, "-c", CHILD],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def report(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert all(isinstance(json.loads(line), dict) for line in lines)
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def test_off_a_served_request_imports_no_tracer_and_no_logger() -> None:
    result = report(run())
    assert (result["served"], result["refused"]) == (200, 404)
    for loaded in (result["imported"], result["after_served"], result["after_refused"]):
        assert not [m for m in loaded if m.startswith("aws_xray_sdk")]
        assert "aws_lambda_powertools.tracing" not in loaded
    # A served prediction writes its EMF itself (observability.py) and logs nothing; the first
    # log line builds the Logger.
    assert not [m for m in result["after_served"] if m.startswith("aws_lambda_powertools.")]
    assert "aws_lambda_powertools.logging" in result["after_refused"]


def xray_sdk(directory: Path, files: dict[str, str]) -> str:
    """A PYTHONPATH on which `aws_xray_sdk` is `files`, ahead of any installed one."""
    package = directory / "aws_xray_sdk"
    package.mkdir()
    for name, source in files.items():
        (package / name).write_text(source)
    return os.pathsep.join([str(directory), os.environ.get("PYTHONPATH", "")])


def test_on_without_the_xray_sdk_the_import_fails_and_says_what_is_missing(
    tmp_path: Path,
) -> None:
    absent = "raise ModuleNotFoundError(\"No module named 'aws_xray_sdk'\", name='aws_xray_sdk')"
    done = run(SAGEWIRE_TRACING="true", PYTHONPATH=xray_sdk(tmp_path, {"__init__.py": absent}))
    assert done.returncode != 0
    assert "SAGEWIRE_TRACING=true needs the aws-xray-sdk package" in done.stderr


def test_on_the_tracer_patches_at_import_and_traces_every_handler(tmp_path: Path) -> None:
    path = xray_sdk(tmp_path, FAKE_XRAY)
    # In Lambda (LAMBDA_TASK_ROOT set) Powertools enables the Tracer it creates.
    result = report(run(SAGEWIRE_TRACING="true", PYTHONPATH=path, LAMBDA_TASK_ROOT=str(ROOT)))
    assert "aws_lambda_powertools.tracing" in result["imported"]
    assert result["patched"] == ["all"]
    assert (result["served"], result["refused"]) == (200, 404)
    assert result["subsegments"] == ["## predict", "## predict"]


def test_on_with_the_installed_xray_sdk_outside_lambda_requests_are_served() -> None:
    result = report(run(SAGEWIRE_TRACING="true"))
    assert "aws_lambda_powertools.tracing" in result["imported"]
    assert "aws_xray_sdk.core" in result["imported"]
    assert (result["served"], result["refused"]) == (200, 404)
