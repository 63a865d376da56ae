"""`Client`: every route of the sagewire API as a method, authenticated as the stage wants."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args
from urllib.parse import quote, urlencode, urljoin, urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest, AWSResponse
from botocore.credentials import Credentials
from botocore.exceptions import ConnectionError as BotocoreConnectionError
from botocore.exceptions import HTTPClientError
from botocore.httpsession import URLLib3Session
from botocore.session import Session
from botocore.utils import get_environ_proxies

from sagewire.errors import (
    ConfigurationError,
    ConnectionFailed,
    InvalidResponse,
    error_from_response,
)
from sagewire.version import __version__

Auth = Literal["iam", "api-key", "cognito", "none"]
AUTH_MODES: tuple[Auth, ...] = get_args(Auth)
ReportFormat = Literal["json", "html", "csv", "openlineage"]
REPORT_FORMATS: tuple[ReportFormat, ...] = get_args(ReportFormat)
# What the predictions route decodes (chalicelib/processing/decode.py), by file suffix.
CONTENT_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".csv": "text/csv",
    ".json": "application/json",
    ".npy": "application/x-npy",
    ".txt": "text/plain",
}
# The local stack (`make serve`) admits every request and checks no signature.
LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
LOCAL_REGION = "us-east-1"
DEFAULT_TIMEOUT = 60
_EXECUTE_API_HOST = re.compile(r"^[a-z0-9]+\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$")


@dataclass(frozen=True)
class Report:
    """The newest lineage report: its body in the format asked for."""

    format: ReportFormat
    content_type: str
    body: bytes


def content_type_for(path: Path) -> str:
    """The media type the predictions route expects for a file, from its suffix."""
    try:
        return CONTENT_TYPES[path.suffix.lower()]
    except KeyError:
        known = ", ".join(CONTENT_TYPES)
        raise ConfigurationError(
            f"cannot tell the content type of {path.name}: name a file ending in {known}, "
            "or give its content type (--content-type)",
            code="UnknownContentType",
        ) from None


def is_local(url: str) -> bool:
    return urlsplit(url).hostname in LOCAL_HOSTS


class Client:
    """The sagewire API at `url` (else $SAGEWIRE_URL): a stage's invoke URL such as
    https://<id>.execute-api.<region>.amazonaws.com/api, or the local stack's
    http://127.0.0.1:8000. Each method returns the API's JSON document and raises a
    `sagewire.errors.SagewireError` subclass for an error answer.

    `auth` (else $SAGEWIRE_AUTH) says how predictions authenticate, as the stage's
    SAGEWIRE_PREDICTIONS_AUTH does: `iam` (SigV4), `api-key` (x-api-key: `api_key`, else
    $SAGEWIRE_API_KEY), `cognito` (Authorization: an ID token, `token`, else $SAGEWIRE_TOKEN) or
    `none`. Every other route is signed with SigV4 unless `auth` is `none`. The default is `iam`,
    or `none` for a local URL (127.0.0.1, localhost, ::1). Credentials come from botocore's usual
    chain (environment, `profile` or AWS_PROFILE, SSO, instance roles); the region from `region`,
    else an execute-api host name, else the chain's configuration. Unsigned when a local URL is
    asked to sign without credentials."""

    def __init__(
        self,
        url: str | None = None,
        *,
        auth: str | None = None,
        api_key: str | None = None,
        token: str | None = None,
        region: str | None = None,
        profile: str | None = None,
        timeout: int = DEFAULT_TIMEOUT,
    ) -> None:
        url = url or os.environ.get("SAGEWIRE_URL")
        if not url:
            raise ConfigurationError(
                "no API URL: pass --endpoint-url or set SAGEWIRE_URL "
                "(the stage's invoke URL, or http://127.0.0.1:8000 for `make serve`)",
                code="NoEndpoint",
            )
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigurationError(f"not an http(s) URL: {url!r}", code="NoEndpoint")
        self.url = url.rstrip("/")
        mode = auth or os.environ.get("SAGEWIRE_AUTH") or ("none" if is_local(url) else "iam")
        if mode not in AUTH_MODES:
            raise ConfigurationError(
                f"auth must be one of {', '.join(AUTH_MODES)}, not {mode!r}", code="BadAuth"
            )
        self.auth: Auth = mode
        self._api_key = api_key or os.environ.get("SAGEWIRE_API_KEY")
        self._token = token or os.environ.get("SAGEWIRE_TOKEN")
        self._region = region
        self._session = Session(profile=profile)
        self._credentials: Credentials | None = None
        self._http = URLLib3Session(proxies=get_environ_proxies(self.url), timeout=timeout)

    # -- projects ---------------------------------------------------------------------------

    def list_projects(self) -> Any:
        return self._json("GET", "/v1/projects")

    def get_project(self, project: str) -> Any:
        return self._json("GET", f"/v1/projects/{_segment(project)}")

    def put_project(
        self, project: str, definition: Mapping[str, Any], if_match: str | None = None
    ) -> Any:
        """Creates or replaces a definition; `if_match` an ETag from `get_project`'s answer."""
        return self._json(
            "PUT",
            f"/v1/projects/{_segment(project)}",
            body=json.dumps(definition).encode(),
            content_type="application/json",
            headers=_if_match(if_match),
        )

    def delete_project(
        self, project: str, teardown: bool = False, if_match: str | None = None
    ) -> Any:
        """Deletes a definition; with `teardown`, its endpoint and what sagewire made for it."""
        query = [("teardown", "true")] if teardown else []
        return self._json(
            "DELETE", f"/v1/projects/{_segment(project)}", query, headers=_if_match(if_match)
        )

    # -- predictions ------------------------------------------------------------------------

    def predict(
        self,
        project: str,
        body: bytes,
        content_type: str,
        variant: str | None = None,
        top_k: int | None = None,
    ) -> Any:
        """Raw input (a PNG, JPEG, CSV rows, JSON, .npy, text) in, predictions out."""
        query = _present(variant=variant, top_k=top_k)
        return self._json(
            "POST",
            f"/v1/projects/{_segment(project)}/predictions",
            query,
            body=body,
            content_type=content_type,
            prediction=True,
        )

    def predict_file(
        self,
        project: str,
        path: Path,
        variant: str | None = None,
        top_k: int | None = None,
        content_type: str | None = None,
    ) -> Any:
        """`predict` with a file's bytes, its content type from its suffix unless given."""
        media = content_type or content_type_for(path)
        return self.predict(project, path.read_bytes(), media, variant, top_k)

    # -- runs, champions, promotions --------------------------------------------------------

    def leaderboard(
        self,
        project: str,
        filters: Iterable[str] = (),
        sort: str | None = None,
        order: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Any:
        """One page of runs; `next_cursor` (None after the last page) continues the query."""
        query = [("filter", item) for item in filters]
        query += _present(sort=sort, order=order, limit=limit, cursor=cursor)
        return self._json("GET", f"/v1/projects/{_segment(project)}/leaderboard", query)

    def leaderboard_pages(
        self,
        project: str,
        filters: Iterable[str] = (),
        sort: str | None = None,
        order: str | None = None,
        limit: int | None = None,
    ) -> Iterator[Any]:
        """Every page of the query, following `next_cursor`."""
        filters = list(filters)
        cursor = None
        while True:
            page = self.leaderboard(project, filters, sort, order, limit, cursor)
            yield page
            cursor = page.get("next_cursor")
            if not cursor:
                return

    def champion(self, project: str) -> Any:
        return self._json("GET", f"/v1/projects/{_segment(project)}/champion")

    def promotions(self, project: str, limit: int | None = None) -> Any:
        """The promotion ledger, newest first."""
        query = _present(limit=limit)
        return self._json("GET", f"/v1/projects/{_segment(project)}/promotions", query)

    def promotion(self, project: str, promotion_id: str) -> Any:
        """One ledger entry by its id (as `promote` and `promotions` show it)."""
        path = f"/v1/projects/{_segment(project)}/promotions/{_segment(promotion_id)}"
        return self._json("GET", path)

    def promote(self, project: str, run: str) -> Any:
        """Makes a recorded run the champion whatever its metrics (or rolls back to it)."""
        return self._json(
            "POST",
            f"/v1/projects/{_segment(project)}/promotions",
            body=json.dumps({"run": run}).encode(),
            content_type="application/json",
        )

    def run(self, training_job: str) -> Any:
        """One recorded run with its upstream lineage and deployments."""
        return self._json("GET", f"/v1/runs/{_segment(training_job)}")

    # -- lineage ----------------------------------------------------------------------------

    def endpoint_lineage(self, endpoint: str) -> Any:
        return self._json("GET", f"/v1/lineage/endpoints/{_segment(endpoint)}")

    def dataset_lineage(self, uri: str) -> Any:
        """The runs downstream of an s3:// object or prefix."""
        return self._json("GET", "/v1/lineage/datasets", [("uri", uri)])

    def latest_report(self, format: ReportFormat = "json") -> Report:
        """The newest lineage report; a large one is fetched from the presigned URL the API
        redirects to (303), without this client's credentials."""
        response = self._send("GET", "/v1/reports/latest", [("format", format)])
        if response.status_code == 303:
            location = urljoin(self.url + "/", response.headers.get("Location", ""))
            response = self._exchange(AWSRequest(method="GET", url=location))
            if response.status_code != 200:
                raise error_from_response(response.status_code, response.headers, response.content)
        content_type = response.headers.get("Content-Type", "")
        return Report(format, content_type, response.content)

    def health(self) -> Any:
        return self._json("GET", "/v1/health")

    # -- transport --------------------------------------------------------------------------

    def _json(
        self,
        method: str,
        path: str,
        query: list[tuple[str, str]] | None = None,
        *,
        body: bytes = b"",
        content_type: str | None = None,
        headers: Mapping[str, str] | None = None,
        prediction: bool = False,
    ) -> Any:
        response = self._send(
            method, path, query or [], body, content_type, headers or {}, prediction
        )
        try:
            return json.loads(response.content)
        except ValueError:
            raise InvalidResponse(
                f"{method} {path} answered {response.status_code} with a body that is not JSON",
                status=response.status_code,
            ) from None

    def _send(
        self,
        method: str,
        path: str,
        query: list[tuple[str, str]],
        body: bytes = b"",
        content_type: str | None = None,
        headers: Mapping[str, str] | None = None,
        prediction: bool = False,
    ) -> AWSResponse:
        """The answer to a request, authenticated; an error answer raised as its type. Only a
        2xx or a 303 (the report's redirect) is an answer."""
        # RFC 3986 encoding, as SigV4's canonical query string wants it ("/" and "=" too).
        url = self.url + path + (f"?{urlencode(query, quote_via=quote)}" if query else "")
        request_headers = {"User-Agent": f"sagewire/{__version__}", **(headers or {})}
        if content_type is not None:
            request_headers["Content-Type"] = content_type
        request = AWSRequest(method=method, url=url, data=body, headers=request_headers)
        self._authenticate(request, prediction)
        response = self._exchange(request)
        if not (200 <= response.status_code < 300 or response.status_code == 303):
            raise error_from_response(response.status_code, response.headers, response.content)
        return response

    def _exchange(self, request: AWSRequest) -> AWSResponse:
        try:
            return self._http.send(request.prepare())
        except (HTTPClientError, BotocoreConnectionError) as error:
            raise ConnectionFailed(f"no answer from {request.url}: {error}") from None

    def _authenticate(self, request: AWSRequest, prediction: bool) -> None:
        if self.auth == "none":
            return
        if prediction and self.auth == "api-key":
            request.headers["x-api-key"] = _required(self._api_key, "api-key", "SAGEWIRE_API_KEY")
            return
        if prediction and self.auth == "cognito":
            request.headers["Authorization"] = _required(self._token, "cognito", "SAGEWIRE_TOKEN")
            return
        credentials = self._frozen_credentials()
        if credentials is not None:
            SigV4Auth(credentials, "execute-api", self._signing_region()).add_auth(request)

    def _frozen_credentials(self) -> Credentials | None:
        """This moment's credentials (refreshable ones refresh); None for a local URL without
        any."""
        if self._credentials is None:
            self._credentials = self._session.get_credentials()
        if self._credentials is not None:
            frozen = self._credentials.get_frozen_credentials()
            return Credentials(frozen.access_key or "", frozen.secret_key or "", frozen.token)
        if is_local(self.url):
            return None
        raise ConfigurationError(
            "no AWS credentials to sign with: configure them as for the AWS CLI "
            "(aws configure, AWS_PROFILE, environment variables), or use --auth",
            code="NoCredentials",
        )

    def _signing_region(self) -> str:
        host = urlsplit(self.url).hostname or ""
        if self._region:
            return self._region
        in_host = _EXECUTE_API_HOST.match(host)
        if in_host:
            return in_host[1]
        region = self._session.get_config_variable("region")
        if region:
            return str(region)
        if is_local(self.url):
            return LOCAL_REGION
        raise ConfigurationError(
            "no AWS region to sign with: pass --region or set AWS_REGION", code="NoRegion"
        )


def _segment(value: str) -> str:
    """One path segment, percent-encoded ("/" too)."""
    if not value:
        raise ConfigurationError("an empty name", code="InvalidName")
    return quote(value, safe="")


def _present(**values: str | int | None) -> list[tuple[str, str]]:
    return [(name, str(value)) for name, value in values.items() if value is not None]


def _if_match(etag: str | None) -> dict[str, str]:
    if etag is None:
        return {}
    return {"If-Match": etag if etag.startswith(('"', "W/")) or etag == "*" else f'"{etag}"'}


def _required(value: str | None, mode: str, variable: str) -> str:
    if not value:
        option = "--api-key" if mode == "api-key" else "--token"
        raise ConfigurationError(
            f"--auth {mode} needs {option} or {variable}", code="NoCredentials"
        )
    return value
