"""The serve process's control API (/_devstack/ on the control plane) and its CLI client."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, fields
from typing import Any

import requests

from devstack import trainer
from devstack.events import Delivery, EventRouter
from devstack.jobs import JobError, JobReport, LocalSageMaker
from devstack.tuning import LocalTuning, TuningRequest

logger = logging.getLogger("devstack.control")

DEFAULT_WAIT_SECONDS = 120.0
_MAX_BODY = 1024 * 1024


class BadRequest(ValueError):
    """A control request the API cannot act on."""


class ControlError(Exception):
    """What the CLI reports when the control API answers with an error."""


def delivery_json(delivery: Delivery) -> dict[str, Any]:
    return {
        "event": delivery.summary,
        "id": delivery.event.get("id"),
        "outcomes": [asdict(outcome) for outcome in delivery.outcomes],
    }


def job_json(report: JobReport) -> dict[str, Any]:
    return {f.name: getattr(report, f.name) for f in fields(report) if f.name != "deliveries"}


def _strings(value: Any, what: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise BadRequest(f"{what} must map strings to strings")
    return dict(value)


def _text(body: Mapping[str, Any], key: str, required: bool = True) -> str | None:
    value = body.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise BadRequest(f"{key} must be a non-empty string")
    return value


class ControlApi:
    """POST /_devstack/train, /_devstack/tune, /_devstack/emit: act in the serve process, wait
    until the events (and what they set off) are delivered, and answer with what happened."""

    def __init__(
        self, jobs: LocalSageMaker, router: EventRouter, wait_seconds: float = DEFAULT_WAIT_SECONDS
    ) -> None:
        self._jobs = jobs
        self._router = router
        self._wait_seconds = wait_seconds
        self._routes: dict[str, Callable[[Mapping[str, Any]], dict[str, Any]]] = {
            "/_devstack/train": self._train,
            "/_devstack/tune": self._tune,
            "/_devstack/emit": self._emit,
        }

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        route = self._routes.get(environ.get("PATH_INFO", ""))
        status, answer = "200 OK", {}
        try:
            if route is None or environ.get("REQUEST_METHOD") != "POST":
                status, answer = "404 Not Found", {"error": "unknown control request"}
            else:
                length = int(environ.get("CONTENT_LENGTH") or 0)
                if length > _MAX_BODY:
                    raise BadRequest("request too large")
                body = json.loads(environ["wsgi.input"].read(length) or b"{}")
                if not isinstance(body, dict):
                    raise BadRequest("the body must be a JSON object")
                answer = route(body)
        except (BadRequest, JobError, json.JSONDecodeError) as error:
            status, answer = "400 Bad Request", {"error": str(error)}
        except Exception as error:  # the serve process stays up; the CLI says what broke
            logger.exception("devstack: control request %s failed", environ.get("PATH_INFO"))
            status, answer = (
                "500 Internal Server Error",
                {"error": f"{type(error).__name__}: {error}"},
            )
        payload = json.dumps(answer, default=str).encode()
        start_response(
            status,
            [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))],
        )
        return [payload]

    def _settle(self, mark: int) -> dict[str, Any]:
        idle = self._router.wait_idle(self._wait_seconds)
        return {
            "idle": idle,
            "deliveries": [delivery_json(d) for d in self._router.published_since(mark)],
        }

    def _train(self, body: Mapping[str, Any]) -> dict[str, Any]:
        algorithm = _text(body, "algorithm")
        job = trainer.TrainingJob(
            name=str(_text(body, "name")),
            algorithm=str(algorithm),
            hyperparameters=_strings(body.get("hyperparameters"), "hyperparameters"),
            tags=_strings(body.get("tags"), "tags"),
            experiment=_text(body, "experiment", required=False),
            trial=_text(body, "trial", required=False),
            image=_text(body, "image", required=False),
            role=_text(body, "role", required=False),
            output=_text(body, "output", required=False),
        )
        if job.output is not None:
            try:
                trainer.output_location(job.output)
            except ValueError as error:
                raise BadRequest(str(error)) from None
        mark = self._router.mark()
        report = self._jobs.train(job)
        return {"job": job_json(report), **self._settle(mark)}

    def _tune(self, body: Mapping[str, Any]) -> dict[str, Any]:
        ranges = body.get("ranges")
        if not isinstance(ranges, Mapping) or not all(
            isinstance(values, list) and all(isinstance(v, str) for v in values)
            for values in ranges.values()
        ):
            raise BadRequest("ranges must map names to lists of strings")
        goal = body.get("goal")
        if goal not in ("Maximize", "Minimize"):
            raise BadRequest("goal must be Maximize or Minimize")
        request = TuningRequest(
            name=str(_text(body, "name")),
            algorithm=str(_text(body, "algorithm")),
            ranges=dict(ranges),
            objective=str(_text(body, "objective")),
            goal=goal,
            static=_strings(body.get("static"), "static"),
            tags=_strings(body.get("tags"), "tags"),
        )
        mark = self._router.mark()
        report = LocalTuning(self._jobs).tune(request)
        return {
            "tuning_job": {
                "name": report.name,
                "arn": report.arn,
                "status": report.status,
                "best": job_json(report.best) if report.best else None,
                "jobs": [job_json(job) for job in report.jobs],
            },
            **self._settle(mark),
        }

    def _emit(self, body: Mapping[str, Any]) -> dict[str, Any]:
        event = body.get("event")
        if not isinstance(event, dict):
            raise BadRequest("event must be a JSON object")
        mark = self._router.mark()
        delivery = self._router.publish(event)
        delivered = delivery.wait(self._wait_seconds)
        return {"event": delivery_json(delivery), "delivered": delivered, **self._settle(mark)}


def call(control_url: str, action: str, body: Mapping[str, Any], timeout: float) -> Any:
    """The CLI's side: one control request; raises ControlError with the API's message."""
    response = requests.post(f"{control_url}/{action}", json=body, timeout=timeout)
    if response.status_code != 200:
        try:
            message = response.json()["error"]
        except (ValueError, KeyError, TypeError):
            message = f"HTTP {response.status_code}: {response.text[:200]}"
        raise ControlError(message)
    return response.json()
