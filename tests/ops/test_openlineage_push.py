"""`python -m ops.openlineage push`: the report's events through the client's transports (HTTP to a
local receiver, file, console), each once and in order; what it refuses, and its exit codes."""

from __future__ import annotations

import io
import json
import socket
import threading
from collections.abc import Iterator
from contextlib import redirect_stderr
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber
from moto import mock_aws

import cli_conventions
from ops import openlineage
from tests.fakes import EPOCH
from tests.report_world import BUCKET, trained_world

LINEAGE_PATH = "/api/v1/lineage"


@pytest.fixture(scope="module")
def report_lines() -> list[bytes]:
    """The OpenLineage file of a report with completed and failed runs."""
    world = trained_world()
    world.reports.write(EPOCH)
    return world.objects.objects[BUCKET, "reports/latest.openlineage.jsonl"][0].splitlines()


@pytest.fixture
def events_file(tmp_path: Path, report_lines: list[bytes]) -> Path:
    path = tmp_path / "latest.openlineage.jsonl"
    path.write_bytes(b"\n".join(report_lines) + b"\n")
    return path


@pytest.fixture(autouse=True)
def no_ambient_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No openlineage.yml or OPENLINEAGE_* variable of the machine's; the client's own aliasing
    of OPENLINEAGE_URL writes variables, which are taken back."""
    import os

    saved = dict(os.environ)
    for name in [n for n in os.environ if n.startswith("OPENLINEAGE")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    yield
    os.environ.clear()
    os.environ.update(saved)


class Receiver:
    """A lineage backend on 127.0.0.1: keeps each POST's path, content type and body; answers
    `fail_at` (1-based) with 500."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.received: list[tuple[str, str, Any]] = []
        self.fail_at = fail_at
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append(
                    (self.path, self.headers["Content-Type"], json.loads(body))
                )
                failing = len(receiver.received) == receiver.fail_at
                self.send_response(500 if failing else 201)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def _without_client_tags(event: dict[str, Any]) -> dict[str, Any]:
    """The event as sagewire wrote it: the client adds its version as a run tag on the way."""
    tags = event["run"]["facets"].pop("tags")
    assert [tag["key"] for tag in tags["tags"]] == ["openlineage_client_version"]
    return event


def _config(tmp_path: Path, transport: dict[str, Any]) -> str:
    path = tmp_path / "transport.yml"
    path.write_text(json.dumps(transport))
    return str(path)


def _run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stderr(err):
        code = openlineage.main(list(argv), out=out)
    return code, out.getvalue(), err.getvalue()


def test_http_every_event_arrives_once_in_order_as_json(
    tmp_path: Path, events_file: Path, report_lines: list[bytes]
) -> None:
    with Receiver() as receiver:
        config = _config(tmp_path, {"type": "http", "url": receiver.url})
        code, out, err = _run("push", "--file", str(events_file), "--transport-config", config)
    assert (code, err) == (0, "")
    sent = [_without_client_tags(body) for _, _, body in receiver.received]
    assert sent == [json.loads(line) for line in report_lines]
    assert {(path, kind) for path, kind, _ in receiver.received} == {
        (LINEAGE_PATH, "application/json")
    }
    assert [body["eventType"] for _, _, body in receiver.received].count("FAIL") == 1
    assert out.splitlines()[-1] == "sent 5 event(s) (COMPLETE 4, FAIL 1) via http"


def test_http_configured_the_clients_way_by_openlineage_url(
    events_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Receiver() as receiver:
        monkeypatch.setenv("OPENLINEAGE_URL", receiver.url)
        code, out, _ = _run("push", "--file", str(events_file), "--json")
    assert code == 0
    assert len(receiver.received) == 5
    summary = json.loads(out)
    assert summary["sent"] == summary["events"] == 5
    assert summary["event_types"] == {"COMPLETE": 4, "FAIL": 1}
    assert summary["error"] is None


def test_a_refused_event_stops_the_push_with_exit_1(tmp_path: Path, events_file: Path) -> None:
    with Receiver(fail_at=3) as receiver:
        config = _config(tmp_path, {"type": "http", "url": receiver.url, "retry": {"total": 0}})
        code, out, err = _run(
            "push", "--file", str(events_file), "--transport-config", config, "--json"
        )
    assert code == cli_conventions.FAILED
    assert len(receiver.received) == 3
    summary = json.loads(out)
    assert summary["sent"] == 2
    assert summary["error"]["line"] == 3
    assert "ops.openlineage: line 3: not sent: " in err
    assert "500" in err


def test_dry_run_validates_every_event_and_sends_none(tmp_path: Path, events_file: Path) -> None:
    with Receiver() as receiver:
        config = _config(tmp_path, {"type": "http", "url": receiver.url})
        code, out, _ = _run(
            "push", "--file", str(events_file), "--transport-config", config, "--dry-run"
        )
    assert code == 0
    assert receiver.received == []
    assert out.splitlines()[0].startswith("would send COMPLETE ")
    assert out.splitlines()[-1] == "would send 5 event(s) (COMPLETE 4, FAIL 1) via http"


def test_an_invalid_event_is_exit_3_and_nothing_after_it_is_sent(
    tmp_path: Path, report_lines: list[bytes]
) -> None:
    broken = json.loads(report_lines[1])
    del broken["run"]["facets"]["sagewire_metrics"]["_producer"]
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join([report_lines[0], json.dumps(broken).encode(), report_lines[2]]))
    with Receiver() as receiver:
        config = _config(tmp_path, {"type": "http", "url": receiver.url})
        code, _, err = _run("push", "--file", str(path), "--transport-config", config)
    assert code == cli_conventions.USER_ERROR
    assert len(receiver.received) == 1
    assert "line 2: invalid event: facet sagewire_metrics needs the strings _producer" in err


def test_file_transport_writes_each_event(tmp_path: Path, events_file: Path) -> None:
    target = tmp_path / "pushed.jsonl"
    config = _config(tmp_path, {"type": "file", "log_file_path": str(target), "append": True})
    code, _, _ = _run("push", "--file", str(events_file), "--transport-config", config)
    assert code == 0
    written = [_without_client_tags(json.loads(x)) for x in target.read_text().splitlines()]
    assert written == [json.loads(line) for line in events_file.read_bytes().splitlines()]


def test_console_transport_prints_each_event(tmp_path: Path, events_file: Path) -> None:
    config = _config(tmp_path, {"type": "console"})
    code, out, _ = _run("push", "--file", str(events_file), "--transport-config", config, "--json")
    lines = out.splitlines()
    assert code == 0
    events = [_without_client_tags(json.loads(line)) for line in lines[:5]]
    assert events == [json.loads(line) for line in events_file.read_bytes().splitlines()]
    assert json.loads("\n".join(lines[5:]))["transport"] == "console"


def test_reads_the_latest_report_from_the_bucket(tmp_path: Path, events_file: Path) -> None:
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="sagewire-test-data")
        s3.put_object(
            Bucket="sagewire-test-data",
            Key=openlineage.LATEST_KEY,
            Body=events_file.read_bytes(),
        )
        config = _config(tmp_path, {"type": "console"})
        code, out, _ = _run(
            "push",
            "--bucket",
            "sagewire-test-data",
            "--transport-config",
            config,
            "--dry-run",
            "--json",
        )
        missing = _run("push", "--bucket", "sagewire-test-data", "--key", "nope", "--dry-run")
    summary = json.loads(out)
    assert code == 0
    assert summary["source"] == f"s3://sagewire-test-data/{openlineage.LATEST_KEY}"
    assert summary["events"] == 5
    assert missing[0] == cli_conventions.USER_ERROR
    assert "NoSuchKey" in missing[2]


def test_a_transport_the_client_refuses_is_exit_3(tmp_path: Path, events_file: Path) -> None:
    config = _config(tmp_path, {"type": "no.such.Transport"})
    code, out, err = _run("push", "--file", str(events_file), "--transport-config", config)
    assert (code, out) == (cli_conventions.USER_ERROR, "")
    # the client logs why first, in lines of its own: no traceback
    assert "Traceback" not in err
    assert err.splitlines()[-1] == (
        "ops.openlineage: transport: ImportError: Failed to import no.such.Transport"
    )
    (tmp_path / "empty.yml").write_text("url: http://x\n")
    code, _, err = _run("push", "--file", str(events_file), "--transport-config", "empty.yml")
    assert code == cli_conventions.USER_ERROR
    assert (
        err == "ops.openlineage: transport: empty.yml holds no transport (a mapping with `type`)\n"
    )


@pytest.fixture
def silent_port() -> Iterator[tuple[int, socket.socket]]:
    """A port that accepts connections (the kernel's backlog) and never answers."""
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen(8)
        yield listening.getsockname()[1], listening


@pytest.mark.parametrize("backend", ["refused", "timeout"])
def test_an_unreachable_backend_is_exit_4_and_one_line(
    tmp_path: Path, events_file: Path, silent_port: tuple[int, socket.socket], backend: str
) -> None:
    if backend == "refused":
        with socket.socket() as closed:
            closed.bind(("127.0.0.1", 0))
            port = closed.getsockname()[1]
    else:
        port = silent_port[0]
    url = f"http://127.0.0.1:{port}"
    config = _config(tmp_path, {"type": "http", "url": url, "timeout": 0.3, "retry": {"total": 0}})
    code, out, err = _run(
        "push", "--file", str(events_file), "--transport-config", config, "--json"
    )
    assert code == cli_conventions.UNAVAILABLE
    assert json.loads(out)["sent"] == 0
    assert err.startswith("ops.openlineage: line 1: not sent: ConnectionError: ")
    assert err.count("\n") == 1


def test_an_unreachable_bucket_is_exit_4(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "k")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s")
    config = _config(tmp_path, {"type": "console"})
    code, out, err = _run(
        "push", "--bucket", "b", "--region", "us-east-1", "--transport-config", config, "--dry-run"
    )
    assert (code, out) == (cli_conventions.UNAVAILABLE, "")
    assert err == (
        f"ops.openlineage: cannot read s3://b/{openlineage.LATEST_KEY}: "
        f'Could not connect to the endpoint URL: "http://127.0.0.1:{port}/b/{openlineage.LATEST_KEY}"\n'
    )


def test_usage_errors_are_argparses_and_help_lists_the_exit_codes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exited:
        openlineage.main(["push"])
    assert exited.value.code == 2
    assert "give --file or --bucket" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        openlineage.main(["push", "--help"])
    help_text = capsys.readouterr().out
    assert help_text.rstrip().endswith(cli_conventions.EXIT_CODES)
    assert "Exit 1: the backend answered an event with an HTTP error" in help_text
    assert "OPENLINEAGE_URL (and OPENLINEAGE_API_KEY) for HTTP" in help_text


def test_datazone_transport_posts_each_event_to_the_domain(report_lines: list[bytes]) -> None:
    client = openlineage.make_client(
        {"type": "amazon_datazone_api", "domainId": "dzd_abc123", "region": "us-east-1"}
    )
    posted: list[dict[str, Any]] = []
    with Stubber(client.transport.datazone) as stubber:  # type: ignore[attr-defined]
        for _ in report_lines:
            stubber.add_response(
                "post_lineage_event",
                {"domainId": "dzd_abc123", "id": "e"},
                {"domainIdentifier": "dzd_abc123", "event": ANY},
            )
        datazone = client.transport.datazone  # type: ignore[attr-defined]
        datazone.meta.events.register(
            "provide-client-params.datazone.PostLineageEvent",
            lambda params, **_: posted.append(json.loads(params["event"])),
        )
        outcome = openlineage.push(report_lines, client, openlineage.Outcome("f", "dz", False))
        stubber.assert_no_pending_responses()
    assert (outcome.sent, outcome.error) == (5, None)
    assert [_without_client_tags(e) for e in posted] == [json.loads(x) for x in report_lines]
