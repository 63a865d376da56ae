"""A scripted HTTP server on 127.0.0.1 that records what the sagewire client sends."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class Seen:
    """A request as it arrived: the raw path and query, headers and body."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes

    def params(self) -> dict[str, list[str]]:
        return parse_qs(self.query, keep_blank_values=True)


@dataclass(frozen=True)
class Answer:
    status: int = 200
    body: bytes = b"{}"
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "application/json"})


def answer(document: Any, status: int = 200, **headers: str) -> Answer:
    return Answer(
        status, json.dumps(document).encode(), {"Content-Type": "application/json", **headers}
    )


def error(status: int, code: str, message: str = "refused", **headers: str) -> Answer:
    envelope = {"error": {"code": code, "message": message, "request_id": "req-1"}}
    return answer(envelope, status, **headers)


Script = Callable[[Seen], Answer]


class FakeApi:
    """Answers each request with `script(request)` (a 200 `{}` by default) and keeps it."""

    def __init__(self) -> None:
        self.seen: list[Seen] = []
        self.script: Script = lambda _: Answer()
        api = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                seen = Seen(
                    self.command,
                    parts.path,
                    parts.query,
                    {name.lower(): value for name, value in self.headers.items()},
                    self.rfile.read(length),
                )
                api.seen.append(seen)
                reply = api.script(seen)
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

            do_GET = do_PUT = do_POST = do_DELETE = _handle

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet."""

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> None:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def last(self) -> Seen:
        return self.seen[-1]


def running() -> Iterator[FakeApi]:
    """For a fixture: a started server, stopped after."""
    api = FakeApi()
    api.start()
    try:
        yield api
    finally:
        api.stop()
