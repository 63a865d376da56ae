"""The devstack command line: serve, demo, train."""

from __future__ import annotations

import argparse
import io
import logging
import os
import signal
import sys
import threading
import time
from types import FrameType

import boto3

from devstack import algorithms, demo, trainer
from devstack.samples import curl_line, write_samples
from devstack.stack import STATE_FILE, Stack, StackError, StackSettings, StackState

DEFAULT_API_PORT = 8000


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
        print(
            f"devstack ready: sagewire API on {api} "
            f"(projects digits-zero, digits-kmeans, digits-classifier) "
            f"[{time.perf_counter() - started:.1f}s]"
        )
        print("Try:")
        print(f"  curl -s {api}/v1/projects")
        for sample in samples:
            print(f"  # {sample.what}\n  {curl_line(api, sample)}")
        print("Ctrl-C stops the stack.")
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


def train(args: argparse.Namespace) -> int:
    path = StackSettings.from_environ(DEFAULT_API_PORT).out_dir / STATE_FILE
    try:
        state = StackState.read(path)
        os.kill(state.pid, 0)
    except (OSError, ValueError, TypeError):
        print(f"devstack: no running stack found ({path}); start one with `make serve`")
        return 1
    state.use_environment()
    job = trainer.TrainingJob(
        name=args.name,
        algorithm=args.algorithm,
        hyperparameters=dict(args.hp),
        tags=dict(args.tag),
    )
    s3 = boto3.session.Session(region_name=state.region).client("s3")
    try:
        result = trainer.run(job, s3, state.bucket)
    except ValueError as error:
        print(f"devstack: training job {job.name} failed: {error}")
        return 2
    seconds = (result.ended - result.started).total_seconds()
    tags = ", ".join(f"{key}={value}" for key, value in job.tags.items()) or "none"
    print(f"training job {job.name} ({job.algorithm}, tags: {tags}) completed in {seconds:.2f}s")
    for name, value in result.metrics.items():
        print(f"  {name} = {value}")
    print(f"  artifact: {result.model_data_url}")
    return 0


def main(argv: list[str] | None = None) -> int:
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(line_buffering=True)
    parser = argparse.ArgumentParser(prog="python -m devstack", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="start the stack and the demo projects; Ctrl-C stops it")
    commands.add_parser("demo", help="start the stack, show the whole story, stop")
    training = commands.add_parser("train", help="run a local training job on the running stack")
    training.add_argument("--name", required=True, help="training job name")
    training.add_argument("--algorithm", required=True, choices=algorithms.ALGORITHMS)
    for flag, what in (("--hp", "a hyperparameter"), ("--tag", "a tag of the job")):
        training.add_argument(
            flag,
            action="append",
            default=[],
            type=_key_value,
            metavar="KEY=VALUE",
            help=f"{what} (repeatable)",
        )
    args = parser.parse_args(argv)
    # Explicit: a shell starts background jobs with SIGINT ignored, and Python keeps it so.
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        if args.command == "serve":
            return serve()
        if args.command == "demo":
            logging.basicConfig(level=logging.WARNING, format="%(message)s")
            _quiet_aws_logs()
            return demo.run()
        return train(args)
    except StackError as error:
        print(f"devstack: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
