"""Run imports: a project's existing training jobs found through SageMaker Search, as values."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from chalicelib.models import Run, document

ImportStatus = Literal["running", "completed", "failed"]
IMPORT_SOURCE = "sagewire"
IMPORT_REQUESTED = "Run Import Requested"
# The same machinery continues a leaderboard re-index (services/boards.py).
REINDEX_REQUESTED = "Leaderboard Reindex Requested"


@dataclass(frozen=True)
class SearchCursor:
    """Where an import continues: Search's NextToken, issued for the query of runs created at
    or after `since`; `last_created`, the creation time of the last run seen, is where a new
    query starts when SageMaker no longer accepts the token (a few runs are seen twice)."""

    next_token: str | None = None
    since: datetime | None = None
    last_created: datetime | None = None


@dataclass(frozen=True)
class SearchPage:
    """One page of Search: the runs it returned, and where the next page starts (None: last)."""

    runs: tuple[Run, ...]
    cursor: SearchCursor | None


@dataclass(frozen=True)
class RunImport:
    """One import of a project's existing runs; `pages` grows by one with every saved page and
    is the version each save is conditional on."""

    project: str
    import_id: str
    status: ImportStatus
    cause: str
    promote: bool
    started_at: datetime
    updated_at: datetime
    cursor: SearchCursor = field(default_factory=SearchCursor)
    pages: int = 0
    seen: int = 0
    recorded: int = 0
    already_recorded: int = 0
    skipped: int = 0
    best_run: str | None = None
    best_value: float | None = None
    champion: str | None = None
    promotion_id: str | None = None
    message: str | None = None
    finished_at: datetime | None = None


def progress(run_import: RunImport) -> dict[str, Any]:
    """An import as the API shows it: its progress and outcome, not Search's page token."""
    shown: dict[str, Any] = document(run_import)
    shown.pop("cursor")
    return shown
