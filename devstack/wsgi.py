"""A threaded WSGI server on a background thread that stops without waiting for idle clients."""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Any]


def json_answer(start_response: Callable[..., Any], status: str, body: Any) -> list[bytes]:
    """An AWS JSON-protocol answer (what moto's SageMaker and boto3 speak)."""
    payload = json.dumps(body, default=str).encode()
    start_response(
        status,
        [
            ("Content-Type", "application/x-amz-json-1.1"),
            ("Content-Length", str(len(payload))),
            ("x-amzn-RequestId", str(uuid.uuid4())),
        ],
    )
    return [payload]


class BackgroundServer:
    def __init__(
        self,
        app: WsgiApp,
        name: str,
        host: str = "127.0.0.1",
        port: int = 0,
        request_handler: type[WSGIRequestHandler] | None = None,
    ) -> None:
        # werkzeug logs every request at INFO; the stack prints its own story instead.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self._server: BaseWSGIServer = make_server(
            host, port, app, threaded=True, request_handler=request_handler
        )
        # Handler threads are daemons parked on keep-alive sockets; joining them would hang stop().
        self._server.block_on_close = False  # type: ignore[attr-defined]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            name=name,
            kwargs={"poll_interval": 0.1},
            daemon=True,
        )

    @property
    def url(self) -> str:
        return f"http://{self._server.host}:{self._server.port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join()
        self._server.server_close()


class OneDynamoDBRequestAtATime:
    """Lets one DynamoDB request into moto at a time: moto's DynamoDB is not thread-safe (its
    TransactWriteItems deep-copies tables that another request's thread may be changing:
    "dictionary changed size during iteration", a 500 that botocore retries)."""

    def __init__(self, app: WsgiApp) -> None:
        self._app = app
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if not environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB_"):
            return self._app(environ, start_response)
        with self._lock:
            return list(self._app(environ, start_response))
