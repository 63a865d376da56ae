"""The hostile-input campaign: schemathesis generates valid and invalid requests for every
operation of docs/openapi.yaml and sends them to the app in-process, through an emulation of API
Gateway's proxy integration, over moto's DynamoDB and S3 with seeded projects.

Every response must be documented (status, content type, headers, body schema), no response may
be a 5xx, invalid requests must be refused and valid ones accepted where the document can say
what valid is. The last test checks the volume (at least 10,000 requests) and writes the figures
to out/campaign.txt. SAGEWIRE_CAMPAIGN_RANDOM=1 explores with a random seed instead of the fixed
one; SAGEWIRE_CAMPAIGN_SCALE multiplies the examples of every operation (2 for a longer run).

With the fixed seed the figures are the same on every run, alone or after other tests: each
operation draws from its own seed (not from the test function's source), and not from the
constants Hypothesis otherwise collects from every local module loaded so far.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.internal.conjecture import providers
from hypothesis.internal.constants_ast import Constants
from schemathesis.checks import CheckFunction
from schemathesis.specs.openapi.checks import (
    ignored_auth,
    negative_data_rejection,
    positive_data_acceptance,
    unsupported_method,
)

from app import app
from chalicelib.definitions import SAGEMAKER_NAME
from chalicelib.inference_spec import MAX_FEATURES
from tests.campaign.bodies import mutated, valid_bodies
from tests.campaign.gateway import ApiGateway
from tests.campaign.world import CHAMPION_PROMOTION, RUN_NAMES, SEED_PROJECTS, World, world

ROOT = Path(__file__).resolve().parents[2]
DOCUMENT = ROOT / "docs" / "openapi.yaml"
FIGURES = ROOT / "out" / "campaign.txt"
MIN_REQUESTS = 10_000
SCALE = float(os.environ.get("SAGEWIRE_CAMPAIGN_SCALE", "1"))
RANDOM = os.environ.get("SAGEWIRE_CAMPAIGN_RANDOM") == "1"
SEED = 20261120

# API Gateway, not the function, authenticates: an unsigned request reaching the app in-process is
# no finding. A method a resource lacks is API Gateway's 403, not a 405.
EXCLUDED: list[CheckFunction] = [ignored_auth, unsupported_method]
# Where no JSON Schema can say what a valid request is, schemathesis' "valid" data is refused
# rightly: a prediction body must fit the project's input shape; a leaderboard cursor is opaque
# and its filters' numbers must be finite; a recorded run can be promoted only when it has a
# model and the project's objective metric. Variants' names must differ whatever their case and
# one weight must be above 0; their runs must be deployable and the champion's config serve them.
PREDICTIONS = ("POST", "/v1/projects/{project}/predictions")
LEADERBOARD = ("GET", "/v1/projects/{project}/leaderboard")
PROMOTE = ("POST", "/v1/projects/{project}/promotions")
PUT_VARIANTS = ("PUT", "/v1/projects/{project}/variants")
PATCH_VARIANTS = ("PATCH", "/v1/projects/{project}/variants")
WITHOUT_POSITIVE_ACCEPTANCE = {PREDICTIONS, LEADERBOARD, PROMOTE, PUT_VARIANTS, PATCH_VARIANTS}
ENDPOINTS = (*SEED_PROJECTS, "ghost-endpoint")
AnyCase = schemathesis.Case[Any]

schemathesis.serializer.alias("application/x-npy", "application/octet-stream")
schema = schemathesis.openapi.from_path(DOCUMENT)
schema.config.update(base_url="http://sagewire.test")
if not RANDOM:
    schema.config.seed = SEED  # mixed with each operation's label into that operation's seed
schema.config.generation.update(
    modes=list(schemathesis.GenerationMode),  # valid and invalid requests alike
    deterministic=not RANDOM,
    with_security_parameters=False,
)
# Fuzzing examples per operation (the coverage phase adds its own: about 500 for definitions).
# One figure for all: per-operation settings cost schemathesis a configuration merge per request.
schema.config.generation.update(max_examples=max(1, round(850 * SCALE)))
# A body, image or count over its cap is refused as 413, invalid or not.
rejection = schema.config.checks.negative_data_rejection
rejection.expected_statuses = [*rejection.expected_statuses, "413"]
# No schema can say which If-Match is current: a well-formed one may be stale (412).
acceptance = schema.config.checks.positive_data_acceptance
acceptance.expected_statuses = [*acceptance.expected_statuses, "412"]

GATEWAY = ApiGateway(app)
STARTED: list[float] = []
RELABELED: set[str] = set()


@pytest.fixture(scope="module")
def campaign() -> Iterator[World]:
    with world() as seeded, _hypothesis_constants_only():
        GATEWAY.after = seeded.undo
        STARTED.append(time.monotonic())
        yield seeded


@contextmanager
def _hypothesis_constants_only() -> Iterator[None]:
    """Hypothesis draws some values from the literals of every local module loaded so far, so the
    requests would change with any string added to chalicelib and with the test modules collected
    or run before; the campaign draws from Hypothesis' own constants only (unless random)."""
    with pytest.MonkeyPatch.context() as patch:
        if not RANDOM:
            patch.setattr(providers, "_get_local_constants", Constants)
        providers.CONSTANTS_CACHE.cache.clear()  # values picked from the local constants
        try:
            yield
        finally:
            providers.CONSTANTS_CACHE.cache.clear()


def _valid_name(value: object) -> bool:
    return isinstance(value, str) and SAGEMAKER_NAME.fullmatch(value) is not None


@schema.hook
def flatmap_case(context: schemathesis.HookContext, case: AnyCase) -> st.SearchStrategy:
    return _aimed(case)


@st.composite
def _aimed(draw: st.DrawFn, case: AnyCase) -> AnyCase:
    """Points well-formed path parameters at seeded projects, runs and endpoints most of the time,
    and gives predictions bodies that fit the project, or mutations of them."""
    parameters = case.path_parameters
    for name, choices in (("project", SEED_PROJECTS), ("training_job", RUN_NAMES)):
        if _valid_name(parameters.get(name)) and draw(st.integers(0, 3), label=name):
            parameters[name] = draw(st.sampled_from(sorted(choices)), label=name)
    if "promotion_id" in parameters and draw(st.booleans(), label="promotion_id"):
        parameters["promotion_id"] = CHAMPION_PROMOTION  # its `#` and `:` sent percent-encoded
    if _valid_name(parameters.get("endpoint")) and draw(st.booleans(), label="endpoint"):
        parameters["endpoint"] = draw(st.sampled_from(ENDPOINTS), label="endpoint")
    if draw(st.integers(0, 7), label="hostile") == 0:
        _hostile(draw, case)
    project = SEED_PROJECTS.get(parameters.get("project", ""))
    operation = (case.method.upper(), case.path)
    if operation == LEADERBOARD and "cursor" in case.query and draw(st.booleans(), label="cursor"):
        # A generated cursor is always refused: without one, the filters and sort get a say.
        case.query = {name: value for name, value in case.query.items() if name != "cursor"}
    body = _object(case)
    if operation == PROMOTE and body and _valid_name(body.get("run")) and draw(st.booleans()):
        body["run"] = draw(st.sampled_from(RUN_NAMES), label="run")
    listed: Any = body.get("variants") if body else case.body
    if operation == PUT_VARIANTS and isinstance(listed, list) and draw(st.booleans()):
        for choice in listed:
            if isinstance(choice, dict) and _valid_name(choice.get("run")):
                choice["run"] = draw(st.sampled_from(RUN_NAMES), label="variant run")
    if operation == PREDICTIONS and project is not None and _positive(case):
        way = draw(st.sampled_from(["generated", "valid", "valid", "mutated"]), label="body")
        if way != "generated":
            chosen = draw(valid_bodies(project), label="valid body")
            media, value = draw(mutated(chosen), label="mutation") if way == "mutated" else chosen
            case.media_type, case.body = media, value
            # Schemathesis cannot tell such a body valid (raw bytes never validate as a JSON
            # string): the negative/positive label no longer says anything about this case.
            RELABELED.add(case.id)
    return case


# Values that break naive parsing: digits int() refuses, or too many for it; keys over
# DynamoDB's 2,048 (partition) and 1,024 (sort) bytes; control and invisible characters.
HOSTILE_VALUES = ("²", "٣", "9" * 5000, "-1", "1e3", " 7", "0x10", "\x00", "1.0", "7\u200b")
LONG_NAMES = ("a" * 3000, "é" * 1100, "a-" * 31 + "a")
QUERY = {
    PREDICTIONS: ("top_k", "variant"),
    LEADERBOARD: ("limit", "order", "sort", "filter", "cursor"),
    ("GET", "/v1/projects/{project}/promotions"): ("limit",),
    ("GET", "/v1/reports/latest"): ("format",),
}


def _hostile(draw: st.DrawFn, case: AnyCase) -> None:
    """One parameter made hostile: a query value, a path parameter, a run or dataset name."""
    operation = (case.method.upper(), case.path)
    names = QUERY.get(operation, ())
    # Containers are assigned, not edited in place, so that schemathesis revalidates the case.
    if len(names) > 0 and draw(st.booleans(), label="hostile query"):
        name = draw(st.sampled_from(names))
        case.query = {**case.query, name: draw(st.sampled_from(HOSTILE_VALUES))}
    elif operation == ("GET", "/v1/lineage/datasets"):
        uri = "s3://sagewire-data/" + draw(st.sampled_from(LONG_NAMES))[:1024]
        case.query = {**case.query, "uri": uri}
    elif operation == PROMOTE and (body := _object(case)) is not None:
        case.body = {**body, "run": draw(st.sampled_from(LONG_NAMES))}
    elif case.path_parameters:
        name = draw(st.sampled_from(sorted(case.path_parameters)))
        case.path_parameters = {**case.path_parameters, name: draw(st.sampled_from(LONG_NAMES))}


def _positive(case: AnyCase) -> bool:
    """Whether the case is meant to be valid: a body replaced in a negative case would leave it
    labeled negative with nothing invalid left in it."""
    return case.meta is None or case.meta.generation.mode is schemathesis.GenerationMode.POSITIVE


def _same_name(case: AnyCase) -> None:
    """A definition's name must equal the project in the path (no JSON Schema says so)."""
    if (case.method.upper(), case.path) == ("PUT", "/v1/projects/{project}"):
        project, body = case.path_parameters.get("project"), _object(case)
        if _valid_name(project) and body is not None and _valid_name(body.get("name")):
            body["name"] = project


def error_envelope(
    ctx: schemathesis.CheckContext, response: schemathesis.Response, case: AnyCase
) -> bool | None:
    """Every error sagewire answers is its JSON envelope, whatever the status, documented or not
    (API Gateway's own errors are `{"message": ...}`)."""
    if response.status_code < 400:
        return None
    body = response.json()
    if set(body) == {"message"}:
        return None
    assert isinstance(body, dict), f"not an error envelope: {body}"
    assert set(body) == {"error"}, f"not an error envelope: {body}"
    assert {"code", "message", "request_id"} <= set(body["error"]), body
    return True


def _excluded(case: AnyCase) -> list[CheckFunction]:
    operation = (case.method.upper(), case.path)
    excluded = list(EXCLUDED)
    beyond_the_schema = _too_many_features(case) or _beyond_the_schema(case)
    if operation in WITHOUT_POSITIVE_ACCEPTANCE or beyond_the_schema:
        excluded.append(positive_data_acceptance)
    if case.id in RELABELED:
        excluded.append(negative_data_rejection)
    return excluded


def _too_many_features(case: AnyCase) -> bool:
    """A definition whose input shape holds more than MAX_FEATURES values (no JSON Schema)."""
    try:
        shape: Any = cast(Any, case.body)["inference"]["input"]["shape"]
        return bool(math.prod(shape) > MAX_FEATURES)
    except (KeyError, TypeError):
        return False


def _beyond_the_schema(case: AnyCase) -> bool:
    """A definition that takes text or names no shape (whether its vocabulary exists, is
    readable by the stage and fits the model, no JSON Schema can say), a binary one naming
    other than two labels, or one fronting an endpoint (the stage's list decides which)."""
    try:
        if cast(Any, case.body)["endpoint"].get("managed") is False:
            return True
        inference: Any = cast(Any, case.body)["inference"]
        spec, response = inference["input"], inference.get("response") or {}
        labels = response.get("labels")
        binary = response.get("postprocess") == "binary" and labels and len(labels) != 2
        return bool(spec.get("text") is not None or not spec.get("shape") or binary)
    except (KeyError, TypeError, AttributeError):
        return False


def _object(case: AnyCase) -> dict[str, Any] | None:
    return case.body if isinstance(case.body, dict) else None


@schema.parametrize()
@settings(
    deadline=None,
    derandomize=not RANDOM,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_response_is_documented_and_none_is_a_server_error(
    case: AnyCase, campaign: World
) -> None:
    _same_name(case)
    response = case.call_and_validate(
        app=GATEWAY, excluded_checks=_excluded(case), additional_checks=[error_envelope]
    )
    assert response.status_code < 500, case.as_curl_command()


def test_campaign_figures(campaign: World) -> None:
    """At least 10,000 requests across every operation, and not one 5xx; the figures are in
    out/campaign.txt: one line to quote, then each operation's."""
    seconds = time.monotonic() - STARTED[0]
    statuses = GATEWAY.statuses
    server_errors = sum(count for status, count in statuses.items() if status >= 500)
    documented = {f"{method} {path}" for path, methods in app.routes.items() for method in methods}
    probes = sum(count for name, count in GATEWAY.operations.items() if name not in documented)
    line = (
        f"schemathesis campaign: {GATEWAY.requests} requests ({GATEWAY.requests - probes} to the "
        f"{len(documented)} operations, {probes} with methods no route has) in {seconds:.0f} s; "
        + ", ".join(f"{status}: {statuses[status]}" for status in sorted(statuses))
        + f"; 5xx: {server_errors}; {campaign.runtime.calls} model invocations"
    )
    FIGURES.parent.mkdir(exist_ok=True)
    FIGURES.write_text("\n".join([line, *map(_operation_figures, sorted(documented))]) + "\n")
    print(line)
    assert server_errors == 0, line
    assert GATEWAY.requests >= MIN_REQUESTS, line
    assert documented <= set(GATEWAY.operations), line


def _operation_figures(operation: str) -> str:
    outcomes = sorted((s, n) for (name, s), n in GATEWAY.outcomes.items() if name == operation)
    statuses = ", ".join(f"{status}: {count}" for status, count in outcomes)
    count, seconds = GATEWAY.operations[operation], GATEWAY.seconds[operation]
    return f"{operation}: {count} requests, {seconds:.1f} s in the app ({statuses})"
