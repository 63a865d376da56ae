"""Warm path: sagewire's Lambda handler against a sample-style handler, per prediction."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import numpy as np
from botocore.awsrequest import AWSResponse, HTTPHeaders
from botocore.response import StreamingBody
from PIL import Image

from bench import Check, Goal, Outcome, Row, compare, describe, digit_images, format_speedup
from bench.coldstart import DEFINITION, FAKE_AWS, PROJECT, fixture

NAME = "warm"
SECONDS = 3.0
ROWS = 100
MAX_PNG_RATIO = 0.75
MAX_CSV_RATIO = 0.5
ANSWER = b'{"predictions": [{"score": 0.97, "predicted_label": 1.0}]}'
BATCH_ANSWER = json.dumps({"predictions": [{"score": 0.97, "predicted_label": 1.0}] * ROWS})


@contextlib.contextmanager
def answered(
    client: Any, operation: str, answer: Callable[[], dict[str, Any]]
) -> Iterator[list[dict[str, Any]]]:
    """Every `operation` call of `client` answered by `answer()`, as botocore's Stubber answers
    (its before-call hook) but without a queue to refill; yields the parameters of each call."""
    calls: list[dict[str, Any]] = []
    event = f"before-call.{client.meta.service_model.endpoint_prefix}.{operation}"

    def respond(params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        calls.append(params)
        parsed = {**answer(), "ResponseMetadata": {"HTTPStatusCode": 200}}
        return AWSResponse("https://stub", 200, HTTPHeaders(), None), parsed

    client.meta.events.register_first(event, respond, "bench-warm")
    try:
        yield calls
    finally:
        client.meta.events.unregister(event, unique_id="bench-warm")


def _invocation(body: bytes) -> Callable[[], dict[str, Any]]:
    return lambda: {
        "Body": StreamingBody(io.BytesIO(body), len(body)),
        "ContentType": "application/json",
        "InvokedProductionVariant": "AllTraffic",
    }


def sample_handler(runtime: Any) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """The Lambda the SageMaker samples put in front of an endpoint: Pillow, /255, a Python
    CSV join, InvokeEndpoint, json.loads; CSV rows parsed to floats and joined again."""

    def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
        if event["headers"]["Content-Type"] == "image/png":
            png = base64.b64decode(event["body"])
            pixels = np.asarray(Image.open(io.BytesIO(png)), dtype=np.float32) / 255.0
            payload = ",".join(str(value) for value in pixels.flatten())
        else:
            lines = str(event["body"]).splitlines()
            rows = [[float(v) / 255.0 for v in line.split(",")] for line in lines]
            payload = "\n".join(",".join(str(v) for v in row) for row in rows)
        answer = runtime.invoke_endpoint(
            EndpointName=PROJECT, ContentType="text/csv", Accept="application/json", Body=payload
        )
        result = json.loads(answer["Body"].read())
        return {"statusCode": 200, "body": json.dumps(result)}

    return handle


def _csv_event(png_event: dict[str, Any]) -> dict[str, Any]:
    pixels = digit_images(ROWS).reshape(ROWS, -1)
    body = "\n".join(",".join(str(int(v)) for v in row) for row in pixels)
    headers = {**png_event["headers"], "Content-Type": "text/csv", "Content-Length": str(len(body))}
    return {**png_event, "headers": headers, "body": body, "isBase64Encoded": False}


def run() -> list[Outcome]:
    for name, value in FAKE_AWS.items():
        os.environ.setdefault(name, value)
    from app import app  # once the fake credentials are set
    from chalicelib import wiring

    png_event = json.loads(fixture())["event"]
    csv_event = _csv_event(png_event)
    container = wiring.container()
    definition = {"Item": {"definition": {"S": json.dumps(DEFINITION)}}}
    sample_runtime = boto3.client("sagemaker-runtime", region_name="us-east-1")
    sample = sample_handler(sample_runtime)
    outcomes: list[Outcome] = []
    report: list[str] = []  # printed after the run: the handlers' EMF lines go to /dev/null
    started = time.monotonic()
    with (
        answered(container.dynamodb_client, "GetItem", lambda: definition) as reads,
        open(os.devnull, "w") as quiet,
        contextlib.redirect_stdout(quiet),
    ):
        for case, event, body, goal in (
            ("28x28 PNG prediction", png_event, ANSWER, MAX_PNG_RATIO),
            (f"{ROWS}-row CSV batch", csv_event, BATCH_ANSWER.encode(), MAX_CSV_RATIO),
        ):
            with (
                answered(container.runtime_client, "InvokeEndpoint", _invocation(body)) as calls,
                answered(sample_runtime, "InvokeEndpoint", _invocation(body)),
            ):
                ours_answer, sample_answer = app(event, None), sample(event, None)
                same = ours_answer["statusCode"] == sample_answer["statusCode"] == 200 and len(
                    json.loads(ours_answer["body"])["predictions"]
                ) == len(json.loads(sample_answer["body"])["predictions"])
                handled = [1]

                def ours(event: dict[str, Any] = event, handled: list[int] = handled) -> object:
                    handled.append(1)
                    return app(event, None)

                def theirs(event: dict[str, Any] = event) -> object:
                    return sample(event, None)

                timings = compare(ours, theirs, SECONDS)
            ratio = timings[0].p50_ns / timings[1].p50_ns
            goals = (Goal(f"≤ {goal}x the sample", ratio <= goal),)
            row = Row(NAME, case, *timings, goals)
            one_call = len(calls) == len(handled)
            outcomes += [
                Check(NAME, f"{case}: both answer 200 with as many predictions", same),
                Check(NAME, f"{case}: one AWS call (InvokeEndpoint) per warm prediction", one_call),
                row,
            ]
            report += [
                f"{NAME}: {case}, one warm invocation each (InvokeEndpoint answered in process)",
                f"  {describe(timings[0], 'sagewire')}  (app.app(event): the whole route)",
                f"  {describe(timings[1], 'sample  ')}  (Pillow or float(), /255, CSV, json)",
                f"  {ratio:.2f}x the sample's time ({format_speedup(row.speedup)}; goal ≤ "
                f"{goal}x); {len(calls)} InvokeEndpoint for {len(handled)} predictions",
            ]
    seconds = time.monotonic() - started
    period = container.settings.definition_cache_seconds
    print("\n".join(report))
    print(
        f"{NAME}: {len(reads)} GetItem in {seconds:.1f} s of predictions: the definition, read "
        f"again each SAGEWIRE_DEFINITION_CACHE_SECONDS ({period:g} s)"
    )
    once = len(reads) <= 1 + seconds / period
    outcomes.append(Check(NAME, "the definition is read once per cache period", once))
    return outcomes
