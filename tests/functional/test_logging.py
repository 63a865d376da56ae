"""Everything the app writes (its JSON log lines and EMF on stdout, stdlib logging, stderr) over
requests and events, successes and every error path: no payload bytes, image metadata or
credentials, and no line that an input could forge."""

from __future__ import annotations

import base64
import io
import json
from dataclasses import replace
from typing import Any

import boto3
import numpy as np
import pytest
from chalice.local import LambdaContext
from chalice.test import Client
from PIL import Image, PngImagePlugin

from app import app
from chalicelib import errors, wiring
from chalicelib.config import Settings
from chalicelib.entrypoints import http_auth
from chalicelib.records import Run
from tests.factories import project_document, register_project
from tests.fakes import EPOCH, FakeRuntime, FakeSageMaker
from tests.functional.test_events import ROLE, fixture
from tests.functional.test_s3_events import s3_event, upload

PROJECT = "digits-zero"
METRIC = "train:objective_loss:final"
PREDICT = f"/v1/projects/{PROJECT}/predictions"
# A number, so that bodies carrying it can be served; no log or metric writes these digits.
NUMBER = "0.70710677"
CSV_TEXT = "CSVTEXTSENTINEL"
JSON_TEXT = "JSONTEXTSENTINEL"
PNG_TEXT = "PNGTEXTCHUNKSENTINEL"
PNG_ITXT = "PNGITXTCHUNKSENTINEL"
JPEG_EXIF = "JPEGEXIFSENTINEL"
JPEG_COMMENT = "JPEGCOMMENTSENTINEL"
SIGNATURE = "SIGV4SIGNATURESENTINEL"
SECURITY_TOKEN = "SECURITYTOKENHEADERSENTINEL"
API_KEY = "APIKEYVALUESENTINEL"
SECRET_ACCESS_KEY = "SECRETACCESSKEYENVSENTINEL"
SESSION_TOKEN = "SESSIONTOKENENVSENTINEL"
SECRETS = (
    NUMBER.removeprefix("0."),
    CSV_TEXT,
    JSON_TEXT,
    PNG_TEXT,
    PNG_ITXT,
    JPEG_EXIF,
    JPEG_COMMENT,
    SIGNATURE,
    SECURITY_TOKEN,
    API_KEY,
    SECRET_ACCESS_KEY,
    SESSION_TOKEN,
)
CREDENTIALS = {
    "Authorization": (
        "AWS4-HMAC-SHA256 Credential=AKIAEXAMPLE/20261123/us-east-1/execute-api/aws4_request, "
        f"SignedHeaders=host;x-amz-date, Signature={SIGNATURE}"
    ),
    "X-Amz-Security-Token": SECURITY_TOKEN,
    "x-api-key": API_KEY,
}
# Line breaks of every kind, other control characters, and a whole forged JSON line.
FORGED = '{"level":"ERROR","message":"forged","service":"sagewire"}'
INJECTED = f"\r\n{FORGED}\n\u2028forged\u2029\x85\x0b\x0c\x1c\x1b[31m\x00\n"


def written(capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> str:
    out, err = capfd.readouterr()
    return "\n".join([out, err, caplog.text])


def json_lines(capfd: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    """stdout and stderr, split at every line boundary Python knows; each must be one object."""
    out, err = capfd.readouterr()
    lines = (out + err).splitlines()
    parsed = [json.loads(line) for line in lines]
    assert all(isinstance(line, dict) for line in parsed), lines
    return parsed


def png_with_text() -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", PNG_TEXT)
    info.add_itxt("Description", PNG_ITXT)
    buffer = io.BytesIO()
    Image.fromarray(np.full((8, 8), 200, dtype=np.uint8), mode="L").save(
        buffer, format="PNG", pnginfo=info
    )
    return buffer.getvalue()


def jpeg_with_metadata() -> bytes:
    exif = Image.Exif()
    exif[0x010E] = JPEG_EXIF  # ImageDescription
    buffer = io.BytesIO()
    Image.fromarray(np.full((8, 8), 200, dtype=np.uint8), mode="L").save(
        buffer, format="JPEG", exif=exif.tobytes(), comment=JPEG_COMMENT
    )
    return buffer.getvalue()


def completed_run(name: str) -> Run:
    return Run(
        name=name,
        arn=f"arn:aws:sagemaker:us-east-1:123456789012:training-job/{name}",
        status="Completed",
        last_modified_at=EPOCH,
        metrics={METRIC: 0.0226},
        model_artifact=f"s3://example-bucket/{name}/output/model.tar.gz",
        training_image="382416733822.dkr.ecr.us-east-1.amazonaws.com/linear-learner:1",
        role_arn=ROLE,
    )


def training_event(name: str, tags: dict[str, str] | None = None) -> dict[str, Any]:
    event = fixture("training-job-completed.json")
    event["detail"].update(
        TrainingJobName=name,
        TrainingJobArn=f"arn:aws:sagemaker:us-east-1:123456789012:training-job/{name}",
        Tags=tags or {"Project": "Project_Binary_Classifier"},
    )
    return event


@pytest.fixture
def world(
    client: Client, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> tuple[Client, FakeSageMaker]:
    """A registered project, the bucket, and a fake control plane; the process's AWS
    credentials are sentinels from here on (every client of the app is created after this)."""
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY)
    monkeypatch.setenv("AWS_SESSION_TOKEN", SESSION_TOKEN)
    boto3.client("s3").create_bucket(Bucket=settings.bucket_name)
    document = project_document(PROJECT)
    document["endpoint"]["execution_role_arn"] = ROLE
    register_project(client, document)
    sagemaker = FakeSageMaker()
    wiring.container().control_plane = sagemaker
    return client, sagemaker


def post(client: Client, body: bytes, content_type: str, path: str = PREDICT) -> int:
    headers = {"Content-Type": content_type, **CREDENTIALS}
    status: int = client.http.post(path, headers=headers, body=body).status_code
    return status


def test_no_payload_metadata_or_credential_is_ever_written(
    world: tuple[Client, FakeSageMaker],
    endpoint: FakeRuntime,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    client, sagemaker = world
    caplog.set_level("INFO")
    numbers = ",".join([NUMBER] * 64)
    row = numbers.encode()
    png, jpeg = png_with_text(), jpeg_with_metadata()
    statuses = [
        (200, post(client, row, "text/csv")),
        (200, post(client, f'{{"instances": [[{numbers}]]}}'.encode(), "application/json")),
        (200, post(client, png, "image/png")),
        (200, post(client, jpeg, "image/jpeg")),
        (400, post(client, f"{CSV_TEXT},1,2".encode(), "text/csv")),
        (400, post(client, f'{{"instances": "{JSON_TEXT}"}}'.encode(), "application/json")),
        (404, post(client, row, "text/csv", "/v1/projects/nobody/predictions")),
        (413, post(client, (CSV_TEXT + ",").encode() * 30_000, "text/csv")),
        (415, post(client, CSV_TEXT.encode(), "application/x-sentinel")),
        (422, post(client, f"{NUMBER},{NUMBER}".encode(), "text/csv")),
    ]
    for status, failure in [
        (502, errors.ModelFailed(f"the model answered 500: could not parse {NUMBER}")),
        (503, errors.EndpointUnavailable(f"throttled on {NUMBER}", 2)),
        (504, errors.EndpointTimeout(f"no answer for {NUMBER}")),
    ]:
        endpoint.failure = failure
        statuses.append((status, post(client, row, "text/csv")))
    endpoint.failure = ValueError(f"cannot score {row!r}")
    statuses.append((500, post(client, row, "text/csv")))
    endpoint.failure = None
    monkeypatch.setattr(http_auth, "AUTH", replace(http_auth.AUTH, predictions_auth="api_key"))
    statuses.append((404, post(client, row, "text/csv")))  # refused: as if absent
    assert [expected for expected, _ in statuses] == [actual for _, actual in statuses]

    sagemaker.jobs["mbs-100"] = completed_run("mbs-100")
    event = training_event("mbs-100")
    client.lambda_.invoke("on_training_job_state_change", event)
    client.lambda_.invoke("on_training_job_state_change", dict(event, id="redelivered"))
    sagemaker.fail_once["DescribeTrainingJob"] = RuntimeError(f"describe choked on {CSV_TEXT}")
    with pytest.raises(RuntimeError):
        client.lambda_.invoke("on_training_job_state_change", training_event("mbs-200"))
    batch = f"{row.decode()}\n{CSV_TEXT},{JSON_TEXT}\n".encode()
    for key, body in [
        (f"{settings.batch_input_prefix}{PROJECT}/rows.csv", batch),
        (f"{settings.batch_input_prefix}nobody/rows.csv", batch),
        (f"{settings.datasets_prefix}mnist/train.csv", batch),
    ]:
        etag, size = upload(settings, key, body)
        handler = "on_batch_object" if key.startswith("batch/") else "on_dataset_object"
        client.lambda_.invoke(handler, s3_event(settings, key, etag, size, "0062E99A88DC407460"))

    text = written(capfd, caplog)
    assert [secret for secret in SECRETS if secret in text] == []
    for body in (png, jpeg, row):
        assert base64.b64encode(body)[8:40].decode() not in text
    # Not vacuous: each path above wrote what it should.
    for code in ("MalformedInput", "ProjectNotFound", "InputTooLarge", "UnsupportedMediaType"):
        assert f'"code":"{code}"' in text
    for code in ("InvalidShape", "ModelError", "EndpointUnavailable", "EndpointTimeout"):
        assert f'"code":"{code}"' in text
    assert "prediction refused: the project does not admit this api_key caller" in text
    assert '"exception_name":"ValueError"' in text
    assert '"exception_name":"RuntimeError"' in text
    assert '"PredictionLatency":' in text
    assert '"DuplicateEvents":' in text
    assert '"message":"promotion deploying"' in text
    assert "batch object 'batch/input/nobody/rows.csv' refused" in text


def gateway_event(
    method: str,
    resource: str,
    path: dict[str, str],
    query: dict[str, str] | None = None,
    body: bytes = b"",
    content_type: str = "text/csv",
) -> dict[str, Any]:
    """What API Gateway hands the function: path parameters and query decoded, headers as sent."""
    headers = {"Content-Type": content_type, "User-Agent": f"curl{INJECTED}", **CREDENTIALS}
    return {
        "resource": resource,
        "path": resource.format(**path),
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "queryStringParameters": query,
        "multiValueQueryStringParameters": (
            None if query is None else {name: [value] for name, value in query.items()}
        ),
        "pathParameters": path,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": resource,
            "httpMethod": method,
            "requestId": f"request{INJECTED}",
            "stage": "api",
            "identity": {"sourceIp": "203.0.113.7", "userAgent": f"curl{INJECTED}"},
        },
        "body": base64.b64encode(body).decode(),
        "isBase64Encoded": True,
    }


def test_no_input_can_forge_a_log_line(
    world: tuple[Client, FakeSageMaker],
    settings: Settings,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    client, sagemaker = world
    caplog.set_level("INFO")
    capfd.readouterr()
    name = f"x{INJECTED}"
    context = LambdaContext("api_handler", memory_size=512)
    predictions = "/v1/projects/{project}/predictions"
    requests = [
        gateway_event("POST", predictions, {"project": name}, body=b"1,2"),
        gateway_event(
            "POST", predictions, {"project": PROJECT}, {"variant": name, "top_k": name}, b"1,2"
        ),
        gateway_event("POST", predictions, {"project": PROJECT}, body=b"1,2", content_type=name),
        gateway_event("GET", "/v1/runs/{training_job}", {"training_job": name}),
        gateway_event(
            "GET",
            "/v1/projects/{project}/leaderboard",
            {"project": name},
            {"filter": name, "sort": name},
        ),
        gateway_event("GET", "/v1/lineage/datasets", {}, {"uri": name}),
        gateway_event(
            "PUT",
            "/v1/projects/{project}",
            {"project": name},
            body=json.dumps(project_document(name)).encode(),
            content_type="application/json",
        ),
    ]
    statuses = [app(request, context)["statusCode"] for request in requests]
    assert all(400 <= status < 500 for status in statuses), statuses

    tags = {"Project": "Project_Binary_Classifier", name: name}
    sagemaker.jobs[name] = completed_run(name)
    client.lambda_.invoke("on_training_job_state_change", training_event(name, tags))
    # A job SageMaker no longer knows: skipped, with its name on the log line.
    client.lambda_.invoke("on_training_job_state_change", training_event(f"y{INJECTED}"))
    sagemaker.fail_once["DescribeTrainingJob"] = RuntimeError(f"no job {name}")
    with pytest.raises(RuntimeError):
        client.lambda_.invoke("on_training_job_state_change", training_event(f"z{INJECTED}"))
    tuning = fixture("tuning-job-completed.json")
    tuning["detail"].update(HyperParameterTuningJobName=name, Tags=tags)
    sagemaker.best[name] = name
    client.lambda_.invoke("on_tuning_job_state_change", tuning)
    client.lambda_.invoke("on_tuning_job_state_change", dict(tuning, id="again"))  # a duplicate
    endpoint_event = fixture("endpoint-state-change.json")
    endpoint_event["detail"].update(EndpointName=name, EndpointConfigName=name)
    client.lambda_.invoke("on_endpoint_state_change", endpoint_event)
    for key in (
        f"{settings.batch_input_prefix}{PROJECT}/{name}.csv",
        f"{settings.batch_input_prefix}{name}/rows.csv",
        f"{settings.datasets_prefix}{name}",
    ):
        event = s3_event(settings, key, "b1946ac92492d2347c6235b4d2611184", 6, "01")
        handler = "on_batch_object" if key.startswith("batch/") else "on_dataset_object"
        client.lambda_.invoke(handler, event)

    lines = json_lines(capfd)
    logged = [line for line in lines if "_aws" not in line]
    assert all(line["service"] == "sagewire" and "level" in line for line in logged)
    assert not [line for line in lines if line.get("message") == "forged"]
    assert "forged" not in caplog.text
    # The injected text did reach log lines, whole, as JSON string values.
    assert any(line.get("project") == name for line in logged)
    assert any(line.get("training_job") == name for line in logged)
    assert any(line.get("tuning_job") == name for line in logged)
    assert any(line.get("correlation_id") == f"request{INJECTED}" for line in logged)
    assert any("forged" in line["message"] for line in logged if "batch object" in line["message"])


def emf(capfd: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    return [line for line in json_lines(capfd) if "_aws" in line]


def test_each_invocation_writes_its_metrics_once_as_emf(
    world: tuple[Client, FakeSageMaker],
    endpoint: FakeRuntime,
    capfd: pytest.CaptureFixture[str],
) -> None:
    client, sagemaker = world
    capfd.readouterr()
    row = b",".join([b"255"] * 64)
    assert post(client, row, "text/csv") == 200
    [served] = emf(capfd)
    assert served["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "sagewire"
    assert served["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["service"]]
    for name in ("PredictionLatency", "PreprocessLatency", "ModelLatency"):
        [milliseconds] = served[name]
        assert milliseconds > 0
    endpoint.failure = errors.EndpointTimeout("no answer")
    assert post(client, row, "text/csv") == 504
    assert emf(capfd) == []

    sagemaker.jobs["mbs-100"] = completed_run("mbs-100")
    event = training_event("mbs-100")
    client.lambda_.invoke("on_training_job_state_change", event)
    [promoted] = emf(capfd)
    assert (promoted["outcome"], promoted["Promotions"]) == ("deploying", [1.0])
    client.lambda_.invoke("on_training_job_state_change", dict(event, id="redelivered"))
    [duplicate] = emf(capfd)
    assert duplicate["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["handler", "service"]]
    assert (duplicate["handler"], duplicate["DuplicateEvents"]) == (
        "on_training_job_state_change",
        [1.0],
    )

    sagemaker.jobs["mbs-200"] = replace(completed_run("mbs-200"), metrics={METRIC: 0.01})
    client.lambda_.invoke("on_training_job_state_change", training_event("mbs-200"))
    by_outcome = {line.get("outcome"): line for line in emf(capfd)}
    assert by_outcome[None]["DeferredPromotions"] == [1.0]  # the endpoint is still creating
    assert by_outcome["pending"]["Promotions"] == [1.0]
    assert by_outcome["superseded"]["Promotions"] == [1.0]
