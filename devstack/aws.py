"""The local AWS control plane: moto's server in-process, with shims for SageMaker and S3."""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from moto.sagemaker.models import FakeEndpoint, FakeEndpointConfig, sagemaker_backends

from devstack import accounts, hosting, sagemaker_events, search, tuning_jobs, weights
from devstack.create_shim import (
    CREATE_TRAINING_JOB_TARGET,
    CREATE_TUNING_JOB_TARGET,
    CreateShim,
    Refusal,
)
from devstack.event_bus import EventBusShim
from devstack.events import Discard, EventSink
from devstack.functions import FunctionHost, LambdaInvokeShim
from devstack.model_registry import ModelRegistryShim
from devstack.s3_events import S3Notifications
from devstack.transform_jobs import TransformShim
from devstack.wsgi import BackgroundServer, OneDynamoDBRequestAtATime, WsgiApp, json_answer

UPDATE_ENDPOINT_TARGET = "SageMaker.UpdateEndpoint"
CREATE_ENDPOINT_TARGET = "SageMaker.CreateEndpoint"
LIST_TRIAL_COMPONENTS_TARGET = "SageMaker.ListTrialComponents"
LIST_TUNING_TRAINING_JOBS_TARGET = "SageMaker.ListTrainingJobsForHyperParameterTuningJob"
CREATE_MODEL_TARGET = "SageMaker.CreateModel"
CREATE_ENDPOINT_CONFIG_TARGET = "SageMaker.CreateEndpointConfig"
# moto 5 replaces an existing model or endpoint config; SageMaker refuses to create it again.
# target -> (name parameter, what SageMaker calls it, moto's backend dict, the ARN attribute)
_CREATE_ONCE = {
    CREATE_MODEL_TARGET: ("ModelName", "model", "_models", "arn"),
    CREATE_ENDPOINT_CONFIG_TARGET: (
        "EndpointConfigName",
        "endpoint configuration",
        "endpoint_configs",
        "endpoint_config_arn",
    ),
}
_SHIMMED = (
    UPDATE_ENDPOINT_TARGET,
    CREATE_ENDPOINT_TARGET,
    LIST_TRIAL_COMPONENTS_TARGET,
    LIST_TUNING_TRAINING_JOBS_TARGET,
    search.TARGET,
    weights.TARGET,
    *_CREATE_ONCE,
)
_PAGE_SIZE = 50
CONTROL_PREFIX = "/_devstack/"


class _ValidationException(Exception):
    pass


class Timer(Protocol):
    """An action scheduled for later: what the shim needs of a `threading.Timer`."""

    def start(self) -> None: ...

    def cancel(self) -> None: ...

    def join(self, timeout: float | None = None) -> None: ...

    def is_alive(self) -> bool: ...


# Schedules `action` after `delay` seconds: a background thread's timer, or a test's manual clock.
TimerFactory = Callable[[float, Callable[[], None]], Timer]


# The FailureReason of an endpoint created with this config, or None: SageMaker's ping.
HealthCheck = Callable[[FakeEndpointConfig], str | None]


def background_timer(delay: float, action: Callable[[], None]) -> threading.Timer:
    timer = threading.Timer(delay, action)
    timer.daemon = True
    return timer


class SageMakerShim:
    """WSGI middleware giving moto's SageMaker endpoints SageMaker's lifecycle, with its events.

    CreateEndpoint (moto's) leaves the endpoint Creating for `create_delay_seconds`; UpdateEndpoint
    (moto 5 lacks it) sets Updating, keeps serving the current config and switches after
    `update_delay_seconds`, accepting and storing a DeploymentConfig (`timer` schedules both
    transitions: background threads, or a test's manual clock). Every status change is
    published as a "SageMaker Endpoint State Change" event. ListTrialComponents answers by the
    trials' associations (moto keeps one trial per component, so a component shared by several
    trials would be listed under the last only). CreateModel and CreateEndpointConfig refuse an
    existing name, as SageMaker does ("Cannot create already existing ..."); CreateModel keeps
    EnableNetworkIsolation, which moto drops. Search is `devstack.search`'s for training jobs and
    trial components. UpdateEndpointWeightsAndCapacities is `devstack.weights`' (Updating with the
    weights desired, then InService with them current, refused while busy). `/_devstack/`
    requests go to the mounted control API (`/_devstack/throttle` to the Search shim's); every
    other request reaches moto untouched.
    """

    def __init__(
        self,
        app: WsgiApp,
        update_delay_seconds: float,
        create_delay_seconds: float = 0.0,
        events: EventSink | None = None,
        timer: TimerFactory = background_timer,
        health: HealthCheck = lambda config: None,
    ) -> None:
        self._app = app
        self._health = health
        self._update_delay_seconds = update_delay_seconds
        self._create_delay_seconds = create_delay_seconds
        self._events: EventSink = events or Discard()
        self._control: WsgiApp | None = None
        self._lock = threading.Lock()
        self._timer = timer
        self._timers: list[Timer] = []
        self.search = search.SearchShim()

    def attach(self, events: EventSink, control: WsgiApp) -> None:
        """Once the app is loaded: where endpoint events go, and the control API."""
        self._events = events
        self._control = control

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ.get("PATH_INFO") == search.THROTTLE_PATH:
            return self.search.control(environ, start_response)
        if environ.get("PATH_INFO", "").startswith(CONTROL_PREFIX):
            if self._control is None:
                return json_answer(
                    start_response, "503 Service Unavailable", {"error": "stack starting"}
                )
            return self._control(environ, start_response)
        target = environ.get("HTTP_X_AMZ_TARGET")
        if target not in _SHIMMED:
            return self._app(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length)
        try:
            params = json.loads(body or b"{}")
            if not isinstance(params, dict):
                raise _ValidationException("The request body must be a JSON object.")
        except (_ValidationException, json.JSONDecodeError) as error:
            return self._refuse(start_response, error)
        if target == CREATE_ENDPOINT_TARGET:
            environ["wsgi.input"] = io.BytesIO(body)
            return self._create(environ, start_response, params)
        if target in _CREATE_ONCE:
            environ["wsgi.input"] = io.BytesIO(body)
            return self._create_once(environ, start_response, target, params)
        if target == search.TARGET:
            answer = self.search.answer(self._backend(environ), params, start_response)
            environ["wsgi.input"] = io.BytesIO(body)
            return self._app(environ, start_response) if answer is None else answer
        if target == LIST_TRIAL_COMPONENTS_TARGET:
            try:
                page = list_trial_components(self._backend(environ), params)
            except _ValidationException as error:
                return self._refuse(start_response, error)
            return json_answer(start_response, "200 OK", page)
        if target == weights.TARGET:
            try:
                arn = self._reweigh(environ, params)
            except weights.Refused as error:
                return self._refuse(start_response, error)
            return json_answer(start_response, "200 OK", {"EndpointArn": arn})
        if target == LIST_TUNING_TRAINING_JOBS_TARGET:
            try:
                page = tuning_jobs.list_training_jobs(self._backend(environ), params)
            except Refusal as refusal:
                return refusal.answer(start_response)
            return json_answer(start_response, "200 OK", page)
        try:
            arn = self._update(environ, params)
        except _ValidationException as error:
            return self._refuse(start_response, error)
        return json_answer(start_response, "200 OK", {"EndpointArn": arn})

    @staticmethod
    def _refuse(start_response: Callable[..., Any], error: Exception) -> list[bytes]:
        return Refusal("ValidationException", str(error)).answer(start_response)

    @staticmethod
    def _backend(environ: dict[str, Any]) -> Any:
        account, region = accounts.caller(environ)
        return sagemaker_backends[account][region]

    def _create(
        self, environ: dict[str, Any], start_response: Callable[..., Any], params: dict[str, Any]
    ) -> Any:
        answer: list[str] = []

        def remember(status: str, headers: Any, exc_info: Any = None) -> Any:
            answer.append(status)
            return start_response(status, headers, exc_info)

        body = self._app(environ, remember)
        name = params.get("EndpointName")
        backend = self._backend(environ)
        if not answer or not answer[0].startswith("200") or not isinstance(name, str):
            return body
        with self._lock:
            endpoint: FakeEndpoint = backend.endpoints[name]
            config: FakeEndpointConfig = backend.endpoint_configs[endpoint.endpoint_config_name]
            if self._create_delay_seconds > 0:
                endpoint.endpoint_status = "Creating"
                self._publish(endpoint, config)
                self._later(self._create_delay_seconds, self._finish, endpoint, config)
            else:
                self._settle(endpoint, config, self._health(config))
        return body

    def _create_once(
        self,
        environ: dict[str, Any],
        start_response: Callable[..., Any],
        target: str,
        params: dict[str, Any],
    ) -> Any:
        field, kind, attribute, arn_attribute = _CREATE_ONCE[target]
        name = params.get(field)
        existing: dict[str, Any] = getattr(self._backend(environ), attribute)
        with self._lock:
            if isinstance(name, str) and name in existing:
                arn = getattr(existing[name], arn_attribute)
                return self._refuse(
                    start_response,
                    _ValidationException(f'Cannot create already existing {kind} "{arn}".'),
                )
            answer = self._app(environ, start_response)
            if target == CREATE_MODEL_TARGET and isinstance(name, str) and name in existing:
                # moto drops the flag and describes every model as not isolated.
                isolated = params.get("EnableNetworkIsolation") is True
                existing[name].enable_network_isolation = isolated
            return answer

    def _update(self, environ: dict[str, Any], params: dict[str, Any]) -> str:
        endpoint_name = params.get("EndpointName")
        config_name = params.get("EndpointConfigName")
        if not isinstance(endpoint_name, str) or not isinstance(config_name, str):
            raise _ValidationException("EndpointName and EndpointConfigName are required.")
        backend = self._backend(environ)
        account, region = backend.account_id, backend.region_name
        with self._lock:
            endpoint: FakeEndpoint | None = backend.endpoints.get(endpoint_name)
            if endpoint is None:
                arn = FakeEndpoint.arn_formatter(endpoint_name, account, region)
                raise _ValidationException(f'Could not find endpoint "{arn}".')
            config: FakeEndpointConfig | None = backend.endpoint_configs.get(config_name)
            if config is None:
                arn = FakeEndpointConfig.arn_formatter(config_name, account, region)
                raise _ValidationException(f'Could not find endpoint configuration "{arn}".')
            if endpoint.endpoint_status != "InService":
                raise _ValidationException(f'Cannot update in-progress endpoint "{endpoint.arn}".')
            now = datetime.now(UTC)
            endpoint.endpoint_status = "Updating"
            endpoint.last_modified_time = now
            # moto renders every attribute into DescribeEndpoint (snake_case -> CamelCase).
            vars(endpoint).update(
                pending_deployment_summary={
                    "EndpointConfigName": config_name,
                    "ProductionVariants": endpoint._process_production_variants(
                        config.production_variants
                    ),
                    "StartTime": now,
                },
                last_deployment_config=params.get("DeploymentConfig"),
            )
            self._publish(endpoint, config)
            self._later(self._update_delay_seconds, self._finish, endpoint, config)
        return str(endpoint.arn)

    def _reweigh(self, environ: dict[str, Any], params: dict[str, Any]) -> str:
        """UpdateEndpointWeightsAndCapacities: Updating for `update_delay_seconds` with the
        weights desired, then InService with them current; both published."""
        backend = self._backend(environ)
        with self._lock:
            endpoint, desired = weights.requested(backend, params)
            config = backend.endpoint_configs[endpoint.endpoint_config_name]
            weights.start(endpoint, desired)
            self._publish(endpoint, config)
            self._later(self._update_delay_seconds, self._reweighed, endpoint, config, desired)
        return str(endpoint.arn)

    def _reweighed(
        self, endpoint: FakeEndpoint, config: FakeEndpointConfig, desired: dict[str, float]
    ) -> None:
        with self._lock:
            weights.finish(endpoint, desired)
            self._publish(endpoint, config)

    def _later(self, delay: float, action: Callable[..., None], *args: Any) -> None:
        """Runs `action` after `delay`, announced to the event sink (it will publish)."""

        def run() -> None:
            try:
                action(*args)
            finally:
                self._events.end()

        timer = self._timer(delay, run)
        self._events.begin()
        self._timers = [t for t in self._timers if t.is_alive()] + [timer]
        timer.start()

    def _finish(self, endpoint: FakeEndpoint, config: FakeEndpointConfig) -> None:
        reason = self._health(config) if endpoint.endpoint_status == "Creating" else None
        with self._lock:
            self._settle(endpoint, config, reason)

    def _settle(
        self, endpoint: FakeEndpoint, config: FakeEndpointConfig, failure: str | None
    ) -> None:
        """InService on `config`, or Failed with its reason (called under the lock)."""
        if failure is not None:
            endpoint.endpoint_status = "Failed"
            endpoint.last_modified_time = datetime.now(UTC)
            vars(endpoint)["failure_reason"] = failure
            self._publish(endpoint, config)
            return
        endpoint.endpoint_config_name = config.endpoint_config_name
        endpoint.production_variants = endpoint._process_production_variants(
            config.production_variants
        )
        vars(endpoint)["pending_deployment_summary"] = None
        endpoint.endpoint_status = "InService"
        endpoint.last_modified_time = datetime.now(UTC)
        self._publish(endpoint, config)

    def _publish(self, endpoint: FakeEndpoint, config: FakeEndpointConfig) -> None:
        """The state change event for the endpoint's current status (called under the lock)."""
        region = endpoint.arn.split(":")[3]
        self._events.publish(
            sagemaker_events.endpoint_event(
                name=endpoint.endpoint_name,
                arn=endpoint.arn,
                config_name=endpoint.endpoint_config_name,
                variants=config.production_variants,
                status=endpoint.endpoint_status,
                created=endpoint.creation_time,
                modified=endpoint.last_modified_time,
                tags=endpoint.tags,
                region=region,
                failure_reason=vars(endpoint).get("failure_reason"),
            )
        )

    def stop(self) -> None:
        with self._lock:
            timers, self._timers = self._timers, []
        for timer in timers:
            timer.cancel()
            timer.join()


def _epoch(moment: Any) -> float | None:
    return moment.timestamp() if isinstance(moment, datetime) else None


def list_trial_components(backend: Any, params: dict[str, Any]) -> dict[str, Any]:
    """ListTrialComponents from moto's records, filtered like SageMaker: by TrialName (the
    components associated with it), ExperimentName (with any of its trials) or SourceArn."""
    components: dict[str, Any] = backend.trial_components
    trials: dict[str, Any] = backend.trials
    names: list[str] = list(components)
    if params.get("TrialName") is not None:
        trial = trials.get(params["TrialName"])
        names = list(dict.fromkeys(trial.trial_components)) if trial else []
    if params.get("ExperimentName") is not None:
        experiment = params["ExperimentName"]
        associated = {
            name
            for trial in trials.values()
            if trial.experiment_name == experiment
            for name in trial.trial_components
        }
        names = [name for name in names if name in associated]
    if params.get("SourceArn") is not None:
        names = [
            name
            for name in names
            if (vars(components[name]).get("source") or {}).get("SourceArn") == params["SourceArn"]
        ]
    names = [name for name in names if name in components]
    size = params.get("MaxResults") or _PAGE_SIZE
    token = params.get("NextToken") or "0"
    if not isinstance(size, int) or not 1 <= size <= 100 or not str(token).isdigit():
        raise _ValidationException("MaxResults must be 1..100 and NextToken one we returned.")
    start = int(token)
    summaries = []
    for name in names[start : start + size]:
        component = components[name]
        source = vars(component).get("source")
        summary = {
            "TrialComponentName": name,
            "TrialComponentArn": component.arn,
            "DisplayName": component.display_name,
            "TrialComponentSource": source,
            "Status": component.status,
            "StartTime": _epoch(component.start_time),
            "EndTime": _epoch(component.end_time),
            "CreationTime": _epoch(component.creation_time),
            "LastModifiedTime": _epoch(component.last_modified_time),
        }
        summaries.append({key: value for key, value in summary.items() if value is not None})
    page: dict[str, Any] = {"TrialComponentSummaries": summaries}
    if start + size < len(names):
        page["NextToken"] = str(start + size)
    return page


class ControlPlane:
    """moto's server (DynamoDB, S3, SQS, SageMaker, ...) with the shims, on 127.0.0.1."""

    def __init__(
        self,
        port: int = 0,
        update_delay_seconds: float = 2.0,
        create_delay_seconds: float = 0.0,
        timer: TimerFactory = background_timer,
    ) -> None:
        self.s3 = S3Notifications(
            OneDynamoDBRequestAtATime(DomainDispatcherApplication(create_backend_app))
        )
        self.transforms = TransformShim(self.s3, SageMakerShim._backend)
        self.shim = SageMakerShim(
            self.transforms,
            update_delay_seconds,
            create_delay_seconds,
            timer=timer,
            health=hosting.ping,
        )
        self.registry = ModelRegistryShim(self.shim)
        self.training: CreateShim[None] = CreateShim(
            self.registry, CREATE_TRAINING_JOB_TARGET, "TrainingJobName"
        )
        self.tuning: CreateShim[tuning_jobs.TuningPlan] = CreateShim(
            self.training, CREATE_TUNING_JOB_TARGET, "HyperParameterTuningJobName"
        )
        self.event_bus = EventBusShim(self.tuning)
        self.functions = LambdaInvokeShim(self.event_bus)
        self._server = BackgroundServer(
            self.functions, "devstack-aws", port=port, request_handler=MotoRequestHandler
        )

    @property
    def url(self) -> str:
        return self._server.url

    def attach(
        self, events: EventSink, control: WsgiApp, functions: FunctionHost | None = None
    ) -> None:
        """Once the app is loaded: where SageMaker's, S3's and PutEvents' events go, the control
        API, and what runs the app's functions for Lambda's Invoke API."""
        self.shim.attach(events, control)
        self.registry.attach(events)
        self.transforms.attach(events)
        self.s3.attach(events)
        self.event_bus.attach(events)
        if functions is not None:
            self.functions.attach(functions)

    def start(self) -> None:
        self._server.start()

    def stop(self) -> None:
        self.shim.stop()
        self.transforms.stop()
        self._server.stop()
