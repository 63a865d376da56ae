"""A project's lineage as a graph laid out in columns (endpoint -> config -> variants -> model ->
run -> datasets) and drawn as inline SVG, the serving path highlighted."""

from __future__ import annotations

import html
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from chalicelib.records import Champion

KINDS = ("endpoint", "endpoint config", "variant", "model", "run", "dataset")
_BOX_W, _BOX_H, _GAP_X, _GAP_Y, _PAD = 184, 56, 28, 12, 8
_LABEL_CHARS, _LABEL_LINES = 26, 2


@dataclass(frozen=True)
class Node:
    key: str
    kind: str
    label: str
    serving: bool
    column: int
    row: int
    note: str = ""


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    serving: bool


@dataclass(frozen=True)
class Graph:
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]


class _Builder:
    """Nodes once each by (kind, name), in order of first sight per column; edges once each. A
    node or edge is serving as soon as one serving path reaches it."""

    def __init__(self) -> None:
        self.nodes: dict[str, Node] = {}
        self.edges: dict[tuple[str, str], Edge] = {}

    def node(self, kind: str, name: str, serving: bool, note: str = "") -> str:
        key = f"{kind}:{name}"
        found = self.nodes.get(key)
        if found is None:
            column = KINDS.index(kind)
            row = sum(1 for n in self.nodes.values() if n.column == column)
            self.nodes[key] = Node(key, kind, name, serving, column, row, note)
        elif serving and not found.serving:
            self.nodes[key] = Node(key, kind, name, True, found.column, found.row, found.note)
        return key

    def edge(self, source: str, target: str, serving: bool) -> None:
        found = self.edges.get((source, target))
        self.edges[source, target] = Edge(source, target, serving or bool(found and found.serving))

    def chain(self, keys: Sequence[str], serving: bool) -> None:
        for source, target in itertools.pairwise(keys):
            self.edge(source, target, serving)


def _training(model: Mapping[str, Any]) -> tuple[str | None, list[str]]:
    """The model's run name and the S3 URIs of its run's inputs, as the lineage chain has them."""
    training = model.get("training") or {}
    run = training.get("run") or {}
    name = run.get("name") or model.get("run_name")
    inputs = [str(i.get("s3_uri")) for i in training.get("inputs") or () if i.get("s3_uri")]
    return (None if name is None else str(name)), inputs


def lineage_graph(
    lineage: Mapping[str, Any] | None,
    champion: Champion | None,
    datasets: Mapping[str, Sequence[str]] | None = None,
) -> Graph:
    """The endpoint lineage chain (services/lineage_values.EndpointLineage as a document) as a
    graph; the champion's config, model and run join it when the endpoint does not serve them
    (drift). `datasets` holds the input URIs of runs the chain does not describe."""
    graph = _Builder()
    if lineage is None:
        return Graph((), ())
    endpoint = graph.node("endpoint", str(lineage.get("endpoint", "")), True)
    config_name = lineage.get("config_name")
    if config_name:
        config = graph.node("endpoint config", str(config_name), True, "serving")
        graph.edge(endpoint, config, True)
        for variant in lineage.get("variants") or ():
            share = float(variant.get("traffic_share") or 0.0)
            serving = share > 0
            model = variant.get("model") or {}
            keys = [
                config,
                graph.node("variant", str(variant.get("name")), serving, f"{share:.0%} traffic"),
                graph.node("model", str(model.get("name")), serving),
            ]
            run_name, inputs = _training(model)
            if run_name is not None:
                keys.append(graph.node("run", run_name, serving))
                inputs = inputs or list((datasets or {}).get(run_name, ()))
                for uri in inputs:
                    graph.edge(keys[-1], graph.node("dataset", uri, serving), serving)
            graph.chain(keys, serving)
    pending = lineage.get("pending_config_name")
    if pending:
        graph.edge(endpoint, graph.node("endpoint config", str(pending), False, "pending"), False)
    if champion is not None and champion.endpoint_config_name != config_name:
        keys = [
            endpoint,
            graph.node("endpoint config", champion.endpoint_config_name, False, "champion's"),
            graph.node("model", champion.model_name, False),
            graph.node("run", champion.run_name, False, "champion"),
        ]
        graph.chain(keys, False)
        for uri in (datasets or {}).get(champion.run_name, ()):
            graph.edge(keys[-1], graph.node("dataset", uri, False), False)
    return Graph(tuple(graph.nodes.values()), tuple(graph.edges.values()))


def _esc(value: object) -> str:
    return html.escape(str(value))


def label_lines(text: str, width: int = _LABEL_CHARS, lines: int = _LABEL_LINES) -> list[str]:
    """A name in at most `lines` lines of at most `width` characters, broken after the last `-`,
    `/`, `_`, `.` or `:` that fits (anywhere when none does); the last line ends in `…` when
    the name is longer still."""
    out: list[str] = []
    rest = text
    while len(rest) > width and len(out) < lines - 1:
        cut = max(rest.rfind(mark, 0, width) for mark in "-/_.:") + 1 or width
        out.append(rest[:cut])
        rest = rest[cut:]
    return [*out, rest if len(rest) <= width else f"{rest[: width - 1]}…"]


def _at(node: Node) -> tuple[int, int]:
    return _PAD + node.column * (_BOX_W + _GAP_X), _PAD + node.row * (_BOX_H + _GAP_Y)


def graph_svg(graph: Graph, title: str) -> str:
    """The graph as an inline SVG that scales with its viewBox; names in <title> in full."""
    if not graph.nodes:
        return '<p class="none">No lineage: the endpoint does not exist.</p>'
    columns = max(n.column for n in graph.nodes) + 1
    rows = max(n.row for n in graph.nodes) + 1
    width = 2 * _PAD + columns * _BOX_W + (columns - 1) * _GAP_X
    height = 2 * _PAD + rows * _BOX_H + (rows - 1) * _GAP_Y + 18
    where = {node.key: _at(node) for node in graph.nodes}
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="graph" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="{_esc(title)}">'
    ]
    # Non-serving edges first, so that the serving path is drawn over them.
    for edge in sorted(graph.edges, key=lambda e: e.serving):
        (x1, y1), (x2, y2) = where[edge.source], where[edge.target]
        x1, y1, y2 = x1 + _BOX_W, y1 + _BOX_H // 2, y2 + _BOX_H // 2
        bend = (x2 - x1) / 2
        kind = "edge serving" if edge.serving else "edge"
        parts.append(
            f'<path class="{kind}" d="M{x1} {y1} C{x1 + bend:.0f} {y1} {x2 - bend:.0f} {y2} '
            f'{x2} {y2}"/>'
        )
    for node in graph.nodes:
        x, y = where[node.key]
        kind = "node serving" if node.serving else "node"
        caption = node.kind + (f" · {node.note}" if node.note else "")
        label = "".join(
            f'<tspan x="{x + 8}" dy="{15 * (index > 0)}">{_esc(line)}</tspan>'
            for index, line in enumerate(label_lines(node.label))
        )
        parts.append(
            f'<g class="{kind}" data-kind="{_esc(node.kind)}"><title>{_esc(node.kind)}: '
            f"{_esc(node.label)}</title>"
            f'<rect x="{x}" y="{y}" width="{_BOX_W}" height="{_BOX_H}" rx="6"/>'
            f'<text x="{x + 8}" y="{y + 15}" class="kind">{_esc(caption)}</text>'
            f'<text x="{x + 8}" y="{y + 31}">{label}</text></g>'
        )
    parts.append(
        f'<text x="{_PAD}" y="{height - 4}" class="legend">Bold green: the path that serves '
        "traffic now; grey, dashed: not serving.</text></svg>"
    )
    return "".join(parts)
