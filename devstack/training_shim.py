"""WSGI middleware: CreateTrainingJob from any client is recorded by moto, then trained for real."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from devstack.wsgi import WsgiApp

CREATE_TRAINING_JOB_TARGET = "SageMaker.CreateTrainingJob"


class Refusal(Exception):
    """CreateTrainingJob refused as SageMaker refuses it (error code and message)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class TrainingJobs(Protocol):
    """What trains the jobs moto records (the stack's LocalSageMaker)."""

    def check_new(self, params: Mapping[str, Any]) -> None:
        """Raises Refusal for a request SageMaker would refuse before creating the job."""

    def created(self, params: Mapping[str, Any]) -> None:
        """moto has recorded the job: train it (in the background) unless already handled."""


class TrainingShim:
    """Passes everything to `app`; CreateTrainingJob is checked first and, once moto has
    recorded the job, handed to the attached TrainingJobs."""

    def __init__(self, app: WsgiApp) -> None:
        self._app = app
        self._jobs: TrainingJobs | None = None

    def attach(self, jobs: TrainingJobs) -> None:
        self._jobs = jobs

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        jobs = self._jobs
        if environ.get("HTTP_X_AMZ_TARGET") != CREATE_TRAINING_JOB_TARGET or jobs is None:
            return self._app(environ, start_response)
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        environ["wsgi.input"] = io.BytesIO(body)
        try:
            params = json.loads(body or b"{}")
        except json.JSONDecodeError:
            return self._app(environ, start_response)
        name = params.get("TrainingJobName") if isinstance(params, dict) else None
        if not isinstance(name, str):
            return self._app(environ, start_response)
        try:
            jobs.check_new(params)
        except Refusal as refusal:
            payload = json.dumps({"__type": refusal.code, "Message": str(refusal)}).encode()
            start_response(
                "400 Bad Request",
                [
                    ("Content-Type", "application/x-amz-json-1.1"),
                    ("Content-Length", str(len(payload))),
                    ("x-amzn-RequestId", str(uuid.uuid4())),
                ],
            )
            return [payload]
        statuses: list[str] = []

        def remember(status: str, headers: Any, exc_info: Any = None) -> Any:
            statuses.append(status)
            return start_response(status, headers, exc_info)

        answer = self._app(environ, remember)
        if statuses and statuses[0].startswith("200"):
            jobs.created(params)
        return answer
