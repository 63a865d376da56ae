"""Pushes the lineage report's OpenLineage events to a lineage backend via the official client."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import boto3
import requests
import yaml
from botocore.exceptions import BotoCoreError, ClientError
from openlineage.client import OpenLineageClient
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import (
    BaseFacet,
    DatasetFacet,
    InputDatasetFacet,
    JobFacet,
    OutputDatasetFacet,
    RunFacet,
    error_message_run,
    job_type_job,
    parent_run,
)
from openlineage.client.serde import Serde

import cli_conventions as cli

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

LATEST_KEY = "reports/latest.openlineage.jsonl"
TOOL = "ops.openlineage"
# requests' errors for a backend that did not answer (refused, DNS, TLS, proxy, timeout), as
# HttpTransport lets them through; an HTTP error answer is an HTTPError or, once the retries on
# 5xx are spent, a RetryError: neither is one of these.
UNREACHABLE = (requests.ConnectionError, requests.Timeout)
# The standard facets sagewire writes, checked field by field against the client's models;
# any other facet (sagewire's own) is checked for its `_producer` and `_schemaURL` only.
_TYPED_FACETS: dict[str, type[BaseFacet]] = {
    "errorMessage": error_message_run.ErrorMessageRunFacet,
    "jobType": job_type_job.JobTypeJobFacet,
    "parent": parent_run.ParentRunFacet,
}
_TRANSPORT = """\
The transport is configured the client's way unless --transport-config names a file: the
`transport` section of an openlineage.yml (OPENLINEAGE_CONFIG, ./openlineage.yml,
~/.openlineage/openlineage.yml), OPENLINEAGE__TRANSPORT__* variables, or OPENLINEAGE_URL (and
OPENLINEAGE_API_KEY) for HTTP; with none of them, the client prints the events (console)."""
_OUTCOMES = """\
Exit 1: the backend answered an event with an HTTP error, or a transport other than HTTP failed
it; 3: the events cannot be read (no such file or key), one is not a valid RunEvent, or the
client refuses the transport configuration; 4: the HTTP backend or the bucket could not be
reached (connection refused, DNS, TLS, timeout; AWS credentials). The other transports raise
their libraries' errors unclassified, so an unreachable DataZone, Kafka or file is 1. The events
before a failed one were sent, none after."""


class InvalidEvent(ValueError):
    """A line that is not an OpenLineage RunEvent the client's models accept unchanged."""


class ConfigError(ValueError):
    """A transport configuration the client refuses."""


def _facet(name: str, document: Any, base: type[BaseFacet]) -> BaseFacet:
    if not isinstance(document, dict):
        raise InvalidEvent(f"facet {name} is not an object")
    fields = {k: v for k, v in document.items() if k not in ("_producer", "_schemaURL")}
    producer, schema = document.get("_producer"), document.get("_schemaURL")
    if not isinstance(producer, str) or not isinstance(schema, str):
        raise InvalidEvent(f"facet {name} needs the strings _producer and _schemaURL")
    model = _TYPED_FACETS.get(name)
    if model is not None:
        if model is parent_run.ParentRunFacet:
            fields = {
                **fields,
                "run": parent_run.Run(**{"facets": None, **fields["run"]}),
                "job": parent_run.Job(**{"facets": None, **fields["job"]}),
            }
        facet = model(producer=producer, **fields)
        if facet._schemaURL != schema:
            raise InvalidEvent(
                f"facet {name} names {schema}; the client's model is {facet._schemaURL}"
            )
        return facet
    facet = base(producer=producer).with_additional_properties(**fields)
    facet._schemaURL = schema
    return facet


def _facets(document: Any, base: type[BaseFacet]) -> Any:
    if document is None:
        return None
    if not isinstance(document, dict):
        raise InvalidEvent("facets are not an object")
    return {name: _facet(name, value, base) for name, value in document.items()}


def _dataset(item: Any, own: str, base: type[BaseFacet]) -> dict[str, Any]:
    """A dataset's model arguments; `own`: its inputFacets or outputFacets."""
    return {
        "namespace": item["namespace"],
        "name": item["name"],
        "facets": _facets(item.get("facets"), DatasetFacet),
        own: _facets(item.get(own), base),
    }


def run_event(document: Any) -> RunEvent:
    """The client's RunEvent of one event document; InvalidEvent unless the client would send
    exactly that document (every field known to its models, nothing dropped or added)."""
    try:
        run, job = document["run"], document["job"]
        inputs, outputs = document.get("inputs"), document.get("outputs")
        event = RunEvent(
            eventType=RunState(document["eventType"]),
            eventTime=document["eventTime"],
            producer=document["producer"],
            run=Run(runId=run["runId"], facets=_facets(run.get("facets"), RunFacet)),
            job=Job(
                namespace=job["namespace"],
                name=job["name"],
                facets=_facets(job.get("facets"), JobFacet),
            ),
            inputs=None
            if inputs is None
            else [InputDataset(**_dataset(i, "inputFacets", InputDatasetFacet)) for i in inputs],
            outputs=None
            if outputs is None
            else [
                OutputDataset(**_dataset(o, "outputFacets", OutputDatasetFacet)) for o in outputs
            ],
        )
    except InvalidEvent:
        raise
    except (KeyError, TypeError, ValueError) as error:
        raise InvalidEvent(f"not a RunEvent: {type(error).__name__}: {error}") from error
    sent = Serde.to_dict(event)
    if sent != document:
        changed = sorted(k for k in set(sent) | set(document) if sent.get(k) != document.get(k))
        raise InvalidEvent(f"the client would send it changed: {', '.join(changed)}")
    return event


def make_client(transport: dict[str, Any] | None) -> OpenLineageClient:
    """The client with this transport, or configured the client's own way (None)."""
    try:
        if transport is None:
            return OpenLineageClient()
        return OpenLineageClient(config={"transport": transport})
    except Exception as error:  # the transports raise what their libraries raise
        raise ConfigError(f"{type(error).__name__}: {error}") from error


def read_transport_config(path: Path) -> dict[str, Any]:
    """A transport's mapping (`type: http`, ...) from YAML or JSON, bare or under `transport`."""
    try:
        document = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise ConfigError(f"cannot read {path}: {error}") from error
    if isinstance(document, dict) and "type" not in document and "transport" in document:
        document = document["transport"]
    if not isinstance(document, dict) or not isinstance(document.get("type"), str):
        raise ConfigError(f"{path} holds no transport (a mapping with `type`)")
    return document


@dataclass
class Outcome:
    source: str
    transport: str
    dry_run: bool
    events: Counter[str] = field(default_factory=Counter)
    sent: int = 0
    error: str | None = None
    line: int | None = None
    code: int = cli.OK

    def fail(self, code: int, line: int, error: str) -> Outcome:
        self.code, self.line, self.error = code, line, " ".join(error.split())
        return self

    def document(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "transport": self.transport,
            "dry_run": self.dry_run,
            "events": sum(self.events.values()),
            "event_types": dict(sorted(self.events.items())),
            "sent": self.sent,
            "error": None if self.error is None else {"line": self.line, "message": self.error},
        }


def push(
    lines: Iterable[bytes | str],
    client: OpenLineageClient,
    outcome: Outcome,
    say: TextIO | None = None,
) -> Outcome:
    """Sends the events in order, each once, stopping at the first that is invalid or fails."""
    verb = "would send" if outcome.dry_run else "sent"
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            event = run_event(json.loads(line))
        except ValueError as error:  # InvalidEvent, or not JSON
            return outcome.fail(cli.USER_ERROR, number, f"invalid event: {error}")
        kind = event.eventType.value if event.eventType else "?"
        outcome.events[kind] += 1
        if not outcome.dry_run:
            try:
                client.emit(event)
            except Exception as error:  # the transports raise what their libraries raise
                message = f"not sent: {type(error).__name__}: {error}"
                code = cli.UNAVAILABLE if isinstance(error, UNREACHABLE) else cli.FAILED
                return outcome.fail(code, number, message)
            outcome.sent += 1
        if say is not None:
            say.write(f"{verb} {kind} {event.job.name} ({event.run.runId})\n")
    return outcome


def s3_lines(s3: S3Client, bucket: str, key: str) -> Iterator[bytes]:
    """The object's lines, read as they come (a report's file may be large)."""
    body = s3.get_object(Bucket=bucket, Key=key)["Body"]
    yield from body.iter_lines()


def _file_lines(path: str) -> Iterator[bytes]:
    if path == "-":
        yield from sys.stdin.buffer
        return
    with open(path, "rb") as handle:
        yield from handle


def _parser() -> argparse.ArgumentParser:
    parser = cli.parser(
        "python -m ops.openlineage",
        "Send the OpenLineage events of sagewire's lineage report to a lineage backend (Marquez, "
        "DataHub, Amazon DataZone, Kafka, a file, the console) through the official "
        "openlineage-python client (pip install openlineage-python).\n\n" + _TRANSPORT,
        "OPENLINEAGE_URL=http://localhost:5000 python -m ops.openlineage push --bucket "
        "sagewire-prod-data",
        "python -m ops.openlineage push --file latest.openlineage.jsonl --transport-config "
        "kafka.yml",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    command = cli.subcommand(
        commands,
        "push",
        "send the report's events, in order, each once",
        "Send every event of a report's OpenLineage file (the latest report in the stage's "
        "bucket, or a local file), in the file's order, each once, through the client's "
        "configured transport. Events are validated against the client's models first; the "
        "first invalid or failed event stops the push.\n\n" + _TRANSPORT + "\n\n" + _OUTCOMES,
        "OPENLINEAGE_URL=http://localhost:5000 python -m ops.openlineage push --bucket "
        "sagewire-prod-data",
        "python -m ops.openlineage push --file latest.openlineage.jsonl --transport-config "
        "kafka.yml",
        "python -m ops.openlineage push --file latest.openlineage.jsonl --dry-run --json",
    )
    source = command.add_mutually_exclusive_group()
    source.add_argument("--file", metavar="PATH", help="a local JSON Lines file ('-': stdin)")
    source.add_argument(
        "--bucket",
        default=os.environ.get("SAGEWIRE_BUCKET"),
        help="the stage's bucket (default: $SAGEWIRE_BUCKET)",
    )
    command.add_argument(
        "--key", default=LATEST_KEY, help=f"the object in the bucket (default {LATEST_KEY})"
    )
    command.add_argument("--region", help="the AWS region (default: the environment's)")
    command.add_argument(
        "--transport-config",
        metavar="FILE",
        type=Path,
        help="YAML or JSON: the transport section of an openlineage.yml, e.g. "
        "{type: http, url: http://localhost:5000}",
    )
    command.add_argument(
        "--dry-run", action="store_true", help="read and validate every event; send none"
    )
    command.add_argument("--json", action="store_true", help="print only a JSON summary")
    return parser


class _OneLine(logging.Formatter):
    """The client's log records without the tracebacks some transports attach (log.exception)."""

    def format(self, record: logging.LogRecord) -> str:
        message = super().format(
            logging.makeLogRecord({**record.__dict__, "exc_info": None, "exc_text": None})
        )
        return " ".join(message.split())


def _client_logs(out: TextIO) -> None:
    """The console transport writes the events to stdout; the client's warnings go to stderr."""
    console = logging.getLogger("openlineage.client.transport.console")
    console.setLevel(logging.INFO)
    console.propagate = False
    console.handlers = [logging.StreamHandler(out)]
    client = logging.getLogger("openlineage")
    client.handlers = [logging.StreamHandler(sys.stderr)]
    client.handlers[0].setFormatter(_OneLine(f"{TOOL}: client: %(message)s"))


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """The exit codes of cli_conventions (see _OUTCOMES)."""
    out = out or sys.stdout
    parser = _parser()
    args = parser.parse_args(argv)
    if args.file is None and not args.bucket:
        parser.error("give --file or --bucket (or set SAGEWIRE_BUCKET)")
    _client_logs(out)
    try:
        transport = (
            None if args.transport_config is None else read_transport_config(args.transport_config)
        )
        client = make_client(transport)
    except ConfigError as error:
        return cli.fail(TOOL, f"transport: {error}")
    if args.file is not None:
        source, lines = args.file, _file_lines(args.file)
    else:
        s3: S3Client = boto3.session.Session(region_name=args.region).client("s3")
        source = f"s3://{args.bucket}/{args.key}"
        lines = s3_lines(s3, args.bucket, args.key)
    outcome = Outcome(source, client.transport.kind or "?", args.dry_run)
    try:
        push(lines, client, outcome, None if args.json else out)
    except (OSError, ClientError) as error:
        return cli.fail(TOOL, f"cannot read {source}: {error}")
    except BotoCoreError as error:
        return cli.fail(TOOL, f"cannot read {source}: {error}", cli.UNAVAILABLE)
    finally:
        client.close(timeout=30)
    if args.json:
        out.write(json.dumps(outcome.document(), indent=2) + "\n")
    else:
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(outcome.events.items())) or "none"
        verb = "would send" if args.dry_run else "sent"
        out.write(
            f"{verb} {sum(outcome.events.values())} event(s) ({kinds}) via {outcome.transport}\n"
        )
    if outcome.error is not None:
        return cli.fail(TOOL, f"line {outcome.line}: {outcome.error}", outcome.code)
    return outcome.code


if __name__ == "__main__":
    sys.exit(main())
