"""`make package`: a staging copy, Lambda's wheels vendored, two `chalice package` runs, checks."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from deploy.bytecode import compile_zip, find_interpreter
from deploy.checks import (
    Findings,
    check_cfn_lint,
    check_policy_file,
    check_template,
    check_zip,
)
from deploy.stages import APP_DIRS, APP_FILES, PROJECT_DIR, RUNTIME, Stage, load_stage
from deploy.template import merge_template
from deploy.trim import drop_unused, trim
from deploy.wheels import RUNTIMES, platforms

# Where downloaded wheels are kept across builds, clones and test runs (`wheel_cache`).
WHEEL_CACHE_VARIABLE = "SAGEWIRE_WHEEL_CACHE"
# Variables of the packaging shell that would leak into the import-time settings (the S3 event
# patterns, the authorizers) without being in the functions' environment.
_LEAKY_PREFIXES = ("SAGEWIRE_", "POWERTOOLS_", "AWS_ENDPOINT_URL")

Log = Callable[[str], None]


@dataclass
class Timings:
    phases: list[tuple[str, float]] = field(default_factory=list)

    def record(self, phase: str, started: float) -> float:
        now = time.monotonic()
        self.phases.append((phase, now - started))
        return now

    def __str__(self) -> str:
        total = sum(seconds for _, seconds in self.phases)
        parts = ", ".join(f"{phase} {seconds:.1f} s" for phase, seconds in self.phases)
        return f"{total:.1f} s ({parts})"


def _tool(name: str) -> str:
    """A console script of the running environment (the venv), else one on PATH."""
    beside = Path(sys.executable).with_name(name)
    found = str(beside) if beside.exists() else shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"{name} is not installed (requirements-dev.txt)")
    return found


def stage_project(project_dir: Path, staging: Path, stage: Stage, vendor: Path) -> None:
    """A copy of the app for Chalice: no requirements.txt to resolve (Chalice would pick wheels
    for the interpreter running it), the runtime's wheels in vendor/ instead."""
    shutil.rmtree(staging, ignore_errors=True)
    (staging / ".chalice").mkdir(parents=True)
    for name in APP_FILES:
        shutil.copy2(project_dir / name, staging / name)
    for name in APP_DIRS:
        shutil.copytree(
            project_dir / name,
            staging / name,
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
        )
    shutil.copy2(project_dir / ".chalice" / "config.json", staging / ".chalice" / "config.json")
    shutil.copy2(
        project_dir / ".chalice" / stage.policy_file, staging / ".chalice" / stage.policy_file
    )
    (staging / "requirements.txt").write_text("")
    # Chalice walks vendor/ following links; a link spares copying 100 MB per build.
    (staging / "vendor").symlink_to(vendor.resolve(), target_is_directory=True)


def wheel_cache() -> Path:
    """The wheelhouse: $SAGEWIRE_WHEEL_CACHE, else sagewire/wheels in the user's cache directory
    ($XDG_CACHE_HOME, else ~/.cache), outside any work tree."""
    configured = os.environ.get(WHEEL_CACHE_VARIABLE)
    if configured:
        return Path(configured).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "sagewire" / "wheels"


def _pip(*arguments: str) -> list[str]:
    return [sys.executable, "-m", "pip", *arguments, "--quiet", "--disable-pip-version-check"]


def vendor_wheels(
    requirements: Path, cache_dir: Path, log: Log, wheelhouse: Path | None = None
) -> Path:
    """The runtime requirements installed from manylinux wheels for Lambda's Python (not the
    one running this), cached by the requirements and the target. The wheels come from the
    wheelhouse (`wheel_cache()` unless given), offline; PyPI only adds the ones it lacks."""
    runtime = RUNTIMES[RUNTIME]
    wheelhouse = wheelhouse or wheel_cache()
    target_args = [
        "--only-binary=:all:",
        "--implementation",
        "cp",
        "--python-version",
        f"3.{runtime.minor}",
        "--abi",
        runtime.python_tag,
        *(arg for platform in platforms(runtime) for arg in ("--platform", platform)),
    ]
    key = hashlib.sha256(
        (requirements.read_text() + "\0" + " ".join(target_args)).encode()
    ).hexdigest()[:16]
    vendor = cache_dir / f"vendor-{runtime.python_tag}-{key}"
    if (vendor / ".complete").exists():
        log(f"vendor: reusing {vendor}")
        trim(vendor)  # a cache from before trimming
        return vendor
    shutil.rmtree(vendor, ignore_errors=True)
    install = [
        *_pip("install", "--no-index", "--find-links", str(wheelhouse)),
        "--no-compile",  # a .pyc of this interpreter is no use to Lambda's
        "--target",
        str(vendor),
        *target_args,
        "-r",
        str(requirements),
    ]
    log(f"vendor: pip install --target {vendor} ({RUNTIME} manylinux x86_64 wheels)")
    if subprocess.run(install, capture_output=True, check=False).returncode != 0:
        log(f"vendor: pip download into {wheelhouse} (the wheels it lacks)")
        wheelhouse.mkdir(parents=True, exist_ok=True)
        download = [*_pip("download", "--dest", str(wheelhouse)), *target_args]
        subprocess.run([*download, "-r", str(requirements)], check=True)
        shutil.rmtree(vendor, ignore_errors=True)
        subprocess.run(install, check=True)
    shutil.rmtree(vendor / "bin", ignore_errors=True)  # console scripts for this machine
    log(f"vendor: {trim(vendor)} files of the dependencies' test suites left out")
    (vendor / ".complete").write_text("")
    return vendor


def _chalice_environment() -> dict[str, str]:
    environment = {
        name: value for name, value in os.environ.items() if not name.startswith(_LEAKY_PREFIXES)
    }
    # Chalice asks botocore for Lambda's service principal, which needs some region; the
    # template itself is region-free.
    environment.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    return environment


def chalice_package(
    staging: Path, stage: Stage, out: Path, merge_template_path: Path | None = None
) -> None:
    command = [_tool("chalice"), "--project-dir", str(staging), "package", "--stage", stage.name]
    if merge_template_path is not None:
        command += ["--merge-template", str(merge_template_path.resolve())]
    command.append(str(out.resolve()))
    subprocess.run(command, check=True, env=_chalice_environment())


def package(
    stage_name: str,
    out: Path,
    project_dir: Path = PROJECT_DIR,
    cache_dir: Path | None = None,
    log: Log = print,
) -> tuple[Findings, Timings]:
    """Packages the stage into `out` (sam.json, deployment.zip, merge.json) and checks it."""
    timings = Timings()
    started = time.monotonic()
    stage = load_stage(stage_name, project_dir)
    findings = Findings()
    check_policy_file(stage, project_dir, findings)
    if findings.violations:
        return findings, timings
    # Lambda's CPython compiles the package at the end; found first, so a machine without it
    # learns that before the long steps.
    interpreter = find_interpreter(RUNTIMES[RUNTIME])
    out.mkdir(parents=True, exist_ok=True)
    for stale in ("sam.json", "deployment.zip", "merge.json"):
        (out / stale).unlink(missing_ok=True)
    work = out / ".work"
    shutil.rmtree(work, ignore_errors=True)
    vendor = vendor_wheels(
        project_dir / "requirements.txt", cache_dir or project_dir / "build" / ".cache", log
    )
    started = timings.record("vendor", started)
    stage_project(project_dir, work / "project", stage, vendor)
    # Pass 1: Chalice's own template, to learn its functions, events and resource names.
    log(f"chalice package --stage {stage.name} (its own template)")
    chalice_package(work / "project", stage, work / "chalice")
    chalice_template = json.loads((work / "chalice" / "sam.json").read_text())
    merge_path = out / "merge.json"
    merge_path.write_text(json.dumps(merge_template(chalice_template, stage), indent=2) + "\n")
    started = timings.record("chalice package", started)
    # Pass 2: the same package (Chalice reuses its zip) with the merge template.
    log(f"chalice package --stage {stage.name} --merge-template {merge_path}")
    chalice_package(work / "project", stage, out, merge_path)
    shutil.rmtree(work)
    started = timings.record("chalice package --merge-template", started)
    dropped = drop_unused(out / "deployment.zip", stage.settings.tracing)
    log(
        f"trim: {dropped} files left out: joblib, cloudpickle, click, tqdm and nltk/cli.py"
        + ("" if stage.settings.tracing else ", the X-Ray SDK and wrapt (the stage does not trace)")
    )
    compiled = compile_zip(out / "deployment.zip", RUNTIMES[RUNTIME], interpreter)
    log(f"bytecode: {compiled} modules compiled by {interpreter} for {RUNTIME}")
    started = timings.record("bytecode", started)
    template = json.loads((out / "sam.json").read_text())
    findings.merge(check_template(template, stage))
    check_zip(out / "deployment.zip", findings, stage.settings.tracing)
    started = timings.record("checks", started)
    check_cfn_lint(out / "sam.json", findings)
    timings.record("cfn-lint", started)
    return findings, timings
