"""What the functions never import, left out of the package: the dependencies' test suites, and
the X-Ray SDK of a stage that does not trace."""

from __future__ import annotations

import re
import shutil
import zipfile
from pathlib import Path

# A dependency's test suite: a `tests` package or a pytest conftest.py, anywhere below it.
_TEST_PATH = re.compile(r"(^|/)(tests/|conftest\.py$)")
# An import of such a package by a module that stays.
_TEST_IMPORT = re.compile(r"^\s*(?:from|import)\s+(?:[\w.]*\btests\b|\.+tests\b)", re.M)
# Only Powertools' Tracer imports the X-Ray SDK, and only the X-Ray SDK imports wrapt: a stage
# without SAGEWIRE_TRACING never loads either (tests/functional/test_tracing.py proves it).
TRACING_ONLY = ("aws_xray_sdk", "wrapt")
_TRACING_IMPORT = re.compile(r"^\s*(?:from|import)\s+(?:aws_xray_sdk|wrapt)\b", re.M)
# What may still name them: Powertools' tracing, which observability.py imports only to trace.
_TRACING_IMPORTERS = ("aws_lambda_powertools/tracing/",)


def _tracing_only(name: str) -> bool:
    top = name.split("/", 1)[0]
    return top in TRACING_ONLY or (
        top.endswith(".dist-info")
        and top.removesuffix(".dist-info").rsplit("-", 1)[0] in TRACING_ONLY
    )


def drop_tracing(zip_path: Path) -> int:
    """Rewrites the zip without the X-Ray SDK and wrapt; returns how many entries went."""
    kept = zip_path.with_suffix(".trimmed.zip")
    dropped = 0
    with zipfile.ZipFile(zip_path) as source, zipfile.ZipFile(kept, "w") as target:
        for entry in source.infolist():
            if _tracing_only(entry.filename):
                dropped += 1
            else:
                target.writestr(entry, source.read(entry), compress_type=entry.compress_type)
    kept.replace(zip_path)
    return dropped


def trim(vendor: Path) -> int:
    """Removes the test suites of the installed dependencies; returns how many files went."""
    suites = [path for path in vendor.rglob("tests") if path.is_dir()]
    removed = len({file for suite in suites for file in suite.rglob("*") if file.is_file()})
    for suite in sorted(suites, reverse=True):  # a suite inside another goes first
        shutil.rmtree(suite)
    for conftest in list(vendor.rglob("conftest.py")):
        conftest.unlink()
        removed += 1
    # Each wheel's RECORD keeps listing what it installs, so the wheel checks still hold.
    for record in vendor.glob("*.dist-info/RECORD"):
        lines = record.read_text().splitlines(keepends=True)
        kept = [line for line in lines if not _TEST_PATH.search(line.split(",", 1)[0])]
        if len(kept) != len(lines):
            record.write_text("".join(kept))
    return removed


def check_trimmed(
    zip_path: Path, app_paths: tuple[str, ...], tracing: bool
) -> tuple[list[str], list[str]]:
    """No dependency's test suite is in the zip, and no module that is imports one; without
    tracing, no X-Ray SDK either. Returns (checked, violations) sentences."""
    with zipfile.ZipFile(zip_path) as archive:
        names = [name for name in archive.namelist() if not name.startswith(app_paths)]
        suites = sorted({_TEST_PATH.split(name)[0] for name in names if _TEST_PATH.search(name)})
        sources = {
            name: archive.read(name).decode("utf-8", "replace")
            for name in names
            if name.endswith(".py")
        }
        importers = [name for name, text in sources.items() if _TEST_IMPORT.search(text)]
        tracers = [
            name
            for name, text in sources.items()
            if not _tracing_only(name)
            and not name.startswith(_TRACING_IMPORTERS)
            and _TRACING_IMPORT.search(text)
        ]
        left = sorted({name.split("/", 1)[0] for name in names if _tracing_only(name)})
    violations = []
    if not tracing and left:
        violations.append(f"trim: the stage does not trace, yet the package has {', '.join(left)}")
    if not tracing and tracers:
        violations.append(f"trim: modules import the X-Ray SDK or wrapt: {', '.join(tracers[:5])}")
    if suites:
        violations.append(f"trim: test suites left in the package: {', '.join(suites[:5])}")
    if importers:
        violations.append(f"trim: modules import a removed test suite: {', '.join(importers[:5])}")
    checked = [] if violations else ["trim: no dependency's tests in the package, none imported"]
    if not violations and not tracing:
        checked.append("trim: no X-Ray SDK or wrapt (the stage does not trace), none imported")
    return checked, violations
