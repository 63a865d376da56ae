"""ProjectTable against moto's DynamoDB: storage, ownership and concurrent writers."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import boto3
import pytest

from chalicelib.definitions import parse_project
from chalicelib.errors import Conflict, PreconditionFailed
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
    assert table.put(original)[0] is True
    assert table.get("digits-zero") == original
    assert table.put(original)[0] is False
    assert table.get("absent") is None


def test_listing_pages_through_every_project(client: Any) -> None:
    table = ProjectTable(client, TABLE)
    names = {f"p{i:03d}" for i in range(120)}
    for name in names:
        table.put(project(name))
    assert {p.name for p in table.all()} == names


# SageMaker endpoint names ignore case: `SHARED` is the endpoint `shared`.
@pytest.mark.parametrize("claimed", ["shared", "SHARED", "Shared"])
def test_the_endpoint_owner_item_blocks_a_second_project(client: Any, claimed: str) -> None:
    table = ProjectTable(client, TABLE)
    table.put(project("first", "shared"))
    with pytest.raises(Conflict, match="owned by another project"):
        table.put(project("second", claimed))
    assert table.get("second") is None
    assert table.owner_of(claimed) == "first"
    owner = client.get_item(
        TableName=TABLE, Key={"pk": {"S": "ENDPOINT#shared"}, "sk": {"S": "OWNER"}}
    )["Item"]
    assert owner["owning_project"]["S"] == "first"


@pytest.mark.parametrize(
    ("if_match", "refusal", "message"),
    [
        (False, Conflict, "changed concurrently"),
        # The revision matched when read; the write's own condition sees the rival's.
        (True, PreconditionFailed, "not at the revision given"),
    ],
)
def test_a_concurrent_writer_between_read_and_write_is_refused(
    client: Any, if_match: bool, refusal: type[Exception], message: str
) -> None:
    table = ProjectTable(client, TABLE)
    _, revision = table.put(project("digits-zero"))
    rival = ProjectTable(boto3.client("dynamodb", region_name="us-east-1"), TABLE)
    moved = replace(project("digits-zero"), endpoint=EndpointSpec(name="elsewhere"))

    def rival_writes_first(**_: Any) -> None:
        client.meta.events.unregister("before-call.dynamodb.TransactWriteItems", rival_writes_first)
        rival.put(moved)

    client.meta.events.register("before-call.dynamodb.TransactWriteItems", rival_writes_first)
    with pytest.raises(refusal, match=message):
        table.put(
            replace(moved, endpoint=EndpointSpec(name="third")),
            frozenset({revision}) if if_match else None,
        )
    assert table.get("digits-zero") == moved


def test_delete_releases_the_endpoint_and_reports_absence(client: Any) -> None:
    table = ProjectTable(client, TABLE)
    table.put(project("first", "shared"))
    assert table.delete("first") is True
    assert table.delete("first") is False
    assert table.put(project("second", "shared"))[0] is True


def test_changing_only_the_case_of_its_endpoint_keeps_the_claim(client: Any) -> None:
    table = ProjectTable(client, TABLE)
    table.put(project("first", "digits-zero"))
    assert table.put(project("first", "Digits-Zero"))[0] is False
    assert table.owner_of("digits-zero") == "first"
    with pytest.raises(Conflict, match="owned by another project"):
        table.put(project("second", "digits-zero"))


def test_a_write_over_a_named_revision_is_refused_once_another_landed(client: Any) -> None:
    table = ProjectTable(client, TABLE)
    _, first = table.put(project("digits-zero"))
    assert table.versioned("digits-zero") == (project("digits-zero"), first)
    moved = replace(project("digits-zero"), endpoint=EndpointSpec(name="elsewhere"))
    _, second = table.put(moved, if_match=frozenset({first}))
    assert second != first

    with pytest.raises(PreconditionFailed, match="not at the revision given"):
        table.put(project("digits-zero"), if_match=frozenset({first}))
    with pytest.raises(PreconditionFailed, match="not at the revision given"):
        table.delete("digits-zero", if_match=frozenset({first, "W/x"}))
    assert table.versioned("digits-zero") == (moved, second)
    assert table.delete("digits-zero", if_match=frozenset({first, second})) is True


def test_any_revision_needs_an_existing_project(client: Any) -> None:
    table = ProjectTable(client, TABLE)
    with pytest.raises(PreconditionFailed, match="does not exist"):
        table.put(project("digits-zero"), if_match=frozenset({"*"}))
    with pytest.raises(PreconditionFailed, match="does not exist"):
        table.delete("digits-zero", if_match=frozenset({"*"}))
    assert table.get("digits-zero") is None
    table.put(project("digits-zero"))
    assert table.put(project("digits-zero"), if_match=frozenset({"*"}))[0] is False
    assert table.delete("digits-zero", if_match=frozenset({"*"})) is True


def test_a_project_created_again_does_not_answer_to_its_old_revision(client: Any) -> None:
    table = ProjectTable(client, TABLE)
    _, old = table.put(project("digits-zero"))
    table.delete("digits-zero")
    _, new = table.put(replace(project("digits-zero"), endpoint=EndpointSpec(name="elsewhere")))
    assert old.split("-")[0] == new.split("-")[0] == "1"  # versions restart...
    assert old != new  # ...the document's digest tells them apart
    with pytest.raises(PreconditionFailed):
        table.put(project("digits-zero"), if_match=frozenset({old}))
