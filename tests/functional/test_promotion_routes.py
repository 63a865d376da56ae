"""One ledger entry by id: its route (a percent-encoded `#`), and the `Location` of a new one."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from urllib.parse import urljoin

import boto3
from chalice.test import Client

from chalicelib import wiring
from chalicelib.gateways.champions import ChampionTable
from chalicelib.records import Champion, Promotion
from tests.factories import project_document, register_project
from tests.functional.conftest import TABLE

AT = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
PROMOTION_ID = "2026-01-02T03:04:05.678901Z#run-a"
ENCODED = "2026-01-02T03%3A04%3A05.678901Z%23run-a"


def ledger_entry(run: str = "run-a", promotion_id: str = PROMOTION_ID) -> Promotion:
    return Promotion(
        project="digits-zero",
        promotion_id=promotion_id,
        run_name=run,
        previous_run_name=None,
        cause="api:arn:aws:iam::123456789012:user/operator",
        strategy="all_at_once",
        outcome="succeeded",
        model_name=f"digits-zero-{run}",
        endpoint_config_name=f"digits-zero-{run}-cfg",
        previous_endpoint_config_name=None,
        created_at=AT,
        updated_at=AT,
    )


def recorded(promotion: Promotion, version: int = 1) -> Promotion:
    """Writes `promotion` to the ledger with its champion (at `version`), as a promotion does."""
    champion = Champion(
        promotion.project,
        promotion.run_name,
        0.1,
        version,
        promotion.model_name,
        promotion.endpoint_config_name,
        promotion.promotion_id,
        promotion.created_at,
    )
    assert ChampionTable(boto3.client("dynamodb"), TABLE).replace(champion, version - 1, promotion)
    return promotion


def test_one_promotion_is_read_with_its_id_percent_encoded(client: Client) -> None:
    register_project(client, project_document())
    promotion = recorded(ledger_entry())

    response = client.http.get(f"/v1/projects/digits-zero/promotions/{ENCODED}")
    only_the_hash = client.http.get(
        "/v1/projects/digits-zero/promotions/" + PROMOTION_ID.replace("#", "%23")
    )

    assert response.status_code == 200, response.json_body
    listed = client.http.get("/v1/projects/digits-zero/promotions").json_body["promotions"]
    assert response.json_body == listed[0]
    assert response.json_body["promotion_id"] == promotion.promotion_id
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert only_the_hash.status_code == 200
    assert only_the_hash.json_body == response.json_body


def test_an_unknown_promotion_or_project_is_a_404_in_the_envelope(client: Client) -> None:
    register_project(client, project_document())
    recorded(ledger_entry())

    unknown = client.http.get("/v1/projects/digits-zero/promotions/2026-01-02T00%3A00%3A00Z%23x")
    # What a client sends with the `#` unencoded: the rest of the id is the URL's fragment.
    cut = client.http.get("/v1/projects/digits-zero/promotions/2026-01-02T03:04:05.678901Z")
    nobody = client.http.get(f"/v1/projects/nobody/promotions/{ENCODED}")

    assert unknown.status_code == 404
    error = unknown.json_body["error"]
    assert error["code"] == "PromotionNotFound"
    assert set(error) == {"code", "message", "request_id"}
    assert "<time>#" not in error["message"]
    assert cut.status_code == 404
    assert "an id is <time>#<run or teardown>" in cut.json_body["error"]["message"]
    assert nobody.status_code == 404
    assert nobody.json_body["error"]["code"] == "ProjectNotFound"


class RecordingPromoter:
    """The selection service's `promote`, recording a ledger entry without SageMaker."""

    def promote(self, project: str, run: str, cause: str) -> Promotion:
        return recorded(ledger_entry(run, f"2026-01-02T03:04:05.678901Z#{run}"))


def test_a_new_promotion_answers_201_with_a_location_that_reads_it_back(client: Client) -> None:
    register_project(client, project_document())
    wiring.container().champions = RecordingPromoter()  # type: ignore[assignment]

    created = client.http.post(
        "/v1/projects/digits-zero/promotions",
        headers={"Content-Type": "application/json"},
        body=b'{"run": "run-b"}',
    )

    assert created.status_code == 201, created.json_body
    location = created.headers["Location"]
    assert location == "promotions/2026-01-02T03%3A04%3A05.678901Z%23run-b"
    read = client.http.get(urljoin("/v1/projects/digits-zero/promotions", location))
    assert read.status_code == 200
    assert read.json_body == created.json_body


def test_a_created_project_answers_201_with_its_location_and_a_replaced_one_without(
    client: Client,
) -> None:
    body = json.dumps(project_document()).encode()
    headers = {"Content-Type": "application/json"}

    first = client.http.put("/v1/projects/digits-zero", headers=headers, body=body)
    second = client.http.put("/v1/projects/digits-zero", headers=headers, body=body)

    assert first.status_code == 201
    # Relative to the request's URL, so that it holds under any stage's base path.
    assert first.headers["Location"] == "digits-zero"
    assert urljoin("/api/v1/projects/digits-zero", first.headers["Location"]) == (
        "/api/v1/projects/digits-zero"
    )
    assert client.http.get(urljoin("/v1/projects/digits-zero", "digits-zero")).status_code == 200
    assert second.status_code == 200
    assert "Location" not in second.headers
