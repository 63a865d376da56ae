"""The end-to-end tests' in-process stack."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from moto.moto_api._internal.models import moto_api_backend

from chalicelib import wiring
from chalicelib.config import get_settings
from devstack.stack import Stack, StackSettings


@pytest.fixture(scope="package")
def in_process_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The stack in this process, started as `python -m devstack demo` starts it (its state file
    in a temporary directory); the environment, settings and wiring it changes are restored after.

    One stack for every module here that uses it: `chalice local` serves the app module's one
    Chalice object, and cannot serve it a second time in the same process. Its stories use
    projects, jobs and S3 keys of their own. Package-scoped, not session-scoped: the stack points
    this process's AWS clients at itself (AWS_ENDPOINT_URL and the rest), which must not reach
    the other test packages."""
    # moto's backends live in this process: start from nothing, whatever ran before; and the
    # app reads the stage's settings (and builds its clients) afresh, as `chalice local` would.
    moto_api_backend.reset()
    get_settings.cache_clear()
    wiring.use(None)
    saved = dict(os.environ)
    out: Path = tmp_path_factory.mktemp("devstack")
    settings = dataclasses.replace(StackSettings.from_environ(default_api_port=0), out_dir=out)
    stack = Stack(settings, access_log=False)
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()
        os.environ.clear()
        os.environ.update(saved)
        get_settings.cache_clear()
        wiring.use(None)
