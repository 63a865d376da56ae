"""ProjectTable against moto's DynamoDB: storage, ownership and concurrent writers."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import boto3
import pytest

from chalicelib.definitions import parse_project
from chalicelib.errors import Conflict
from chalicelib.gateways.projects import ProjectTable
from chalicelib.models import EndpointSpec, Project
from tests.factories import project_document
from tests.gateways.conftest import TABLE


@pytest.fixture
def client(dynamodb: Any) -> Any:
    return dynamodb


def project(name: str, endpoint: str | None = None) -> Project:
    return parse_project(project_document(name, endpoint))


def test_put_get_round_trips_the_domain_value(client: Any) -> None:
    table = ProjectTable(client, TABLE)
    original = project("digits-zero")
    assert table.put(original) is True
    assert table.get("digits-zero") == original
    assert table.put(original) is False
    assert table.get("absent") is None


def test_listing_pages_through_every_project(client: Any) -> None:
    table = ProjectTable(client, TABLE)
    names = {f"p{i:03d}" for i in range(120)}
    for name in names:
        table.put(project(name))
    assert {p.name for p in table.all()} == names


def test_the_endpoint_owner_item_blocks_a_second_project(client: Any) -> None:
    table = ProjectTable(client, TABLE)
    table.put(project("first", "shared"))
    with pytest.raises(Conflict, match="owned by another project"):
        table.put(project("second", "shared"))
    assert table.get("second") is None
    owner = client.get_item(
        TableName=TABLE, Key={"pk": {"S": "ENDPOINT#shared"}, "sk": {"S": "OWNER"}}
    )["Item"]
    assert owner["owning_project"]["S"] == "first"


def test_a_concurrent_writer_between_read_and_write_is_a_conflict(client: Any) -> None:
    table = ProjectTable(client, TABLE)
    table.put(project("digits-zero"))
    rival = ProjectTable(boto3.client("dynamodb", region_name="us-east-1"), TABLE)
    moved = replace(project("digits-zero"), endpoint=EndpointSpec(name="elsewhere"))

    def rival_writes_first(**_: Any) -> None:
        client.meta.events.unregister("before-call.dynamodb.TransactWriteItems", rival_writes_first)
        rival.put(moved)

    client.meta.events.register("before-call.dynamodb.TransactWriteItems", rival_writes_first)
    with pytest.raises(Conflict, match="changed concurrently"):
        table.put(replace(moved, endpoint=EndpointSpec(name="third")))
    assert table.get("digits-zero") == moved


def test_delete_releases_the_endpoint_and_reports_absence(client: Any) -> None:
    table = ProjectTable(client, TABLE)
    table.put(project("first", "shared"))
    assert table.delete("first") is True
    assert table.delete("first") is False
    assert table.put(project("second", "shared")) is True


def test_endpoint_ownership_ignores_case_as_sagemaker_does(client: Any) -> None:
    table = ProjectTable(client, TABLE)
    table.put(project("first", "digits-zero"))
    with pytest.raises(Conflict, match="owned by another project"):
        table.put(project("second", "DIGITS-ZERO"))
    assert table.get("second") is None
    assert table.owner_of("Digits-Zero") == "first"


def test_changing_only_the_case_of_its_endpoint_keeps_the_claim(client: Any) -> None:
    table = ProjectTable(client, TABLE)
    table.put(project("first", "digits-zero"))
    assert table.put(project("first", "Digits-Zero")) is False
    assert table.owner_of("digits-zero") == "first"
    with pytest.raises(Conflict, match="owned by another project"):
        table.put(project("second", "digits-zero"))
