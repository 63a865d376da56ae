"""SageMaker's JSON wire format for benchmarks that answer its calls from a before-send hook."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders

REGION = "us-east-1"
ACCOUNT = "123456789012"


def arn(kind: str, name: str) -> str:
    return f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:{kind}/{name}"


def validation_error(message: str) -> tuple[int, dict[str, Any]]:
    return 400, {"__type": "ValidationException", "message": message}


class _Body:
    """The raw stream behind an AWSResponse."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._data


def json_response(url: str, status: int, body: dict[str, Any]) -> AWSResponse:
    """What SageMaker would send: its headers and a JSON body botocore parses as usual."""
    headers = HTTPHeaders()
    headers["x-amzn-requestid"] = "00000000-0000-0000-0000-000000000000"
    headers["content-type"] = "application/x-amz-json-1.1"
    return AWSResponse(url, status, headers, _Body(json.dumps(body).encode()))
