"""The small interfaces services depend on; gateways and test fakes implement them."""

from __future__ import annotations

from typing import Protocol

from chalicelib.models import Invocation, Project


class ProjectStore(Protocol):
    def get(self, name: str) -> Project | None: ...

    def all(self) -> list[Project]: ...

    def put(self, project: Project) -> bool: ...

    def delete(self, name: str) -> bool: ...


class EndpointInvoker(Protocol):
    def invoke(
        self,
        endpoint: str,
        body: bytes,
        content_type: str,
        accept: str,
        target_variant: str | None = None,
    ) -> Invocation: ...
