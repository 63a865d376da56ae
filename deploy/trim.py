"""What the functions never import, left out of the package: the dependencies' own test suites."""

from __future__ import annotations

import re
import shutil
import zipfile
from pathlib import Path

# A dependency's test suite: a `tests` package or a pytest conftest.py, anywhere below it.
_TEST_PATH = re.compile(r"(^|/)(tests/|conftest\.py$)")
# An import of such a package by a module that stays.
_TEST_IMPORT = re.compile(r"^\s*(?:from|import)\s+(?:[\w.]*\btests\b|\.+tests\b)", re.M)


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


def check_trimmed(zip_path: Path, app_dirs: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """No dependency's test suite is in the zip, and no module that is imports one.
    Returns (checked, violations) sentences."""
    with zipfile.ZipFile(zip_path) as archive:
        names = [name for name in archive.namelist() if not name.startswith(app_dirs)]
        suites = sorted({_TEST_PATH.split(name)[0] for name in names if _TEST_PATH.search(name)})
        importers = [
            name
            for name in names
            if name.endswith(".py")
            and _TEST_IMPORT.search(archive.read(name).decode("utf-8", "replace"))
        ]
    violations = []
    if suites:
        violations.append(f"trim: test suites left in the package: {', '.join(suites[:5])}")
    if importers:
        violations.append(f"trim: modules import a removed test suite: {', '.join(importers[:5])}")
    checked = [] if violations else ["trim: no dependency's tests in the package, none imported"]
    return checked, violations
