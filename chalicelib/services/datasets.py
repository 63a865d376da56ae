"""Dataset versions: one record per S3 object version created under the datasets prefix."""

from __future__ import annotations

from chalicelib.records import DatasetVersion, ObjectCreated
from chalicelib.services.ports import DatasetStore


class DatasetService:
    def __init__(self, store: DatasetStore) -> None:
        self._store = store

    def record(self, change: ObjectCreated) -> bool:
        """Records the object's version (ETag, VersionId, size, sequencer); False if known."""
        return self._store.put_version(
            DatasetVersion(
                uri=change.uri,
                etag=change.etag,
                size=change.size,
                last_modified_at=change.time,
                version_id=change.version_id,
                sequencer=change.sequencer,
            )
        )
