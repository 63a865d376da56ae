"""End to end: every `sagewire` command, run as a user runs it (a subprocess), against the local
stack with the demo projects: --json parsed, tables printed, exit codes as documented."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from devstack.demo_client import settle
from devstack.samples import write_samples
from devstack.stack import Stack
from sagewire.cli import EXIT_CONNECTION, EXIT_NOT_FOUND

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 120
REPORT_TIMEOUT = 90


@pytest.fixture(scope="module")
def stack(in_process_stack: Stack) -> Stack:
    in_process_stack.deploy_demo_projects()
    return in_process_stack


@pytest.fixture(scope="module")
def samples(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("samples")
    write_samples(directory)
    return directory


def run(stack: Stack, *argv: str, url: str | None = None) -> subprocess.CompletedProcess[str]:
    """`sagewire --endpoint-url <the stack> <argv>` in a subprocess, its own environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAGEWIRE_")}
    return subprocess.run(
        [sys.executable, "-m", "sagewire", "--endpoint-url", url or stack.api_url, *argv],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def ok(stack: Stack, *argv: str) -> Any:
    """The one JSON document `sagewire <argv> --json` prints."""
    done = run(stack, *argv, "--json")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    return json.loads(done.stdout)


def refused(stack: Stack, exit_code: int, code: str, *argv: str, url: str | None = None) -> None:
    """The command fails with `exit_code`, and says why on stderr with the error's code."""
    done = run(stack, *argv, url=url)
    assert done.returncode == exit_code, done.stderr
    assert done.stdout == ""
    assert done.stderr.startswith((f"sagewire: {code} (", f"sagewire: {code}: ")), done.stderr


def test_projects_list_get_put_delete(stack: Stack, tmp_path: Path) -> None:
    names = {project["name"] for project in ok(stack, "projects", "list")["projects"]}
    assert {"digits-zero", "digits-kmeans", "digits-classifier"} <= names
    table = run(stack, "projects", "list").stdout.splitlines()
    assert table[0].split() == ["PROJECT", "ENDPOINT", "OBJECTIVE", "STRATEGY"]

    definition = ok(stack, "projects", "get", "digits-zero")
    assert definition["name"] == "digits-zero"
    definition["endpoint"]["name"] = "cli-copy"
    path = tmp_path / "copy.json"
    path.write_text(json.dumps(definition))
    stored = ok(stack, "projects", "put", str(path), "--name", "cli-copy")
    assert (stored["name"], stored["endpoint"]["name"]) == ("cli-copy", "cli-copy")
    assert ok(stack, "projects", "get", "cli-copy")["objective"] == definition["objective"]

    deletion = ok(stack, "projects", "delete", "cli-copy")
    assert (deletion["project"], deletion["teardown"]) == ("cli-copy", False)
    refused(stack, EXIT_NOT_FOUND, "ProjectNotFound", "projects", "get", "cli-copy")
    refused(stack, EXIT_NOT_FOUND, "ProjectNotFound", "projects", "delete", "cli-copy")


def test_predict_sends_each_file_as_its_type(stack: Stack, samples: Path) -> None:
    zero = ok(stack, "predict", "digits-zero", str(samples / "zero.png"))
    assert zero["predictions"][0]["predicted_label"] == 1
    seven = ok(stack, "predict", "digits-classifier", str(samples / "seven.jpg"), "--top-k", "3")
    (prediction,) = seven["predictions"]
    assert prediction["label"] == "7"
    assert len(prediction["top_k"]) == 3

    files = [str(samples / "batch.json"), str(samples / "rows.csv")]
    both = run(stack, "predict", "digits-classifier", *files, "--json")
    assert both.returncode == 0, both.stderr
    answers = [json.loads(line) for line in both.stdout.splitlines()]
    assert [len(answer["predictions"]) for answer in answers] == [5, 5]

    table = run(stack, "predict", "digits-kmeans", str(samples / "rows.csv"))
    assert table.returncode == 0, table.stderr
    assert "CLOSEST_CLUSTER" in table.stdout
    assert table.stdout.startswith(f"{samples / 'rows.csv'}: digits-kmeans -> digits-kmeans")


def test_predict_refusals_have_their_code_and_exit_status(stack: Stack, samples: Path) -> None:
    png = str(samples / "zero.png")
    refused(stack, EXIT_NOT_FOUND, "ProjectNotFound", "predict", "no-such-project", png)
    refused(
        stack, 1, "MalformedInput", "predict", "digits-zero", png, "--content-type", "image/jpeg"
    )
    refused(stack, 1, "InvalidParameter", "predict", "digits-zero", png, "--variant", "Nope")
    refused(stack, 1, "UnknownContentType", "predict", "digits-zero", str(ROOT / "README.md"))


def test_leaderboard_champion_promotions_and_runs(stack: Stack) -> None:
    page = ok(stack, "leaderboard", "digits-zero", "--filter", "Status=Completed", "--all")
    assert page["project"] == "digits-zero"
    assert page["next_cursor"] is None
    (best, *_) = page["runs"]
    table = run(stack, "leaderboard", "digits-zero", "--limit", "1").stdout.splitlines()
    assert table[0] == f"digits-zero: by {page['sort']} ({page['order']})"
    assert table[2].split()[:3] == ["1", best["name"], "Completed"]

    champion = ok(stack, "champion", "digits-zero")
    assert champion["champion"]["run_name"] == best["name"]
    assert "champion:" in run(stack, "champion", "digits-zero").stdout
    ledger = ok(stack, "promotions", "digits-zero", "--limit", "5")["promotions"]
    assert ledger[0]["run_name"] == best["name"]

    lineage = ok(stack, "runs", "get", best["name"])
    assert lineage["run"]["name"] == best["name"]
    assert {channel["name"] for channel in lineage["inputs"]} >= {"train"}
    refused(stack, EXIT_NOT_FOUND, "NotFound", "runs", "get", "no-such-job")
    refused(stack, EXIT_NOT_FOUND, "ProjectNotFound", "champion", "no-such-project")


def test_lineage_of_an_endpoint_and_a_dataset(stack: Stack) -> None:
    endpoint = ok(stack, "lineage", "endpoint", "digits-classifier")
    assert endpoint["endpoint"] == "digits-classifier"
    (variant,) = endpoint["variants"]
    run_name = variant["model"]["run_name"]
    uri = f"s3://{stack.state.bucket}/datasets/digits/train/"
    downstream = ok(stack, "lineage", "dataset", uri)
    assert run_name in {entry["run_name"] for entry in downstream["runs"]}
    assert run(stack, "lineage", "dataset", uri).stdout.startswith(f"{uri}\nRUN ")
    refused(stack, EXIT_NOT_FOUND, "EndpointNotFound", "lineage", "endpoint", "no-such-endpoint")


def test_report_in_every_format(stack: Stack, tmp_path: Path) -> None:
    # The local stack writes the report on its schedule (every 10 s).
    deadline = time.monotonic() + REPORT_TIMEOUT
    while (done := run(stack, "report", "-o", str(tmp_path / "r.json"))).returncode != 0:
        assert done.returncode == EXIT_NOT_FOUND, done.stderr
        assert time.monotonic() < deadline, "no report was written"
        time.sleep(2)
    report = json.loads((tmp_path / "r.json").read_text())
    assert "digits-zero" in json.dumps(report)
    written = ok(stack, "report", "--format", "csv", "-o", str(tmp_path / "r.csv"))
    assert written["content_type"].startswith("text/csv")
    assert written["bytes"] == (tmp_path / "r.csv").stat().st_size
    html = run(stack, "report", "--format", "html")
    assert html.returncode == 0, html.stderr
    assert "<html" in html.stdout
    lines = run(stack, "report", "--format", "openlineage").stdout.splitlines()
    assert all(json.loads(line)["eventType"] for line in lines)


def test_promote_a_recorded_run(stack: Stack) -> None:
    champion = ok(stack, "champion", "digits-kmeans")["champion"]["run_name"]
    promotion = ok(stack, "promote", "digits-kmeans", champion)
    assert (promotion["run_name"], promotion["cause"]) == (champion, "api:127.0.0.1")
    settle(stack)
    assert (
        ok(stack, "promotions", "digits-kmeans")["promotions"][0]["promotion_id"]
        == (promotion["promotion_id"])
    )
    entry = ok(stack, "promotion", "digits-kmeans", promotion["promotion_id"])
    assert (entry["promotion_id"], entry["run_name"]) == (promotion["promotion_id"], champion)
    refused(stack, EXIT_NOT_FOUND, "PromotionNotFound", "promotion", "digits-kmeans", "x#y")
    refused(stack, EXIT_NOT_FOUND, "NotFound", "promote", "digits-kmeans", "no-such-job")


def test_connection_failures_and_usage_errors(stack: Stack) -> None:
    refused(
        stack, EXIT_CONNECTION, "ConnectionFailed", "projects", "list", url="http://127.0.0.1:9"
    )
    usage = run(stack, "leaderboard")
    assert usage.returncode == 2
    assert "usage: sagewire leaderboard" in usage.stderr
    assert run(stack, "completion", "bash").stdout.startswith("# bash completion for sagewire")
