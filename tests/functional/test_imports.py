"""The import routes and handlers through chalice.test.Client, over moto."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urljoin

from chalice.test import Client

from chalicelib.event_types import IMPORT_REQUESTED, IMPORT_SOURCE
from tests.factories import project_document, register_project


def import_request(project: str, import_id: str, account: str = "123456789012") -> dict[str, Any]:
    """The event `ImportService` puts on the bus, as EventBridge delivers it."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": IMPORT_REQUESTED,
        "source": IMPORT_SOURCE,
        "account": account,
        "time": "2026-12-04T10:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": {"project": project, "import_id": import_id},
    }


def test_a_new_project_starts_an_import_that_its_request_runs_to_the_end(client: Client) -> None:
    register_project(client, project_document("digits-zero"))
    started = client.http.get("/v1/projects/digits-zero/imports/latest").json_body
    assert started["status"] == "running"
    assert started["cause"] == "definition"
    assert started["promote"] is False
    assert "cursor" not in started

    answer = client.lambda_.invoke(
        "on_run_import", import_request("digits-zero", started["import_id"])
    ).payload

    assert answer == {"status": "completed", "pages": 1}
    done = client.http.get("/v1/projects/digits-zero/imports/latest").json_body
    assert (done["status"], done["seen"], done["champion"]) == ("completed", 0, None)
    assert done["message"] == "no run could compete for the project"


def test_post_reruns_an_ended_import_and_refuses_while_one_runs(client: Client) -> None:
    register_project(client, project_document("digits-zero"))
    running = client.http.post("/v1/projects/digits-zero/imports")
    assert running.status_code == 409
    assert running.json_body["error"]["code"] == "Conflict"
    first = client.http.get("/v1/projects/digits-zero/imports/latest").json_body
    client.lambda_.invoke("on_run_import", import_request("digits-zero", first["import_id"]))

    again = client.http.post("/v1/projects/digits-zero/imports")

    assert again.status_code == 202
    location = urljoin("/api/v1/projects/digits-zero/imports", again.headers["Location"])
    assert location == "/api/v1/projects/digits-zero/imports/latest"
    assert again.json_body["status"] == "running"
    assert again.json_body["import_id"] != first["import_id"]


def test_imports_of_an_unknown_project_are_404(client: Client) -> None:
    for response in (
        client.http.get("/v1/projects/nobody/imports/latest"),
        client.http.post("/v1/projects/nobody/imports"),
    ):
        assert response.status_code == 404
        assert response.json_body["error"]["code"] == "ProjectNotFound"


def test_a_request_for_an_ended_or_unknown_import_does_nothing(client: Client) -> None:
    register_project(client, project_document("digits-zero"))
    assert (
        client.lambda_.invoke("on_run_import", import_request("digits-zero", "nope")).payload
        is None
    )
    malformed = import_request("digits-zero", "x")
    malformed["detail"] = {"project": 7}
    assert client.lambda_.invoke("on_run_import", malformed).payload == {
        "skipped": "no project or import_id"
    }


def test_a_request_from_another_account_is_dropped(client: Client) -> None:
    register_project(client, project_document("digits-zero"))
    started = client.http.get("/v1/projects/digits-zero/imports/latest").json_body
    event = import_request("digits-zero", started["import_id"], account="999999999999")
    assert "skipped" in client.lambda_.invoke("on_run_import", event).payload
    assert client.http.get("/v1/projects/digits-zero/imports/latest").json_body["status"] == (
        "running"
    )


def test_the_resume_schedule_leaves_fresh_imports_alone(client: Client) -> None:
    register_project(client, project_document("digits-zero"))
    event = client.events.generate_cw_event(
        source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]
    )
    assert client.lambda_.invoke("resume_imports", event).payload == {
        "resumed": [],
        "reindexes": [],
    }
