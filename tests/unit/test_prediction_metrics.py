"""What a prediction measures: its latency in all, before the model, and in InvokeEndpoint."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from chalicelib.definitions import parse_project
from chalicelib.errors import EndpointTimeout
from chalicelib.models import Caller, Invocation, Project
from chalicelib.services.inference import InferenceService
from chalicelib.services.projects import ProjectService
from tests.factories import project_document
from tests.fakes import FakeMetrics, FakeProjects, FakeRuntime

ROW = b",".join([b"255"] * 64)


class Clock:
    """Seconds that pass only when a fake says so."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class SlowProjects(FakeProjects):
    def __init__(self, clock: Clock, *projects: Project) -> None:
        super().__init__(*projects)
        self._clock = clock

    def get(self, name: str) -> Project | None:
        self._clock.now += 0.002
        return super().get(name)


class SlowRuntime(FakeRuntime):
    def __init__(self, clock: Clock) -> None:
        super().__init__()
        self._clock = clock

    def invoke(self, *args: Any, **kwargs: Any) -> Invocation:
        self._clock.now += 0.030
        return super().invoke(*args, **kwargs)


def service(
    max_invoke_bytes: int = 1024 * 1024,
) -> tuple[InferenceService, SlowRuntime, FakeMetrics]:
    clock, metrics = Clock(), FakeMetrics()
    projects = SlowProjects(clock, parse_project(project_document()))
    runtime = SlowRuntime(clock)
    inference = InferenceService(
        ProjectService(projects), runtime, max_invoke_bytes, metrics=metrics, timer=clock
    )
    return inference, runtime, metrics


def test_a_prediction_records_its_latencies_in_milliseconds() -> None:
    inference, _, metrics = service()
    inference.predict("digits-zero", ROW, "text/csv", Caller("local"))
    names = [name for name, _, _ in metrics.recorded]
    assert names == ["PreprocessLatency", "ModelLatency", "PredictionLatency"]
    assert metrics.total("ModelLatency") == pytest.approx(30.0)
    # The project's lookup counts in all, neither before the model nor in it.
    assert metrics.total("PredictionLatency") == pytest.approx(32.0)
    assert metrics.total("PreprocessLatency") == pytest.approx(0.0)
    assert all(dimensions == {} for _, _, dimensions in metrics.recorded)


def test_a_request_split_in_chunks_records_one_model_latency_their_sum() -> None:
    inference, runtime, metrics = service(max_invoke_bytes=len(ROW) + 1)
    inference.predict("digits-zero", ROW + b"\n" + ROW, "text/csv", Caller("local"))
    assert len(runtime.calls) == 2
    assert [value for name, value, _ in metrics.recorded if name == "ModelLatency"] == [
        pytest.approx(60.0)
    ]


def test_a_failed_prediction_records_nothing() -> None:
    inference, runtime, metrics = service()
    runtime.failure = EndpointTimeout("the endpoint did not answer in time")
    with pytest.raises(EndpointTimeout):
        inference.predict("digits-zero", ROW, "text/csv", Caller("local"))
    assert metrics.recorded == []


def test_batch_predictions_record_nothing() -> None:
    inference, _, metrics = service()
    project = parse_project(project_document())
    inference.predict_features(project, np.ones((1, 64), dtype=np.float32))
    assert metrics.recorded == []
