"""The trust policy through the HTTP API: definitions, leaderboard rows and the run view."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
from chalice.test import Client

from chalicelib import wiring
from chalicelib.definitions import parse_project
from chalicelib.records import Run
from tests.factories import project_document

T0 = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
LOSS = "train:objective_loss:final"
TRUSTED_IMAGE = "382416733822.dkr.ecr.us-east-1.amazonaws.com/linear-learner:1"
FOREIGN_IMAGE = "999999999999.dkr.ecr.us-east-1.amazonaws.com/exfiltrate:latest"


def put(client: Client, document: dict[str, Any]) -> Any:
    return client.http.put(
        f"/v1/projects/{document['name']}",
        body=orjson.dumps(document),
        headers={"Content-Type": "application/json"},
    )


def record(name: str, loss: float, image: str, artifact: str) -> Run:
    run = Run(
        name,
        f"arn:aws:sagemaker:us-east-1:123456789012:training-job/{name}",
        "Completed",
        T0,
        metrics={LOSS: loss},
        model_artifact=artifact,
        training_image=image,
        tags={"Project": "Project_Binary_Classifier"},
    )
    wiring.container().run_store.put_run(run, [parse_project(project_document())])
    return run


def test_a_definition_carries_its_trust_policy_and_network_isolation(client: Client) -> None:
    document = project_document() | {
        "trust": {
            "images": ["382416733822.dkr.ecr.us-east-1.amazonaws.com/linear-learner"],
            "artifacts": ["s3://sagewire-models/"],
        }
    }
    assert put(client, document).status_code == 201

    stored = orjson.loads(client.http.get("/v1/projects/digits-zero").body)

    assert stored["trust"] == {**document["trust"], "roles": []}
    assert stored["endpoint"]["network_isolation"] is True
    assert put(client, project_document("other")).status_code == 201
    other = orjson.loads(client.http.get("/v1/projects/other").body)
    assert other["trust"] is None


def test_a_stage_that_requires_network_isolation_refuses_a_project_without_it(
    client: Client,
) -> None:
    document = project_document()
    document["endpoint"]["network_isolation"] = False

    response = put(client, document)

    assert response.status_code == 422
    error = orjson.loads(response.body)["error"]
    assert error["field"] == "endpoint.network_isolation"
    assert "SAGEWIRE_REQUIRE_NETWORK_ISOLATION" in error["message"]


def test_leaderboard_rows_and_the_run_view_say_whether_a_run_may_be_promoted(
    client: Client,
) -> None:
    assert put(client, project_document()).status_code == 201
    record("attacker", 0.001, FOREIGN_IMAGE, "s3://attacker-bucket/model.tar.gz")
    record("trusted", 0.3, TRUSTED_IMAGE, "s3://sagewire-models/trusted/model.tar.gz")

    board = orjson.loads(client.http.get("/v1/projects/digits-zero/leaderboard").body)
    view = orjson.loads(client.http.get("/v1/runs/attacker").body)

    assert [(row["name"], row["eligibility"]) for row in board["runs"]] == [
        (
            "attacker",
            {
                "project": "digits-zero",
                "promotable": False,
                "reason": f"untrusted image {FOREIGN_IMAGE}",
            },
        ),
        ("trusted", {"project": "digits-zero", "promotable": True, "reason": None}),
    ]
    assert view["eligibility"] == [board["runs"][0]["eligibility"]]
