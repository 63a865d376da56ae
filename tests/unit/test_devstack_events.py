"""The devstack's EventBridge: pattern matching, and delivery to a Chalice app's handlers."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from chalice.app import Blueprint, Chalice, CloudWatchEvent, Rate
from hypothesis import given
from hypothesis import strategies as st

from devstack import patterns
from devstack.events import EventRouter, rules_of

TRAINING = "SageMaker Training Job State Change"
ENDPOINT = "SageMaker Endpoint State Change"


def _event(detail_type: str = TRAINING, **detail: Any) -> dict[str, Any]:
    return {
        "version": "0",
        "id": "1",
        "detail-type": detail_type,
        "source": "aws.sagemaker",
        "account": "123456789012",
        "time": "2026-11-20T12:26:13Z",
        "region": "us-east-1",
        "resources": [],
        "detail": detail,
    }


# --- patterns ---


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ({"source": ["aws.sagemaker"]}, True),
        ({"source": ["aws.s3", "aws.sagemaker"], "detail-type": [TRAINING]}, True),
        ({"source": ["aws.sagemaker"], "detail-type": [ENDPOINT]}, False),
        ({"detail": {"TrainingJobStatus": ["Completed"]}}, True),
        ({"detail": {"Tags": {"Project": ["Project_Binary_Classifier"]}}}, True),
        ({"detail": {"Tags": {"Project": ["Other"]}}}, False),
        ({"detail": {"TrainingJobName": [{"prefix": "linear-"}]}}, True),
        ({"detail": {"TrainingJobName": [{"prefix": "kmeans-"}]}}, False),
        ({"detail": {"TrainingJobName": [{"suffix": "-100"}]}}, True),
        ({"detail": {"TrainingJobName": [{"prefix": {"equals-ignore-case": "LINEAR"}}]}}, True),
        ({"detail": {"TrainingJobStatus": [{"anything-but": "InProgress"}]}}, True),
        ({"detail": {"TrainingJobStatus": [{"anything-but": ["Completed", "Failed"]}]}}, False),
        ({"detail": {"TrainingJobStatus": [{"anything-but": {"prefix": "Comp"}}]}}, False),
        ({"detail": {"FailureReason": [{"exists": False}]}}, True),
        ({"detail": {"FailureReason": [{"exists": True}]}}, False),
        ({"detail": {"TrainingJobStatus": [{"exists": True}]}}, True),
        ({"detail": {"Tags": [{"exists": True}]}}, False),  # exists only matches leaves
        ({"detail": {"Missing": [{"anything-but": "x"}]}}, False),
        ({"detail": {"BillableSeconds": [{"numeric": [">", 10, "<=", 42]}]}}, True),
        ({"detail": {"BillableSeconds": [{"numeric": [">", 42]}]}}, False),
        ({"detail": {"BillableSeconds": [42.0]}}, True),
        ({"detail": {"BillableSeconds": ["42"]}}, False),
        ({"detail": {"Spot": [True]}}, True),
        ({"detail": {"Spot": [1]}}, False),
        ({"detail": {"Channels": ["validation"]}}, True),  # any element of an array
        ({"detail": {"Channels": ["test"]}}, False),
        ({"detail": {"TrainingJobName": [{"wildcard": "linear-*-100"}]}}, True),
        ({"detail": {"TrainingJobName": [{"equals-ignore-case": "LINEAR-MBS-100"}]}}, True),
        ({"detail": {"Kms": [None]}}, True),
        ({"detail": {"Kms": [""]}}, False),
    ],
)
def test_event_patterns_match_like_eventbridge(pattern: dict[str, Any], expected: bool) -> None:
    event = _event(
        TrainingJobName="linear-mbs-100",
        TrainingJobStatus="Completed",
        Tags={"Project": "Project_Binary_Classifier"},
        BillableSeconds=42,
        Spot=True,
        Channels=["train", "validation"],
        Kms=None,
    )
    patterns.validate(pattern)
    assert patterns.matches(pattern, event) is expected


@pytest.mark.parametrize(
    "pattern",
    [
        {},
        {"source": "aws.sagemaker"},
        {"source": []},
        {"source": [{"prefix": 1}]},
        {"source": [{"bogus": "x"}]},
        {"source": [{"exists": "yes"}]},
        {"source": [{"numeric": [">"]}]},
        {"source": [{"anything-but": {"wildcard": "x"}}]},
        {"source": [["nested"]]},
    ],
)
def test_invalid_patterns_are_refused(pattern: dict[str, Any]) -> None:
    with pytest.raises(patterns.PatternError):
        patterns.validate(pattern)


_scalars = st.one_of(st.text(max_size=8), st.integers(-1000, 1000), st.booleans(), st.none())
_keys = st.text(alphabet="abcdefXYZ-", min_size=1, max_size=6)
_documents = st.recursive(
    st.dictionaries(_keys, _scalars, min_size=1, max_size=4),
    lambda children: st.dictionaries(_keys, children, min_size=1, max_size=3),
    max_leaves=12,
)


def _pattern_of(document: dict[str, Any]) -> dict[str, Any]:
    """The most specific pattern of a document: each leaf value as a one-value array."""
    return {
        key: _pattern_of(value) if isinstance(value, dict) else [value]
        for key, value in document.items()
    }


def _first_leaf(document: dict[str, Any]) -> tuple[list[str], Any]:
    key, value = next(iter(document.items()))
    if isinstance(value, dict):
        path, leaf = _first_leaf(value)
        return [key, *path], leaf
    return [key], value


def _nest(path: list[str], matcher: Any) -> dict[str, Any]:
    pattern: Any = [matcher]
    for key in reversed(path):
        pattern = {key: pattern}
    result: dict[str, Any] = pattern
    return result


@given(_documents)
def test_an_event_matches_its_own_pattern(document: dict[str, Any]) -> None:
    pattern = _pattern_of(document)
    patterns.validate(pattern)
    assert patterns.matches(pattern, document)


@given(_documents)
def test_anything_but_its_own_value_never_matches(document: dict[str, Any]) -> None:
    path, leaf = _first_leaf(document)
    if leaf is None or isinstance(leaf, bool):
        return  # anything-but takes strings and numbers
    assert not patterns.matches(_nest(path, {"anything-but": leaf}), document)
    assert patterns.matches(_nest(path, {"exists": True}), document)
    assert not patterns.matches(_nest([*path[:-1], path[-1] + "!"], {"exists": True}), document)


@given(st.text(max_size=12), st.integers(0, 12))
def test_every_prefix_and_suffix_of_a_string_matches(text: str, cut: int) -> None:
    event = {"name": text}
    assert patterns.matches({"name": [{"prefix": text[:cut]}]}, event)
    assert patterns.matches({"name": [{"suffix": text[cut:]}]}, event)
    assert not patterns.matches({"name": [{"prefix": text + "~"}]}, event)


# --- the router, with a small Chalice app ---


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any], Any]] = []
        self.failures: dict[str, int] = {}
        self.gate = threading.Event()
        self.gate.set()
        self.lock = threading.Lock()

    def __call__(self, name: str, event: CloudWatchEvent) -> dict[str, str]:
        self.gate.wait(5)
        with self.lock:
            self.calls.append((name, event.to_dict(), event.context))
            if self.failures.get(name, 0) > 0:
                self.failures[name] -= 1
                raise RuntimeError(f"{name} is down")
        return {"handled": name}

    def names(self) -> list[str]:
        with self.lock:
            return [name for name, _, _ in self.calls]


def _app(recorder: Recorder) -> Chalice:
    app = Chalice(app_name="unit")
    events = Blueprint(__name__)

    @events.on_cw_event(
        {"source": ["aws.sagemaker"], "detail-type": [TRAINING]},
        name="on_training_job_state_change",
    )
    def training(event: CloudWatchEvent) -> Any:
        return recorder("on_training_job_state_change", event)

    @events.on_cw_event(
        {
            "source": ["aws.sagemaker"],
            "detail-type": [ENDPOINT],
            "detail": {"EndpointStatus": [{"anything-but": "CREATING"}]},
        },
        name="on_endpoint_state_change",
    )
    def endpoint(event: CloudWatchEvent) -> Any:
        return recorder("on_endpoint_state_change", event)

    @events.schedule(Rate(10, unit=Rate.MINUTES), name="reconcile")
    def reconcile(event: CloudWatchEvent) -> Any:
        return recorder("reconcile", event)

    app.register_blueprint(events)
    return app


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def router(recorder: Recorder) -> Iterator[EventRouter]:
    router = EventRouter.for_app(
        _app(recorder), "local", retry_delays=(0.01, 0.02), schedule_seconds=3600
    )
    router.start()
    try:
        yield router
    finally:
        router.stop()


def test_the_rules_are_read_from_the_app(recorder: Recorder) -> None:
    rules = {rule.name: rule for rule in rules_of(_app(recorder))}
    assert set(rules) == {
        "on_training_job_state_change",
        "on_endpoint_state_change",
        "reconcile",
    }
    assert rules["on_training_job_state_change"].pattern == {
        "source": ["aws.sagemaker"],
        "detail-type": [TRAINING],
    }
    assert rules["reconcile"].schedule == "rate(10 minutes)"


def test_an_event_reaches_only_the_matching_handler_as_lambda_calls_it(
    router: EventRouter, recorder: Recorder
) -> None:
    delivery = router.publish(_event(TrainingJobName="a", TrainingJobStatus="Completed"))
    assert delivery.wait(5)
    assert router.wait_idle(5)
    ((name, event, context),) = recorder.calls
    assert name == "on_training_job_state_change"
    assert event["detail"] == {"TrainingJobName": "a", "TrainingJobStatus": "Completed"}
    assert context.function_name == "unit-local-on_training_job_state_change"
    assert context.aws_request_id
    assert 0 < context.get_remaining_time_in_millis() <= 60_000
    (outcome,) = delivery.outcomes
    assert (outcome.handler, outcome.status, outcome.attempts) == (
        "on_training_job_state_change",
        "succeeded",
        1,
    )
    assert outcome.result == '{"handled": "on_training_job_state_change"}'


def test_nested_patterns_filter_and_unmatched_events_go_nowhere(
    router: EventRouter, recorder: Recorder
) -> None:
    creating = router.publish(_event(ENDPOINT, EndpointStatus="CREATING"))
    in_service = router.publish(_event(ENDPOINT, EndpointStatus="IN_SERVICE"))
    other = router.publish({**_event(), "source": "aws.s3"})
    assert router.wait_idle(5)
    assert (creating.outcomes, other.outcomes) == ([], [])
    assert [o.handler for o in in_service.outcomes] == ["on_endpoint_state_change"]
    assert recorder.names() == ["on_endpoint_state_change"]


def test_delivery_is_asynchronous(router: EventRouter, recorder: Recorder) -> None:
    recorder.gate.clear()
    delivery = router.publish(_event())
    assert not delivery.wait(0.05)
    assert not router.wait_idle(0.05)
    recorder.gate.set()
    assert delivery.wait(5)
    assert router.wait_idle(5)


def test_a_failing_handler_is_retried_twice(router: EventRouter, recorder: Recorder) -> None:
    recorder.failures["on_training_job_state_change"] = 2
    delivery = router.publish(_event())
    assert delivery.wait(5)
    (outcome,) = delivery.outcomes
    assert (outcome.status, outcome.attempts) == ("succeeded", 3)
    assert recorder.names() == ["on_training_job_state_change"] * 3
    assert router.dead_letters == []


def test_after_three_failures_the_event_is_dropped_to_the_dead_letters(
    router: EventRouter, recorder: Recorder
) -> None:
    recorder.failures["on_training_job_state_change"] = 5
    delivery = router.publish(_event(TrainingJobName="doomed"))
    assert delivery.wait(5)
    assert router.wait_idle(5)
    (outcome,) = delivery.outcomes
    assert (outcome.status, outcome.attempts) == ("dropped", 3)
    assert outcome.error == "RuntimeError: on_training_job_state_change is down"
    (dead,) = router.dead_letters
    assert dead.event["detail"] == {"TrainingJobName": "doomed"}
    assert len(recorder.calls) == 3


def test_each_attempt_gets_its_own_copy_of_the_event(
    router: EventRouter, recorder: Recorder
) -> None:
    recorder.failures["on_training_job_state_change"] = 1
    delivery = router.publish(_event())
    assert delivery.wait(5)
    first, second = (event for _, event, _ in recorder.calls)
    assert first == second
    assert first is not second


def test_wait_idle_waits_for_announced_follow_ups(router: EventRouter) -> None:
    router.begin()
    assert not router.wait_idle(0.05)
    threading.Timer(0.05, router.end).start()
    assert router.wait_idle(5)


def test_scheduled_handlers_get_a_scheduled_event(
    recorder: Recorder,
) -> None:
    router = EventRouter.for_app(_app(recorder), "local", schedule_seconds=0.05)
    router.start()
    try:
        for _ in range(100):
            if "reconcile" in recorder.names():
                break
            threading.Event().wait(0.05)
    finally:
        router.stop()
    name, event, context = recorder.calls[0]
    assert name == "reconcile"
    assert (event["source"], event["detail-type"], event["detail"]) == (
        "aws.events",
        "Scheduled Event",
        {},
    )
    assert event["resources"] == ["arn:aws:events:us-east-1:123456789012:rule/unit-local-reconcile"]
    assert context.function_name == "unit-local-reconcile"


def test_published_events_are_bookmarked(router: EventRouter) -> None:
    router.publish(_event(TrainingJobName="before"))
    mark = router.mark()
    router.publish(_event(TrainingJobName="after"))
    assert router.wait_idle(5)
    (delivery,) = router.published_since(mark)
    assert delivery.summary == f"{TRAINING} (after)"
