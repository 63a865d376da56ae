"""Project definition routes through chalice.test.Client, over moto's DynamoDB."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import boto3
from chalice.test import Client

from chalicelib.gateways.champions import ChampionTable
from chalicelib.naming import model_name
from chalicelib.records import Champion, Promotion
from tests.factories import project_document
from tests.functional.conftest import TABLE

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
    deleted = client.http.delete("/v1/projects/first")
    assert deleted.status_code == 200
    assert deleted.json_body["message"] == "project 'first' deleted; it had no endpoint"
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


def test_get_and_put_carry_a_strong_etag(client: Client) -> None:
    created = put(client, "digits-zero", project_document())
    etag = created.headers["ETag"]
    assert re.fullmatch(r'"[^"]+"', etag)  # strong: quoted, no W/
    assert client.http.get("/v1/projects/digits-zero").headers["ETag"] == etag
    replaced = put(client, "digits-zero", project_document(), {**JSON, "If-Match": etag})
    assert replaced.status_code == 200
    assert replaced.headers["ETag"] != etag
    assert client.http.get("/v1/projects/digits-zero").headers["ETag"] == replaced.headers["ETag"]


def test_two_operators_editing_the_same_version_the_second_gets_412(client: Client) -> None:
    put(client, "digits-zero", project_document())
    alice = client.http.get("/v1/projects/digits-zero")
    bob = client.http.get("/v1/projects/digits-zero")
    alices, bobs = dict(alice.json_body), dict(bob.json_body)
    alices["objective"] = {**alices["objective"], "goal": "maximize"}
    bobs["guards"] = [{"metric": "validation:binary_f_beta", "op": ">=", "value": 0.9}]

    first = put(client, "digits-zero", alices, {**JSON, "If-Match": alice.headers["ETag"]})
    second = put(client, "digits-zero", bobs, {**JSON, "If-Match": bob.headers["ETag"]})

    assert first.status_code == 200
    assert second.status_code == 412
    error = second.json_body["error"]
    assert error["code"] == "PreconditionFailed"
    assert error["request_id"]
    assert second.headers["Content-Type"] == "application/json"
    stored = client.http.get("/v1/projects/digits-zero").json_body
    assert stored["objective"]["goal"] == "maximize"  # Alice's edit stands
    assert stored.get("guards", []) == []


def test_delete_with_a_stale_if_match_is_412_and_keeps_the_project(client: Client) -> None:
    stale = put(client, "digits-zero", project_document()).headers["ETag"]
    current = put(client, "digits-zero", project_document()).headers["ETag"]

    refused = client.http.delete("/v1/projects/digits-zero", headers={"If-Match": stale})
    assert refused.status_code == 412
    assert refused.json_body["error"]["code"] == "PreconditionFailed"
    assert client.http.get("/v1/projects/digits-zero").status_code == 200
    deleted = client.http.delete(
        "/v1/projects/digits-zero", headers={"If-Match": f'"nope", {current}'}
    )
    assert deleted.status_code == 200


def test_if_match_star_needs_an_existing_project(client: Client) -> None:
    star = {**JSON, "If-Match": "*"}
    assert put(client, "digits-zero", project_document(), star).status_code == 412
    assert client.http.get("/v1/projects/digits-zero").status_code == 404
    assert client.http.delete("/v1/projects/digits-zero", headers=star).status_code == 412
    assert put(client, "digits-zero", project_document()).status_code == 201
    assert put(client, "digits-zero", project_document(), star).status_code == 200
    assert client.http.delete("/v1/projects/digits-zero", headers=star).status_code == 200


def test_if_match_on_a_project_that_does_not_exist_is_412(client: Client) -> None:
    headers = {**JSON, "If-Match": '"1-0123456789abcdef"'}
    assert put(client, "digits-zero", project_document(), headers).status_code == 412
    assert client.http.get("/v1/projects/digits-zero").status_code == 404


def test_a_weak_etag_never_matches(client: Client) -> None:
    etag = put(client, "digits-zero", project_document()).headers["ETag"]
    weak = {**JSON, "If-Match": f"W/{etag}"}
    assert put(client, "digits-zero", project_document(), weak).status_code == 412


def test_a_name_no_project_can_have_is_404_whatever_if_match_says(client: Client) -> None:
    response = client.http.delete("/v1/projects/-bad-", headers={"If-Match": "*"})
    assert response.status_code == 404
    assert response.json_body["error"]["code"] == "ProjectNotFound"


ROLE = "arn:aws:iam::123456789012:role/SageMakerExecution"
IMAGE = "382416733822.dkr.ecr.us-east-1.amazonaws.com/linear-learner:1"


def deployed_by_sagewire(run: str) -> tuple[str, str]:
    """What a promotion of `run` to digits-zero leaves in (moto's) SageMaker and the table:
    its tagged model and config, the endpoint serving them, the champion and its ledger entry."""
    sagemaker = boto3.client("sagemaker")
    model, config = model_name("digits-zero", run), f"digits-zero-{run}-cfg"
    sagemaker.create_model(
        ModelName=model,
        PrimaryContainer={"Image": IMAGE, "ModelDataUrl": f"s3://bucket/{run}/model.tar.gz"},
        ExecutionRoleArn=ROLE,
        Tags=[{"Key": "sagewire:run", "Value": run}],
    )
    sagemaker.create_endpoint_config(
        EndpointConfigName=config,
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": model,
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
            }
        ],
        Tags=[{"Key": "sagewire:endpoint", "Value": "digits-zero"}],
    )
    sagemaker.create_endpoint(EndpointName="digits-zero", EndpointConfigName=config)
    at = datetime(2026, 1, 1, tzinfo=UTC)
    promotion_id = f"2026-01-01T00:00:00.000000Z#{run}"
    champion = Champion("digits-zero", run, 0.1, 1, model, config, promotion_id, at)
    promotion = Promotion(
        project="digits-zero",
        promotion_id=promotion_id,
        run_name=run,
        previous_run_name=None,
        cause=f"event:{run}",
        strategy="all_at_once",
        outcome="succeeded",
        model_name=model,
        endpoint_config_name=config,
        previous_endpoint_config_name=None,
        created_at=at,
        updated_at=at,
    )
    assert ChampionTable(boto3.client("dynamodb"), TABLE).replace(champion, 0, promotion)
    return model, config


def test_teardown_deletes_the_endpoint_and_only_what_sagewire_made(client: Client) -> None:
    assert put(client, "digits-zero", project_document()).status_code == 201
    model, config = deployed_by_sagewire("run-a")
    sagemaker = boto3.client("sagemaker")
    sagemaker.create_model(  # by hand, with the endpoint's prefix
        ModelName="digits-zero-handmade",
        PrimaryContainer={"Image": IMAGE},
        ExecutionRoleArn=ROLE,
    )

    for wrong in ("yes", "", "True"):
        refused = client.http.delete(f"/v1/projects/digits-zero?teardown={wrong}")
        assert refused.status_code == 400
    response = client.http.delete("/v1/projects/digits-zero?teardown=true")

    assert response.status_code == 200, response.json_body
    assert response.json_body["deleted"] == [
        "endpoint/digits-zero",
        f"endpoint-config/{config}",
        f"model/{model}",
    ]
    assert [m["ModelName"] for m in sagemaker.list_models()["Models"]] == ["digits-zero-handmade"]
    assert sagemaker.list_endpoint_configs()["EndpointConfigs"] == []
    assert client.http.get("/v1/projects/digits-zero").status_code == 404
    # Defined again, the project starts without a champion; its ledger says what happened.
    assert put(client, "digits-zero", project_document()).status_code == 201
    ledger = client.http.get("/v1/projects/digits-zero/promotions").json_body["promotions"]
    assert [entry["outcome"] for entry in ledger] == ["torn_down", "succeeded"]
    assert ledger[0]["promotion_id"] == response.json_body["promotion_id"]
    assert ledger[0]["cause"].startswith("api:")
    assert client.http.get("/v1/projects/digits-zero/champion").json_body["champion"] is None


def test_without_teardown_the_answer_says_the_endpoint_is_left_running(client: Client) -> None:
    assert put(client, "digits-zero", project_document()).status_code == 201
    deployed_by_sagewire("run-a")

    response = client.http.delete("/v1/projects/digits-zero")

    assert response.status_code == 200
    body = response.json_body
    assert (body["teardown"], body["endpoint"], body["deleted"]) == (False, "digits-zero", [])
    assert "is left InService" in body["message"]
    endpoint = boto3.client("sagemaker").describe_endpoint(EndpointName="digits-zero")
    assert endpoint["EndpointStatus"] == "InService"
