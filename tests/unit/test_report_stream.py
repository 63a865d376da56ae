"""Streamed reports: the bytes the in-memory renderers wrote, pieces in any size, runs merged."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.processing.report_text import JsonArray
from chalicelib.records import Run
from chalicelib.services.report_spill import RunSpill, Section
from tests.fakes import EPOCH, FakeProjects
from tests.report_world import BUCKET, ReportWorld, run, trained_world

FIXTURES = Path(__file__).parents[1] / "fixtures" / "reports"
DAY = EPOCH + timedelta(hours=6)


def _second_day() -> tuple[ReportWorld, tuple[str, ...]]:
    """The scenario of tests/fixtures/reports (written by the renderers that held the whole
    report, at 86c4bb9): a day's report, a formula-named run, a new champion not yet serving
    (drift), the next day's report."""
    world = trained_world()
    world.reports.write(DAY - timedelta(days=1))
    world.train(run("=HYPERLINK(1)", 0.5, 10))
    world.train(run("ll-batch-400", 0.05, 400), settle=False)
    return world, world.reports.write(DAY).dated


@pytest.mark.parametrize(
    "name", ["lineage.json", "lineage.html", "lineage.csv", "openlineage.jsonl"]
)
def test_streamed_bodies_are_the_in_memory_renderers_bytes(name: str) -> None:
    world, dated = _second_day()
    [key] = [key for key in dated if key.endswith(name)]
    assert world.objects.objects[BUCKET, key][0] == (FIXTURES / name).read_bytes()


def test_a_report_without_projects_has_empty_arrays() -> None:
    world = ReportWorld(projects=FakeProjects())
    world.reports.write(DAY)
    document = orjson.loads(world.objects.objects[BUCKET, "reports/latest.json"][0])
    assert document["projects"] == []
    assert document["runs"] == []


@given(
    st.lists(
        st.dictionaries(
            st.text(max_size=5),
            st.integers(-(2**53), 2**53) | st.text() | st.lists(st.text(max_size=3)),
        )
    )
)
def test_a_json_array_streamed_is_orjsons_indented_array(items: list[dict[str, object]]) -> None:
    out = bytearray()
    array = JsonArray(out.extend)
    for item in items:
        array.add(item)
    array.close()
    expected = orjson.dumps({"a": items}, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)
    assert b'{\n  "a": ' + bytes(out) + b"\n}" == expected


@given(st.lists(st.lists(st.sampled_from("abcdefgh"), unique=True), max_size=6))
def test_spilled_runs_come_back_once_each_by_name(chunks: list[list[str]]) -> None:
    spill = RunSpill()
    try:
        for index, names in enumerate(chunks):
            spill.add([_tagged(name, index) for name in names])
        merged = list(spill.merged())
    finally:
        spill.close()
    expected = sorted({name for names in chunks for name in names})
    assert [r.name for r in merged] == expected
    # A run in several chunks comes back as the last chunk (project) held it.
    for found in merged:
        last = max(i for i, names in enumerate(chunks) if found.name in names)
        assert found.tags == {"chunk": str(last)}


def _tagged(name: str, chunk: int) -> Run:
    return Run(**{**vars(run(name, 0.1, 10)), "tags": {"chunk": str(chunk)}})


def test_a_section_reads_back_in_order() -> None:
    section = Section()
    for line in (b"one\n", b"two\n"):
        section.write(line)
    assert section.size == 8
    assert list(section.lines()) == [b"one\n", b"two\n"]
    out = bytearray()

    class Sink:
        def write(self, data: bytes) -> None:
            out.extend(data)

    section.copy_to(Sink())
    section.close()
    assert bytes(out) == b"one\ntwo\n"
