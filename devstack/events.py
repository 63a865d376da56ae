"""A local EventBridge: delivers events to a Chalice app's handlers by their own event patterns."""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from chalice.app import Chalice, CloudWatchEventConfig, ScheduledEventConfig

from devstack import patterns

logger = logging.getLogger("devstack.events")

ACCOUNT_ID = "123456789012"
# Lambda's asynchronous invocation: the first attempt, then two retries (backoff shortened here).
DEFAULT_RETRY_DELAYS = (0.2, 0.5)
DEFAULT_TIMEOUT_SECONDS = 60.0
# How long stopping the router waits for the handlers in flight, all together.
STOP_GRACE_SECONDS = 2.0

Status = Literal["succeeded", "dropped"]


class EventSink(Protocol):
    """What emits events: publish one, and say when more are on their way (begin ... end)."""

    def publish(self, event: Mapping[str, Any]) -> Delivery: ...

    def begin(self) -> None: ...

    def end(self) -> None: ...


class Discard:
    """An event sink for a control plane that nobody listens to."""

    def publish(self, event: Mapping[str, Any]) -> Delivery:
        return Delivery(dict(event), expected=0)

    def begin(self) -> None:
        """Nothing waits on a discarding sink."""

    def end(self) -> None:
        """Nothing waits on a discarding sink."""


@dataclass(frozen=True)
class Rule:
    """One EventBridge rule targeting one Lambda function of the app."""

    name: str
    handler: Callable[[dict[str, Any], Any], Any]
    pattern: Mapping[str, Any] | None = None
    schedule: str | None = None


@dataclass(frozen=True)
class Outcome:
    handler: str
    status: Status
    attempts: int
    seconds: float
    error: str | None = None
    result: str | None = None


@dataclass
class Delivery:
    """One event and, once delivered, what each matching handler made of it."""

    event: dict[str, Any]
    expected: int
    outcomes: list[Outcome] = field(default_factory=list)
    _done: threading.Event = field(default_factory=threading.Event, repr=False)

    def __post_init__(self) -> None:
        if self.expected == 0:
            self._done.set()

    def record(self, outcome: Outcome) -> None:
        self.outcomes.append(outcome)
        if len(self.outcomes) >= self.expected:
            self._done.set()

    def wait(self, timeout: float) -> bool:
        return self._done.wait(timeout)

    @property
    def summary(self) -> str:
        return describe(self.event)


@dataclass(frozen=True)
class DeadLetter:
    """An event whose every attempt failed: what Lambda hands its on-failure destination."""

    handler: str
    event: dict[str, Any]
    error: str
    attempts: int
    function_arn: str = ""
    request_id: str = ""
    error_type: str = ""
    error_message: str = ""
    stack_trace: tuple[str, ...] = ()
    failed_at: datetime = field(default_factory=lambda: datetime.now(UTC))


# Where dead letters go besides `EventRouter.dead_letters` (e.g. devstack.functions.SqsDestination).
DeadLetterSink = Callable[[DeadLetter], None]


def function_arn(function_name: str, region: str) -> str:
    return f"arn:aws:lambda:{region}:{ACCOUNT_ID}:function:{function_name}"


def destination_record(letter: DeadLetter) -> dict[str, Any]:
    """The invocation record Lambda sends to an on-failure destination once an asynchronous
    invocation has exhausted its retries."""
    return {
        "version": "1.0",
        "timestamp": letter.failed_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
        "requestContext": {
            "requestId": letter.request_id,
            "functionArn": f"{letter.function_arn}:$LATEST",
            "condition": "RetriesExhausted",
            "approximateInvokeCount": letter.attempts,
        },
        "requestPayload": letter.event,
        "responseContext": {
            "statusCode": 200,
            "executedVersion": "$LATEST",
            "functionError": "Unhandled",
        },
        "responsePayload": {
            "errorMessage": letter.error_message,
            "errorType": letter.error_type,
            "requestId": letter.request_id,
            "stackTrace": list(letter.stack_trace),
        },
    }


class LambdaContext:
    """The parts of Lambda's context object a handler may read."""

    def __init__(
        self,
        function_name: str,
        region: str,
        timeout_seconds: float,
        request_id: str | None = None,
    ) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = function_arn(function_name, region)
        self.memory_limit_in_mb = 128
        # An asynchronous invocation keeps its request id across Lambda's retries.
        self.aws_request_id = request_id or str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = datetime.now(UTC).strftime("%Y/%m/%d/[$LATEST]") + uuid.uuid4().hex
        self._deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def describe(event: Mapping[str, Any]) -> str:
    """`detail-type (name status)` for log lines; an S3 object's name is its s3:// URI."""
    detail = event.get("detail")
    detail = detail if isinstance(detail, Mapping) else {}
    bucket, obj = detail.get("bucket"), detail.get("object")
    if isinstance(bucket, Mapping) and isinstance(obj, Mapping):
        detail = {"ObjectName": f"s3://{bucket.get('name')}/{obj.get('key')}"}
    name = next((str(v) for k, v in detail.items() if k.endswith("Name")), "")
    status = next((str(v) for k, v in detail.items() if k.endswith("Status")), "")
    what = " ".join(part for part in (name, status) if part)
    return f"{event.get('detail-type', '?')}" + (f" ({what})" if what else "")


def rules_of(app: Chalice) -> list[Rule]:
    """The app's EventBridge rules, read from its registered event sources."""
    rules = []
    for source in app.event_sources:
        handler = app.handler_map[source.name]
        if isinstance(source, CloudWatchEventConfig):
            patterns.validate(source.event_pattern)
            rules.append(Rule(source.name, handler, pattern=source.event_pattern))
        elif isinstance(source, ScheduledEventConfig):
            expression = source.schedule_expression
            text = expression if isinstance(expression, str) else expression.to_string()
            rules.append(Rule(source.name, handler, schedule=text))
    return rules


def scheduled_event(rule_arn: str, region: str) -> dict[str, Any]:
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT_ID,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [rule_arn],
        "detail": {},
    }


@dataclass
class _Task:
    rule: Rule
    delivery: Delivery
    attempt: int = 1
    started: float = field(default_factory=time.monotonic)
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))


class EventRouter:
    """EventBridge -> Lambda, asynchronously: a queue, worker threads, retries, dead letters (a
    list, and `dead_letter_sink` if given: Lambda's on-failure destination).

    It also hosts the app's functions for Lambda's Invoke API (`function`, `invoke_async`,
    `invoke_sync`): an asynchronous invocation is delivered like an event, with the same retries.

    `wait_idle` returns once nothing is queued, running or waiting to be retried, and no emitter
    holds an announcement (`begin` ... `end`, e.g. an endpoint update that will report back).
    """

    def __init__(
        self,
        rules: list[Rule],
        *,
        function_prefix: str,
        region: str = "us-east-1",
        workers: int = 2,
        retry_delays: tuple[float, ...] = DEFAULT_RETRY_DELAYS,
        schedule_seconds: float = 10.0,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        dead_letter_sink: DeadLetterSink | None = None,
    ) -> None:
        self.rules = rules
        self.dead_letters: list[DeadLetter] = []
        self._dead_letter_sink = dead_letter_sink
        self._prefix = function_prefix
        self._region = region
        self._workers = workers
        self._retry_delays = retry_delays
        self._schedule_seconds = schedule_seconds
        self._timeout_seconds = timeout_seconds
        self._queue: queue.Queue[_Task | None] = queue.Queue()
        self._idle = threading.Condition()
        self._outstanding = 0
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._retries: list[threading.Timer] = []
        self._published: list[Delivery] = []

    @classmethod
    def for_app(cls, app: Chalice, stage: str, **options: Any) -> EventRouter:
        return cls(rules_of(app), function_prefix=f"{app.app_name}-{stage}-", **options)

    def start(self) -> None:
        for index in range(self._workers):
            thread = threading.Thread(target=self._work, name=f"devstack-events-{index}")
            thread.daemon = True
            thread.start()
            self._threads.append(thread)
        if any(rule.schedule for rule in self.rules):
            clock = threading.Thread(target=self._tick, name="devstack-schedule", daemon=True)
            clock.start()
            self._threads.append(clock)

    def stop(self) -> None:
        self._stopping.set()
        with self._idle:
            retries, self._retries = self._retries, []
        for timer in retries:
            timer.cancel()
        for _ in range(self._workers):
            self._queue.put(None)
        # A handler in flight (a scheduled lineage report over many projects) gets a moment to
        # finish; past it, its daemon thread is left to end with the process, so that Ctrl-C
        # stops the stack within seconds whatever the handlers were doing.
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._threads = []

    # --- emitters ---

    def publish(self, event: Mapping[str, Any]) -> Delivery:
        """PutEvents: delivers a copy to every rule whose pattern matches; returns at once."""
        copy = json.loads(json.dumps(event))
        matched = [
            r for r in self.rules if r.pattern is not None and patterns.matches(r.pattern, copy)
        ]
        delivery = Delivery(copy, expected=len(matched))
        with self._idle:
            self._published.append(delivery)
        if not matched:
            # S3 sends every object's events (models, reports ...); few are anyone's business.
            level = logging.DEBUG if copy.get("source") == "aws.s3" else logging.INFO
            logger.log(level, "devstack: event %s matches no rule", delivery.summary)
        for rule in matched:
            self._enqueue(_Task(rule, delivery))
        return delivery

    def mark(self) -> int:
        """A bookmark in the published events, for `published_since`."""
        with self._idle:
            return len(self._published)

    def published_since(self, mark: int) -> list[Delivery]:
        with self._idle:
            return self._published[mark:]

    def invoke_schedule(self, rule: Rule) -> Delivery:
        """What EventBridge Scheduler does when the rule's time comes."""
        arn = f"arn:aws:events:{self._region}:{ACCOUNT_ID}:rule/{self._prefix}{rule.name}"
        delivery = Delivery(scheduled_event(arn, self._region), expected=1)
        self._enqueue(_Task(rule, delivery))
        return delivery

    # --- Lambda's Invoke API ---

    def function(self, name: str) -> Rule | None:
        """The rule behind a Lambda function: its name (`<app>-<stage>-<handler>` or just the
        handler; the packaged template's kebab-case names too), a full or partial ARN,
        optionally qualified with `$LATEST`."""
        parts = name.split(":")
        if name.startswith("arn:"):
            parts = parts[6:] if len(parts) >= 7 and parts[5] == "function" else []
        elif len(parts) >= 3 and parts[1] == "function":
            parts = parts[2:]
        if not parts or len(parts) > 2 or (len(parts) == 2 and parts[1] != "$LATEST"):
            return None
        wanted = parts[0].replace("-", "_")
        return next(
            (
                rule
                for rule in self.rules
                if wanted in (rule.name, f"{self._prefix}{rule.name}".replace("-", "_"))
            ),
            None,
        )

    def function_arn(self, rule: Rule) -> str:
        return function_arn(f"{self._prefix}{rule.name}", self._region)

    def invoke_async(self, rule: Rule, event: Mapping[str, Any]) -> Delivery:
        """Invoke with InvocationType Event: queued, retried and dead-lettered like an event."""
        delivery = Delivery(json.loads(json.dumps(event)), expected=1)
        self._enqueue(_Task(rule, delivery))
        return delivery

    def invoke_sync(self, rule: Rule, event: Any) -> Any:
        """Invoke with InvocationType RequestResponse: the handler's result, or its exception."""
        function = f"{self._prefix}{rule.name}"
        context = LambdaContext(function, self._region, self._timeout_seconds)
        return rule.handler(json.loads(json.dumps(event)), context)

    def begin(self) -> None:
        with self._idle:
            self._outstanding += 1

    def end(self) -> None:
        with self._idle:
            self._outstanding -= 1
            self._idle.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """True once all deliveries and announced follow-ups are done; False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._outstanding == 0, timeout)

    # --- delivery ---

    def _enqueue(self, task: _Task) -> None:
        self.begin()
        self._queue.put(task)

    def _tick(self) -> None:
        scheduled = [rule for rule in self.rules if rule.schedule]
        while not self._stopping.wait(self._schedule_seconds):
            for rule in scheduled:
                self.invoke_schedule(rule)

    def _work(self) -> None:
        while (task := self._queue.get()) is not None:
            self._deliver(task)

    def _deliver(self, task: _Task) -> None:
        rule, delivery = task.rule, task.delivery
        function = f"{self._prefix}{rule.name}"
        context = LambdaContext(function, self._region, self._timeout_seconds, task.request_id)
        event = json.loads(json.dumps(delivery.event))
        try:
            result = rule.handler(event, context)
        except Exception as error:
            self._failed(task, error)
            return
        seconds = time.monotonic() - task.started
        # A scheduled run every few seconds would drown the story; failures are still logged.
        logger.log(
            logging.DEBUG if rule.schedule else logging.INFO,
            "devstack: %s -> %s succeeded (attempt %d) [%.2fs]",
            delivery.summary,
            rule.name,
            task.attempt,
            seconds,
        )
        self._finish(
            task, Outcome(rule.name, "succeeded", task.attempt, seconds, result=_short(result))
        )

    def _failed(self, task: _Task, exception: Exception) -> None:
        rule, delivery = task.rule, task.delivery
        error = f"{type(exception).__name__}: {exception}"
        if task.attempt <= len(self._retry_delays) and not self._stopping.is_set():
            delay = self._retry_delays[task.attempt - 1]
            logger.warning(
                "devstack: %s -> %s failed (attempt %d: %s); retrying in %.1fs",
                delivery.summary,
                rule.name,
                task.attempt,
                error,
                delay,
            )
            task.attempt += 1
            timer = threading.Timer(delay, self._queue.put, (task,))
            timer.daemon = True
            with self._idle:
                self._retries = [t for t in self._retries if t.is_alive()] + [timer]
            timer.start()
            return
        logger.error(
            "devstack: %s -> %s dropped after %d attempts%s: %s",
            delivery.summary,
            rule.name,
            task.attempt,
            " (sent to the dead-letter queue)" if self._dead_letter_sink else "",
            error,
        )
        letter = DeadLetter(
            rule.name,
            delivery.event,
            error,
            task.attempt,
            function_arn=self.function_arn(rule),
            request_id=task.request_id,
            error_type=type(exception).__name__,
            error_message=str(exception),
            stack_trace=tuple(
                line.rstrip("\n") for line in traceback.format_tb(exception.__traceback__)
            ),
        )
        self.dead_letters.append(letter)
        if self._dead_letter_sink is not None:
            try:
                self._dead_letter_sink(letter)
            except Exception:  # the letter stays in `dead_letters`; the router keeps going
                logger.exception("devstack: the dead letter for %s was not sent", rule.name)
        seconds = time.monotonic() - task.started
        self._finish(task, Outcome(rule.name, "dropped", task.attempt, seconds, error=error))

    def _finish(self, task: _Task, outcome: Outcome) -> None:
        task.delivery.record(outcome)
        self.end()


def _short(result: Any, limit: int = 300) -> str | None:
    if result is None:
        return None
    try:
        text = json.dumps(result, default=str)
    except (TypeError, ValueError):
        text = repr(result)
    return text if len(text) <= limit else text[: limit - 3] + "..."
