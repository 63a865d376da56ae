"""The sources and detail types of the events sagewire subscribes to by name, as constants."""

from __future__ import annotations

from typing import Final

# Kept apart from imports.py and registry.py: the event patterns need them when the app is
# imported, and a prediction's cold start should not load those modules' values.
IMPORT_SOURCE: Final = "sagewire"
IMPORT_REQUESTED: Final = "Run Import Requested"
# The same handler continues a leaderboard re-index (services/boards.py).
REINDEX_REQUESTED: Final = "Leaderboard Reindex Requested"
MODEL_PACKAGE_STATE_CHANGE: Final = "SageMaker Model Package State Change"
