"""The observability adapter: correlation keys per invocation, safe one-line JSON, EMF flushes."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from aws_lambda_powertools.metrics.provider import cold_start

from chalicelib.config import Settings
from chalicelib.errors import EndpointUnavailable
from chalicelib.observability import LOGGER_NAME, EmfMetrics, Observability, correlate

ROOT = Path(__file__).resolve().parents[2]
logger = logging.getLogger(LOGGER_NAME)
SETTINGS = replace(Settings.from_environ(), metrics_namespace="sagewire-test")
CONTEXT = SimpleNamespace(aws_request_id="lambda-request-1", function_name="sagewire-test")


def lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    """Everything written to stdout, each line parsed; any other line fails the test."""
    out = capsys.readouterr().out
    parsed = [json.loads(line) for line in out.splitlines()]
    assert all(isinstance(line, dict) for line in parsed)
    return parsed


def logged(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    return [line for line in lines(capsys) if "_aws" not in line]


@pytest.fixture(autouse=True)
def warm(monkeypatch: pytest.MonkeyPatch) -> None:
    """A warm process: no ColdStart metric unless a test asks for one."""
    monkeypatch.setattr(cold_start, "is_cold_start", False)


def test_correlation_keys_are_on_every_line_of_the_invocation_and_gone_after(
    capsys: pytest.CaptureFixture[str],
) -> None:
    observability = Observability(SETTINGS)
    with observability.invocation("predict", CONTEXT, correlation_id="req-1", project="zero"):
        logger.info("inside")
        correlate(training_job="mbs-100")
        logger.info("later", extra={"project": "its own"})
    logger.info("outside")
    inside, later, outside = logged(capsys)
    assert inside["service"] == SETTINGS.service_name
    assert (inside["correlation_id"], inside["project"]) == ("req-1", "zero")
    assert inside["function_request_id"] == "lambda-request-1"
    assert "training_job" not in inside
    assert (later["training_job"], later["project"]) == ("mbs-100", "its own")
    assert not {"correlation_id", "project", "training_job", "function_request_id"} & set(outside)


def test_an_invocation_starts_with_none_of_the_previous_ones_keys(
    capsys: pytest.CaptureFixture[str],
) -> None:
    observability = Observability(SETTINGS)
    with observability.invocation("get_run_lineage", None, correlation_id="a", training_job="x"):
        correlate(project="zero")
    with observability.invocation("health", None, correlation_id="b", project=None):
        logger.info("second")
    [second] = logged(capsys)
    assert second["correlation_id"] == "b"
    assert not {"project", "training_job", "function_request_id"} & set(second)


def test_concurrent_invocations_keep_their_own_keys(capsys: pytest.CaptureFixture[str]) -> None:
    observability = Observability(SETTINGS)
    both_inside = threading.Barrier(2)

    def serve(request_id: str) -> None:
        with observability.invocation("predict", None, correlation_id=request_id):
            both_inside.wait()
            logger.info("served", extra={"expected": request_id})

    threads = [threading.Thread(target=serve, args=(f"req-{n}",)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    served = logged(capsys)
    assert len(served) == 2
    assert all(line["correlation_id"] == line["expected"] for line in served)


def test_a_failure_is_logged_by_type_and_frames_and_raised(
    capsys: pytest.CaptureFixture[str],
) -> None:
    observability = Observability(SETTINGS)

    def handle(event_id: str, error: Exception) -> None:
        with observability.invocation("on_batch_object", None, correlation_id=event_id):
            observability.metrics.count("Promotions", outcome="failed")
            raise error

    with pytest.raises(ValueError, match="SECRET-PAYLOAD"):
        handle("event-1", ValueError("could not parse b'SECRET-PAYLOAD'"))
    with pytest.raises(EndpointUnavailable):
        handle("event-2", EndpointUnavailable("throttled while reading SECRET-PAYLOAD", 2))
    written = lines(capsys)
    assert "SECRET-PAYLOAD" not in json.dumps(written)
    unexpected, emf, refused, _ = written
    assert (unexpected["level"], unexpected["exception_name"]) == ("ERROR", "ValueError")
    assert unexpected["correlation_id"] == "event-1"
    assert any("test_observability.py" in frame for frame in unexpected["frames"])
    assert not {"exception", "stack_trace"} & set(unexpected)
    assert emf["Promotions"] == [1.0]  # flushed although the invocation failed
    assert (refused["level"], refused["code"]) == ("WARNING", "EndpointUnavailable")


def test_an_exception_logged_anywhere_loses_its_message(capsys: pytest.CaptureFixture[str]) -> None:
    try:
        raise KeyError("SECRET-PAYLOAD")
    except KeyError:
        logger.exception("lookup failed")
    [line] = logged(capsys)
    assert line["exception_name"] == "KeyError"
    assert "SECRET-PAYLOAD" not in json.dumps(line)


@pytest.mark.parametrize("text", ["a\nb", "a\rb", "a\u2028b", "a\u2029b", "a\x85b", "a\x0bb\x1c"])
def test_no_value_can_end_a_line(capsys: pytest.CaptureFixture[str], text: str) -> None:
    with Observability(SETTINGS).invocation("predict", None, project=text):
        logger.info("refused %s", text, extra={"code": text})
    out = capsys.readouterr().out
    assert out.isascii()
    [line] = out.splitlines()
    parsed = json.loads(line)
    assert parsed["project"] == parsed["code"] == text
    assert parsed["message"] == f"refused {text}"


def test_metrics_are_one_emf_document_per_dimension_set(capsys: pytest.CaptureFixture[str]) -> None:
    metrics = EmfMetrics("sagewire-test", "sagewire")
    metrics.milliseconds("ModelLatency", 12.5)
    metrics.count("Promotions", outcome="pending")
    metrics.count("DeferredPromotions")
    metrics.count("Promotions", outcome="pending")
    metrics.count("Promotions", outcome="succeeded")
    metrics.flush()
    metrics.flush()  # nothing left: writes nothing
    plain, pending, succeeded = lines(capsys)
    [directive] = plain["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "sagewire-test"
    assert directive["Dimensions"] == [["service"]]
    assert directive["Metrics"] == [
        {"Name": "ModelLatency", "Unit": "Milliseconds"},
        {"Name": "DeferredPromotions", "Unit": "Count"},
    ]
    assert (plain["service"], plain["ModelLatency"], plain["DeferredPromotions"]) == (
        "sagewire",
        [12.5],
        [1.0],
    )
    assert pending["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["outcome", "service"]]
    assert (pending["outcome"], pending["Promotions"]) == ("pending", [1.0, 1.0])
    assert (succeeded["outcome"], succeeded["Promotions"]) == ("succeeded", [1.0])


def test_disabled_metrics_write_nothing(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cold_start, "is_cold_start", True)
    settings = Settings.from_environ({"POWERTOOLS_METRICS_DISABLED": "true"})
    metrics = Observability(settings).metrics
    metrics.count("Promotions", outcome="pending")
    metrics.flush(object())
    assert capsys.readouterr().out == ""


def test_the_first_invocation_of_a_process_counts_a_cold_start(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cold_start, "is_cold_start", True)
    metrics = EmfMetrics("sagewire-test", "sagewire")
    metrics.flush(None)  # outside Lambda: no function to name, no cold start
    metrics.flush(CONTEXT)
    metrics.flush(CONTEXT)
    [cold] = lines(capsys)
    assert cold["ColdStart"] == [1.0]
    assert (cold["function_name"], cold["service"]) == ("sagewire-test", "sagewire")


def test_powertools_package_init_runs_only_when_a_top_level_name_is_used() -> None:
    code = (
        "import sys\n"
        "import chalicelib.observability\n"
        "from aws_lambda_powertools.metrics import EphemeralMetrics\n"
        "loaded = {m for m in sys.modules if m.startswith('aws_lambda_powertools')}\n"
        "assert 'aws_lambda_powertools.tracing' not in loaded, loaded\n"
        "assert 'aws_lambda_powertools.logging' not in loaded, loaded\n"
        "from aws_lambda_powertools import Logger, Tracer, __version__\n"
        "import aws_lambda_powertools\n"
        "assert aws_lambda_powertools.Metrics and Logger and Tracer and __version__\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAGEWIRE_")}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr


def test_the_service_and_namespace_are_powertools_variables_defaulting_to_sagewire(
    capsys: pytest.CaptureFixture[str],
) -> None:
    default = Settings.from_environ({})
    assert (default.service_name, default.metrics_namespace) == ("sagewire", "sagewire")
    variables = {"POWERTOOLS_SERVICE_NAME": "inference", "POWERTOOLS_METRICS_NAMESPACE": "ml"}
    observability = Observability(Settings.from_environ(variables))
    observability.metrics.count("DeferredPromotions")
    observability.metrics.flush()
    [document] = lines(capsys)
    assert document["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "ml"
    assert document["service"] == "inference"


def test_the_emf_documents_are_those_powertools_writes(capsys: pytest.CaptureFixture[str]) -> None:
    from aws_lambda_powertools.metrics import EphemeralMetrics

    recorded: list[tuple[str, str, float, dict[str, str]]] = [
        ("PredictionLatency", "Milliseconds", 1.5, {}),
        ("ModelLatency", "Milliseconds", 0.25, {}),
        ("PredictionLatency", "Milliseconds", 2.0, {}),
        ("Promotions", "Count", 1, {"outcome": "deploying", "handler": "on_training"}),
        ("Promotions", "Count", 1, {"handler": "on_training", "outcome": "deploying"}),
    ]
    ours = EmfMetrics("sagewire-test", "sagewire")
    for name, unit, value, dimensions in recorded:
        if unit == "Count":
            ours.count(name, int(value), **dimensions)
        else:
            ours.milliseconds(name, value, **dimensions)
    ours.flush(None)
    written = lines(capsys)
    for dimensions in ({}, {"handler": "on_training", "outcome": "deploying"}):
        reference = EphemeralMetrics(namespace="sagewire-test", service="sagewire")
        for key, dimension in sorted(dimensions.items()):
            reference.add_dimension(key, dimension)
        for name, unit, value, recorded_dimensions in recorded:
            if recorded_dimensions == dimensions:
                reference.add_metric(name=name, unit=unit, value=value)
        reference.flush_metrics()
    expected = lines(capsys)
    for document in (*written, *expected):
        document["_aws"].pop("Timestamp")
    assert json.dumps(written) == json.dumps(expected)  # the same keys, in the same order
