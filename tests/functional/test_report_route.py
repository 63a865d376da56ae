"""`GET /v1/reports/latest` over moto's S3: each format's type, the HTML's policy, nosniff, and a
link for a report too large to answer with."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
from chalice.test import Client

from chalicelib.config import Settings
from chalicelib.processing.report_assets import CONTENT_SECURITY_POLICY_HEADER
from chalicelib.services.reports import LINK_SECONDS, MAX_INLINE_BYTES

PAGE = b"<!DOCTYPE html><html><head><title>r</title></head><body>report</body></html>\n"


@pytest.fixture
def bucket(client: Client, settings: Settings) -> str:
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=settings.bucket_name)
    s3.put_object(Bucket=settings.bucket_name, Key="reports/latest.html", Body=PAGE)
    s3.put_object(Bucket=settings.bucket_name, Key="reports/latest.json", Body=b"{}")
    return settings.bucket_name


def test_the_html_report_is_served_with_its_policy_and_nosniff(client: Client, bucket: str) -> None:
    response = client.http.get("/v1/reports/latest?format=html")

    assert response.status_code == 200
    assert response.body == PAGE
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY_HEADER
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_other_formats_and_errors_are_nosniff_too(client: Client, bucket: str) -> None:
    served = client.http.get("/v1/reports/latest?format=json")
    assert served.status_code == 200
    assert "Content-Security-Policy" not in served.headers
    refused = client.http.get("/v1/reports/latest?format=pdf")
    assert refused.status_code == 400
    absent = client.http.get("/v1/reports/latest?format=csv")
    assert absent.status_code == 404
    health = client.http.get("/v1/health")
    for response in (served, refused, absent, health):
        assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_a_report_too_large_to_answer_is_a_redirect_to_a_presigned_get(
    client: Client, bucket: str
) -> None:
    body = b"project,rank,run\n" + b"p,1,r\n" * (MAX_INLINE_BYTES // 6 + 1)
    boto3.client("s3").put_object(Bucket=bucket, Key="reports/latest.csv", Body=body)

    response = client.http.get("/v1/reports/latest?format=csv")

    assert response.status_code == 303
    assert response.body == b""
    location = urlsplit(response.headers["Location"])
    assert location.path.endswith("/reports/latest.csv")
    assert parse_qs(location.query)["X-Amz-Expires"] == [str(LINK_SECONDS)]
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
