"""Project definition routes through chalice.test.Client, over moto's DynamoDB."""

from __future__ import annotations

import json
from typing import Any

from chalice.test import Client

from tests.factories import project_document

JSON = {"Content-Type": "application/json"}


def put(client: Client, name: str, document: Any, headers: dict[str, str] = JSON) -> Any:
    body = document if isinstance(document, bytes) else json.dumps(document).encode()
    return client.http.put(f"/v1/projects/{name}", headers=headers, body=body)


def test_health_makes_no_aws_call(client: Client) -> None:
    response = client.http.get("/v1/health")
    assert response.status_code == 200
    assert response.json_body["status"] == "ok"


def test_put_creates_then_replaces_and_get_returns_the_canonical_document(client: Client) -> None:
    created = put(client, "digits-zero", project_document())
    assert created.status_code == 201
    assert created.json_body["inference"]["input"]["shape"] == [8, 8]
    assert created.json_body["endpoint"]["strategy"]["type"] == "all_at_once"

    changed = project_document()
    changed["objective"]["goal"] = "maximize"
    replaced = put(client, "digits-zero", changed)
    assert replaced.status_code == 200

    fetched = client.http.get("/v1/projects/digits-zero")
    assert fetched.status_code == 200
    assert fetched.json_body == replaced.json_body
    assert fetched.json_body["objective"]["goal"] == "maximize"


def test_list_returns_projects_sorted_by_name(client: Client) -> None:
    for name in ("zeta", "alpha", "mid"):
        assert put(client, name, project_document(name)).status_code == 201
    listed = client.http.get("/v1/projects")
    assert listed.status_code == 200
    assert [p["name"] for p in listed.json_body["projects"]] == ["alpha", "mid", "zeta"]


def test_delete_removes_the_project_and_releases_its_endpoint(client: Client) -> None:
    assert put(client, "first", project_document("first", endpoint="shared")).status_code == 201
    assert client.http.delete("/v1/projects/first").status_code == 204
    assert client.http.get("/v1/projects/first").status_code == 404
    assert client.http.delete("/v1/projects/first").status_code == 404
    assert put(client, "second", project_document("second", endpoint="shared")).status_code == 201


def test_unknown_project_is_404_with_a_json_error(client: Client) -> None:
    response = client.http.get("/v1/projects/nope")
    assert response.status_code == 404
    error = response.json_body["error"]
    assert error["code"] == "ProjectNotFound"
    assert error["request_id"]


def test_an_endpoint_owned_by_another_project_is_a_409(client: Client) -> None:
    assert put(client, "first", project_document("first", endpoint="shared")).status_code == 201
    response = put(client, "second", project_document("second", endpoint="shared"))
    assert response.status_code == 409
    assert response.json_body["error"]["code"] == "Conflict"
    assert client.http.get("/v1/projects/second").status_code == 404


def test_an_endpoint_name_differing_only_in_case_is_the_same_endpoint(client: Client) -> None:
    created = put(client, "first", project_document("first", endpoint="digits-zero"))
    assert created.status_code == 201
    response = put(client, "second", project_document("second", endpoint="DIGITS-ZERO"))
    assert response.status_code == 409
    assert response.json_body["error"]["code"] == "Conflict"
    assert client.http.get("/v1/projects/second").status_code == 404


def test_moving_a_project_to_a_new_endpoint_frees_the_old_one(client: Client) -> None:
    assert put(client, "first", project_document("first", endpoint="old")).status_code == 201
    assert put(client, "first", project_document("first", endpoint="new")).status_code == 200
    assert put(client, "second", project_document("second", endpoint="old")).status_code == 201
    assert put(client, "third", project_document("third", endpoint="new")).status_code == 409


def test_malformed_json_is_a_400(client: Client) -> None:
    response = put(client, "digits-zero", b"{not json")
    assert response.status_code == 400
    assert response.json_body["error"]["code"] == "MalformedInput"


def test_deeply_nested_json_is_a_400_not_a_crash(client: Client) -> None:
    response = put(client, "digits-zero", b"[" * 50_000 + b"]" * 50_000)
    assert response.status_code in (400, 413)


def test_a_definition_that_is_not_json_content_is_a_415(client: Client) -> None:
    response = put(client, "x", b"name: x", headers={"Content-Type": "application/yaml"})
    assert response.status_code == 415


def test_an_oversized_definition_is_a_413(client: Client) -> None:
    document = project_document()
    document["match"]["tags"] = {f"k{i}": "v" * 100 for i in range(1000)}
    assert put(client, "digits-zero", document).status_code == 413


def invalid(mutate: Any) -> dict[str, Any]:
    document = project_document()
    mutate(document)
    return document


def test_schema_violations_are_422_naming_the_field(client: Client) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        (invalid(lambda d: d["objective"].update(goal="lowest")), "objective.goal"),
        (invalid(lambda d: d["objective"].pop("metric")), "objective.metric"),
        (invalid(lambda d: d["endpoint"].update(name="-bad")), "endpoint.name"),
        (invalid(lambda d: d["endpoint"].update(name="x" * 64)), "endpoint.name"),
        (invalid(lambda d: d["endpoint"].update(instance_count=0)), "endpoint.instance_count"),
        (
            invalid(lambda d: d["endpoint"].update(strategy={"type": "canary"})),
            "endpoint.strategy.canary_percent",
        ),
        (invalid(lambda d: d["inference"]["input"].update(shape=[])), "inference.input.shape"),
        (
            invalid(lambda d: d["inference"]["input"].update(shape=[8, True])),
            "inference.input.shape[1]",
        ),
        (invalid(lambda d: d["inference"]["input"].update(std=0)), "inference.input.std"),
        (
            invalid(lambda d: d["inference"]["request"].update(content_type="text/xml")),
            "inference.request.content_type",
        ),
        (
            invalid(lambda d: d["inference"]["response"].update(postprocess="magic")),
            "inference.response.postprocess",
        ),
        (invalid(lambda d: d.update(surprise=1)), "surprise"),
        (invalid(lambda d: d.update(name="other")), "name"),
        (
            invalid(lambda d: d.update(guards=[{"metric": "m", "op": "~", "value": 1}])),
            "guards[0].op",
        ),
    ]
    for document, field in cases:
        response = put(client, "digits-zero", document)
        assert response.status_code == 422, (field, response.json_body)
        assert response.json_body["error"]["field"] == field
        assert field in response.json_body["error"]["message"]


def test_a_definition_that_is_not_an_object_is_a_422(client: Client) -> None:
    response = put(client, "digits-zero", [1, 2])
    assert response.status_code == 422
    assert response.json_body["error"]["field"] == "$"
