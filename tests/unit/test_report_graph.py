"""The lineage graph: columns per kind, the serving path marked, names escaped in the SVG."""

from __future__ import annotations

import re
from typing import Any

from chalicelib.models import document
from chalicelib.processing.report_graph import KINDS, graph_svg, label_lines, lineage_graph
from chalicelib.records import Champion
from chalicelib.services.lineage_values import (
    ChannelLineage,
    EndpointLineage,
    ModelLineage,
    TrainingLineage,
    VariantLineage,
)
from tests.fakes import EPOCH
from tests.report_world import HOSTILE, run


def _chain(variants: list[tuple[str, float, str]], pending: str | None = None) -> dict[str, Any]:
    """An endpoint lineage document: (variant, traffic share, run) each with its own model."""
    lineage = EndpointLineage(
        endpoint="ep",
        status="InService",
        config_name="ep-config",
        pending_config_name=pending,
        project="p",
        variants=tuple(
            VariantLineage(
                name,
                share,
                share,
                ModelLineage(
                    f"model-{run_name}",
                    None,
                    None,
                    run_name,
                    "ledger",
                    TrainingLineage(
                        run(run_name, 0.1, 10),
                        tuple(
                            ChannelLineage(c.name, c.s3_uri, "unversioned")
                            for c in run(run_name, 0.1, 10).channels
                        ),
                        (),
                    ),
                ),
            )
            for name, share, run_name in variants
        ),
        inference=None,
    )
    result: dict[str, Any] = document(lineage)
    return result


def _champion(run_name: str, config: str) -> Champion:
    return Champion("p", run_name, 0.1, 1, f"model-{run_name}", config, "promo", EPOCH)


def test_a_known_chain_becomes_columns_of_nodes_and_edges() -> None:
    graph = lineage_graph(_chain([("AllTraffic", 1.0, "r1")]), _champion("r1", "ep-config"))
    assert [(n.kind, n.label, n.column) for n in graph.nodes] == [
        ("endpoint", "ep", 0),
        ("endpoint config", "ep-config", 1),
        ("variant", "AllTraffic", 2),
        ("model", "model-r1", 3),
        ("run", "r1", 4),
        ("dataset", "s3://sagewire-data/digits/train/", 5),
        ("dataset", "s3://sagewire-data/digits/validation/data.csv", 5),
    ]
    assert [n.row for n in graph.nodes if n.kind == "dataset"] == [0, 1]
    assert len(graph.edges) == 6
    assert all(n.serving for n in graph.nodes)
    assert all(e.serving for e in graph.edges)
    assert KINDS[0] == "endpoint"


def test_only_variants_with_traffic_are_on_the_serving_path() -> None:
    graph = lineage_graph(
        _chain([("A", 1.0, "r1"), ("B", 0.0, "r2")], pending="ep-next"),
        _champion("r3", "ep-champion"),
        {"r3": ["s3://sagewire-data/digits/train/"]},
    )
    serving = {n.label for n in graph.nodes if n.serving}
    idle = {n.label for n in graph.nodes if not n.serving}
    assert {"ep", "ep-config", "A", "model-r1", "r1"} <= serving
    # A dataset read by a serving run is on the serving path even when others reach it too.
    assert "s3://sagewire-data/digits/train/" in serving
    assert idle == {"B", "model-r2", "r2", "ep-next", "ep-champion", "model-r3", "r3"}
    notes = {n.label: n.note for n in graph.nodes}
    assert notes["ep-next"] == "pending"
    assert notes["ep-champion"] == "champion's"
    assert ("endpoint:ep", "endpoint config:ep-champion") in {
        (e.source, e.target) for e in graph.edges if not e.serving
    }


def test_no_lineage_is_an_empty_graph_and_a_sentence() -> None:
    graph = lineage_graph(None, None)
    assert graph.nodes == ()
    assert "No lineage" in graph_svg(graph, "lineage")


def test_the_svg_draws_every_node_and_edge_and_escapes_names() -> None:
    chain = _chain([(HOSTILE, 1.0, HOSTILE)])
    graph = lineage_graph(chain, None)
    svg = graph_svg(graph, f"lineage of {HOSTILE}")
    assert svg.count('<g class="node') == len(graph.nodes)
    assert svg.count('<path class="edge') == len(graph.edges)
    assert svg.count('class="edge serving"') == len(graph.edges)
    assert "<script>" not in svg
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in svg
    # Every box sits inside the viewBox: the layout is deterministic, columns by kind.
    [(width, height)] = re.findall(r'viewBox="0 0 (\d+) (\d+)"', svg)
    for x, y in re.findall(r'<rect x="(\d+)" y="(\d+)"', svg):
        assert int(x) < int(width)
        assert int(y) < int(height)
    assert graph_svg(lineage_graph(chain, None), "lineage") == graph_svg(graph, "lineage")


def test_long_names_take_two_lines_broken_after_a_separator() -> None:
    assert label_lines("digits-backup") == ["digits-backup"]
    assert label_lines("digits-backup-ll-batch-200-5b7b63c9") == [
        "digits-backup-ll-batch-",
        "200-5b7b63c9",
    ]
    assert label_lines("s3://sagewire-data/digits/validation/data.csv") == [
        "s3://sagewire-data/digits/",
        "validation/data.csv",
    ]
    # No separator: a hard break; longer than two lines: an ellipsis at the end.
    assert label_lines("x" * 30) == ["x" * 26, "xxxx"]
    assert label_lines("a-" * 40) == ["a-" * 13, "a-" * 12 + "a…"]
    assert all(len(line) <= 26 for line in label_lines("abc/" * 30))


def test_each_node_names_itself_in_full_in_its_tooltip() -> None:
    name = "digits-backup-ll-batch-200-5b7b63c9-with-a-very-long-tail-beyond-two-lines"
    svg = graph_svg(lineage_graph(_chain([(name, 1.0, name)]), None), "lineage")
    assert f"<title>run: {name}</title>" in svg
    assert f"<title>model: model-{name}</title>" in svg
    assert "<tspan" in svg
    assert "…</tspan>" in svg
