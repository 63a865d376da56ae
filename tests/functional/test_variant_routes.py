"""PUT and PATCH /v1/projects/{project}/variants and the champion view's variants, over HTTP."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from chalice.test import Client

from chalicelib import wiring
from chalicelib.definitions import parse_project
from tests.factories import completed_run, project_document, register_project
from tests.fakes import FakeSageMaker, FakeTraffic

SPLIT = {
    "variants": [
        {"name": "A", "run": "run-a", "weight": 0.7},
        {"name": "B", "run": "run-b", "weight": 0.3},
    ]
}


@pytest.fixture
def sagemaker(client: Client) -> FakeSageMaker:
    """The project digits-zero with two recorded runs; SageMaker and CloudWatch faked."""
    container = wiring.container()
    fake = FakeSageMaker()
    container.control_plane = fake
    container.variant_weights = fake
    container.traffic_metrics = FakeTraffic({("digits-zero", "A"): 12.0})
    document = project_document()
    document["endpoint"]["execution_role_arn"] = "arn:aws:iam::123456789012:role/SageMakerExecution"
    register_project(client, document)
    for name, loss in (("run-a", 0.3), ("run-b", 0.2)):
        container.run_store.put_run(completed_run(name, loss), [parse_project(document)])
    return fake


def send(client: Client, method: str, body: Any) -> Any:
    call = client.http.put if method == "PUT" else client.http.patch
    response = call(
        "/v1/projects/digits-zero/variants",
        body=orjson.dumps(body),
        headers={"Content-Type": "application/json"},
    )
    return response.status_code, orjson.loads(response.body)


def test_put_then_patch_then_the_champion_view(client: Client, sagemaker: FakeSageMaker) -> None:
    status, put = send(client, "PUT", SPLIT)

    assert status == 200
    assert put["strategy"] == "variants"
    assert put["outcome"] == "deploying"
    assert put["run_name"] == "run-a"
    assert [(v["name"], v["run_name"], v["weight"]) for v in put["variants"]] == [
        ("A", "run-a", 0.7),
        ("B", "run-b", 0.3),
    ]
    assert sagemaker.settle("digits-zero") is not None

    status, busy = send(client, "PATCH", {"weights": {"A": 0.5, "B": 0.5}})
    assert status == 200, busy  # InService on the split's config now
    assert busy["strategy"] == "weights"
    assert busy["message"] == "weights: A 0.7 -> 0.5, B 0.3 -> 0.5"
    ledger = orjson.loads(client.http.get("/v1/projects/digits-zero/promotions").body)
    assert [entry["strategy"] for entry in ledger["promotions"]] == ["weights", "variants"]

    view = orjson.loads(client.http.get("/v1/projects/digits-zero/champion").body)
    assert view["champion"]["run_name"] == "run-a"
    assert [
        (v["name"], v["run_name"], v["initial_weight"], v["current_weight"], v["invocations"])
        for v in view["variants"]
    ] == [("A", "run-a", 0.7, 0.5, 12), ("B", "run-b", 0.3, 0.5, None)]


@pytest.mark.parametrize(
    ("method", "body", "status", "code"),
    [
        ("PUT", {"variants": [{"name": "A", "run": "ghost", "weight": 1}]}, 404, "NotFound"),
        ("PUT", {"variants": "A"}, 400, "InvalidParameter"),
        (
            "PUT",
            {"variants": [{"name": "A", "run": "run-a", "weight": 0}]},
            400,
            "InvalidParameter",
        ),
        ("PATCH", {"weights": {"A": 1}}, 404, "NotFound"),  # no champion yet
        ("PATCH", {"weights": "A"}, 400, "InvalidParameter"),
    ],
)
def test_refusals(
    client: Client, sagemaker: FakeSageMaker, method: str, body: Any, status: int, code: str
) -> None:
    answered, error = send(client, method, body)

    assert answered == status
    assert error["error"]["code"] == code


def test_patch_while_the_split_is_deploying_is_409_with_retry_after(
    client: Client, sagemaker: FakeSageMaker
) -> None:
    send(client, "PUT", SPLIT)

    response = client.http.patch(
        "/v1/projects/digits-zero/variants",
        body=orjson.dumps({"weights": {"A": 0.5}}),
        headers={"Content-Type": "application/json"},
    )

    assert response.status_code == 409
    assert orjson.loads(response.body)["error"]["code"] == "EndpointBusy"
    assert int(response.headers["Retry-After"]) > 0
