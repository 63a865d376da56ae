"""Cold start: a fresh process's first prediction against a numpy + Pillow + boto3 floor."""

from __future__ import annotations

import base64
import json
import os
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from importlib.util import cache_from_source
from pathlib import Path

from bench import Check, Goal, Outcome, Row, Timing, digit_images, format_ns, png_bytes

NAME = "coldstart"
ROOT = Path(__file__).resolve().parent.parent
RUNS = 10
MAX_RATIO = 1.2
TOP_IMPORTS = 10
PROJECT = "mnist-zero"
# No network: fake credentials and region; both AWS calls of the app are answered by Stubbers.
FAKE_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}

# Each child prints two CLOCK_MONOTONIC readings: imports done, and first answer (or client) ready.
FLOOR_CHILD = """\
import time
import boto3, numpy, PIL.Image
imported = time.monotonic_ns()
boto3.client("sagemaker-runtime")
print(imported, time.monotonic_ns())
"""

APP_CHILD = """\
import time
import app
imported = time.monotonic_ns()
import io, json, sys
from botocore.response import StreamingBody
from botocore.stub import Stubber
from chalicelib import wiring
fixture = json.loads(sys.argv[1])
container = wiring.container()
projects = Stubber(container.dynamodb_client)
projects.add_response("get_item", {"Item": {"definition": {"S": fixture["definition"]}}})
answer = fixture["answer"].encode()
runtime = Stubber(container.runtime_client)
runtime.add_response("invoke_endpoint", {
    "Body": StreamingBody(io.BytesIO(answer), len(answer)),
    "ContentType": "application/json",
    "InvokedProductionVariant": "AllTraffic",
})
with projects, runtime:
    response = app.app(fixture["event"], None)
if response["statusCode"] != 200:
    sys.exit(response["body"])
print(imported, time.monotonic_ns())
"""

DEFINITION = {
    "name": PROJECT,
    "match": {"tags": {"Project": "Project_Binary_Classifier"}},
    "objective": {"metric": "train:objective_loss:final", "goal": "minimize"},
    "endpoint": {"name": PROJECT},
    "inference": {
        "input": {"shape": [28, 28], "scale": 255.0, "flatten": True},
        "request": {"content_type": "text/csv"},
        "response": {"accept": "application/json", "postprocess": "linear_learner"},
    },
}


def fixture() -> str:
    """The stubbed project and model answer, and the API Gateway event of one PNG prediction."""
    resource = "/v1/projects/{project}/predictions"
    png = png_bytes(digit_images(1)[0])
    event = {
        "resource": resource,
        "path": f"/v1/projects/{PROJECT}/predictions",
        "httpMethod": "POST",
        "headers": {
            "Accept": "application/json",
            "Content-Type": "image/png",
            "Content-Length": str(len(png)),
        },
        "multiValueHeaders": None,
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": {"project": PROJECT},
        "stageVariables": None,
        "requestContext": {
            "resourcePath": resource,
            "httpMethod": "POST",
            "requestId": "bench-coldstart",
            "stage": "api",
        },
        "body": base64.b64encode(png).decode(),
        "isBase64Encoded": True,
    }
    answer = {"predictions": [{"score": 0.97, "predicted_label": 1.0}]}
    return json.dumps(
        {"definition": json.dumps(DEFINITION), "answer": json.dumps(answer), "event": event}
    )


def spawn(command: list[str], env: dict[str, str]) -> tuple[int, int]:
    """Runs a fresh interpreter; returns ns from spawn to its imports and to its end mark."""
    start = time.monotonic_ns()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(done.stderr.strip().splitlines()[-1] if done.stderr else done.stdout)
    # The marks are the last line: the app writes its log lines and EMF metrics before them.
    imported, ready = (int(mark) for mark in done.stdout.splitlines()[-1].split())
    return imported - start, ready - start


def rounds(sides: dict[str, list[str]], env: dict[str, str]) -> dict[str, list[tuple[int, int]]]:
    """Each side's marks over RUNS rounds, the sides alternating within a round so that load
    changes hit them alike; one unmeasured round first warms the OS file cache."""
    for command in sides.values():
        spawn(command, env)
    marks: dict[str, list[tuple[int, int]]] = {side: [] for side in sides}
    for _ in range(RUNS):
        for side, command in sides.items():
            marks[side].append(spawn(command, env))
    return marks


def _import_times(env: dict[str, str]) -> dict[str, int]:
    """`-X importtime` self time of each module that ``import app`` loads, in ns."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import app"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    times = {}
    for line in done.stderr.splitlines():
        if line.startswith("import time:") and "[us]" not in line:
            self_us, _, name = line.removeprefix("import time:").split("|")
            times[name.strip()] = int(self_us) * 1000
    return times


def _top_packages(times: dict[str, int]) -> list[tuple[str, int]]:
    by_package: defaultdict[str, int] = defaultdict(int)
    for module, ns in times.items():
        by_package[module.split(".")[0]] += ns
    return sorted(by_package.items(), key=lambda item: -item[1])[:TOP_IMPORTS]


def _compile_cost(times: dict[str, int]) -> tuple[int, int, int]:
    """sagewire's modules, those without a bytecode cache, and ns to compile the latter."""
    sources = []
    for module in times:
        if module == "app" or module.split(".")[0] == "chalicelib":
            path = ROOT.joinpath(*module.split("."))
            sources.append(path / "__init__.py" if path.is_dir() else path.with_suffix(".py"))
    uncached = [path for path in sources if not Path(cache_from_source(str(path))).exists()]
    start = time.perf_counter_ns()
    for path in uncached:
        compile(path.read_bytes(), str(path), "exec")
    return len(sources), len(uncached), time.perf_counter_ns() - start


def run() -> list[Outcome]:
    env = {**os.environ, **FAKE_AWS}
    sides = {
        "floor": [sys.executable, "-c", FLOOR_CHILD],
        "app": [sys.executable, "-c", APP_CHILD, fixture()],
    }
    try:
        marks = rounds(sides, env)
    except RuntimeError as error:
        print(f"{NAME}: the app's first prediction failed: {error}")
        return [Check(NAME, "first prediction answers 200", passed=False)]
    floor, app = (Timing.of([ready for _, ready in marks[side]]) for side in sides)
    imports = {side: statistics.median(imported for imported, _ in marks[side]) for side in sides}
    ratio = app.p50_ns / floor.p50_ns
    print(f"{NAME}: spawn to first answer, median of {RUNS} fresh processes each")
    print(
        f"  floor     {format_ns(floor.p50_ns):>9} (mean {format_ns(floor.mean_ns)}; "
        f"numpy + Pillow + boto3 imported at {format_ns(imports['floor'])}, then one client)"
    )
    print(
        f"  sagewire  {format_ns(app.p50_ns):>9} (mean {format_ns(app.mean_ns)}; "
        f"`import app` done at {format_ns(imports['app'])}, then one PNG prediction)"
    )
    print(f"  ratio     {ratio:.2f}x the floor (goal ≤ {MAX_RATIO}x)")
    times = _import_times(env)
    modules, uncached, compile_ns = _compile_cost(times)
    print(
        f"  {uncached} of sagewire's {modules} modules have no .pyc, so each start compiles them "
        f"({format_ns(compile_ns)}); so does Lambda, whose /var/task is read-only"
    )
    print(f"  top {TOP_IMPORTS} import costs of `import app` (self time by top-level package):")
    for package, ns in _top_packages(times):
        print(f"    {package:<24} {format_ns(ns):>9}")
    goal = Goal(f"≤ {MAX_RATIO}x the floor", met=ratio <= MAX_RATIO)
    return [
        Check(NAME, "first prediction answers 200", passed=True),
        Row(NAME, "import app + first PNG prediction vs floor", app, floor, (goal,)),
    ]
