"""Hostile requests: CPU seconds and peak memory of each, with the request budgets off and on."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from PIL import Image

from bench import Check, Goal, Outcome, Row, Timing, digit_images, png_bytes
from bench.coldstart import DEFINITION, PROJECT
from chalicelib.config import Settings
from chalicelib.definitions import parse_project
from chalicelib.errors import SagewireError
from chalicelib.models import Caller
from chalicelib.processing.decode import DecodeLimits
from chalicelib.records import ObjectCreated
from chalicelib.services.batch import BATCH_LIMITS, BatchService
from chalicelib.services.inference import InferenceService
from chalicelib.services.projects import ProjectService
from tests.fakes import FakeObjects, FakeProjects, FakeRuntime

NAME = "hostile"
ROOT = Path(__file__).resolve().parent.parent
SIDE = 2000
MAX_CPU_SECONDS = 1.0
MAX_EXTRA_MIB = 256
MAX_REFUSAL_SECONDS = 0.050
# "Before": every budget of this issue lifted, through the services' own parameters.
UNLIMITED = 10**15
OFF = DecodeLimits(
    max_request_pixels=UNLIMITED, max_scans=UNLIMITED, max_jpeg_segments=UNLIMITED, draft=False
)
SETTINGS = Settings.from_environ({})
CALLER = Caller(kind="iam", principal="bench")
# Each child prints one JSON line: the outcome, CPU and wall seconds, peak RSS over its baseline.
CHILD = "import sys, bench.hostile as h; h.child(*sys.argv[1:])"


def _encode(image: Image.Image, kind: str, **options: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=kind, **options)
    return buffer.getvalue()


def _flat_png() -> bytes:
    """A 2000x2000 RGB PNG of about 12 KB: 12 MB once decoded."""
    return _encode(Image.new("RGB", (SIDE, SIDE)), "PNG")


def _images(count: int) -> bytes:
    image = base64.b64encode(_flat_png()).decode()
    return orjson.dumps({"images": [image] * count})


def _scan_bomb() -> bytes:
    """A flat 2000x2000 progressive JPEG with 20,000 near-empty AC scans before its end."""
    body = _encode(Image.new("L", (SIDE, SIDE)), "JPEG", progressive=True)
    end = body.rindex(b"\xff\xd9")
    scan = b"\xff\xda" + struct.pack(">HB", 8, 1) + b"\x01\x00" + bytes([1, 63, 0]) + b"\0" * 4
    return body[:end] + scan * 20_000 + body[end:]


def _photos() -> bytes:
    """Four 2000x2000 color progressive JPEGs of smooth noise (726 KiB each): the request
    budget in photos, in a body just under 4 MiB."""
    blocks = np.random.default_rng(5).integers(0, 256, (SIDE // 16, SIDE // 16, 3), np.uint8)
    photo = Image.fromarray(blocks).resize((SIDE, SIDE))
    image = base64.b64encode(_encode(photo, "JPEG", quality=90, progressive=True)).decode()
    return orjson.dumps({"images": [image] * 4})


def _batch_object() -> bytes:
    line = orjson.dumps({"image": base64.b64encode(_flat_png()).decode()})
    return b"\n".join([line] * 100)


@dataclass(frozen=True)
class Case:
    text: str
    content_type: str  # "batch" for a batch object
    body: Callable[[], bytes]


CASES = {
    "pixel_flood": Case(
        "pixel flood: JSON, 256 PNGs declaring 2000x2000", "application/json", lambda: _images(256)
    ),
    "pixel_budget": Case(
        "at the budget: JSON, 4 PNGs of 2000x2000", "application/json", lambda: _images(4)
    ),
    "scan_bomb": Case("scan bomb: JPEG with 20,006 scans", "image/jpeg", _scan_bomb),
    "photos": Case(
        "at the budget: JSON, 4 progressive color JPEGs of 2000x2000", "application/json", _photos
    ),
    "batch_object": Case("batch object: 100 JSONL lines of 2000x2000 PNGs", "batch", _batch_object),
}


def _etag(body: bytes) -> str:
    return hashlib.md5(body, usedforsecurity=False).hexdigest()


def _services(budgets: bool) -> tuple[InferenceService, BatchService, FakeObjects]:
    """The services as the composition root builds them, or with every budget lifted; the
    tests' in-memory project store, S3 and linear-learner endpoint."""
    projects = ProjectService(FakeProjects(parse_project(DEFINITION)))
    limits = DecodeLimits(max_request_pixels=SETTINGS.max_request_pixels) if budgets else OFF
    inference = InferenceService(projects, FakeRuntime(), SETTINGS.max_invoke_bytes, limits)
    objects = FakeObjects()
    if budgets:
        batch = BatchService(projects, inference, objects, SETTINGS)
    else:
        settings = replace(SETTINGS, max_batch_pixels=UNLIMITED)
        limits = replace(OFF, max_rows=BATCH_LIMITS.max_rows)
        batch = BatchService(projects, inference, objects, settings, limits=limits)
    return inference, batch, objects


def _batch_run(batch: BatchService, objects: FakeObjects, body: bytes, name: str) -> str:
    key = f"{SETTINGS.batch_input_prefix}{PROJECT}/{name}.jsonl"
    objects.put(SETTINGS.bucket_name, key, body, "application/jsonl")
    change = ObjectCreated(
        SETTINGS.bucket_name, key, _etag(body), len(body), datetime.now(UTC), None, "0"
    )
    outcome = batch.run(change)
    return f"{outcome.predictions} predicted, {outcome.errors} refused"


def _status_kib(field: str) -> int:
    """A memory figure of this process from /proc/self/status (Linux, as on Lambda), in KiB."""
    status = Path("/proc/self/status").read_text()
    return int(status.split(f"{field}:", 1)[1].split()[0])


def _reset_peak() -> int:
    """Resets this process's peak RSS to its current RSS (Linux 4.0+) and returns it: unlike
    ru_maxrss, the peak then excludes what imports and the warm-up touched and gave back."""
    Path("/proc/self/clear_refs").write_text("5")
    return _status_kib("VmRSS")


def child(name: str, mode: str, path: str) -> None:
    """One case in this fresh process, after one small warm-up request of each kind."""
    case = CASES[name]
    inference, batch, objects = _services(mode == "after")
    digit = png_bytes(digit_images(1)[0])
    small = _encode(Image.fromarray(digit_images(1)[0]), "JPEG", progressive=True)
    inference.predict(PROJECT, digit, "image/png", CALLER)
    inference.predict(PROJECT, small, "image/jpeg", CALLER)
    _batch_run(batch, objects, orjson.dumps({"image": base64.b64encode(digit).decode()}), "warm")
    body = Path(path).read_bytes()
    baseline = _reset_peak()
    cpu, wall = time.process_time(), time.perf_counter()
    refused = False
    try:
        if case.content_type == "batch":
            outcome = _batch_run(batch, objects, body, name)
        else:
            result = inference.predict(PROJECT, body, case.content_type, CALLER)
            outcome = f"{len(result.predictions)} predicted"
    except SagewireError as error:
        refused, outcome = True, f"{error.code}: {error.message}"
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    extra = (_status_kib("VmHWM") - baseline) / 1024
    print(
        json.dumps({"outcome": outcome, "refused": refused, "cpu": cpu, "wall": wall, "mib": extra})
    )


@dataclass(frozen=True)
class Measured:
    outcome: str
    refused: bool
    cpu: float
    wall: float
    mib: float


def _measure(name: str, mode: str, path: Path) -> Measured:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, name, mode, str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        return Measured(f"crashed: {done.stderr.strip()[-200:]}", False, 0.0, 0.0, 0.0)
    return Measured(**json.loads(done.stdout.splitlines()[-1]))


def _goals(case: Case, after: Measured) -> tuple[Goal, ...]:
    if after.refused:
        return (
            Goal(
                f"refused ≤ {MAX_REFUSAL_SECONDS * 1000:.0f} ms", after.wall <= MAX_REFUSAL_SECONDS
            ),
        )
    memory = Goal(f"≤ {MAX_EXTRA_MIB} MiB above baseline", after.mib <= MAX_EXTRA_MIB)
    if case.content_type == "batch":
        return (memory,)  # An event, not an API request: its CPU is bounded by its budget.
    return (Goal(f"≤ {MAX_CPU_SECONDS:g} s CPU", after.cpu <= MAX_CPU_SECONDS), memory)


def _ratio(before: float, after: float, floor: float) -> str:
    """How many times less the budgets cost; "-" when the cost is under ``floor`` either way."""
    return f"{before / after:,.0f}x" if min(before, after) >= floor else "-"


def _table(measured: list[tuple[Case, Measured, Measured]]) -> None:
    """Budgets off against on: CPU, peak memory over the baseline, and the outcome."""
    header = ("case", "CPU off -> on", "ratio", "MiB off -> on", "ratio", "on: outcome")
    rows = [header]
    for case, before, after in measured:
        outcome = f"refused in {after.wall * 1000:.1f} ms" if after.refused else after.outcome
        rows.append(
            (
                case.text,
                f"{before.cpu:.2f} s -> {after.cpu:.3f} s",
                _ratio(before.cpu, after.cpu, 0.001),
                f"{before.mib:,.0f} -> {after.mib:,.0f}",
                _ratio(before.mib, after.mib, 1),
                outcome,
            )
        )
    widths = [max(len(row[column]) for row in rows) for column in range(len(header))]
    for row in rows:
        print("  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def run() -> list[Outcome]:
    print(f"{NAME}: each case in a fresh process; budgets off (before) and as deployed (after)")
    measured = []
    with tempfile.TemporaryDirectory() as folder:
        for name, case in CASES.items():
            path = Path(folder, name)
            path.write_bytes(case.body())
            before, after = (_measure(name, mode, path) for mode in ("before", "after"))
            print(f"  {case.text}, {path.stat().st_size / 1024:,.0f} KiB")
            for label, side in (("before", before), ("after", after)):
                print(f"    {label}: {side.outcome[:160]}")
            measured.append((case, before, after))
    _table(measured)
    outcomes: list[Outcome] = []
    for case, before, after in measured:
        crashed = before.outcome.startswith("crashed") or after.outcome.startswith("crashed")
        outcomes.append(Check(NAME, f"{case.text}: both sides ran", not crashed))
        if after.refused:
            named = "(SAGEWIRE_" in after.outcome or "the limit" in after.outcome
            outcomes.append(Check(NAME, f"{case.text}: the refusal names its limit", named))
        outcomes.append(
            Row(
                NAME,
                f"{case.text} (CPU; {before.mib:,.0f} -> {after.mib:,.0f} MiB)",
                Timing.of([max(1, int(after.cpu * 1e9))]),
                Timing.of([max(1, int(before.cpu * 1e9))]),
                _goals(case, after),
            )
        )
    for outcome in outcomes:
        if isinstance(outcome, Row):
            print(
                f"  {outcome.case}: "
                + ", ".join(
                    f"{goal.text}: {'met' if goal.met else 'MISSED'}" for goal in outcome.goals
                )
            )
    return outcomes
