"""What the devstack, deploy and ops command lines share: exit codes, help layout, errors, JSON."""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from typing import Any

OK = 0
FAILED = 1
USAGE = 2  # argparse's own: a command line it cannot parse; the tools never return it themselves
USER_ERROR = 3
UNAVAILABLE = 4

EXIT_CODES = f"""\
exit codes:
  {OK}  done
  {FAILED}  it ran and something failed: a training or tuning job, an event handler, a check,
     a replay that left messages in the queue
  {USAGE}  usage error: an unknown command, flag or value (argparse)
  {USER_ERROR}  it cannot run as given: an unknown stage, no running stack, a missing or
     unreadable file, a request the local stack or AWS refused
  {UNAVAILABLE}  the local stack or AWS could not be reached (connection, credentials, timeout)"""

_WIDTH = 78


def _formatted(description: str) -> str:
    """Each paragraph wrapped: RawDescriptionHelpFormatter keeps the epilog's layout as is."""
    return "\n\n".join(
        textwrap.fill(" ".join(p.split()), _WIDTH) for p in description.split("\n\n")
    )


def _epilog(examples: tuple[str, ...]) -> str:
    lines = "\n".join(f"  {example}" for example in examples)
    return f"example{'s' if len(examples) > 1 else ''}:\n{lines}\n\n{EXIT_CODES}"


def parser(prog: str, description: str, *examples: str) -> argparse.ArgumentParser:
    """A tool's top-level parser: its description, examples and the exit codes in `--help`."""
    return argparse.ArgumentParser(
        prog=prog,
        description=_formatted(description),
        epilog=_epilog(examples),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def subcommand(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    summary: str,
    description: str,
    *examples: str,
) -> argparse.ArgumentParser:
    """A subcommand with a one-line summary (the tool's `--help`) and its own full help."""
    return commands.add_parser(
        name,
        help=summary,
        description=_formatted(description),
        epilog=_epilog(examples),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def fail(tool: str, message: object, status: int = USER_ERROR) -> int:
    """Says why on stderr as `tool: message`; the status to exit with."""
    print(f"{tool}: {message}", file=sys.stderr)
    return status


def print_json(data: Any) -> None:
    print(json.dumps(data, indent=2))
