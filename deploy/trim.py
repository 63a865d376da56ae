"""What the functions never import, left out of the package: the dependencies' test suites, NLTK's
unused dependencies, and the X-Ray SDK of a stage that does not trace."""

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


# NLTK's dependencies that its Porter stemmer never loads: joblib (with its cloudpickle) and tqdm
# are imported only inside nltk.util.parallelize, click and tqdm only by nltk/cli.py, the module of
# the `nltk` console script, which goes with them (pip's bin/ is left out already).
NLTK_UNUSED = ("joblib", "cloudpickle", "click", "tqdm")
_NLTK_CLI = "nltk/cli.py"
_NLTK_UNUSED_IMPORT = re.compile(
    r"^([ \t]*)(?:from|import)\s+(?:joblib|cloudpickle|click|tqdm)\b", re.M
)
# Where they may still be named: inside a function (indented), never at a module's top level.
_NLTK_FUNCTION_IMPORTERS = ("nltk/util.py",)


def _of(name: str, packages: tuple[str, ...]) -> bool:
    """Whether a zip entry belongs to one of `packages` (the package or its dist-info)."""
    top = name.split("/", 1)[0]
    return top in packages or (
        top.endswith(".dist-info") and top.removesuffix(".dist-info").rsplit("-", 1)[0] in packages
    )


def _tracing_only(name: str) -> bool:
    return _of(name, TRACING_ONLY)


def _nltk_unused(name: str) -> bool:
    return name == _NLTK_CLI or _of(name, NLTK_UNUSED)


def drop_unused(zip_path: Path, tracing: bool) -> int:
    """Rewrites the zip without NLTK's unused dependencies and, when the stage does not trace,
    without the X-Ray SDK and wrapt; returns how many entries went."""
    kept = zip_path.with_suffix(".trimmed.zip")
    dropped = 0
    with zipfile.ZipFile(zip_path) as source, zipfile.ZipFile(kept, "w") as target:
        for entry in source.infolist():
            if _nltk_unused(entry.filename) or (not tracing and _tracing_only(entry.filename)):
                dropped += 1
            else:
                target.writestr(entry, source.read(entry), compress_type=entry.compress_type)
    kept.replace(zip_path)
    return dropped


def _imports_nltk_unused(name: str, text: str) -> bool:
    """Whether a module imports one of NLTK_UNUSED where a served request could reach it."""
    indents = [match[1] for match in _NLTK_UNUSED_IMPORT.finditer(text)]
    if name in _NLTK_FUNCTION_IMPORTERS:
        return "" in indents
    return bool(indents)


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
    """No dependency's test suite is in the zip, and no module that is imports one; no NLTK
    dependency its stemmer never loads, and none imported at a module's top level; without
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
        unused = sorted(
            {
                name if name == _NLTK_CLI else name.split("/", 1)[0]
                for name in names
                if _nltk_unused(name)
            }
        )
        nltk_importers = [
            name
            for name, text in sources.items()
            if not _nltk_unused(name) and _imports_nltk_unused(name, text)
        ]
    violations = []
    if not tracing and left:
        violations.append(f"trim: the stage does not trace, yet the package has {', '.join(left)}")
    if not tracing and tracers:
        violations.append(f"trim: modules import the X-Ray SDK or wrapt: {', '.join(tracers[:5])}")
    if unused:
        violations.append(
            f"trim: NLTK's unused dependencies are in the package: {', '.join(unused)}"
        )
    if nltk_importers:
        violations.append(
            "trim: modules import joblib, cloudpickle, click or tqdm: "
            + ", ".join(nltk_importers[:5])
        )
    if suites:
        violations.append(f"trim: test suites left in the package: {', '.join(suites[:5])}")
    if importers:
        violations.append(f"trim: modules import a removed test suite: {', '.join(importers[:5])}")
    checked = (
        []
        if violations
        else [
            "trim: no dependency's tests in the package, none imported",
            "trim: no joblib, cloudpickle, click or tqdm (NLTK's stemmer never loads them), "
            "imported only inside nltk.util's functions",
        ]
    )
    if not violations and not tracing:
        checked.append("trim: no X-Ray SDK or wrapt (the stage does not trace), none imported")
    return checked, violations
