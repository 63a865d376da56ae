"""A fronted endpoint through the HTTP API: defined, predicted from, its promotions refused."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from chalice.test import Client

from chalicelib import wiring
from chalicelib.config import Settings
from chalicelib.definitions import parse_project
from chalicelib.records import Run
from tests.factories import project_document
from tests.fakes import FakeRuntime

ENDPOINT = "KMeansEndpoint-2026-01-01-12-00-00"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return replace(settings, fronted_endpoints=(ENDPOINT.lower(), "xgboost-2024"))


def fronted(endpoint: str = ENDPOINT) -> dict[str, Any]:
    document = project_document("kmeans")
    document["endpoint"] = {"name": endpoint, "managed": False}
    return document


def put(client: Client, document: dict[str, Any]) -> Any:
    return client.http.put(
        "/v1/projects/kmeans",
        body=orjson.dumps(document),
        headers={"Content-Type": "application/json"},
    )


def test_a_fronted_project_is_defined_and_serves_predictions(
    client: Client, endpoint: FakeRuntime
) -> None:
    assert put(client, fronted()).status_code == 201

    stored = orjson.loads(client.http.get("/v1/projects/kmeans").body)
    response = client.http.post(
        "/v1/projects/kmeans/predictions",
        headers={"Content-Type": "text/csv"},
        body=b",".join([b"255"] * 64),
    )

    assert stored["endpoint"] == {"name": ENDPOINT, "managed": False}
    assert response.status_code == 200, response.body
    assert orjson.loads(response.body)["endpoint"] == ENDPOINT
    assert [call["endpoint"] for call in endpoint.calls] == [ENDPOINT]


def test_an_endpoint_the_stage_does_not_front_is_refused(client: Client) -> None:
    response = put(client, fronted("someone-elses-endpoint"))

    assert response.status_code == 422
    error = orjson.loads(response.body)["error"]
    assert error["field"] == "endpoint.name"
    assert "SAGEWIRE_FRONTED_ENDPOINTS" in error["message"]


def test_promotions_are_refused_and_the_champion_view_says_why(client: Client) -> None:
    assert put(client, fronted()).status_code == 201
    run = Run(
        "kmeans-k10",
        "arn:aws:sagemaker:us-east-1:123456789012:training-job/kmeans-k10",
        "Completed",
        datetime(2026, 1, 2, tzinfo=UTC),
        metrics={"train:objective_loss:final": 0.3},
        model_artifact="s3://bucket/kmeans-k10/output/model.tar.gz",
        training_image="382416733822.dkr.ecr.us-east-1.amazonaws.com/kmeans:1",
        tags={"Project": "Project_Binary_Classifier"},
    )
    wiring.container().run_store.put_run(run, [parse_project(fronted())])

    refused = client.http.post(
        "/v1/projects/kmeans/promotions",
        body=orjson.dumps({"run": "kmeans-k10"}),
        headers={"Content-Type": "application/json"},
    )
    ledger = orjson.loads(client.http.get("/v1/projects/kmeans/promotions").body)
    view = client.http.get("/v1/projects/kmeans/champion")

    assert refused.status_code == 409
    error = orjson.loads(refused.body)["error"]
    assert error["code"] == "EndpointNotManaged"
    assert "endpoint.managed is false" in error["message"]
    assert ledger["promotions"] == []
    assert view.status_code == 200
    assert orjson.loads(view.body) | {"serving": None} == {
        "project": "kmeans",
        "champion": None,
        "promotion": None,
        "serving": None,
        "serving_run_name": None,
        "drift": False,
        "managed": False,
        "variants": [],
    }
