"""WSGI middleware: a Create call from any client is checked, recorded by moto, then run."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Mapping
from typing import Any, Generic, Protocol, TypeVar

from devstack.wsgi import WsgiApp, json_answer

CREATE_TRAINING_JOB_TARGET = "SageMaker.CreateTrainingJob"
CREATE_TUNING_JOB_TARGET = "SageMaker.CreateHyperParameterTuningJob"


class Refusal(Exception):
    """A Create call refused as SageMaker refuses it (error code and message)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code

    def answer(self, start_response: Callable[..., Any]) -> list[bytes]:
        """The 400 SageMaker answers, in its JSON protocol."""
        error = {"__type": self.code, "Message": str(self)}
        return json_answer(start_response, "400 Bad Request", error)


# What a Runner's check of a request found, handed back to it once moto has recorded it.
Checked = TypeVar("Checked")


class Runner(Protocol[Checked]):
    """What runs the resources moto records (training or tuning jobs)."""

    def check_new(self, params: Mapping[str, Any]) -> Checked:
        """Raises Refusal for a request SageMaker would refuse before creating the resource."""

    def created(self, params: Mapping[str, Any], checked: Checked) -> None:
        """moto has recorded the resource: run it (in the background) unless already handled."""


class CreateShim(Generic[Checked]):
    """Passes everything to `app`; the `target` call (naming its resource by `name_parameter`)
    is checked first and, once moto has recorded it, handed to the attached Runner."""

    def __init__(self, app: WsgiApp, target: str, name_parameter: str) -> None:
        self._app = app
        self._target = target
        self._name_parameter = name_parameter
        self._runner: Runner[Checked] | None = None

    def attach(self, runner: Runner[Checked]) -> None:
        self._runner = runner

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        runner = self._runner
        if environ.get("HTTP_X_AMZ_TARGET") != self._target or runner is None:
            return self._app(environ, start_response)
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        environ["wsgi.input"] = io.BytesIO(body)
        try:
            params = json.loads(body or b"{}")
        except json.JSONDecodeError:
            return self._app(environ, start_response)
        name = params.get(self._name_parameter) if isinstance(params, dict) else None
        if not isinstance(name, str):
            return self._app(environ, start_response)
        try:
            checked = runner.check_new(params)
        except Refusal as refusal:
            return refusal.answer(start_response)
        statuses: list[str] = []

        def remember(status: str, headers: Any, exc_info: Any = None) -> Any:
            statuses.append(status)
            return start_response(status, headers, exc_info)

        answer = self._app(environ, remember)
        if statuses and statuses[0].startswith("200"):
            runner.created(params, checked)
        return answer
