"""The Makefile: every declared target has a recipe or prerequisites and a line in `make help`."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MAKEFILE = (ROOT / "Makefile").read_text()

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def _phony() -> list[str]:
    line = next(line for line in MAKEFILE.splitlines() if line.startswith(".PHONY:"))
    return line.removeprefix(".PHONY:").split()


def _make(*arguments: str) -> str:
    done = subprocess.run(
        ["make", "--no-print-directory", "-C", str(ROOT), *arguments],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return done.stdout


def test_help_lists_every_declared_target_with_what_it_does() -> None:
    listed: dict[str, str] = {}
    for line in _make("-s", "help").splitlines():
        match = re.fullmatch(r"  make (\S+)\s+(.+)", line)
        assert match is not None, line
        listed[match[1]] = match[2]
    assert sorted(listed) == sorted(_phony())
    assert all(text.strip() for text in listed.values())


@pytest.mark.parametrize("target", ["unit", "lint", "typecheck", "demo", "serve", "package"])
def test_a_declared_target_runs_a_command(target: str) -> None:
    # `-n` prints the commands without running them: an empty recipe prints none of sagewire's.
    commands = _make("-n", target).splitlines()
    assert any(".venv/bin/" in command for command in commands), commands


def test_setup_installs_the_sagewire_command_into_the_environment() -> None:
    # -B: as if the environment were out of date; -n: printed, not run.
    commands = _make("-n", "-B", "setup").splitlines()
    assert ".venv/bin/python -m pip install --quiet --no-deps --editable ." in commands
