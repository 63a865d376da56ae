"""The devstack's WSGI helpers: moto's DynamoDB sees one request at a time."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from devstack.wsgi import OneDynamoDBRequestAtATime


def test_dynamodb_requests_reach_moto_one_at_a_time_and_others_in_parallel() -> None:
    inside: list[int] = []
    in_flight = [0]
    lock = threading.Lock()

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        with lock:
            in_flight[0] += 1
            inside.append(in_flight[0])
        time.sleep(0.02)
        with lock:
            in_flight[0] -= 1
        return [b"{}"]

    serialized = OneDynamoDBRequestAtATime(app)

    def most_at_once(target: str) -> int:
        inside.clear()
        threads = [
            threading.Thread(
                target=serialized, args=({"HTTP_X_AMZ_TARGET": target}, lambda *_: None)
            )
            for _ in range(4)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return max(inside)

    assert most_at_once("DynamoDB_20120810.TransactWriteItems") == 1
    assert most_at_once("SageMaker.DescribeEndpoint") > 1
