"""The code's layout holds: small modules, each named in docs/architecture.md."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "architecture.md").read_text()
MAX_MODULE_LINES = 400


def test_every_module_is_named() -> None:
    modules = {
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / "chalicelib").rglob("*.py")
        if path.name != "__init__.py"
    }
    missing = sorted(module for module in modules if f"`{module}`" not in DOC)
    assert not missing, f"name these in docs/architecture.md: {missing}"


def test_every_module_named_exists() -> None:
    named = set(re.findall(r"`(chalicelib/[\w/]+\.py)`", DOC))
    gone = sorted(module for module in named if not (ROOT / module).exists())
    assert not gone, f"docs/architecture.md names modules that no longer exist: {gone}"


def test_no_module_is_over_400_lines() -> None:
    sizes = {
        path.relative_to(ROOT).as_posix(): len(path.read_text().splitlines())
        for path in (ROOT / "chalicelib").rglob("*.py")
    }
    large = {module: lines for module, lines in sizes.items() if lines > MAX_MODULE_LINES}
    assert not large, f"split these by responsibility: {large}"
