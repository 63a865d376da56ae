"""End to end: `make package`'s pipeline on the real app (pip, two `chalice package` runs, checks,
cfn-lint, bytecode by CPython 3.12) into a temporary directory, and the package run by it.

The wheels come from the wheel cache (`deploy.package.wheel_cache`, outside the work tree): the
first run on a machine downloads them, later runs install them offline."""

from __future__ import annotations

import json
import subprocess
import zipfile
from pathlib import Path

import pytest

from deploy.bytecode import find_interpreter
from deploy.checks import Findings
from deploy.package import WHEEL_CACHE_VARIABLE, Timings, package, vendor_wheels, wheel_cache
from deploy.stages import PROJECT_DIR
from deploy.wheels import RUNTIMES

SMOKE = """
import sys, time
sys.path.insert(0, sys.argv[1])
started = time.monotonic()
import app, numpy, orjson
from PIL import Image
assert numpy.__file__.startswith(sys.argv[1]), numpy.__file__
image = Image.new("L", (28, 28))
pixels = numpy.asarray(image, dtype=numpy.float32).reshape(1, -1)
assert orjson.loads(orjson.dumps(pixels, option=orjson.OPT_SERIALIZE_NUMPY)) == [[0.0] * 784]
event = {
    "resource": "/v1/health", "path": "/v1/health", "httpMethod": "GET", "headers": {},
    "multiValueHeaders": {}, "queryStringParameters": None,
    "multiValueQueryStringParameters": None, "pathParameters": None, "stageVariables": None,
    "requestContext": {"resourcePath": "/v1/health", "httpMethod": "GET", "stage": "api",
                       "path": "/api/v1/health", "requestId": "smoke", "identity": {}},
    "body": None, "isBase64Encoded": False,
}
class Context:
    aws_request_id = "smoke"
    function_name = "sagewire-prod-api-handler"
    memory_limit_in_mb = 128
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:smoke"
response = app.app(event, Context())
assert response["statusCode"] == 200, response
print(f"{sys.version.split()[0]}: imported and answered in {time.monotonic() - started:.2f} s")
"""


@pytest.fixture(scope="module")
def packaged_prod(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Findings, Timings]:
    root = tmp_path_factory.mktemp("package")
    findings, timings = package("prod", root / "prod", cache_dir=root / "cache", log=lambda _: None)
    return root / "prod", findings, timings


def test_the_wheel_cache_is_the_variable_or_the_users_cache_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv(WHEEL_CACHE_VARIABLE, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert wheel_cache() == tmp_path / "xdg" / "sagewire" / "wheels"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert wheel_cache() == tmp_path / "home" / ".cache" / "sagewire" / "wheels"
    monkeypatch.setenv(WHEEL_CACHE_VARIABLE, str(tmp_path / "wheels"))
    assert wheel_cache() == tmp_path / "wheels"


def test_once_the_wheels_are_cached_a_build_downloads_nothing(
    packaged_prod: tuple[Path, Findings, Timings], tmp_path: Path
) -> None:
    said: list[str] = []
    vendor = vendor_wheels(PROJECT_DIR / "requirements.txt", tmp_path, said.append)
    assert (vendor / "numpy" / "__init__.py").exists()
    assert not [line for line in said if "download" in line], said


def test_package_prod_builds_a_deployable_and_checked_stage(
    packaged_prod: tuple[Path, Findings, Timings],
) -> None:
    out, findings, _ = packaged_prod

    assert findings.violations == [], "\n".join(findings.violations)
    assert sorted(p.name for p in out.iterdir()) == ["deployment.zip", "merge.json", "sam.json"]
    checked = "\n".join(findings.checked)
    for expected in (
        "policy-prod.json: as `python -m deploy policies` writes it",
        "numpy 2.3.5: WHEEL tag cp312-cp312-manylinux_2_27_x86_64",
        "pillow 12.3.0: 8 extension modules *.cpython-312-x86_64-linux-gnu.so",
        "orjson 3.13.0: WHEEL tag cp312-cp312-manylinux_2_17_x86_64",
        "OnBatchObject.OnBatchObjectEvent: S3 pattern on sagewire-prod",
        "cfn-lint 1.51.0: sam.json passes",
        "DeadLetterQueuePolicy: events.amazonaws.com may send from the 10 rules only",
        "trim: no dependency's tests in the package, none imported",
        "trim: no X-Ray SDK or wrapt (the stage does not trace), none imported",
        "trim: no joblib, cloudpickle, click or tqdm (NLTK's stemmer never loads them), "
        "imported only inside nltk.util's functions",
    ):
        assert expected in checked
    template = json.loads((out / "sam.json").read_text())
    functions = [
        r for r in template["Resources"].values() if r["Type"] == "AWS::Serverless::Function"
    ]
    assert len(functions) == 11
    assert {f["Properties"]["Runtime"] for f in functions} == {"python3.12"}
    with zipfile.ZipFile(out / "deployment.zip") as archive:
        names = set(archive.namelist())
    assert {"app.py", "chalicelib/entrypoints/events.py", "numpy/__init__.py"} <= names
    assert not [n for n in names if n.startswith(("bin/", "vendor/"))]
    assert not [n for n in names if n.startswith(("joblib/", "click/", "tqdm/", "nltk/cli.py"))]
    # Every module comes with the bytecode Lambda's python3.12 loads from the read-only /var/task.
    sources = [n for n in names if n.endswith(".py")]
    assert {
        "__pycache__/app.cpython-312.pyc",
        "numpy/__pycache__/__init__.cpython-312.pyc",
    } <= names
    assert [n for n in names if n.endswith(".pyc")] == [
        n for n in names if n.endswith(".cpython-312.pyc")
    ]
    assert len([n for n in names if n.endswith(".pyc")]) == len(sources)
    assert any(
        line.startswith(f"bytecode: all {len(sources)} modules") for line in findings.checked
    )
    assert not [n for n in names if "/tests/" in n or n.endswith("conftest.py")]


def test_the_package_imports_and_answers_under_cpython_312(
    packaged_prod: tuple[Path, Findings, Timings], tmp_path: Path
) -> None:
    """What Lambda's python3.12 does first: import the handler from the unzipped package."""
    python = find_interpreter(RUNTIMES["python3.12"])
    out, _, _ = packaged_prod
    with zipfile.ZipFile(out / "deployment.zip") as archive:
        archive.extractall(tmp_path / "task")
    environment = {
        "PATH": "/usr/bin:/bin",
        "AWS_DEFAULT_REGION": "us-east-1",
        **json.loads((out / "sam.json").read_text())["Resources"]["APIHandler"]["Properties"][
            "Environment"
        ]["Variables"],
    }

    result = subprocess.run(
        [python, "-I", "-c", SMOKE, str(tmp_path / "task")],
        capture_output=True,
        text=True,
        env=environment,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    # The app's own output (EMF metrics) comes first.
    assert result.stdout.splitlines()[-1].startswith("3.12"), result.stdout
