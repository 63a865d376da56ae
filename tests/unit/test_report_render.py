"""Report renderings: JSON against its schema, self-contained escaped HTML, CSV, OpenLineage."""

from __future__ import annotations

import base64
import csv
import hashlib
import html
import io
import json
import re
import uuid
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest

from chalicelib.models import ReportKind
from chalicelib.processing.report_assets import (
    CONTENT_SECURITY_POLICY,
    CONTENT_SECURITY_POLICY_HEADER,
)
from chalicelib.processing.report_html import anchor
from chalicelib.processing.report_svg import charted_hyperparameters
from chalicelib.processing.report_values import RUN_EVENT_SCHEMA
from tests.fakes import EPOCH
from tests.report_world import HOSTILE, METRIC, ReportWorld, run, trained_world

SCHEMA = json.loads((Path(__file__).parents[2] / "docs" / "report-schema.json").read_text())
# How the report writes its JSON: keys sorted, two spaces of indent, a final newline.
_CANONICAL = orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2

# The OpenLineage 2-0-2 RunEvent's required structure, written from the spec by hand: no
# installable package ships OpenLineage.json (openlineage-python 1.54 has only generated classes,
# which tests/unit/test_openlineage_events.py holds every event to).
_FACETS = {
    "type": "object",
    "additionalProperties": {
        "type": "object",
        "required": ["_producer", "_schemaURL"],
        "properties": {
            "_producer": {"type": "string", "format": "uri"},
            "_schemaURL": {"type": "string", "format": "uri"},
        },
    },
}
_DATASET = {
    "type": "object",
    "required": ["namespace", "name"],
    "properties": {"namespace": {"type": "string"}, "name": {"type": "string"}, "facets": _FACETS},
}
RUN_EVENT = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["eventTime", "producer", "schemaURL", "run", "job"],
    "properties": {
        "eventType": {"enum": ["START", "RUNNING", "COMPLETE", "ABORT", "FAIL", "OTHER"]},
        "eventTime": {"type": "string", "format": "date-time"},
        "producer": {"type": "string", "format": "uri"},
        "schemaURL": {"type": "string", "format": "uri"},
        "run": {
            "type": "object",
            "required": ["runId"],
            "properties": {"runId": {"type": "string", "format": "uuid"}, "facets": _FACETS},
        },
        "job": {
            "type": "object",
            "required": ["namespace", "name"],
            "properties": {
                "namespace": {"type": "string"},
                "name": {"type": "string"},
                "facets": _FACETS,
            },
        },
        "inputs": {"type": "array", "items": _DATASET},
        "outputs": {"type": "array", "items": _DATASET},
    },
}


Bodies = dict[ReportKind, bytes]


def _bodies(world: ReportWorld) -> Bodies:
    world.reports.write(EPOCH)
    kinds: tuple[ReportKind, ...] = ("json", "html", "csv", "openlineage")
    return {kind: world.reports.latest(kind).body for kind in kinds}


@pytest.fixture(scope="module")
def report() -> Bodies:
    return _bodies(trained_world())


def _validator(schema: dict[str, Any]) -> jsonschema.protocols.Validator:
    checker = jsonschema.Draft202012Validator.FORMAT_CHECKER
    return jsonschema.Draft202012Validator(schema, format_checker=checker)


def test_the_schema_is_a_valid_json_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


def test_json_validates_against_the_documented_schema(report: Bodies) -> None:
    document = orjson.loads(report["json"])
    _validator(SCHEMA).validate(document)
    zero = next(p for p in document["projects"] if p["name"] == "digits-zero")
    assert [row["run"] for row in zero["leaderboard"]][:4] == [
        "ll-batch-200",
        "ll-batch-300",
        "ll-batch-100",
        HOSTILE,
    ]
    assert zero["leaderboard"][-1] == {"rank": None, "run": "ll-failed", "objective": None}
    assert zero["champion"]["run"] == "ll-batch-200"
    assert zero["lineage"]["endpoint"] == "digits-zero"


def test_json_is_canonical(report: Bodies) -> None:
    """The streamed document is byte for byte the one orjson writes of its parsed value."""
    canonical = orjson.dumps(orjson.loads(report["json"]), option=_CANONICAL) + b"\n"
    assert report["json"] == canonical
    assert report["json"].decode().startswith('{\n  "changes"')


def test_html_is_self_contained(report: Bodies) -> None:
    page = report["html"].decode()
    assert page.count('<section class="project"') == 2
    assert page.count('<h3>Runs</h3><div class="card"><input class="filter"') == 2
    assert page.count("<h3>Champion timeline</h3>") == 2
    assert page.count('<svg xmlns="http://www.w3.org/2000/svg" class="graph"') == 2
    assert page.count("<script>") == 1
    assert "<script src" not in page
    assert "<link" not in page
    assert "<img" not in page
    assert "@import" not in page
    assert "url(" not in page
    # No attribute names a URL; the only URL is the SVG namespace, an identifier, not an asset.
    links = re.findall(r'\b(?:src|href|action|xlink:href)="([^"]*)"', page)
    assert links
    assert all(link.startswith("#") for link in links)
    assert set(re.findall(r"https?://[^\s\"'<>]+", page)) == {"http://www.w3.org/2000/svg"}


def _table(page: str, table_id: str) -> str:
    [found] = re.findall(rf'<table class="sortable" id="{table_id}">(.*?)</table>', page, re.S)
    return str(found)


def test_numbers_align_right_and_long_headers_can_wrap(report: Bodies) -> None:
    page = report["html"].decode()
    runs = _table(page, anchor("digits-zero") + "-runs")
    headers = dict(re.findall(r'<th data-key="([^"]+)"(?: class="([^"]+)")?>', runs))
    numeric = {key for key, kind in headers.items() if kind == "num"}
    assert numeric == {"rank", "objective", "m:validation:binary_f_beta", "hp:mini_batch_size"}
    assert {"run", "status", "hp:predictor_type"} <= set(headers)
    # Every numeric column's cells are right-aligned too (the failed run's objective is blank).
    assert runs.count('<td class="num">') == len(numeric) * runs.count("<tr", runs.index("<tbody>"))
    assert "train:<wbr>objective_<wbr>loss:<wbr>final (minimize)</th>" in runs


def test_a_promotions_id_comes_last_in_two_unbreakable_parts(report: Bodies) -> None:
    page = report["html"].decode()
    promotions = _table(page, anchor("digits-zero") + "-promotions")
    keys = re.findall(r'<th data-key="([^"]+)"', promotions)
    assert keys[0] == "when"
    assert keys[-1] == "promotion"
    assert (
        '<td class="id"><span>2026-11-23T00:00:01.000000Z#</span><wbr><span>ll-batch-100</span>'
        in promotions
    )
    assert '<time datetime="2026-11-23T00:00:01.000000Z">2026-11-23 00:00:01</time>' in promotions


def test_every_navigation_link_leads_to_an_id(report: Bodies) -> None:
    page = report["html"].decode()
    ids = set(re.findall(r' id="([^"]+)"', page))
    nav = page[page.index("<nav") : page.index("</nav>")]
    targets = [html.unescape(t) for t in re.findall(r'href="#([^"]+)"', nav)]
    assert {anchor("digits-zero"), anchor("digits-backup"), "changes", "drift"} <= set(targets)
    assert set(targets) <= {html.unescape(i) for i in ids}


def test_anchors_are_safe_ids_that_keep_names_apart() -> None:
    assert anchor("digits-zero") == "p-digits-zero"
    hostile = anchor(HOSTILE)
    assert re.fullmatch(r"[A-Za-z0-9_.-]+", hostile)
    assert anchor("a b") != anchor("a_b") != anchor("a.b")


def test_html_carries_its_content_security_policy_before_its_style(report: Bodies) -> None:
    page = report["html"].decode()
    head = page[: page.index("</head>")]
    [meta] = re.findall(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', head)
    assert html.unescape(meta) == CONTENT_SECURITY_POLICY
    assert head.index("Content-Security-Policy") < head.index("<style>")
    [style] = re.findall(r"<style>(.*?)</style>", page, re.DOTALL)
    [script] = re.findall(r"<script>(.*?)</script>", page, re.DOTALL)

    def digest(text: str) -> str:
        return base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()

    directives = dict(d.split(" ", 1) for d in CONTENT_SECURITY_POLICY.split("; "))
    assert directives == {
        "default-src": "'none'",
        "style-src": f"'sha256-{digest(style)}'",
        "script-src": f"'sha256-{digest(script)}'",
        "base-uri": "'none'",
        "form-action": "'none'",
    }
    assert " style=" not in page  # inline style attributes would need 'unsafe-inline'
    assert " onclick=" not in page
    assert " onload=" not in page
    assert f"{CONTENT_SECURITY_POLICY}; frame-ancestors 'none'" == CONTENT_SECURITY_POLICY_HEADER


def test_html_escapes_hostile_names(report: Bodies) -> None:
    page = report["html"].decode()
    assert HOSTILE not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_charts_are_the_hyperparameters_with_several_numbers_most_distinct_first() -> None:
    runs = [
        (f"r{i}", {"mini_batch_size": str(100 * i), "lr": str(0.1 * (i % 2)), "c": "0.1"})
        for i in range(1, 4)
    ]
    assert charted_hyperparameters(runs) == ["mini_batch_size", "lr"]
    assert charted_hyperparameters(runs, limit=1) == ["mini_batch_size"]
    assert charted_hyperparameters([]) == []


def test_failed_runs_and_drift_stand_out_in_words_not_only_colour(report: Bodies) -> None:
    page = report["html"].decode()
    [failed] = re.findall(r'<tr class="failed">.*?</tr>', page)[:1]
    assert "ll-failed" in failed
    assert "✕ Failed" in failed
    assert "★ champion" in page


def test_csv_parses_back(report: Bodies) -> None:
    rows = list(csv.DictReader(io.StringIO(report["csv"].decode())))
    zero = [row for row in rows if row["project"] == "digits-zero"]
    assert [row["run"] for row in zero] == [
        "ll-batch-200",
        "ll-batch-300",
        "ll-batch-100",
        HOSTILE,
        "ll-failed",
    ]
    best = zero[0]
    assert best["rank"] == "1"
    assert best["champion"] == "yes"
    assert float(best["objective"]) == 0.12
    assert float(best[f"metric:{METRIC}"]) == 0.12
    assert best["hp:mini_batch_size"] == "200"
    assert zero[-1]["rank"] == ""


def test_csv_defuses_formulas() -> None:
    world = trained_world()
    world.train(run("=HYPERLINK(1)", 0.5, 10))
    rows = list(csv.DictReader(io.StringIO(_bodies(world)["csv"].decode())))
    assert "'=HYPERLINK(1)" in {row["run"] for row in rows}


def test_openlineage_events_follow_the_run_event_structure(report: Bodies) -> None:
    lines = report["openlineage"].decode().splitlines()
    events = [json.loads(line) for line in lines]
    assert [event["job"]["name"] for event in events] == [
        run["name"] for run in orjson.loads(report["json"])["runs"]
    ]
    assert len(events) == 5
    for event in events:
        _validator(RUN_EVENT).validate(event)
        failed = event["job"]["name"] == "ll-failed"
        assert event["eventType"] == ("FAIL" if failed else "COMPLETE")
        assert event["schemaURL"] == RUN_EVENT_SCHEMA
    event = next(e for e in events if e["job"]["name"] == "ll-batch-200")
    arn = "arn:aws:sagemaker:us-east-1:123456789012:training-job/ll-batch-200"
    assert event["run"]["runId"] == str(uuid.uuid5(uuid.NAMESPACE_URL, arn))
    assert event["job"]["namespace"] == "sagemaker://us-east-1"
    assert event["eventTime"] == "2026-11-22T23:59:00.000000Z"
    assert [(d["namespace"], d["name"]) for d in event["inputs"]] == [
        ("s3://sagewire-data", "digits/train"),
        ("s3://sagewire-data", "digits/validation/data.csv"),
    ]
    assert [(d["namespace"], d["name"]) for d in event["outputs"]] == [
        ("s3://sagewire-models", "ll-batch-200/output/model.tar.gz")
    ]
    facets = event["run"]["facets"]
    assert facets["sagewire_hyperparameters"]["hyperparameters"]["mini_batch_size"] == "200"
    assert facets["sagewire_metrics"]["metrics"][METRIC] == 0.12
    assert facets["sagewire_preprocessing"]["parameters"]["mean"] == 0.1307
    assert "lr" not in facets["sagewire_preprocessing"]["parameters"]


def test_custom_facets_name_their_schema_in_the_report_schema(report: Bodies) -> None:
    event = json.loads(report["openlineage"].splitlines()[-1])  # ll-failed: errorMessage too
    custom = {k: v for k, v in event["run"]["facets"].items() if k.startswith("sagewire_")}
    assert len(custom) == 3
    for facet in custom.values():
        name = facet["_schemaURL"].rsplit("/", 1)[1]
        facet_schema = {"$defs": SCHEMA["$defs"], "$ref": f"#/$defs/{name}"}
        _validator(facet_schema).validate(facet)
