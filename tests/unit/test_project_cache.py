"""Definitions for predictions from memory: fresh for a bound, forgotten by writes, bounded."""

from __future__ import annotations

from dataclasses import replace

from chalicelib.definitions import parse_project
from chalicelib.models import Access, Project
from chalicelib.services.project_cache import CachedProjectStore
from tests.factories import project_document
from tests.fakes import FakeProjects

MAX_AGE = 5.0


class CountingProjects(FakeProjects):
    """The table: counts the reads a prediction would make."""

    def __init__(self, *projects: Project) -> None:
        super().__init__(*projects)
        self.reads = 0

    def get(self, name: str) -> Project | None:
        self.reads += 1
        return super().get(name)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _project(name: str = "digits-zero") -> Project:
    return parse_project(project_document(name), name)


def test_a_definition_is_read_once_while_fresh_then_again() -> None:
    table, clock = CountingProjects(_project()), Clock()
    cache = CachedProjectStore(table, MAX_AGE, clock=clock)

    first = cache.get("digits-zero")
    clock.now = MAX_AGE - 0.01
    assert cache.get("digits-zero") is first
    assert table.reads == 1
    clock.now = MAX_AGE
    assert cache.get("digits-zero") == first
    assert table.reads == 2


def test_another_containers_change_is_seen_within_the_bound() -> None:
    table, clock = CountingProjects(_project()), Clock()
    cache = CachedProjectStore(table, MAX_AGE, clock=clock)
    assert cache.get("digits-zero") is not None
    revoked = replace(_project(), access=Access(groups=("nobody",)))
    table.put(revoked)  # another container's write, behind this one's back

    assert cache.get("digits-zero") != revoked
    clock.now = MAX_AGE
    assert cache.get("digits-zero") == revoked


def test_writes_through_the_cache_are_seen_at_once() -> None:
    table, clock = CountingProjects(_project()), Clock()
    cache = CachedProjectStore(table, MAX_AGE, clock=clock)
    cache.get("digits-zero")
    changed = replace(_project(), access=Access(groups=("team",)))

    cache.put(changed)
    assert cache.get("digits-zero") == changed
    cache.delete("digits-zero")
    assert cache.get("digits-zero") is None
    assert table.reads == 3


def test_an_absent_project_is_remembered_too_and_a_consistent_read_refreshes() -> None:
    table, clock = CountingProjects(), Clock()
    cache = CachedProjectStore(table, MAX_AGE, clock=clock)
    assert cache.get("later") is None
    table.put(_project("later"))
    assert cache.get("later") is None  # within the bound: still absent here
    found = cache.versioned("later")  # what every write through this container reads first
    assert found is not None
    assert cache.get("later") == found[0]
    assert table.reads == 1


def test_the_cache_holds_at_most_its_entries_and_zero_turns_it_off() -> None:
    names = [f"p{i}" for i in range(4)]
    table, clock = CountingProjects(*(_project(name) for name in names)), Clock()
    cache = CachedProjectStore(table, MAX_AGE, clock=clock, max_entries=3)
    for name in names:
        cache.get(name)
    cache.get("p1")  # the least recently read, p0, made room for p3
    assert table.reads == 4
    cache.get("p0")
    assert table.reads == 5

    off = CachedProjectStore(table, 0, clock=clock)
    off.get("p0")
    off.get("p0")
    assert table.reads == 7
