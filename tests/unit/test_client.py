"""The sagewire client against a scripted local HTTP server: routes, auth, paging, 303, errors."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from chalicelib import errors as domain
from chalicelib.entrypoints import http
from chalicelib.gateways import sagemaker_errors  # noqa: F401  (its errors join the table)
from chalicelib.processing.decode import SUPPORTED_CONTENT_TYPES
from sagewire import errors
from sagewire.client import CONTENT_TYPES, Client, content_type_for
from tests.api_server import Answer, FakeApi, Seen, answer, error, running


@pytest.fixture
def api() -> Iterator[FakeApi]:
    yield from running()


@pytest.fixture
def client(api: FakeApi) -> Client:
    return Client(api.url)


@pytest.fixture
def no_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("AWS_SECURITY_TOKEN", raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def _domain_errors() -> list[type[domain.SagewireError]]:
    found, pending = [], [domain.SagewireError]
    while pending:
        kind = pending.pop()
        found.append(kind)
        pending += kind.__subclasses__()
    return [kind for kind in found if kind is not domain.SagewireError]


@pytest.mark.parametrize("kind", _domain_errors(), ids=lambda kind: kind.__name__)
def test_every_api_error_code_has_a_class_with_the_apis_status(
    kind: type[domain.SagewireError],
) -> None:
    status = next(http._STATUS[base] for base in kind.__mro__ if base in http._STATUS)
    assert errors.CODES[kind.code].status == status


def test_the_code_table_names_only_codes_the_api_answers_with() -> None:
    api_codes = {kind.code for kind in _domain_errors()} | {"InternalError"}
    assert set(errors.CODES) == api_codes


def test_an_internal_error_is_a_server_error(api: FakeApi, client: Client) -> None:
    api.script = lambda _: error(500, "InternalError", "internal error")
    with pytest.raises(errors.ServerError) as raised:
        client.list_projects()
    assert (raised.value.code, raised.value.status) == ("InternalError", 500)


def test_an_error_envelope_becomes_its_typed_error(api: FakeApi, client: Client) -> None:
    api.script = lambda _: error(404, "ProjectNotFound", "no project named 'p'")
    with pytest.raises(errors.NotFound) as raised:
        client.champion("p")
    found = raised.value
    assert (found.code, found.status, found.request_id) == ("ProjectNotFound", 404, "req-1")
    assert found.message == "no project named 'p'"
    assert str(found) == "ProjectNotFound (404): no project named 'p' [request req-1]"


def test_retry_after_and_the_definition_field_are_kept(api: FakeApi, client: Client) -> None:
    api.script = lambda _: error(503, "EndpointUnavailable", "throttled", **{"Retry-After": "7"})
    with pytest.raises(errors.Unavailable) as unavailable:
        client.predict("p", b"1,2\n", "text/csv")
    assert unavailable.value.retry_after == 7
    assert "(retry after 7 s)" in str(unavailable.value)

    envelope = {"error": {"code": "InvalidDefinition", "message": "m", "field": "objective"}}
    api.script = lambda _: answer(envelope, 422)
    with pytest.raises(errors.InvalidInput) as invalid:
        client.put_project("p", {"name": "p"})
    assert invalid.value.field == "objective"


@pytest.mark.parametrize(
    ("status", "kind"),
    [(403, errors.AccessDenied), (401, errors.AccessDenied), (429, errors.Throttled)],
)
def test_api_gateways_own_answers_are_typed_by_status(
    api: FakeApi, client: Client, status: int, kind: type[errors.SagewireError]
) -> None:
    api.script = lambda _: answer({"message": "Forbidden"}, status, **{"Retry-After": "3"})
    with pytest.raises(kind) as raised:
        client.list_projects()
    assert raised.value.message == "Forbidden"
    assert raised.value.status == status


def test_a_body_that_is_not_json_is_quoted_in_the_error(api: FakeApi, client: Client) -> None:
    api.script = lambda _: Answer(502, b"<html>Bad Gateway</html>", {"Content-Type": "text/html"})
    with pytest.raises(errors.BadGateway) as bad:
        client.list_projects()
    assert bad.value.message == "<html>Bad Gateway</html>"
    api.script = lambda _: Answer(418, b"", {})
    with pytest.raises(errors.SagewireError) as teapot:
        client.list_projects()
    assert (teapot.value.code, teapot.value.status) == ("HTTPError", 418)


def test_a_success_that_is_not_json_is_an_invalid_response(api: FakeApi, client: Client) -> None:
    api.script = lambda _: Answer(200, b"<html>", {"Content-Type": "text/html"})
    with pytest.raises(errors.InvalidResponse):
        client.list_projects()


def test_no_server_is_a_connection_failure() -> None:
    # Port 9 (discard) on the loopback: nothing listens there in a test environment.
    with pytest.raises(errors.ConnectionFailed):
        Client("http://127.0.0.1:9", timeout=5).list_projects()


def test_routes_methods_and_bodies(api: FakeApi, client: Client) -> None:
    calls: list[tuple[Callable[[], object], str, str]] = [
        (lambda: client.list_projects(), "GET", "/v1/projects"),
        (lambda: client.get_project("p"), "GET", "/v1/projects/p"),
        (lambda: client.champion("p"), "GET", "/v1/projects/p/champion"),
        (lambda: client.promotions("p", 5), "GET", "/v1/projects/p/promotions"),
        (lambda: client.promote("p", "run-1"), "POST", "/v1/projects/p/promotions"),
        (lambda: client.run("job-1"), "GET", "/v1/runs/job-1"),
        (lambda: client.endpoint_lineage("e"), "GET", "/v1/lineage/endpoints/e"),
        (lambda: client.dataset_lineage("s3://b/k/"), "GET", "/v1/lineage/datasets"),
        (lambda: client.delete_project("p", teardown=True), "DELETE", "/v1/projects/p"),
        (lambda: client.health(), "GET", "/v1/health"),
        (
            lambda: client.promotion("p", "2026-11-20T13:05:00Z#r"),
            "GET",
            "/v1/projects/p/promotions/2026-11-20T13%3A05%3A00Z%23r",
        ),
    ]
    for call, method, path in calls:
        call()
        assert (api.last.method, api.last.path) == (method, path)
    promote = api.seen[4]
    assert json.loads(promote.body) == {"run": "run-1"}
    assert promote.headers["content-type"] == "application/json"
    assert api.seen[3].params() == {"limit": ["5"]}
    assert api.seen[7].params() == {"uri": ["s3://b/k/"]}
    assert api.seen[8].params() == {"teardown": ["true"]}


def test_names_are_one_path_segment(api: FakeApi, client: Client) -> None:
    client.run("a/b c")
    assert api.last.path == "/v1/runs/a%2Fb%20c"
    with pytest.raises(errors.ConfigurationError):
        client.run("")


def test_put_project_sends_json_and_if_match(api: FakeApi, client: Client) -> None:
    client.put_project("p", {"name": "p"}, if_match="rev-1")
    assert api.last.method == "PUT"
    assert json.loads(api.last.body) == {"name": "p"}
    assert api.last.headers["if-match"] == '"rev-1"'
    client.delete_project("p", if_match='"rev-2"')
    assert api.last.headers["if-match"] == '"rev-2"'
    assert api.last.params() == {}


def test_predict_sends_the_raw_bytes_with_variant_and_top_k(api: FakeApi, client: Client) -> None:
    client.predict("p", b"\x89PNG...", "image/png", variant="B", top_k=3)
    seen = api.last
    assert (seen.method, seen.path, seen.body) == (
        "POST",
        "/v1/projects/p/predictions",
        b"\x89PNG...",
    )
    assert seen.headers["content-type"] == "image/png"
    assert seen.params() == {"variant": ["B"], "top_k": ["3"]}


@pytest.mark.parametrize(
    ("name", "media"),
    [
        ("a.png", "image/png"),
        ("a.JPG", "image/jpeg"),
        ("a.jpeg", "image/jpeg"),
        ("rows.csv", "text/csv"),
        ("batch.json", "application/json"),
        ("x.npy", "application/x-npy"),
        ("review.txt", "text/plain"),
    ],
)
def test_the_content_type_comes_from_the_suffix(name: str, media: str) -> None:
    assert content_type_for(Path(name)) == media


def test_the_suffixes_name_every_type_the_predictions_route_decodes_and_no_other() -> None:
    # The client is installed without chalicelib, so it keeps its own table; this keeps it true.
    assert set(CONTENT_TYPES.values()) == set(SUPPORTED_CONTENT_TYPES)


def test_a_file_of_unknown_type_is_refused_before_sending(
    api: FakeApi, client: Client, tmp_path: Path
) -> None:
    path = tmp_path / "notes.md"
    path.write_text("hi")
    with pytest.raises(errors.ConfigurationError, match="--content-type"):
        client.predict_file("p", path)
    client.predict_file("p", path, content_type="text/plain")
    assert api.last.headers["content-type"] == "text/plain"
    assert api.last.body == b"hi"
    assert len(api.seen) == 1


def test_leaderboard_filters_are_encoded_and_decoded_verbatim(api: FakeApi, client: Client) -> None:
    filters = ["HyperParameters.mini_batch_size>=200", "Tags.Team=vision & co/x"]
    client.leaderboard("p", filters, sort="Metrics.a:b", order="desc", limit=5, cursor="c-1")
    assert api.last.params() == {
        "filter": filters,
        "sort": ["Metrics.a:b"],
        "order": ["desc"],
        "limit": ["5"],
        "cursor": ["c-1"],
    }


def test_leaderboard_pages_follow_the_cursor_to_the_end(api: FakeApi, client: Client) -> None:
    pages = {"": ("c1", ["r1", "r2"]), "c1": ("c2", ["r3"]), "c2": (None, [])}

    def page(seen: Seen) -> Answer:
        cursor = seen.params().get("cursor", [""])[0]
        following, runs = pages[cursor]
        return answer({"runs": [{"name": run} for run in runs], "next_cursor": following})

    api.script = page
    got = list(client.leaderboard_pages("p", ["Status=Completed"], limit=2))
    assert [run["name"] for p in got for run in p["runs"]] == ["r1", "r2", "r3"]
    assert [s.params().get("cursor") for s in api.seen] == [None, ["c1"], ["c2"]]
    assert all(s.params()["filter"] == ["Status=Completed"] for s in api.seen)


def test_a_large_report_is_fetched_from_the_redirect_without_credentials(
    api: FakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SAGEWIRE_AUTH", "iam")
    client = Client(api.url)

    def script(seen: Seen) -> Answer:
        if seen.path == "/v1/reports/latest":
            location = f"{api.url}/bucket/reports/latest.html?X-Amz-Signature=abc"
            return Answer(303, b"", {"Location": location, "Cache-Control": "no-store"})
        return Answer(200, b"<html>report</html>", {"Content-Type": "text/html"})

    api.script = script
    report = client.latest_report("html")
    assert (report.format, report.content_type, report.body) == (
        "html",
        "text/html",
        b"<html>report</html>",
    )
    asked, followed = api.seen
    assert asked.params() == {"format": ["html"]}
    assert asked.headers["authorization"].startswith("AWS4-HMAC-SHA256 ")
    assert followed.path == "/bucket/reports/latest.html"
    assert "authorization" not in followed.headers
    assert "x-amz-security-token" not in followed.headers


def test_a_redirect_that_fails_raises(api: FakeApi, client: Client) -> None:
    def script(seen: Seen) -> Answer:
        if seen.path == "/v1/reports/latest":
            return Answer(303, b"", {"Location": "/expired"})
        return Answer(403, b"<Error><Code>AccessDenied</Code></Error>", {})

    api.script = script
    with pytest.raises(errors.AccessDenied) as raised:
        client.latest_report()
    assert "AccessDenied" in raised.value.message
    assert api.last.path == "/expired"


def test_a_report_answered_directly_is_returned(api: FakeApi, client: Client) -> None:
    api.script = lambda _: Answer(200, b"a,b\n", {"Content-Type": "text/csv; charset=utf-8"})
    report = client.latest_report("csv")
    assert (report.content_type, report.body) == ("text/csv; charset=utf-8", b"a,b\n")


def test_a_local_url_is_unauthenticated_by_default(api: FakeApi, client: Client) -> None:
    assert client.auth == "none"
    client.champion("p")
    client.predict("p", b"1\n", "text/csv")
    assert all("authorization" not in seen.headers for seen in api.seen)


def test_iam_signs_every_route(api: FakeApi) -> None:
    client = Client(api.url, auth="iam")
    client.champion("p")
    client.predict("p", b"1\n", "text/csv")
    for seen in api.seen:
        assert seen.headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=testing/")
        assert seen.headers["x-amz-security-token"] == "testing"


def test_an_api_key_goes_with_predictions_and_sigv4_with_the_rest(api: FakeApi) -> None:
    client = Client(api.url, auth="api-key", api_key="key-1")
    client.predict("p", b"1\n", "text/csv")
    prediction = api.last
    client.champion("p")
    assert prediction.headers["x-api-key"] == "key-1"
    assert "authorization" not in prediction.headers
    assert api.last.headers["authorization"].startswith("AWS4-HMAC-SHA256 ")
    assert "x-api-key" not in api.last.headers


def test_a_cognito_token_goes_with_predictions(
    api: FakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SAGEWIRE_TOKEN", "eyJ.token")
    Client(api.url, auth="cognito").predict("p", b"1\n", "text/csv")
    assert api.last.headers["authorization"] == "eyJ.token"


def test_api_key_and_cognito_need_their_secret(api: FakeApi) -> None:
    with pytest.raises(errors.ConfigurationError, match="--api-key or SAGEWIRE_API_KEY"):
        Client(api.url, auth="api-key").predict("p", b"1\n", "text/csv")
    with pytest.raises(errors.ConfigurationError, match="--token or SAGEWIRE_TOKEN"):
        Client(api.url, auth="cognito").predict("p", b"1\n", "text/csv")
    assert api.seen == []


def test_a_local_url_without_credentials_is_sent_unsigned(
    api: FakeApi, no_credentials: None
) -> None:
    Client(api.url, auth="iam").champion("p")
    assert "authorization" not in api.last.headers


STAGE = "https://a1b2c3.execute-api.eu-west-3.amazonaws.com/api"


def test_a_stage_without_credentials_is_refused_before_sending(no_credentials: None) -> None:
    client = Client(STAGE)
    assert client.auth == "iam"
    with pytest.raises(errors.ConfigurationError) as raised:
        client.champion("p")
    assert raised.value.code == "NoCredentials"


def test_the_region_comes_from_the_argument_then_the_host_then_the_chain() -> None:
    assert Client(STAGE)._signing_region() == "eu-west-3"
    assert Client(STAGE, region="us-west-2")._signing_region() == "us-west-2"
    # conftest.py sets AWS_REGION=us-east-1.
    assert Client("https://api.example.com/api")._signing_region() == "us-east-1"


def test_the_url_comes_from_the_argument_or_the_environment(
    api: FakeApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SAGEWIRE_URL", raising=False)
    with pytest.raises(errors.ConfigurationError, match="SAGEWIRE_URL"):
        Client()
    with pytest.raises(errors.ConfigurationError, match="not an http"):
        Client("ftp://example.com")
    with pytest.raises(errors.ConfigurationError, match="auth must be one of"):
        Client(api.url, auth="kerberos")
    monkeypatch.setenv("SAGEWIRE_URL", api.url + "/")
    Client().health()
    assert api.last.path == "/v1/health"
