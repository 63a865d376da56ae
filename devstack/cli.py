"""The devstack command line: serve, demo, train, tune, emit."""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

import requests

from cli_conventions import (
    FAILED,
    OK,
    UNAVAILABLE,
    USER_ERROR,
    fail,
    parser,
    print_json,
    subcommand,
)
from devstack import algorithms, control, demo, projects
from devstack.samples import curl_line, sagewire_command, sagewire_line, write_samples
from devstack.stack import STATE_FILE, Stack, StackError, StackSettings, StackState

DEFAULT_API_PORT = 8000
CONTROL_TIMEOUT_SECONDS = 600
TOOL = "devstack"


def _key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _quiet_aws_logs() -> None:
    for name in ("botocore", "boto3", "urllib3"):
        logging.getLogger(name).setLevel(logging.WARNING)


def serve() -> int:
    # As `chalice local` does: the app's log lines go to stdout.
    logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(message)s")
    _quiet_aws_logs()
    started = time.perf_counter()
    stack = Stack(StackSettings.from_environ(DEFAULT_API_PORT))
    try:
        stack.start()
        stack.deploy_demo_projects()
        samples = write_samples(stack.settings.out_dir / "samples")
        api = stack.api_url
        sagewire = sagewire_command(api)
        state = stack.state
        lines = [
            f"devstack ready: sagewire API on {api} "
            f"(projects {', '.join(p.name for p in projects.DEMO_PROJECTS)}) "
            f"[{time.perf_counter() - started:.1f}s]",
            "Try (with curl, or the sagewire command: `pip install .` installs it elsewhere):",
            f"  curl -s {api}/v1/projects",
            f"  {sagewire} projects list",
        ]
        for sample in samples:
            lines += [
                f"  # {sample.what}",
                f"  {curl_line(api, sample)}",
                f"  {sagewire_line(api, sample)}",
            ]
        lines += [
            "  # a run competing for digits-zero-auto; sagewire deploys it if it wins",
            "  python -m devstack train --name linear-mbs-100 --algorithm linear-learner "
            "--hp mini_batch_size=100 --tag Project=Project_Binary_Classifier",
            f"  curl -s {api}/v1/projects/digits-zero-auto/champion",
            f"  {sagewire} champion digits-zero-auto",
            "  # events whose retries ran out land in the dead-letter queue; list or replay them",
            f"  AWS_ENDPOINT_URL={state.aws_endpoint_url} AWS_ACCESS_KEY_ID=testing "
            f"AWS_SECRET_ACCESS_KEY=testing AWS_REGION={state.region} "
            f"python -m ops.dlq list --queue-url {state.dead_letter_queue_url}",
            "Ctrl-C stops the stack.",
        ]
        # One write: the handlers' log lines, printed from other threads as events arrive, would
        # otherwise land between a line and its newline and break a command apart.
        sys.stdout.write("\n".join(lines) + "\n")
        threading.Event().wait()  # until SIGINT or SIGTERM raises KeyboardInterrupt
    except KeyboardInterrupt:
        print("devstack: stopping")
    finally:
        # A second Ctrl-C must not leave half the stack running.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stack.stop()
    print("devstack: stopped")
    return 0


def _running_stack() -> StackState | None:
    path = StackSettings.from_environ(DEFAULT_API_PORT).out_dir / STATE_FILE
    try:
        state = StackState.read(path)
        os.kill(state.pid, 0)
    except (OSError, ValueError, TypeError):
        fail(TOOL, f"no running stack found ({path}); start one with `make serve`")
        return None
    return state


def _control(action: str, body: dict[str, Any]) -> tuple[int, Any]:
    """(OK, answer) or (exit status, None) after saying why on stderr."""
    state = _running_stack()
    if state is None:
        return USER_ERROR, None
    try:
        return OK, control.call(state.control_url, action, body, CONTROL_TIMEOUT_SECONDS)
    except control.ControlError as error:
        return fail(TOOL, f"{action} refused: {error}"), None
    except requests.RequestException as error:
        return fail(TOOL, f"{action} failed: {error}", UNAVAILABLE), None


def _print_deliveries(answer: dict[str, Any]) -> None:
    """Every event delivered meanwhile and each handler's outcome."""
    print("events delivered to the app:")
    for delivery in answer["deliveries"]:
        outcomes = delivery["outcomes"]
        if not outcomes:
            print(f"  {delivery['event']} -> no matching handler")
        for outcome in outcomes:
            line = (
                f"  {delivery['event']} -> {outcome['handler']}: {outcome['status']} "
                f"(attempt {outcome['attempts']}, {outcome['seconds']:.2f}s)"
            )
            if outcome["error"]:
                line += f": {outcome['error']}"
            elif outcome["result"]:
                line += f" -> {outcome['result']}"
            print(line)


def _print_job(job: dict[str, Any], indent: str = "") -> None:
    hyperparameters = ", ".join(f"{k}={v}" for k, v in job["hyperparameters"].items())
    print(f"{indent}training job {job['name']} {job['status']} [{job['seconds']:.2f}s]")
    print(f"{indent}  hyperparameters: {hyperparameters or 'none'}")
    for name, value in job["metrics"].items():
        print(f"{indent}  {name} = {value}")
    if job["artifact"]:
        print(f"{indent}  artifact: {job['artifact']}")
    if job["failure"]:
        print(f"{indent}  failure: {job['failure']}")


def _finish(
    answer: dict[str, Any], as_json: bool, completed: bool, show: Callable[[], None]
) -> int:
    """Prints the control API's answer (as JSON, or `show` and the deliveries); FAILED if the job
    did not complete, an event handler failed or the app was still busy."""
    if as_json:
        print_json(answer)
    else:
        show()
        _print_deliveries(answer)
    if not answer["idle"]:
        fail(TOOL, "the app was still busy when the control API stopped waiting")
    handled = not any(o["error"] for d in answer["deliveries"] for o in d["outcomes"])
    return OK if completed and handled and answer["idle"] else FAILED


def train(args: argparse.Namespace) -> int:
    body = {
        "name": args.name,
        "algorithm": args.algorithm,
        "hyperparameters": dict(args.hp),
        "tags": dict(args.tag),
        "experiment": args.experiment,
        "trial": args.trial,
        "image": args.image,
        "role": args.role,
        "output": args.output,
    }
    status, answer = _control("train", body)
    if answer is None:
        return status
    job = answer["job"]
    return _finish(answer, args.json, job["status"] == "Completed", lambda: _print_job(job))


def tune(args: argparse.Namespace) -> int:
    body = {
        "name": args.name,
        "algorithm": args.algorithm,
        "ranges": {name: values.split(",") for name, values in args.hp_range},
        "objective": args.objective,
        "goal": args.goal.capitalize(),
        "static": dict(args.hp),
        "tags": dict(args.tag),
    }
    status, answer = _control("tune", body)
    if answer is None:
        return status
    tuning = answer["tuning_job"]

    def show() -> None:
        print(
            f"tuning job {tuning['name']} {tuning['status']}: {len(tuning['jobs'])} training jobs"
        )
        for job in tuning["jobs"]:
            _print_job(job, indent="  ")
        best = tuning["best"]
        if best is not None:
            value = best["metrics"][args.objective]
            print(f"best training job: {best['name']} ({args.objective}={value})")

    return _finish(answer, args.json, tuning["status"] == "Completed", show)


def emit(args: argparse.Namespace) -> int:
    try:
        text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text()
        event = json.loads(text)
    except (OSError, ValueError) as error:
        return fail(TOOL, f"cannot read an event from {args.file}: {error}")
    status, answer = _control("emit", {"event": event})
    if answer is None:
        return status
    handlers = answer["event"]["outcomes"]

    def show() -> None:
        print(
            f"{answer['event']['event']}: "
            + (
                ", ".join(f"{h['handler']} {h['status']}" for h in handlers)
                or "no matching handler"
            )
        )

    return _finish(answer, args.json, True, show)


def _parser() -> argparse.ArgumentParser:
    top = parser(
        "python -m devstack",
        "The local stack: sagewire's app with moto's AWS, a local SageMaker that trains and serves "
        "for real, and the event router between them, in one process with no AWS account. `serve` "
        "or `demo` starts it; `train`, `tune` and `emit` act on the stack `serve` runs.",
        "python -m devstack serve",
        "python -m devstack train --name linear-mbs-100 --algorithm linear-learner "
        "--hp mini_batch_size=100 --tag Project=Project_Binary_Classifier",
    )
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    subcommand(
        commands,
        "serve",
        "start the stack and the demo projects; Ctrl-C stops it",
        "Starts the stack, deploys the demo projects and prints curl lines to try; the app's log "
        "lines follow on stdout. Ctrl-C (or SIGTERM) stops everything. SAGEWIRE_API_PORT and "
        "SAGEWIRE_OUT_DIR choose the port and the state directory.",
        "python -m devstack serve",
    )
    subcommand(
        commands,
        "demo",
        "start the stack, show the whole story, stop",
        "Starts a stack of its own, tells the whole story (predictions, champions deployed by "
        "SageMaker's events, lineage, reports, the Model Registry) and stops it. Exit 1 when a "
        "step of the story fails.",
        "python -m devstack demo",
    )
    training = subcommand(
        commands,
        "train",
        "run a local training job on the running stack",
        "Runs a real training job on the stack `serve` runs and delivers SageMaker's events for "
        "it to the app, which ranks the run and deploys it if it wins. Prints the job (status, "
        "hyperparameters, metrics, artifact) and every event delivered meanwhile. Exit 1 when the "
        "job fails or an event handler fails.",
        "python -m devstack train --name linear-mbs-100 --algorithm linear-learner "
        "--hp mini_batch_size=100 --tag Project=Project_Binary_Classifier",
        "python -m devstack train --name hidden-16 --algorithm softmax --hp hidden_channels=16 "
        "--experiment digits --trial hidden-16 --json",
    )
    training.add_argument("--name", required=True, help="training job name")
    training.add_argument("--algorithm", required=True, choices=algorithms.ALGORITHMS)
    training.add_argument(
        "--experiment",
        help="SageMaker experiment (ExperimentConfig); the trial gets the experiment's shared "
        "preprocessing component and the job's own training component",
    )
    training.add_argument("--trial", help="trial of the experiment (default: the job name)")
    training.add_argument(
        "--image",
        help="the job's TrainingImage (default: the algorithm's); e.g. a foreign image, which "
        "sagewire ranks but does not promote unless the trust policy names it",
    )
    training.add_argument(
        "--output", help="the job's S3OutputPath, s3://bucket[/prefix] (default: the stack's)"
    )
    training.add_argument("--role", help="the job's RoleArn (default: the stack's)")
    tuning = subcommand(
        commands,
        "tune",
        "run a grid-search hyperparameter tuning job on the running stack",
        "Runs a grid-search tuning job of the stack's own algorithms on the running stack: one "
        "training job per combination of the --hp-range values, the best one named by the "
        "objective. Prints every training job, the best one and the events delivered. Exit 1 when "
        "the tuning job fails or an event handler fails.",
        "python -m devstack tune --name hpo-1 --algorithm softmax --hp-range lr=0.01,0.05 "
        "--hp-range batch-size=32,64 --objective validation:accuracy --goal maximize "
        "--tag Project=digits-classifier",
    )
    tuning.add_argument("--name", required=True, help="tuning job name (at most 32 characters)")
    tuning.add_argument("--algorithm", default=algorithms.SOFTMAX, choices=algorithms.ALGORITHMS)
    tuning.add_argument(
        "--hp-range",
        action="append",
        required=True,
        type=_key_value,
        metavar="KEY=V1,V2,...",
        help="values to try for a hyperparameter (repeatable; every combination runs)",
    )
    tuning.add_argument("--objective", required=True, help="metric, e.g. validation:accuracy")
    tuning.add_argument("--goal", choices=("maximize", "minimize"), default="maximize")
    for command in (training, tuning):
        for flag, what in (
            ("--hp", "a (static) hyperparameter"),
            ("--tag", "a tag of the job"),
        ):
            command.add_argument(
                flag,
                action="append",
                default=[],
                type=_key_value,
                metavar="KEY=VALUE",
                help=f"{what} (repeatable)",
            )
    emitting = subcommand(
        commands,
        "emit",
        "deliver one EventBridge event (JSON) to the app's matching handlers",
        "Delivers one EventBridge event to the handlers of the running stack's app whose event "
        "patterns match it, as EventBridge would, and prints what each did. Exit 1 when a "
        "handler fails.",
        "python -m devstack emit ../shared/fixtures/events/training-job-completed.json",
        'echo \'{"source": "x", "detail-type": "y", "detail": {}}\' | '
        "python -m devstack emit - --json",
    )
    emitting.add_argument("file", metavar="FILE", help="the event as JSON; - reads stdin")
    for command in (training, tuning, emitting):
        command.add_argument(
            "--json",
            action="store_true",
            help="print the control API's answer (the job or event, the deliveries) as JSON",
        )
    return top


def main(argv: list[str] | None = None) -> int:
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(line_buffering=True)
    args = _parser().parse_args(argv)
    # Explicit: a shell starts background jobs with SIGINT ignored, and Python keeps it so.
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        if args.command == "serve":
            return serve()
        if args.command == "demo":
            # The story, not the app's JSON log lines and EMF metrics (`serve` shows them).
            os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
            os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
            logging.basicConfig(level=logging.WARNING, format="%(message)s")
            _quiet_aws_logs()
            return demo.run()
        return {"train": train, "tune": tune, "emit": emit}[args.command](args)
    except StackError as error:
        return fail(TOOL, error, FAILED)
    except KeyboardInterrupt:
        return 130
