"""Batch predictions over in-memory S3 and a fake endpoint: formats, errors, idempotency, keys."""

from __future__ import annotations

import base64
import hashlib
import io
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import numpy as np
import orjson
import pytest
from PIL import Image

from chalicelib.config import Settings
from chalicelib.definitions import parse_project
from chalicelib.errors import EndpointUnavailable, ModelFailed
from chalicelib.processing import decode as decode_module
from chalicelib.processing.images import decode_image
from chalicelib.processing.preprocess import preprocess
from chalicelib.records import ObjectCreated
from chalicelib.services import inference as inference_module
from chalicelib.services.batch import BatchService, output_hash
from chalicelib.services.inference import InferenceService
from chalicelib.services.projects import ProjectService
from tests.factories import project_document
from tests.fakes import EPOCH, FakeObjects, FakeProjects, FakeRuntime

T = TypeVar("T")
SETTINGS = Settings.from_environ({})
BUCKET = SETTINGS.bucket_name
PROJECT = "digits-zero"
OUTPUT_KEY = re.compile(
    rf"batch/output/{PROJECT}/[0-9a-f]{{16}}/(predictions\.jsonl|manifest\.json)"
)


@dataclass
class Batch:
    objects: FakeObjects
    invoker: FakeRuntime
    service: BatchService

    def upload(self, key: str, body: bytes, content_type: str = "binary/octet-stream") -> Any:
        self.objects.put(BUCKET, key, body, content_type)
        etag = hashlib.md5(body, usedforsecurity=False).hexdigest()
        return ObjectCreated(BUCKET, key, etag, len(body), EPOCH, None, "0062E99A88DC407460")

    def outputs(self) -> dict[str, bytes]:
        return {
            key: body
            for (_, key), (body, _) in self.objects.objects.items()
            if key.startswith("batch/output/")
        }

    def lines(self, change: ObjectCreated) -> list[dict[str, Any]]:
        prefix = f"batch/output/{PROJECT}/{output_hash(change.key, change.etag)}/"
        body = self.objects.objects[BUCKET, prefix + "predictions.jsonl"][0]
        return [orjson.loads(line) for line in body.splitlines()]

    def manifest(self, change: ObjectCreated) -> dict[str, Any]:
        prefix = f"batch/output/{PROJECT}/{output_hash(change.key, change.etag)}/"
        manifest: dict[str, Any] = orjson.loads(
            self.objects.objects[BUCKET, prefix + "manifest.json"][0]
        )
        return manifest


def make_batch(max_invoke_bytes: int = 6 * 1024 * 1024, records_per_call: int = 1000) -> Batch:
    objects, invoker = FakeObjects(), FakeRuntime()
    projects = ProjectService(FakeProjects(parse_project(project_document(PROJECT))))
    inference = InferenceService(projects, invoker, max_invoke_bytes)
    service = BatchService(projects, inference, objects, SETTINGS, records_per_call)
    return Batch(objects, invoker, service)


@pytest.fixture
def batch() -> Batch:
    return make_batch()


def csv_rows(*values: float) -> bytes:
    return b"".join(",".join([str(v)] * 64).encode() + b"\n" for v in values)


def image(kind: str, value: int = 255) -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (8, 8), value).save(buffer, format=kind)
    return buffer.getvalue()


def test_a_csv_batch_writes_one_prediction_per_row_and_a_manifest(batch: Batch) -> None:
    change = batch.upload(f"batch/input/{PROJECT}/rows.csv", csv_rows(255, 0, 255))

    outcome = batch.service.run(change)

    assert (outcome.status, outcome.records, outcome.predictions, outcome.errors) == (
        "written",
        3,
        3,
        0,
    )
    assert [line["prediction"]["predicted_label"] for line in batch.lines(change)] == [1, 0, 1]
    assert [line["record"] for line in batch.lines(change)] == [1, 2, 3]
    manifest = batch.manifest(change)
    assert manifest["source"] == {
        "bucket": BUCKET,
        "key": change.key,
        "etag": change.etag,
        "version_id": None,
        "sequencer": change.sequencer,
        "size": change.size,
    }
    assert manifest["counts"] == {"records": 3, "predictions": 3, "errors": 0}
    assert (manifest["endpoint"], manifest["variant"], manifest["error"]) == (
        PROJECT,
        "AllTraffic",
        None,
    )
    assert manifest["started_at"]
    assert manifest["finished_at"]
    assert all(OUTPUT_KEY.fullmatch(key) for key in batch.outputs())


def test_an_npy_batch_predicts_each_row(batch: Batch) -> None:
    buffer = io.BytesIO()
    np.save(buffer, np.array([[255.0] * 64, [0.0] * 64]))
    change = batch.upload(f"batch/input/{PROJECT}/rows.npy", buffer.getvalue())

    assert batch.service.run(change).predictions == 2
    assert [line["prediction"]["score"] for line in batch.lines(change)] == [1.0, 0.0]


def test_a_jsonl_batch_takes_arrays_features_and_images(batch: Batch) -> None:
    png = base64.b64encode(image("PNG")).decode()
    body = b"\n".join(
        [
            orjson.dumps([0] * 64),
            orjson.dumps({"features": [255] * 64}),
            b"",
            orjson.dumps({"image": png}),
        ]
    )
    change = batch.upload(f"batch/input/{PROJECT}/inputs.jsonl", body)

    batch.service.run(change)

    lines = batch.lines(change)
    assert [line["record"] for line in lines] == [1, 2, 4]
    assert [line["prediction"]["score"] for line in lines] == [0.0, 1.0, 1.0]


def test_the_batch_object_of_100_large_images_is_streamed_within_its_budget(
    batch: Batch, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The issue's batch object: 100 lines, each a PNG of 2000x2000. Each record is decoded
    and preprocessed before the next is read; past SAGEWIRE_MAX_BATCH_PIXELS (100,000,000 by
    default: 25 of them) the records are refused from their headers, never decoded."""
    steps: list[str] = []

    def spy(step: str, real: Callable[..., T]) -> Callable[..., T]:
        def call(*args: Any) -> T:
            steps.append(step)
            return real(*args)

        return call

    monkeypatch.setattr(decode_module, "decode_image", spy("decode", decode_image))
    monkeypatch.setattr(inference_module, "preprocess", spy("preprocess", preprocess))
    flat = io.BytesIO()
    Image.new("L", (2000, 2000), 255).save(flat, format="PNG")
    line = orjson.dumps({"image": base64.b64encode(flat.getvalue()).decode()})
    change = batch.upload(f"batch/input/{PROJECT}/large.jsonl", b"\n".join([line] * 100))

    outcome = batch.service.run(change)

    assert (outcome.records, outcome.predictions, outcome.errors) == (100, 25, 75)
    assert steps == ["decode", "preprocess"] * 25
    lines = batch.lines(change)
    assert all(line["prediction"]["score"] == 1.0 for line in lines[:25])
    assert {line["error"]["message"] for line in lines[25:]} == {
        "images in this object declare 104,000,000 pixels, over the object budget of "
        "100,000,000 pixels (SAGEWIRE_MAX_BATCH_PIXELS)"
    }


@pytest.mark.parametrize(("name", "kind"), [("digit.png", "PNG"), ("digit.JPG", "JPEG")])
def test_an_image_object_is_one_prediction(batch: Batch, name: str, kind: str) -> None:
    change = batch.upload(f"batch/input/{PROJECT}/folder/{name}", image(kind))

    assert batch.service.run(change).predictions == 1
    assert batch.lines(change)[0]["prediction"]["predicted_label"] == 1


def test_the_content_type_names_the_format_of_a_key_without_extension(batch: Batch) -> None:
    change = batch.upload(f"batch/input/{PROJECT}/rows", csv_rows(0), "text/csv; charset=utf-8")

    assert batch.service.run(change).predictions == 1


def test_chunks_keep_the_records_in_order() -> None:
    batch = make_batch(max_invoke_bytes=300, records_per_call=3)
    values = [255 * (i % 2) for i in range(10)]
    change = batch.upload(f"batch/input/{PROJECT}/rows.csv", csv_rows(*values))

    batch.service.run(change)

    assert len(batch.invoker.calls) > 4
    labels = [line["prediction"]["predicted_label"] for line in batch.lines(change)]
    assert labels == [i % 2 for i in range(10)]


def test_malformed_lines_are_errors_beside_the_other_predictions(batch: Batch) -> None:
    body = csv_rows(255) + b"1,2,x\n" + b"1,2\n" + csv_rows(0)
    change = batch.upload(f"batch/input/{PROJECT}/rows.csv", body)

    outcome = batch.service.run(change)

    lines = batch.lines(change)
    assert [sorted(line) for line in lines] == [
        ["prediction", "record"],
        ["error", "record"],
        ["error", "record"],
        ["prediction", "record"],
    ]
    assert lines[1]["error"]["code"] == "MalformedInput"
    assert lines[2]["error"]["code"] == "InvalidShape"
    assert (outcome.predictions, outcome.errors) == (2, 2)
    assert [error["record"] for error in batch.manifest(change)["errors"]] == [2, 3]


def test_malformed_json_lines_are_errors(batch: Batch) -> None:
    body = b"\n".join([b"[1, 2", b'{"pixels": [1]}', b"[1],[2]", b"[1]]", orjson.dumps([0] * 64)])
    change = batch.upload(f"batch/input/{PROJECT}/inputs.jsonl", body)

    batch.service.run(change)

    lines = batch.lines(change)
    assert [line.get("error", {}).get("code") for line in lines] == [
        "MalformedInput",
        "MalformedInput",
        "MalformedInput",
        "MalformedInput",
        None,
    ]


def test_a_model_error_fails_only_its_chunk() -> None:
    batch = make_batch(records_per_call=2)
    batch.invoker.failures.append(ModelFailed("the model failed"))
    change = batch.upload(f"batch/input/{PROJECT}/rows.csv", csv_rows(0, 0, 255))

    batch.service.run(change)

    assert [("error" in line) for line in batch.lines(change)] == [True, True, False]


def test_throttling_raises_so_that_the_event_is_retried_and_writes_nothing(batch: Batch) -> None:
    batch.invoker.failures.append(EndpointUnavailable("throttled", 2))
    change = batch.upload(f"batch/input/{PROJECT}/rows.csv", csv_rows(0))

    with pytest.raises(EndpointUnavailable):
        batch.service.run(change)
    assert batch.outputs() == {}


@pytest.mark.parametrize(
    ("name", "body"),
    [("rows.csv", b"\n\n"), ("digit.png", b"not a png"), ("notes.txt", b"1,2"), ("a.npy", b"x")],
)
def test_an_unreadable_file_has_its_error_in_the_manifest(
    batch: Batch, name: str, body: bytes
) -> None:
    change = batch.upload(f"batch/input/{PROJECT}/{name}", body)

    outcome = batch.service.run(change)

    manifest = batch.manifest(change)
    assert manifest["error"]["code"] == outcome.reason
    assert manifest["counts"] == {"records": 0, "predictions": 0, "errors": 0}
    assert batch.lines(change) == []


def test_an_object_over_the_byte_cap_is_not_read() -> None:
    batch = make_batch()
    batch.service = BatchService(
        ProjectService(FakeProjects(parse_project(project_document(PROJECT)))),
        batch.service._inference,
        batch.objects,
        replace(SETTINGS, max_batch_object_bytes=10),
    )
    change = batch.upload(f"batch/input/{PROJECT}/rows.csv", csv_rows(0))

    assert batch.service.run(change).reason == "InputTooLarge"
    assert batch.manifest(change)["error"]["code"] == "InputTooLarge"


def test_duplicate_events_make_one_output(batch: Batch) -> None:
    change = batch.upload(f"batch/input/{PROJECT}/rows.csv", csv_rows(0, 255))

    first = batch.service.run(change)
    written = batch.outputs()
    again = batch.service.run(replace(change, sequencer="0062E99A88DC407461"))

    assert (first.status, again.status) == ("written", "skipped")
    assert again.output_prefix == first.output_prefix
    assert batch.outputs() == written
    assert len(batch.invoker.calls) == 1


@pytest.mark.parametrize(
    "name",
    ["../../x.csv", "a/../../../etc/passwd.csv", "ünïcödé 💥\u202e.csv", "x" * 1000 + ".csv"],
)
def test_hostile_names_never_reach_an_output_key(batch: Batch, name: str) -> None:
    change = batch.upload(f"batch/input/{PROJECT}/{name}", csv_rows(0))

    assert batch.service.run(change).status == "written"
    assert batch.outputs()
    assert all(OUTPUT_KEY.fullmatch(key) for key in batch.outputs())


@pytest.mark.parametrize(
    "key",
    [
        "batch/input/nobody/rows.csv",
        "batch/input/../x.csv",
        "batch/input/%2e%2e/x.csv",
        f"batch/input/{PROJECT}",
        f"batch/input/{PROJECT}/",
        f"other/{PROJECT}/rows.csv",
    ],
)
def test_an_unknown_project_is_refused_without_output(batch: Batch, key: str) -> None:
    change = batch.upload(key, csv_rows(0))

    outcome = batch.service.run(change)

    assert outcome.status == "refused"
    assert batch.outputs() == {}
    assert batch.invoker.calls == []


def test_a_deleted_object_is_skipped(batch: Batch) -> None:
    change = batch.upload(f"batch/input/{PROJECT}/rows.csv", csv_rows(0))
    del batch.objects.objects[BUCKET, change.key]

    outcome = batch.service.run(change)

    assert (outcome.status, outcome.reason) == ("skipped", "the object no longer exists")
    assert batch.outputs() == {}


def test_an_overwritten_object_is_left_to_its_own_event(batch: Batch) -> None:
    change = batch.upload(f"batch/input/{PROJECT}/rows.csv", csv_rows(0))
    batch.upload(change.key, csv_rows(255))

    assert batch.service.run(change).status == "skipped"
    assert batch.outputs() == {}


def test_a_key_under_the_output_prefix_is_skipped_unread(
    batch: Batch, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    change = batch.upload(f"batch/output/{PROJECT}/0123456789abcdef/predictions.jsonl", b"{}\n")

    outcome = batch.service.run(change)

    assert (outcome.status, outcome.reason) == (
        "skipped",
        "the key is under the batch output prefix",
    )
    assert set(batch.outputs()) == {change.key}
    assert batch.invoker.calls == []
    # Powertools' JSON lines on stdout once its logger is built, else the standard records.
    assert "under the output prefix" in "".join([*capfd.readouterr(), caplog.text])
