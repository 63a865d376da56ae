"""Powertools JSON logs, EMF metrics and X-Ray tracing around each Lambda invocation."""

from __future__ import annotations

import importlib.util
import json
import logging
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

import orjson

from chalicelib.config import Settings, get_settings
from chalicelib.errors import SagewireError

if TYPE_CHECKING:
    from aws_lambda_powertools.logging import Logger
    from aws_lambda_powertools.tracing import Tracer

# The standard-library logger that every module of the app writes to (Chalice's app log too).
LOGGER_NAME = "sagewire"
POWERTOOLS = "aws_lambda_powertools"
# The invocation's correlation keys, as (key, value) pairs: per invocation, per thread.
_KEYS: ContextVar[tuple[tuple[str, str], ...]] = ContextVar("sagewire_correlation", default=())
logger = logging.getLogger(LOGGER_NAME)
_BUILDING = threading.Lock()
_powertools_logger: Logger | None = None


def _register_powertools_package() -> None:
    """Lets Powertools' submodules be imported without its package `__init__`, which imports
    its Logger, Metrics and Tracer with their dependencies: about 7 ms of cold start that a
    prediction, which only writes EMF, would pay (bench/coldstart.py). The first top-level name
    asked of the package (`from aws_lambda_powertools import Tracer`) runs the `__init__`."""
    if POWERTOOLS in sys.modules:
        return
    spec = importlib.util.find_spec(POWERTOOLS)
    if spec is None or spec.loader is None:
        raise ModuleNotFoundError(f"No module named {POWERTOOLS!r}", name=POWERTOOLS)
    package = importlib.util.module_from_spec(spec)
    loader, lock = spec.loader, threading.Lock()

    def run_init(name: str) -> Any:
        with lock:
            if package.__dict__.pop("__getattr__", None) is not None:
                loader.exec_module(package)
        return getattr(package, name)

    package.__dict__["__getattr__"] = run_init
    sys.modules[POWERTOOLS] = package
    # What the `__init__` does first: Powertools' own debug logging goes nowhere.
    quiet = logging.getLogger(POWERTOOLS)
    quiet.addHandler(logging.NullHandler())
    quiet.propagate = False


def _one_line(log: dict[str, Any]) -> str:
    """ASCII JSON: control characters, U+2028 and U+2029 are escaped, so no value can end a
    line (Powertools' default writes non-ASCII as is, and indents under POWERTOOLS_DEV)."""
    return json.dumps(log, default=str, separators=(",", ":"), ensure_ascii=True)


class _Safe(logging.Filter):
    """Adds the invocation's correlation keys (a record's own keys win). An exception becomes its
    type and frames, never its message, which may quote a payload."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in _KEYS.get():
            record.__dict__.setdefault(key, value)
        if record.exc_info:
            kind, _, trace = record.exc_info
            record.exc_info, record.exc_text = None, None
            if kind is not None:
                record.exception_name = kind.__name__
                record.frames = [
                    f"{frame.filename}:{frame.lineno} {frame.name}"
                    for frame in traceback.extract_tb(trace)
                ]
        return True


class _Stdout(logging.Handler):
    """Writes to sys.stdout as it is at each record (Lambda's, or a test's capture)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stdout.write(self.format(record) + "\n")
            sys.stdout.flush()
        except Exception:
            self.handleError(record)


class _FirstRecord(logging.Handler):
    """Stands in for the Powertools handler until the first record, so that an invocation that
    logs nothing (a served prediction) does not import Powertools' logging."""

    def emit(self, record: logging.LogRecord) -> None:
        handler = powertools_logger().registered_handler
        if logger.isEnabledFor(record.levelno):
            handler.handle(record)


def powertools_logger() -> Logger:
    """The Powertools Logger behind the `sagewire` logger, built once, on first use."""
    global _powertools_logger
    with _BUILDING:
        if _powertools_logger is None:
            from aws_lambda_powertools.logging import Logger

            for stand_in in [h for h in logger.handlers if isinstance(h, _FirstRecord)]:
                logger.removeHandler(stand_in)
            handler = _Stdout()
            handler.addFilter(_Safe())
            # Its level: Lambda's advanced logging controls, POWERTOOLS_LOG_LEVEL, or INFO.
            _powertools_logger = Logger(
                service=LOGGER_NAME,
                logger_handler=handler,
                json_serializer=_one_line,
                utc=True,
                use_rfc3339=True,
            )
            # Powertools names the logger after the service; the app's modules write to this one.
            _powertools_logger.append_keys(service=get_settings().service_name)
        return _powertools_logger


def correlate(**keys: str) -> None:
    """Adds correlation keys to every log line of the rest of the invocation."""
    _KEYS.set((*_KEYS.get(), *keys.items()))


def _tracer(service: str) -> Tracer:
    from aws_lambda_powertools.tracing import Tracer

    try:
        return Tracer(service=service)
    except ModuleNotFoundError as error:
        if not (error.name or "").startswith("aws_xray_sdk"):
            raise
        raise RuntimeError(
            "SAGEWIRE_TRACING=true needs the aws-xray-sdk package in the deployment package "
            "(aws-lambda-powertools[tracer]) or in a Lambda layer"
        ) from error


def _cold_start() -> bool:
    """True once per process (never under provisioned concurrency), as Powertools counts it."""
    from aws_lambda_powertools.metrics.provider import cold_start

    first, cold_start.is_cold_start = cold_start.is_cold_start, False
    return first


class EmfMetrics:
    """The metrics of the invocation under way, held in memory until `flush` writes them as
    CloudWatch EMF through Powertools: one document per set of dimensions."""

    def __init__(self, namespace: str, service: str, disabled: bool = False) -> None:
        self._namespace = namespace
        self._service = service
        # POWERTOOLS_METRICS_DISABLED, which Powertools honours: nothing is written.
        self._disabled = disabled
        self._lock = threading.Lock()
        self._pending: list[tuple[str, str, float, tuple[tuple[str, str], ...]]] = []

    def count(self, name: str, value: int = 1, **dimensions: str) -> None:
        self._add(name, "Count", value, dimensions)

    def milliseconds(self, name: str, value: float, **dimensions: str) -> None:
        self._add(name, "Milliseconds", value, dimensions)

    def _add(self, name: str, unit: str, value: float, dimensions: dict[str, str]) -> None:
        with self._lock:
            self._pending.append((name, unit, value, tuple(sorted(dimensions.items()))))

    def flush(self, context: Any = None) -> None:
        """Writes what the invocation recorded, and the cold start of a Lambda process."""
        with self._lock:
            pending, self._pending = self._pending, []
        if self._disabled:
            return
        groups: dict[tuple[tuple[str, str], ...], dict[tuple[str, str], list[float]]] = {}
        for name, unit, value, dimensions in pending:
            groups.setdefault(dimensions, {}).setdefault((name, unit), []).append(float(value))
        if groups:
            timestamp = int(time.time() * 1000)
            sys.stdout.write(
                "".join(self._document(timestamp, *group) + "\n" for group in groups.items())
            )
        if context is not None and _cold_start():
            from aws_lambda_powertools.metrics import EphemeralMetrics

            emf = EphemeralMetrics(namespace=self._namespace, service=self._service)
            emf.add_cold_start_metric(context)

    def _document(
        self,
        timestamp: int,
        dimensions: tuple[tuple[str, str], ...],
        metrics: dict[tuple[str, str], list[float]],
    ) -> str:
        """One EMF document, as Powertools' EphemeralMetrics writes it (the test suite compares
        the two); written here because Powertools took 29 µs a flush, a tenth of a warm
        prediction (`bench warm`), for the validation of names and units that are constants."""
        names = dict(dimensions)
        names["service"] = self._service
        document: dict[str, Any] = {
            "_aws": {
                "Timestamp": timestamp,
                "CloudWatchMetrics": [
                    {
                        "Namespace": self._namespace,
                        "Dimensions": [list(names)],
                        "Metrics": [{"Name": name, "Unit": unit} for name, unit in metrics],
                    }
                ],
            },
            **names,
        }
        document.update((name, values) for (name, _), values in metrics.items())
        return orjson.dumps(document).decode()


class Observability:
    """One invocation at a time: its correlation ids on every log line, its failure logged
    without its message, its metrics flushed once whatever happens, and its trace."""

    def __init__(self, settings: Settings) -> None:
        self.metrics = EmfMetrics(
            settings.metrics_namespace, settings.service_name, settings.metrics_disabled
        )

    @contextmanager
    def invocation(self, name: str, context: Any, **keys: str | None) -> Iterator[None]:
        """`name` is the handler's; `context` Lambda's (None outside Lambda)."""
        keys["function_request_id"] = getattr(context, "aws_request_id", None)
        token = _KEYS.set(tuple((key, value) for key, value in keys.items() if value))
        try:
            with _traced(name):
                yield
        except SagewireError as error:
            logger.warning("invocation failed", extra={"code": error.code})
            raise
        except Exception:
            logger.exception("invocation failed")
            raise
        finally:
            try:
                self.metrics.flush(context)
            finally:
                _KEYS.reset(token)


def _traced(name: str) -> AbstractContextManager[Any]:
    return nullcontext() if TRACER is None else TRACER.provider.in_subsegment(f"## {name}")


_register_powertools_package()
logger.addHandler(_FirstRecord())
# Until the Powertools Logger sets its own level, every record builds it (then is filtered).
logger.setLevel(logging.DEBUG)
logger.propagate = False
# The stage's service name and choice to trace, read at import (get_settings() reads the
# environment once per process): the Tracer is created then, as Powertools advises, to patch
# botocore before any client exists. Off, neither it nor the X-Ray SDK is imported.
TRACER = _tracer(get_settings().service_name) if get_settings().tracing else None
