"""Project vocabularies read from S3, parsed once and kept per function for a bounded time."""

from __future__ import annotations

import time
from collections.abc import Callable

from chalicelib.errors import InputTooLarge, InvalidVocabulary, NotFound
from chalicelib.processing.text import Vocabulary, parse_vocabulary
from chalicelib.services.ports import ObjectStore

# A 100,000-word word_dict.json is about 2 MB.
MAX_VOCABULARY_BYTES = 16 * 1024 * 1024


class Vocabularies:
    """`get` answers from memory for `max_age_seconds` after reading a vocabulary; then one HEAD
    tells whether its ETag changed, and only a changed object is read and parsed again.

    `objects` builds the object store on the first read, so that a function serving projects
    without a vocabulary never builds an S3 client (a cold start's largest avoidable cost)."""

    def __init__(
        self,
        objects: Callable[[], ObjectStore],
        max_age_seconds: float,
        clock: Callable[[], float] = time.monotonic,
        max_entries: int = 16,
    ) -> None:
        self._objects = objects
        self._max_age = max_age_seconds
        self._clock = clock
        self._max_entries = max_entries
        self._entries: dict[str, tuple[Vocabulary, float]] = {}

    def get(self, uri: str, fresh: bool = False) -> Vocabulary:
        """The vocabulary at an `s3://` URI (with `fresh`, as S3 holds it now); InvalidVocabulary
        if it cannot serve."""
        now = self._clock()
        entry = self._entries.get(uri)
        if entry is not None and not fresh and now - entry[1] < self._max_age:
            return entry[0]
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        try:
            if entry is not None:
                head = self._objects().head(bucket, key)
                if head is not None and head.etag == entry[0].etag:
                    self._remember(uri, entry[0], now)
                    return entry[0]
            stored = self._objects().get(bucket, key, MAX_VOCABULARY_BYTES)
        except NotFound:
            raise InvalidVocabulary(
                f"the vocabulary {uri} does not exist or is not readable"
            ) from None
        except InputTooLarge:
            raise InvalidVocabulary(
                f"the vocabulary {uri} is over the limit of {MAX_VOCABULARY_BYTES} bytes"
            ) from None
        vocabulary = parse_vocabulary(stored.body or b"", uri, stored.etag)
        self._remember(uri, vocabulary, now)
        return vocabulary

    def _remember(self, uri: str, vocabulary: Vocabulary, now: float) -> None:
        self._entries.pop(uri, None)
        if len(self._entries) >= self._max_entries:
            del self._entries[next(iter(self._entries))]
        self._entries[uri] = (vocabulary, now)
