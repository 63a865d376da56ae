"""Cold start of the real package: deployment.zip unpacked read-only, run by Lambda's CPython."""

from __future__ import annotations

import json
import os
import shutil
import statistics
import tempfile
import zipfile
from pathlib import Path

from bench import Check, Goal, Outcome, Row, Timing, format_ns
from bench.coldstart import APP_CHILD, FAKE_AWS, FLOOR_CHILD, RUNS, fixture, rounds
from deploy.bytecode import BytecodeError, find_interpreter
from deploy.stages import RUNTIME
from deploy.wheels import RUNTIMES

NAME = "coldstart_package"
ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "build" / "prod"
MAX_RATIO = 1.15
# Lambda's bootstrap puts /var/task first on sys.path; -B: nothing is written, as on a read-only
# /var/task (where a write would fail anyway).
_FROM_TASK = "import sys; sys.path.insert(0, sys.argv.pop(1))\n"


def _unpack(archive: Path, task: Path, bytecode: bool) -> None:
    """The zip as Lambda unpacks it, read-only; without its bytecode when `bytecode` is False."""
    with zipfile.ZipFile(archive) as package:
        package.extractall(task)
    if not bytecode:
        for cache in list(task.rglob("__pycache__")):
            shutil.rmtree(cache)
    for path in [*task.rglob("*"), task]:
        path.chmod(0o555 if path.is_dir() else 0o444)


def _writable(task: Path) -> None:
    for path in [task, *task.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)


def run() -> list[Outcome]:
    archive = PACKAGE / "deployment.zip"
    if not archive.exists():
        print(f"{NAME}: no {archive.relative_to(ROOT)}: run `make package` first")
        return [Check(NAME, "the package exists", passed=False)]
    try:
        python = find_interpreter(RUNTIMES[RUNTIME])
    except BytecodeError as error:
        print(f"{NAME}: {error}")
        return [Check(NAME, f"a CPython for {RUNTIME}", passed=False)]
    template = json.loads((PACKAGE / "sam.json").read_text())
    variables = template["Resources"]["APIHandler"]["Properties"]["Environment"]["Variables"]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **variables, **FAKE_AWS}
    with tempfile.TemporaryDirectory(prefix="sagewire-task-") as scratch:
        compiled, sources = Path(scratch) / "task", Path(scratch) / "task-sources-only"
        _unpack(archive, compiled, bytecode=True)
        _unpack(archive, sources, bytecode=False)
        sides = {
            "floor": [python, "-I", "-B", "-c", _FROM_TASK + FLOOR_CHILD, str(compiled)],
            "app": [python, "-I", "-B", "-c", _FROM_TASK + APP_CHILD, str(compiled), fixture()],
            "app without .pyc": [
                python, "-I", "-B", "-c", _FROM_TASK + APP_CHILD, str(sources), fixture()
            ],
        }  # fmt: skip
        try:
            marks = rounds(sides, env)
        except RuntimeError as error:
            print(f"{NAME}: the packaged app's first prediction failed: {error}")
            return [Check(NAME, "packaged first prediction answers 200", passed=False)]
        finally:
            _writable(compiled)
            _writable(sources)
    timings = {side: Timing.of([ready for _, ready in marks[side]]) for side in sides}
    imports = {side: statistics.median(imported for imported, _ in marks[side]) for side in sides}
    floor, app, uncompiled = timings["floor"], timings["app"], timings["app without .pyc"]
    ratio = app.p50_ns / floor.p50_ns
    print(
        f"{NAME}: build/prod/deployment.zip unpacked read-only, {python} -I -B, "
        f"spawn to first answer, median of {RUNS} fresh processes each"
    )
    print(
        f"  floor            {format_ns(floor.p50_ns):>9} (numpy + Pillow + boto3 from the "
        f"package, imported at {format_ns(imports['floor'])}, then one client)"
    )
    print(
        f"  sagewire         {format_ns(app.p50_ns):>9} (`import app` done at "
        f"{format_ns(imports['app'])}, then one PNG prediction)"
    )
    print(
        f"  without .pyc     {format_ns(uncompiled.p50_ns):>9} (the same package without its "
        f"bytecode: {uncompiled.p50_ns / floor.p50_ns:.2f}x the floor)"
    )
    print(f"  ratio            {ratio:.2f}x the floor (goal ≤ {MAX_RATIO}x)")
    goal = Goal(f"≤ {MAX_RATIO}x the floor", met=ratio <= MAX_RATIO)
    return [
        Check(NAME, "packaged first prediction answers 200", passed=True),
        Row(NAME, "packaged: import app + first PNG prediction vs floor", app, floor, (goal,)),
    ]
