"""The client's SigV4 signatures: as botocore's own signer makes them, and verifiable as API
Gateway verifies them (recomputed here from the request as it arrived)."""

from __future__ import annotations

import datetime
import hashlib
import hmac
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from sagewire.client import Client
from sagewire.version import __version__
from tests.api_server import FakeApi, Seen, running

NOW = datetime.datetime(2026, 3, 14, 15, 9, 26, tzinfo=datetime.UTC)
KEY, SECRET, TOKEN = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "session-token"
REGION = "eu-central-1"


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeApi]:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_SESSION_TOKEN", TOKEN)
    monkeypatch.delenv("AWS_SECURITY_TOKEN", raising=False)  # botocore would prefer it
    monkeypatch.setattr("botocore.auth.get_current_datetime", lambda: NOW)
    yield from running()


def _authorization(seen: Seen) -> dict[str, str]:
    scheme, _, rest = seen.headers["authorization"].partition(" ")
    assert scheme == "AWS4-HMAC-SHA256"
    return dict(part.strip().split("=", 1) for part in rest.split(","))


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def _expected_signature(seen: Seen, secret: str = SECRET) -> str:
    """SigV4 as AWS documents it, from the request as it arrived, not from botocore."""
    fields = _authorization(seen)
    signed = fields["SignedHeaders"].split(";")
    date, region, service, terminator = fields["Credential"].split("/")[1:]
    canonical_query = "&".join(sorted(seen.query.split("&"))) if seen.query else ""
    canonical = "\n".join(
        [
            seen.method,
            quote(seen.path, safe="/~"),  # URI-encoded once more, as for every service but S3
            canonical_query,
            "".join(f"{name}:{' '.join(seen.headers[name].split())}\n" for name in signed),
            fields["SignedHeaders"],
            hashlib.sha256(seen.body).hexdigest(),
        ]
    )
    scope = f"{date}/{region}/{service}/{terminator}"
    to_sign = "\n".join(
        [
            "AWS4-HMAC-SHA256",
            seen.headers["x-amz-date"],
            scope,
            hashlib.sha256(canonical.encode()).hexdigest(),
        ]
    )
    key = f"AWS4{secret}".encode()
    for part in (date, region, service, terminator):
        key = _hmac(key, part)
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def _client(api: FakeApi) -> Client:
    return Client(api.url, auth="iam", region=REGION)


def test_the_signature_is_botocores_for_the_same_request(api: FakeApi) -> None:
    _client(api).predict("digits", b"0,1,2\n", "text/csv", variant="A/B", top_k=3)
    seen = api.last
    request = AWSRequest(
        method="POST",
        url=f"{api.url}/v1/projects/digits/predictions?variant=A%2FB&top_k=3",
        data=b"0,1,2\n",
        headers={"User-Agent": f"sagewire/{__version__}", "Content-Type": "text/csv"},
    )
    SigV4Auth(Credentials(KEY, SECRET, TOKEN), "execute-api", REGION).add_auth(request)
    assert seen.headers["authorization"] == request.headers["Authorization"]
    assert seen.headers["x-amz-date"] == "20260314T150926Z"
    assert seen.headers["x-amz-security-token"] == TOKEN


def test_the_signed_request_verifies_host_date_and_payload(api: FakeApi) -> None:
    client = _client(api)
    client.predict("digits", b"\x89PNG\r\n", "image/png")
    client.leaderboard("digits", ["HyperParameters.lr>=0.01", "Tags.Team=a b"], limit=5)
    client.put_project("digits", {"name": "digits"}, if_match="rev")
    for seen in api.seen:
        fields = _authorization(seen)
        assert fields["Credential"] == f"{KEY}/20260314/{REGION}/execute-api/aws4_request"
        signed = fields["SignedHeaders"].split(";")
        assert {"host", "x-amz-date", "x-amz-security-token"} <= set(signed)
        assert "user-agent" not in signed
        assert seen.headers["host"] == api.url.removeprefix("http://")
        assert fields["Signature"] == _expected_signature(seen)


def test_a_changed_body_or_secret_fails_verification(api: FakeApi) -> None:
    _client(api).predict("digits", b"0,1,2\n", "text/csv")
    seen = api.last
    tampered = Seen(seen.method, seen.path, seen.query, seen.headers, b"0,1,3\n")
    signature = _authorization(seen)["Signature"]
    assert signature == _expected_signature(seen)
    assert signature != _expected_signature(tampered)
    assert signature != _expected_signature(seen, secret="another")
