"""The devstack, deploy and ops command lines: help with a description, examples and the exit
codes for each subcommand; errors on stderr in one line, never a traceback; exit codes apart from
argparse's 2; JSON that parses."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import boto3.session
import pytest
import requests
from botocore.exceptions import EndpointConnectionError
from botocore.stub import Stubber

import cli_conventions
from deploy import __main__ as deploy_cli
from devstack import cli as devstack_cli
from devstack import control
from ops import dlq
from ops import openlineage as openlineage_cli

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Tool:
    module: str
    parser: Callable[[], argparse.ArgumentParser]
    commands: tuple[str, ...]  # renaming one breaks the Makefile, the docs and other code


TOOLS = [
    Tool("devstack", devstack_cli._parser, ("serve", "demo", "train", "tune", "emit")),
    Tool("deploy", deploy_cli._parser, ("policies", "package", "check", "resources", "harden")),
    Tool("ops.dlq", dlq._parser, ("list", "replay")),
    Tool("ops.openlineage", openlineage_cli._parser, ("push",)),
]


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_table_keeps_argparses_2_for_usage_errors_alone() -> None:
    codes = (
        cli_conventions.OK,
        cli_conventions.FAILED,
        cli_conventions.USAGE,
        cli_conventions.USER_ERROR,
        cli_conventions.UNAVAILABLE,
    )
    assert codes == (0, 1, 2, 3, 4)
    for code in codes:
        assert f"\n  {code}  " in cli_conventions.EXIT_CODES
    assert "usage error" in cli_conventions.EXIT_CODES.split("\n  2  ")[1].split("\n")[0]


@pytest.mark.parametrize("tool", TOOLS, ids=lambda tool: tool.module)
def test_help_describes_the_tool_with_examples_and_the_exit_codes(tool: Tool) -> None:
    result = _run(tool.module, "--help")

    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert f"  python -m {tool.module} " in result.stdout.split("example")[1]
    assert result.stdout.rstrip().endswith(cli_conventions.EXIT_CODES)
    assert sorted(_subcommands(tool.parser())) == sorted(tool.commands)


@pytest.mark.parametrize(
    ("tool", "command"),
    [(tool, command) for tool in TOOLS for command in tool.commands],
    ids=lambda value: value if isinstance(value, str) else value.module,
)
def test_every_subcommand_has_a_description_an_example_and_the_exit_codes(
    tool: Tool, command: str
) -> None:
    parser = _subcommands(tool.parser())[command]
    text = parser.format_help()

    assert parser.description is not None
    assert len(parser.description) > 60  # a sentence or more, not the one-line summary
    assert parser.description.split()[0] in text
    examples = text.split("\nexample")[1].split("\n\nexit codes:")[0]
    assert f"  python -m {tool.module} {command}" in examples
    assert text.rstrip().endswith(cli_conventions.EXIT_CODES)


# --- deploy ---


def test_an_unknown_stage_is_one_line_on_stderr_and_exit_3() -> None:
    result = _run("deploy", "package", "--stage", "nope")

    assert result.returncode == cli_conventions.USER_ERROR
    assert result.stdout == ""
    assert result.stderr == (
        "deploy: no stage 'nope' in .chalice/config.json (have dev, prod, local)\n"
    )


@pytest.mark.parametrize("command", ["check", "resources", "harden"])
def test_every_stage_command_refuses_an_unknown_stage(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert deploy_cli.main([command, "--stage", "nope"]) == cli_conventions.USER_ERROR
    printed = capsys.readouterr()
    assert printed.out == ""
    assert printed.err.startswith("deploy: no stage 'nope'")


def test_check_without_a_package_says_to_package_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = deploy_cli.main(["check", "--stage", "dev", "--out", str(tmp_path)])

    assert status == cli_conventions.USER_ERROR
    printed = capsys.readouterr()
    assert printed.out == ""
    assert printed.err == (
        f"deploy: no package in {tmp_path}; run `python -m deploy package --stage dev` first\n"
    )


def test_policies_and_resources_print_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert deploy_cli.main(["policies", "--check", "--json"]) == cli_conventions.OK
    policies = json.loads(capsys.readouterr().out)
    assert policies == {
        "policies": {
            ".chalice/policy-dev.json": "up to date",
            ".chalice/policy-prod.json": "up to date",
        }
    }

    out = tmp_path / "prod-resources.json"
    assert deploy_cli.main(["resources", "--out", str(out), "--json"]) == cli_conventions.OK
    summary = json.loads(capsys.readouterr().out)
    assert (summary["stage"], summary["out"], summary["failed"]) == ("prod", str(out), 0)
    assert summary["passed"] == len(summary["checked"]) > 0
    assert summary["violations"] == []


# --- devstack ---

STATE = {
    "pid": 1,
    "api_url": "http://127.0.0.1:1",
    "aws_endpoint_url": "http://127.0.0.1:2",
    "runtime_endpoint_url": "http://127.0.0.1:3",
    "control_url": "http://127.0.0.1:4/_devstack",
    "region": "us-east-1",
    "table": "t",
    "bucket": "b",
}


def _job(status: str) -> dict[str, Any]:
    return {
        "name": "job-1",
        "status": status,
        "seconds": 1.5,
        "hyperparameters": {"mini_batch_size": "100"},
        "metrics": {"train:objective_loss:final": 0.25} if status == "Completed" else {},
        "artifact": "s3://b/job-1/output/model.tar.gz" if status == "Completed" else None,
        "failure": None if status == "Completed" else "AlgorithmError: it broke",
    }


def _delivery(error: str | None = None) -> dict[str, Any]:
    outcome = {
        "handler": "on_training_job_state_change",
        "status": "failed" if error else "succeeded",
        "attempts": 3 if error else 1,
        "seconds": 0.1,
        "error": error,
        "result": None,
    }
    return {
        "event": "SageMaker Training Job State Change (job-1)",
        "id": "e",
        "outcomes": [outcome],
    }


class FakeControl:
    """The serve process's control API: records the requests, answers or raises as told."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.requests: list[tuple[str, dict[str, Any]]] = []

    def call(self, url: str, action: str, body: dict[str, Any], timeout: float) -> Any:
        assert url == STATE["control_url"]
        self.requests.append((action, body))
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


@pytest.fixture
def stack_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """SAGEWIRE_OUT_DIR with no stack in it; main's signal handlers left out of the test run."""
    monkeypatch.setenv("SAGEWIRE_OUT_DIR", str(tmp_path))
    monkeypatch.setattr(signal, "signal", lambda *args: None)
    return tmp_path


def _serve(stack_dir: Path, monkeypatch: pytest.MonkeyPatch, answer: Any) -> FakeControl:
    """A running stack's state file (this process is its pid) and its control API, faked."""
    (stack_dir / "devstack.json").write_text(json.dumps({**STATE, "pid": os.getpid()}))
    fake = FakeControl(answer)
    monkeypatch.setattr(control, "call", fake.call)
    return fake


TRAIN = ["train", "--name", "job-1", "--algorithm", "linear-learner"]


def test_no_running_stack_is_said_on_stderr_with_exit_3(
    stack_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert devstack_cli.main(TRAIN) == cli_conventions.USER_ERROR
    printed = capsys.readouterr()
    assert printed.out == ""
    assert printed.err == (
        f"devstack: no running stack found ({stack_dir / 'devstack.json'}); "
        "start one with `make serve`\n"
    )


@pytest.mark.parametrize(
    ("status", "deliveries", "idle", "expected"),
    [
        ("Completed", [_delivery()], True, cli_conventions.OK),
        ("Failed", [_delivery()], True, cli_conventions.FAILED),
        ("Completed", [_delivery("EndpointUnavailable: throttled")], True, cli_conventions.FAILED),
        ("Completed", [_delivery()], False, cli_conventions.FAILED),
    ],
    ids=["completed", "job-failed", "handler-failed", "app-busy"],
)
def test_train_exits_1_when_the_job_or_a_handler_fails(
    stack_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    status: str,
    deliveries: list[dict[str, Any]],
    idle: bool,
    expected: int,
) -> None:
    answer = {"job": _job(status), "deliveries": deliveries, "idle": idle}
    fake = _serve(stack_dir, monkeypatch, answer)

    assert devstack_cli.main([*TRAIN, "--hp", "mini_batch_size=100"]) == expected
    assert fake.requests[0][0] == "train"
    assert fake.requests[0][1]["hyperparameters"] == {"mini_batch_size": "100"}
    printed = capsys.readouterr()
    assert f"training job job-1 {status} [1.50s]" in printed.out
    assert "events delivered to the app:" in printed.out
    busy = "devstack: the app was still busy when the control API stopped waiting\n"
    assert printed.err == ("" if idle else busy)


def test_train_json_is_the_answer_alone_on_stdout(
    stack_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    answer = {"job": _job("Failed"), "deliveries": [_delivery()], "idle": True}
    _serve(stack_dir, monkeypatch, answer)

    assert devstack_cli.main([*TRAIN, "--json"]) == cli_conventions.FAILED
    assert json.loads(capsys.readouterr().out) == answer


def test_tune_json_and_its_exit_code(
    stack_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    tuning = {"name": "hpo", "status": "Completed", "jobs": [_job("Completed")], "best": None}
    answer = {"tuning_job": tuning, "deliveries": [], "idle": True}
    _serve(stack_dir, monkeypatch, answer)
    command = ["tune", "--name", "hpo", "--hp-range", "lr=0.1,0.2", "--objective", "m"]

    assert devstack_cli.main([*command, "--json"]) == cli_conventions.OK
    assert json.loads(capsys.readouterr().out) == answer
    tuning["status"] = "Failed"
    assert devstack_cli.main(command) == cli_conventions.FAILED
    assert "tuning job hpo Failed: 1 training jobs" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("error", "expected", "said"),
    [
        (control.ControlError("bad_name: not the SageMaker name pattern"), 3, "train refused"),
        (requests.ConnectionError("connection refused"), 4, "train failed"),
    ],
    ids=["refused", "unreachable"],
)
def test_a_refused_or_unreachable_control_api_is_said_on_stderr(
    stack_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    error: Exception,
    expected: int,
    said: str,
) -> None:
    _serve(stack_dir, monkeypatch, error)

    assert devstack_cli.main(TRAIN) == expected
    printed = capsys.readouterr()
    assert printed.out == ""
    assert printed.err == f"devstack: {said}: {error}\n"


def test_emit_refuses_an_unreadable_event_and_prints_json(
    stack_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (stack_dir / "event.json").write_text("{not json")
    assert devstack_cli.main(["emit", str(stack_dir / "event.json")]) == 3  # no stack needed
    printed = capsys.readouterr()
    assert printed.out == ""
    assert printed.err.startswith(f"devstack: cannot read an event from {stack_dir}/event.json: ")

    answer = {"event": {**_delivery(), "outcomes": []}, "deliveries": [], "idle": True}
    _serve(stack_dir, monkeypatch, answer)
    (stack_dir / "event.json").write_text('{"detail-type": "x"}')
    assert devstack_cli.main(["emit", str(stack_dir / "event.json"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == answer


# --- ops.dlq ---


class FakeSession:
    def __init__(self, sqs: Any) -> None:
        self.sqs = sqs

    def client(self, name: str, **kwargs: Any) -> Any:
        return self.sqs if name == "sqs" else object()  # Lambda: not reached


class UnreachableSqs:
    def get_queue_url(self, **kwargs: Any) -> Any:
        raise EndpointConnectionError(endpoint_url="http://127.0.0.1:1")


def test_an_aws_refusal_is_on_stderr_with_exit_3(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    sqs = boto3.client(
        "sqs", region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s"
    )
    stubber = Stubber(sqs)
    stubber.add_client_error(
        "get_queue_url",
        service_error_code="AWS.SimpleQueueService.NonExistentQueue",
        service_message="The specified queue does not exist.",
        http_status_code=400,
        expected_params={"QueueName": "nope"},
    )
    monkeypatch.setattr(boto3.session, "Session", lambda **kwargs: FakeSession(sqs))

    with stubber:
        assert dlq.main(["list", "--queue-name", "nope"]) == cli_conventions.USER_ERROR
    printed = capsys.readouterr()
    assert printed.out == ""
    assert printed.err.startswith("ops.dlq: An error occurred (")
    assert printed.err.endswith("The specified queue does not exist.\n")


def test_an_unreachable_aws_is_exit_4(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(boto3.session, "Session", lambda **kwargs: FakeSession(UnreachableSqs()))

    assert dlq.main(["replay", "--queue-name", "q"]) == cli_conventions.UNAVAILABLE
    printed = capsys.readouterr()
    assert printed.out == ""
    assert printed.err == 'ops.dlq: Could not connect to the endpoint URL: "http://127.0.0.1:1"\n'


def test_a_max_below_1_is_a_usage_error() -> None:
    result = _run("ops.dlq", "list", "--queue-name", "q", "--max", "0")

    assert result.returncode == cli_conventions.USAGE
    assert result.stdout == ""
    assert result.stderr.endswith("error: argument --max: must be at least 1\n")
