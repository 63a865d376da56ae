"""HTTP routes (API v1): with its authorizers (http_auth.py), the only module that knows HTTP."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar
from urllib.parse import quote, unquote

import orjson
from chalice.app import Blueprint, Response

from chalicelib import errors, wiring
from chalicelib.definitions import project_to_document
from chalicelib.entrypoints.http_auth import CLIENTS, OPERATORS, caller
from chalicelib.models import REPORT_CONTENT_TYPES, document
from chalicelib.observability import LOGGER_NAME
from chalicelib.services.inference import MAX_TOP_K

MAX_DEFINITION_BYTES = 64 * 1024
BINARY_TYPES = ("image/png", "image/jpeg", "application/x-npy")
# Routes take any Content-Type: those without a body ignore it, the others check it themselves
# (a 415 in sagewire's error envelope; Chalice's own 415 for a GET has another shape).
ANY = ["*/*"]

api = Blueprint(__name__)
# Powertools' JSON lines, its Logger built on the first record (chalicelib/observability.py).
logger = logging.getLogger(LOGGER_NAME)

_STATUS: dict[type[errors.SagewireError], int] = {
    errors.MalformedInput: 400,
    errors.InvalidParameter: 400,
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.PreconditionFailed: 412,
    errors.InputTooLarge: 413,
    errors.UnsupportedMediaType: 415,
    errors.InvalidShape: 422,
    errors.InvalidDefinition: 422,
    errors.InvalidVocabulary: 422,
    errors.EndpointBusy: 409,
    errors.ModelFailed: 502,
    errors.DeploymentFailed: 502,
    errors.ServiceUnavailable: 503,
    errors.EndpointTimeout: 504,
}


_Default = TypeVar("_Default", bound=int | None)


def _request_id() -> str:
    request = api.current_request
    context = request.context if request is not None else {}
    return str(context.get("requestId") or uuid.uuid4())


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(
        body=orjson.dumps(body).decode(),
        status_code=status,
        headers={"Content-Type": "application/json", **(headers or {})},
    )


def _error_response(error: errors.SagewireError, request_id: str) -> Response:
    status = next(_STATUS[kind] for kind in type(error).__mro__ if kind in _STATUS)
    detail: dict[str, Any] = {"code": error.code, "message": error.message}
    if isinstance(error, errors.InvalidDefinition):
        detail["field"] = error.field
    detail["request_id"] = request_id
    headers = {}
    if isinstance(error, errors.ServiceUnavailable | errors.EndpointBusy) and error.retry_after:
        headers["Retry-After"] = str(error.retry_after)
    return _json(status, {"error": detail}, headers)


def _json_errors(view: Callable[..., Response]) -> Callable[..., Response]:
    """Every failure becomes a JSON error; only a bug in sagewire is a 500. A request is one
    invocation: its ids on every log line, its metrics flushed when it ends."""

    @wraps(view)
    def handle(*args: Any, **kwargs: Any) -> Response:
        request_id = _request_id()
        with wiring.container().observability.invocation(
            view.__name__,
            api.lambda_context,
            correlation_id=request_id,
            project=kwargs.get("project"),
            training_job=kwargs.get("training_job"),
        ):
            try:
                response = view(*args, request_id=request_id, **kwargs)
            except errors.SagewireError as error:
                logger.info("request refused", extra={"code": error.code})
                response = _error_response(error, request_id)
            except Exception:
                # Logged as its type and frames: the message may quote the payload.
                logger.exception("unexpected error")
                detail = {"code": "InternalError", "message": "internal error"}
                response = _json(500, {"error": {**detail, "request_id": request_id}})
        # Every body is what its Content-Type says: no browser may guess another type.
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    return handle


def _body(limit: int) -> bytes:
    request = api.current_request
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise errors.InputTooLarge(f"the body exceeds {limit} bytes")
    body = request.raw_body or b""
    if isinstance(body, str):
        body = body.encode()
    if len(body) > limit:
        raise errors.InputTooLarge(f"the body exceeds {limit} bytes")
    return body


def _json_document(limit: int) -> Any:
    content_type = api.current_request.headers.get("content-type", "application/json")
    if content_type.split(";")[0].strip().lower() != "application/json":
        raise errors.UnsupportedMediaType("the body must be application/json")
    try:
        return orjson.loads(_body(limit))
    except orjson.JSONDecodeError as error:
        raise errors.MalformedInput(f"the body is not valid JSON: {error.msg}") from None


def _query(name: str) -> str | None:
    params = api.current_request.query_params
    return None if params is None else params.get(name)


def _int_query(name: str, default: _Default, low: int, high: int) -> int | _Default:
    """The query parameter `name` as an int, or `default` when it is absent (or empty, if there
    is a default). The service checks that it is from `low` to `high`, with the same message;
    here the range only bounds the digits read."""
    value = _query(name)
    if value is None or (value == "" and default is not None):
        return default
    # ASCII digits only: "²".isdigit() but int("²") fails, "٣" would be read as 3, and int() of
    # 5,000 digits fails too; more digits than `high` has are out of range anyway.
    digits = value.isascii() and value.isdigit() and len(value) <= len(str(high))
    if not digits:
        raise errors.InvalidParameter(f"{name} must be an integer from {low} to {high}")
    return int(value)


@api.route("/v1/health", methods=["GET"], content_types=ANY)
@_json_errors
def health(request_id: str) -> Response:
    return _json(200, {"status": "ok", "request_id": request_id})


@api.route("/v1/projects", methods=["GET"], content_types=ANY, **OPERATORS)
@_json_errors
def list_projects(request_id: str) -> Response:
    projects = wiring.container().projects.all()
    return _json(200, {"projects": [project_to_document(p) for p in projects]})


def _if_match() -> frozenset[str] | None:
    """If-Match's entity tags, unquoted (`*` kept); None without the header. A weak tag never
    matches: If-Match compares strongly."""
    header = api.current_request.headers.get("if-match")
    if header is None:
        return None
    tags = (tag.strip() for tag in header.split(","))
    return frozenset(
        tag if tag == "*" else tag.removeprefix('"').removesuffix('"')
        for tag in tags
        if tag and not tag.startswith("W/")
    )


def _etag(revision: str) -> dict[str, str]:
    return {"ETag": f'"{revision}"'}


@api.route("/v1/projects/{project}", methods=["GET"], content_types=ANY, **OPERATORS)
@_json_errors
def get_project(project: str, request_id: str) -> Response:
    stored, revision = wiring.container().projects.versioned(project)
    return _json(200, project_to_document(stored), _etag(revision))


@api.route("/v1/projects/{project}", methods=["PUT"], content_types=["*/*"], **OPERATORS)
@_json_errors
def put_project(project: str, request_id: str) -> Response:
    document = _json_document(MAX_DEFINITION_BYTES)
    stored, created, revision = wiring.container().projects.put(project, document, _if_match())
    headers = _etag(revision)
    if created:
        # Relative to the request's URL (RFC 3986), so it holds under the stage's base path
        # (`/api`, or a custom domain's mapping) that the function never sees.
        headers["Location"] = quote(stored.name, safe="")
    return _json(201 if created else 200, project_to_document(stored), headers)


@api.route("/v1/projects/{project}", methods=["DELETE"], content_types=ANY, **OPERATORS)
@_json_errors
def delete_project(project: str, request_id: str) -> Response:
    deletion = wiring.container().teardown.delete(
        project, _if_match(), _query("teardown"), _operator_cause()
    )
    return _json(200, document(deletion))


@api.route("/v1/projects/{project}/predictions", methods=["POST"], content_types=["*/*"], **CLIENTS)
@_json_errors
def predict(project: str, request_id: str) -> Response:
    container = wiring.container()
    top_k = _int_query("top_k", None, 1, MAX_TOP_K)
    result = container.inference.predict(
        project,
        _body(container.settings.max_request_bytes),
        api.current_request.headers.get("content-type", ""),
        caller(api.current_request.context),
        variant=_query("variant"),
        top_k=top_k,
    )
    # Not dataclasses.asdict: it deep-copies every prediction (0.3 ms for 100 of them).
    answer = {
        "project": result.project,
        "endpoint": result.endpoint,
        "variant": result.variant,
        "predictions": result.predictions,
        "request_id": request_id,
    }
    return _json(200, answer)


@api.route("/v1/projects/{project}/leaderboard", methods=["GET"], content_types=ANY, **OPERATORS)
@_json_errors
def get_leaderboard(project: str, request_id: str) -> Response:
    from chalicelib.services.leaderboard import DEFAULT_LIMIT, MAX_LIMIT

    params = api.current_request.query_params
    page = wiring.container().leaderboard.page(
        project,
        # Chalice's MultiDict.getlist raises KeyError for an absent name.
        filters=params.getlist("filter") if params and "filter" in params else [],
        sort=_query("sort"),
        order=_query("order"),
        limit=_int_query("limit", DEFAULT_LIMIT, 1, MAX_LIMIT),
        cursor=_query("cursor"),
    )
    body = {
        "project": page.project,
        "sort": page.sort,
        "order": page.order,
        "runs": [
            {**document(entry.run), "eligibility": document(entry.eligibility)}
            for entry in page.entries
        ],
        "next_cursor": page.next_cursor,
    }
    return _json(200, body)


@api.route("/v1/projects/{project}/champion", methods=["GET"], content_types=ANY, **OPERATORS)
@_json_errors
def get_champion(project: str, request_id: str) -> Response:
    view = wiring.container().variants.view(project)
    return _json(200, {"project": project, **document(view)})


@api.route(
    "/v1/projects/{project}/variants", methods=["PUT", "PATCH"], content_types=ANY, **OPERATORS
)
@_json_errors
def change_variants(project: str, request_id: str) -> Response:
    """PUT: named variants of recorded runs on the endpoint; PATCH: their weights, in place."""
    body = _json_document(MAX_DEFINITION_BYTES)
    variants = wiring.container().variants
    change = variants.put if api.current_request.method == "PUT" else variants.reweigh
    return _json(200, document(change(project, body, cause=_operator_cause())))


@api.route("/v1/projects/{project}/promotions", methods=["GET"], content_types=ANY, **OPERATORS)
@_json_errors
def list_promotions(project: str, request_id: str) -> Response:
    from chalicelib.services.rollout import DEFAULT_PROMOTIONS, MAX_PROMOTIONS

    limit = _int_query("limit", DEFAULT_PROMOTIONS, 1, MAX_PROMOTIONS)
    promotions = wiring.container().rollout.promotions(project, limit)
    return _json(200, {"project": project, "promotions": document(promotions)})


@api.route(
    "/v1/projects/{project}/promotions/{promotion_id}",
    methods=["GET"],
    content_types=ANY,
    **OPERATORS,
)
@_json_errors
def get_promotion(project: str, promotion_id: str, request_id: str) -> Response:
    # API Gateway decodes path parameters, Chalice's local server and test client do not; an id
    # never holds a `%`, so decoding once more changes nothing: `%23` is a `#` either way.
    promotion = wiring.container().rollout.promotion(project, unquote(promotion_id))
    return _json(200, document(promotion))


@api.route("/v1/projects/{project}/imports/latest", methods=["GET"], content_types=ANY, **OPERATORS)
@_json_errors
def get_latest_import(project: str, request_id: str) -> Response:
    from chalicelib.imports import progress  # the import values load with the imports service

    return _json(200, progress(wiring.container().imports.latest(project)))


@api.route("/v1/projects/{project}/imports", methods=["POST"], content_types=ANY, **OPERATORS)
@_json_errors
def start_import(project: str, request_id: str) -> Response:
    from chalicelib.imports import progress

    run_import = wiring.container().imports.rerun(project, cause=_operator_cause())
    location = {"Location": "imports/latest"}  # relative, as a created project's
    return _json(202, progress(run_import), location)


@api.route("/v1/runs/{training_job}", methods=["GET"], content_types=ANY, **OPERATORS)
@_json_errors
def get_run_lineage(training_job: str, request_id: str) -> Response:
    return _json(200, document(wiring.container().lineage.run(training_job)))


@api.route("/v1/lineage/endpoints/{endpoint}", methods=["GET"], content_types=ANY, **OPERATORS)
@_json_errors
def get_endpoint_lineage(endpoint: str, request_id: str) -> Response:
    return _json(200, document(wiring.container().lineage.endpoint(endpoint)))


@api.route("/v1/lineage/datasets", methods=["GET"], content_types=ANY, **OPERATORS)
@_json_errors
def get_dataset_lineage(request_id: str) -> Response:
    uri = _query("uri")
    if uri is None:
        raise errors.InvalidParameter("uri is required: ?uri=s3://<bucket>/<key or prefix>")
    return _json(200, document(wiring.container().lineage.datasets(uri)))


@api.route("/v1/reports/latest", methods=["GET"], content_types=ANY, **OPERATORS)
@_json_errors
def latest_report(request_id: str) -> Response:
    kind = _query("format") or "json"
    if kind not in REPORT_CONTENT_TYPES:
        raise errors.InvalidParameter("format must be one of json, html, csv, openlineage")
    try:
        latest = wiring.container().reports.latest(kind)
    except errors.NotFound:
        raise errors.NotFound("no lineage report has been written yet") from None
    if latest.url is not None:
        # Too large for a Lambda's answer: the client follows a short-lived presigned GET.
        return Response(
            body="", status_code=303, headers={"Location": latest.url, "Cache-Control": "no-store"}
        )
    headers: dict[str, str | list[str]] = {"Content-Type": REPORT_CONTENT_TYPES[kind]}
    if kind == "html":
        # Imported here: the report modules would cost every cold start 4 ms.
        from chalicelib.processing.report_assets import CONTENT_SECURITY_POLICY_HEADER

        headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY_HEADER
    return Response(body=latest.body.decode(), status_code=200, headers=headers)


@api.route(
    "/v1/projects/{project}/promotions", methods=["POST"], content_types=["*/*"], **OPERATORS
)
@_json_errors
def create_promotion(project: str, request_id: str) -> Response:
    request = _json_document(MAX_DEFINITION_BYTES)
    # Unknown fields are refused, not ignored: {"run": ..., "dry_run": true} must not promote.
    run = request.get("run") if isinstance(request, dict) and request.keys() == {"run"} else None
    if not isinstance(run, str) or not run:
        raise errors.InvalidParameter('the body must be {"run": "<training job name>"}')
    promotion = wiring.container().champions.promote(project, run, cause=_operator_cause())
    # Relative, as a created project's; the id's `#` and `:` percent-encoded.
    location = {"Location": f"promotions/{quote(promotion.promotion_id, safe='')}"}
    return _json(201, document(promotion), location)


def _operator_cause() -> str:
    """`api:<who>` for the ledger: the caller's IAM ARN, else its address."""
    identity = api.current_request.context.get("identity") or {}
    return f"api:{identity.get('userArn') or identity.get('sourceIp') or 'unknown'}"
