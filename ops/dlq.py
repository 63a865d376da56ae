"""Lists and replays the dead-letter queue: EventBridge dead letters, Lambda failure records."""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TextIO

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

import cli_conventions as cli

if TYPE_CHECKING:
    from mypy_boto3_lambda.client import LambdaClient
    from mypy_boto3_lambda.literals import InvocationTypeType
    from mypy_boto3_sqs.client import SQSClient
    from mypy_boto3_sqs.type_defs import (
        ChangeMessageVisibilityBatchRequestEntryTypeDef,
        MessageTypeDef,
    )

BATCH = 10  # ReceiveMessage's maximum
# Lambda's conditions for a record on an on-failure destination; "Success" records are not ours.
FAILURE_CONDITIONS = frozenset({"RetriesExhausted", "EventAgeExceeded"})
DEFAULT_POLL_SECONDS = 5
DEFAULT_VISIBILITY_SECONDS = 300
_MAX_TEXT = 160
TOOL = "ops.dlq"

Kind = Literal["eventbridge", "lambda"]


def _short(text: str, limit: int = _MAX_TEXT) -> str:
    """One printable line: the messages quote event fields (e.g. S3 keys) nobody vetted."""
    text = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def function_name(arn_or_name: str) -> str:
    """`sagewire-prod-reconcile` from a function's name, partial or full ARN (qualifier off)."""
    parts = arn_or_name.split(":")
    if arn_or_name.startswith("arn:") and len(parts) >= 7:
        return parts[6]
    if len(parts) >= 3 and parts[1] == "function":
        return parts[2]
    return parts[0]


def describe_event(event: dict[str, Any]) -> str:
    """`detail-type (name status)`; an S3 object is named by its key."""
    detail = event.get("detail")
    detail = detail if isinstance(detail, dict) else {}
    obj = detail.get("object")
    if isinstance(obj, dict) and "key" in obj:
        detail = {"ObjectName": obj["key"]}
    name = next((str(v) for k, v in detail.items() if k.endswith("Name")), "")
    status = next((str(v) for k, v in detail.items() if k.endswith("Status")), "")
    what = " ".join(part for part in (name, status) if part)
    return _short(str(event.get("detail-type", "?")) + (f" ({what})" if what else ""), 120)


@dataclass(frozen=True)
class Letter:
    """A dead letter that can be replayed: the original event and the function it was for."""

    message_id: str
    receipt_handle: str
    kind: Kind
    function: str  # what to invoke: the function's ARN (possibly qualified) or name
    event: dict[str, Any]
    error_kind: str  # e.g. "RetriesExhausted EndpointUnavailable"
    error: str

    @property
    def function_name(self) -> str:
        return function_name(self.function)

    @property
    def detail_type(self) -> str:
        return str(self.event.get("detail-type", "?"))


@dataclass(frozen=True)
class Unreadable:
    """A message this tool cannot replay; it stays in the queue."""

    message_id: str
    receipt_handle: str
    reason: str


def _attribute(message: MessageTypeDef, name: str) -> str | None:
    attribute = message.get("MessageAttributes", {}).get(name)
    value = None if attribute is None else attribute.get("StringValue")
    return value if isinstance(value, str) else None


def parse(message: MessageTypeDef) -> Letter | Unreadable:
    """Either format, or why the message is neither."""
    message_id = message.get("MessageId", "?")
    receipt = message.get("ReceiptHandle", "")
    try:
        body = json.loads(message.get("Body", ""))
    except ValueError:
        return Unreadable(message_id, receipt, "the body is not JSON")
    if not isinstance(body, dict):
        return Unreadable(message_id, receipt, "the body is not a JSON object")
    target = _attribute(message, "TARGET_ARN")
    if target is not None:
        # EventBridge's rule dead-letter queue: the body is the event itself.
        if ":lambda:" not in target or ":function:" not in target:
            return Unreadable(message_id, receipt, f"the target is not a Lambda function: {target}")
        code = _attribute(message, "ERROR_CODE") or "?"
        text = _attribute(message, "ERROR_MESSAGE") or ""
        return Letter(
            message_id, receipt, "eventbridge", target, body, code, _short(f"{code}: {text}")
        )
    context, payload = body.get("requestContext"), body.get("requestPayload")
    if isinstance(context, dict) and "requestPayload" in body:
        # Lambda's on-failure destination: an invocation record around the event.
        condition = context.get("condition")
        arn = context.get("functionArn")
        if condition not in FAILURE_CONDITIONS:
            why = f"not a failure record (condition {condition!r})"
            return Unreadable(message_id, receipt, why)
        if not isinstance(arn, str) or not arn:
            return Unreadable(message_id, receipt, "the record names no functionArn")
        if not isinstance(payload, dict):
            return Unreadable(message_id, receipt, "the record's requestPayload is not an event")
        response = body.get("responsePayload")
        response = response if isinstance(response, dict) else {}
        error_type = str(response.get("errorType") or "")
        kind = f"{condition} {error_type}".strip()
        text = str(response.get("errorMessage") or "")
        return Letter(
            message_id, receipt, "lambda", arn, payload, kind, _short(f"{kind}: {text}".strip())
        )
    return Unreadable(
        message_id,
        receipt,
        "neither an EventBridge dead letter (no TARGET_ARN attribute) "
        "nor a Lambda invocation record (no requestContext/requestPayload)",
    )


@dataclass
class Listing:
    messages: int = 0
    groups: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    examples: dict[tuple[str, str, str], str] = field(default_factory=dict)
    unreadable: list[Unreadable] = field(default_factory=list)


@dataclass
class Replay:
    replayed: list[Letter] = field(default_factory=list)
    failed: list[tuple[Letter, str]] = field(default_factory=list)
    skipped: list[Letter] = field(default_factory=list)
    unreadable: list[Unreadable] = field(default_factory=list)

    @property
    def left(self) -> int:
        """Messages left in the queue because of a problem (not the ones filtered out)."""
        return len(self.failed) + len(self.unreadable)


class DeadLetterQueue:
    """One pass over the queue: every message is received at most once per pass; whatever is not
    deleted is made visible again at the end of the pass (not left hidden for the timeout)."""

    def __init__(
        self,
        sqs: SQSClient,
        lambda_client: LambdaClient,
        queue_url: str,
        *,
        poll_seconds: int = DEFAULT_POLL_SECONDS,
        visibility_seconds: int = DEFAULT_VISIBILITY_SECONDS,
        out: TextIO | None = None,
    ) -> None:
        self._sqs = sqs
        self._lambda = lambda_client
        self._queue_url = queue_url
        self._poll_seconds = poll_seconds
        self._visibility_seconds = visibility_seconds
        self._out = out
        self._held: dict[str, str] = {}  # message id -> newest receipt handle, not deleted

    def _say(self, line: str) -> None:
        if self._out is not None:
            self._out.write(line + "\n")

    def list(self, limit: int | None = None) -> Listing:
        listing = Listing()
        try:
            for message in self._messages(limit):
                listing.messages += 1
                item = parse(message)
                if isinstance(item, Unreadable):
                    listing.unreadable.append(item)
                    continue
                key = (item.function_name, item.detail_type, item.error_kind)
                listing.groups[key] += 1
                listing.examples.setdefault(key, item.error)
        finally:
            self._release()
        return listing

    def replay(
        self,
        limit: int | None = None,
        *,
        dry_run: bool = False,
        wait: bool = False,
        function: str | None = None,
    ) -> Replay:
        """Invokes each letter's function with its event (InvocationType Event, or
        RequestResponse with `wait`) and deletes the message once the invoke is accepted (and,
        with `wait`, succeeded). Unreadable and failed messages stay in the queue."""
        report = Replay()
        try:
            for message in self._messages(limit):
                item = parse(message)
                if isinstance(item, Unreadable):
                    report.unreadable.append(item)
                    self._say(f"left         {item.message_id}  unreadable: {item.reason}")
                    continue
                what = f"{item.function_name}  {describe_event(item.event)}"
                if function is not None and function not in (item.function_name, item.function):
                    report.skipped.append(item)
                    continue
                if dry_run:
                    report.replayed.append(item)
                    self._say(f"would replay {item.message_id}  {what}  [{item.error}]")
                    continue
                problem = self._invoke(item, wait)
                if problem is not None:
                    report.failed.append((item, problem))
                    self._say(f"left         {item.message_id}  {what}: {problem}")
                    continue
                self._delete(item)
                report.replayed.append(item)
                self._say(f"replayed     {item.message_id}  {what}")
        finally:
            self._release()
        return report

    def _invoke(self, letter: Letter, wait: bool) -> str | None:
        """None when Lambda accepted (and with `wait`, ran) the event; else what went wrong."""
        kind: InvocationTypeType = "RequestResponse" if wait else "Event"
        try:
            response = self._lambda.invoke(
                FunctionName=letter.function,
                InvocationType=kind,
                Payload=json.dumps(letter.event).encode(),
            )
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "?")
            message = error.response.get("Error", {}).get("Message", "")
            return _short(f"Invoke refused: {code}: {message}")
        except BotoCoreError as error:
            return _short(f"Invoke failed: {error}")
        status = response.get("StatusCode")
        if status != (200 if wait else 202):
            return f"Invoke answered status {status}"
        if "FunctionError" in response:
            payload = response["Payload"].read() if "Payload" in response else b""
            return _short(f"the function failed ({response['FunctionError']}): {payload.decode()}")
        return None

    def _messages(self, limit: int | None) -> Iterator[MessageTypeDef]:
        """Receives (long polling, batches of 10) until the queue has nothing new or `limit`
        messages were seen; every message received is held until deleted or released."""
        seen = 0
        while limit is None or seen < limit:
            received = self._sqs.receive_message(
                QueueUrl=self._queue_url,
                MaxNumberOfMessages=BATCH if limit is None else min(BATCH, limit - seen),
                WaitTimeSeconds=self._poll_seconds,
                VisibilityTimeout=self._visibility_seconds,
                MessageAttributeNames=["All"],
                MessageSystemAttributeNames=["ApproximateReceiveCount", "SentTimestamp"],
            ).get("Messages", [])
            fresh = [m for m in received if m.get("MessageId") not in self._held]
            for message in received:
                self._held[message.get("MessageId", "")] = message.get("ReceiptHandle", "")
            if not fresh:
                return  # empty, or only messages already seen in this pass
            for message in fresh:
                seen += 1
                yield message

    def _delete(self, letter: Letter) -> None:
        receipt = self._held.pop(letter.message_id, letter.receipt_handle)
        self._sqs.delete_message(QueueUrl=self._queue_url, ReceiptHandle=receipt)

    def _release(self) -> None:
        """Makes every message held and not deleted visible again now."""
        held = list(self._held.items())
        self._held.clear()
        for start in range(0, len(held), BATCH):
            entries: list[ChangeMessageVisibilityBatchRequestEntryTypeDef] = [
                {"Id": str(index), "ReceiptHandle": receipt, "VisibilityTimeout": 0}
                for index, (_, receipt) in enumerate(held[start : start + BATCH])
            ]
            try:
                answer = self._sqs.change_message_visibility_batch(
                    QueueUrl=self._queue_url, Entries=entries
                )
            except (ClientError, BotoCoreError) as error:
                self._say(f"note: could not release messages ({error}); they return by themselves")
                continue
            if answer.get("Failed"):
                self._say(
                    f"note: {len(answer['Failed'])} message(s) return after the visibility timeout"
                )


def _print_listing(listing: Listing, queue_url: str, out: TextIO) -> None:
    out.write(f"{listing.messages} message(s) in {queue_url}\n")
    if listing.groups:
        rows = [("count", "function", "detail-type", "error")] + [
            (str(count), *key) for key, count in sorted(listing.groups.items())
        ]
        widths = [max(len(row[i]) for row in rows) for i in range(3)]
        for row in rows:
            cells = [row[i].ljust(widths[i]) for i in range(3)]
            out.write("  ".join([*cells, row[3]]) + "\n")
        out.write("examples:\n")
        for key, example in sorted(listing.examples.items()):
            out.write(f"  {key[0]}: {example}\n")
    for item in listing.unreadable:
        out.write(f"unreadable {item.message_id}: {item.reason}\n")


def _listing_json(listing: Listing, queue_url: str) -> dict[str, Any]:
    return {
        "queue_url": queue_url,
        "messages": listing.messages,
        "groups": [
            {
                "function": key[0],
                "detail_type": key[1],
                "error": key[2],
                "count": count,
                "example": listing.examples[key],
            }
            for key, count in sorted(listing.groups.items())
        ],
        "unreadable": [
            {"message_id": item.message_id, "reason": item.reason} for item in listing.unreadable
        ],
    }


def _letter_json(letter: Letter) -> dict[str, Any]:
    return {
        "message_id": letter.message_id,
        "function": letter.function_name,
        "event": describe_event(letter.event),
        "error": letter.error,
    }


def _replay_json(report: Replay, queue_url: str, dry_run: bool) -> dict[str, Any]:
    return {
        "queue_url": queue_url,
        "dry_run": dry_run,
        "replayed": [_letter_json(letter) for letter in report.replayed],
        "failed": [
            {**_letter_json(letter), "problem": problem} for letter, problem in report.failed
        ],
        "unreadable": [
            {"message_id": item.message_id, "reason": item.reason} for item in report.unreadable
        ],
        "not_selected": [_letter_json(letter) for letter in report.skipped],
    }


def _at_least_one(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = cli.parser(
        "python -m ops.dlq",
        "List or replay sagewire's dead letters (EventBridge rule dead letters and Lambda "
        "on-failure records) from its SQS dead-letter queue. AWS credentials, region and "
        "endpoints come from the usual variables (AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL). "
        "docs/runbook.md says when and how.",
        "python -m ops.dlq list --queue-name sagewire-prod-dlq",
        "python -m ops.dlq replay --queue-name sagewire-prod-dlq --dry-run",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    listing = cli.subcommand(
        commands,
        "list",
        "summarize the queue per function, event, error",
        "Reads every message once (long polling, 10 at a time), counts them per function, event "
        "type and error with one example each, names the ones it cannot read, and makes them all "
        "visible again. It changes nothing.",
        "python -m ops.dlq list --queue-name sagewire-prod-dlq --json",
    )
    replaying = cli.subcommand(
        commands,
        "replay",
        "re-invoke each dead letter's function",
        "Invokes each dead letter's function with its original event and deletes the message "
        "once Lambda accepted it (with --wait: once the function succeeded). Messages it cannot "
        "read, and failed invokes, stay in the queue: exit 1 when any did.",
        "python -m ops.dlq replay --queue-name sagewire-prod-dlq --dry-run",
        "python -m ops.dlq replay --queue-name sagewire-prod-dlq --wait --function "
        "sagewire-prod-on-training-job-state-change --json",
    )
    for command in (listing, replaying):
        where = command.add_mutually_exclusive_group(required=True)
        where.add_argument("--queue-url", help="the dead-letter queue's URL")
        where.add_argument("--queue-name", help="its name, e.g. sagewire-prod-dlq")
        command.add_argument(
            "--max",
            type=_at_least_one,
            metavar="N",
            help="look at N messages at most (default: all)",
        )
        command.add_argument(
            "--poll-seconds",
            type=int,
            default=DEFAULT_POLL_SECONDS,
            choices=range(21),
            metavar="0-20",
            help=f"long-poll wait for each receive (default {DEFAULT_POLL_SECONDS})",
        )
        command.add_argument(
            "--visibility-seconds",
            type=int,
            default=DEFAULT_VISIBILITY_SECONDS,
            help="how long received messages stay hidden from other readers during the pass "
            f"(default {DEFAULT_VISIBILITY_SECONDS}; released at the end of the pass)",
        )
        command.add_argument("--region", help="the AWS region (default: the environment's)")
    listing.add_argument("--json", action="store_true", help="print the summary as JSON")
    replaying.add_argument(
        "--json",
        action="store_true",
        help="print the summary as JSON (the per-message lines go to stderr)",
    )
    replaying.add_argument(
        "--dry-run", action="store_true", help="print what would be replayed; change nothing"
    )
    replaying.add_argument(
        "--wait",
        action="store_true",
        help="invoke with RequestResponse and keep the message unless the function succeeds "
        "(default: InvocationType Event, so that the function's own retries apply)",
    )
    replaying.add_argument(
        "--function", help="replay only the letters of this function (name or ARN)"
    )
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """The exit codes of cli_conventions: 1 when replay left messages in the queue."""
    out = out or sys.stdout
    args = _parser().parse_args(argv)
    session = boto3.session.Session(region_name=args.region)
    sqs: SQSClient = session.client("sqs")
    # A RequestResponse invoke may run for the function's whole timeout (at most 15 minutes).
    lambda_client: LambdaClient = session.client(
        "lambda", config=Config(read_timeout=910, retries={"mode": "standard"})
    )
    try:
        queue_url = args.queue_url or sqs.get_queue_url(QueueName=args.queue_name)["QueueUrl"]
        queue = DeadLetterQueue(
            sqs,
            lambda_client,
            queue_url,
            poll_seconds=args.poll_seconds,
            visibility_seconds=args.visibility_seconds,
            out=sys.stderr if args.json else out,
        )
        if args.command == "list":
            listing = queue.list(args.max)
            if args.json:
                out.write(json.dumps(_listing_json(listing, queue_url), indent=2) + "\n")
            else:
                _print_listing(listing, queue_url, out)
            return cli.OK
        report = queue.replay(
            args.max, dry_run=args.dry_run, wait=args.wait, function=args.function
        )
    except ClientError as error:
        return cli.fail(TOOL, error)
    except BotoCoreError as error:
        return cli.fail(TOOL, error, cli.UNAVAILABLE)
    if args.json:
        out.write(json.dumps(_replay_json(report, queue_url, args.dry_run), indent=2) + "\n")
    else:
        verb = "would replay" if args.dry_run else "replayed"
        out.write(
            f"{verb} {len(report.replayed)}, failed {len(report.failed)}, "
            f"unreadable {len(report.unreadable)}, not selected {len(report.skipped)}\n"
        )
    return cli.FAILED if report.left else cli.OK


if __name__ == "__main__":
    sys.exit(main())
