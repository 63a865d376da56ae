"""Vocabularies: read once, kept for a bounded time, re-read only when their ETag changed."""

from __future__ import annotations

import pytest

from chalicelib.errors import InvalidVocabulary
from chalicelib.records import StoredObject
from chalicelib.services.vocabularies import MAX_VOCABULARY_BYTES, Vocabularies
from tests.fakes import FakeObjects

URI = "s3://sagewire/vocabularies/word_dict.json"


class CountingObjects(FakeObjects):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    def get(self, bucket: str, key: str, max_bytes: int) -> StoredObject:
        calls = len(self.calls)
        stored = super().get(bucket, key, max_bytes)
        del self.calls[calls:]  # FakeObjects.get reads through head
        self.calls.append("get")
        return stored

    def head(self, bucket: str, key: str) -> StoredObject | None:
        self.calls.append("head")
        return super().head(bucket, key)


@pytest.fixture
def objects() -> CountingObjects:
    store = CountingObjects()
    store.put("sagewire", "vocabularies/word_dict.json", b'{"good": 0, "bad": 1}', "x")
    return store


def test_a_vocabulary_is_read_once_then_answered_from_memory(objects: CountingObjects) -> None:
    now = [0.0]
    vocabularies = Vocabularies(lambda: objects, 300, clock=lambda: now[0])
    first = vocabularies.get(URI)
    now[0] = 299
    assert vocabularies.get(URI) is first
    assert objects.calls == ["get"]
    assert first.indices == {"good": 0, "bad": 1}
    assert first.size == 2
    stored = objects.get("sagewire", "vocabularies/word_dict.json", 100)
    assert first.etag == stored.etag


def test_after_its_age_an_unchanged_vocabulary_costs_one_head(objects: CountingObjects) -> None:
    now = [0.0]
    vocabularies = Vocabularies(lambda: objects, 300, clock=lambda: now[0])
    first = vocabularies.get(URI)
    now[0] = 301
    assert vocabularies.get(URI) is first
    now[0] = 500
    assert vocabularies.get(URI) is first
    assert objects.calls == ["get", "head"]


def test_a_changed_vocabulary_is_read_again(objects: CountingObjects) -> None:
    now = [0.0]
    vocabularies = Vocabularies(lambda: objects, 300, clock=lambda: now[0])
    vocabularies.get(URI)
    objects.put("sagewire", "vocabularies/word_dict.json", b'{"great": 4}', "x")
    assert vocabularies.get(URI).size == 2
    now[0] = 301
    assert vocabularies.get(URI).indices == {"great": 4}
    assert objects.calls == ["get", "head", "get"]


def test_fresh_reads_what_s3_holds_now(objects: CountingObjects) -> None:
    vocabularies = Vocabularies(lambda: objects, 300, clock=lambda: 0.0)
    vocabularies.get(URI)
    objects.put("sagewire", "vocabularies/word_dict.json", b'{"great": 4}', "x")
    assert vocabularies.get(URI, fresh=True).indices == {"great": 4}
    assert vocabularies.get(URI).indices == {"great": 4}


def test_a_missing_or_oversized_vocabulary_cannot_serve(objects: CountingObjects) -> None:
    vocabularies = Vocabularies(lambda: objects, 300)
    with pytest.raises(InvalidVocabulary, match="does not exist"):
        vocabularies.get("s3://sagewire/vocabularies/absent.json")
    objects.put("sagewire", "vocabularies/big.json", b" " * (MAX_VOCABULARY_BYTES + 1), "x")
    with pytest.raises(InvalidVocabulary, match="over the limit"):
        vocabularies.get("s3://sagewire/vocabularies/big.json")


def test_only_a_few_vocabularies_are_kept(objects: CountingObjects) -> None:
    vocabularies = Vocabularies(lambda: objects, 300, clock=lambda: 0.0, max_entries=2)
    for name in "abc":
        objects.put("sagewire", f"vocabularies/{name}.json", b'{"w": 0}', "x")
        vocabularies.get(f"s3://sagewire/vocabularies/{name}.json")
    objects.calls.clear()
    vocabularies.get("s3://sagewire/vocabularies/a.json")
    vocabularies.get("s3://sagewire/vocabularies/c.json")
    assert objects.calls == ["get"]


def test_the_object_store_is_built_on_the_first_read_only(objects: CountingObjects) -> None:
    built: list[CountingObjects] = []

    def build() -> CountingObjects:
        built.append(objects)
        return objects

    vocabularies = Vocabularies(build, 300, clock=lambda: 0.0)
    assert not built  # a function whose projects have no vocabulary never builds an S3 client
    vocabularies.get(URI)
    assert built
