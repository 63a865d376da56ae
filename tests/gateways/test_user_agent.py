"""The User-Agent header of a client built once per feature set is botocore's own, each time."""

from __future__ import annotations

import contextlib
from typing import Any

import boto3
from botocore.awsrequest import AWSResponse, HTTPHeaders
from botocore.context import start_as_current_context
from botocore.useragent import register_feature_id

from chalicelib.gateways.user_agent import reuse_user_agent


def _client() -> Any:
    client: Any = boto3.session.Session(region_name="us-east-1").client(
        "dynamodb", aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    sent: list[str] = []

    def capture(request: Any, **_: Any) -> AWSResponse:
        sent.append(request.headers["User-Agent"].decode())
        return AWSResponse(request.url, 200, HTTPHeaders(), None)

    client.meta.events.register("before-send.dynamodb.GetItem", capture)
    client.sent = sent
    return client


def _get(client: Any, feature: str | None = None) -> str:
    with start_as_current_context():
        if feature is not None:
            register_feature_id(feature)
        with contextlib.suppress(Exception):  # the empty body is no answer: the header is all
            client.get_item(TableName="t", Key={"pk": {"S": "k"}})
    return str(client.sent[-1])


def test_the_header_is_botocores_own_for_each_feature_set() -> None:
    plain, reused = _client(), _client()
    creator = reused._user_agent_creator
    build, builds = creator.to_string, []

    def counted() -> str:
        builds.append(1)
        return str(build())

    creator.to_string = counted  # botocore's builder, counted
    reuse_user_agent(reused)

    for feature in (None, None, "WAITER", None, "PAGINATOR", "WAITER"):
        assert _get(reused, feature) == _get(plain, feature)
    assert "m/" in _get(plain, "WAITER")  # a feature shows in the string, so it must be the key
    assert len(builds) == 3  # one per distinct feature set, not two per request
