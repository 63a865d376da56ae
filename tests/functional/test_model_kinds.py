"""XGBoost's answers and per-kind preprocessing through the route."""

from __future__ import annotations

import base64
import io
import json
from dataclasses import dataclass, field

import numpy as np
import pytest
from chalice.test import Client
from PIL import Image

from chalicelib import wiring
from chalicelib.models import Invocation
from tests.factories import project_document, register_project
from tests.fakes import FakeRuntime


@dataclass
class SoftprobModel:
    """XGBoost multi:softprob over 3 classes, answering text/csv one row per line; records the
    features it was sent."""

    rows: list[list[float]] = field(default_factory=list)

    def invoke(
        self, endpoint: str, body: bytes, content_type: str, accept: str, target: str | None = None
    ) -> Invocation:
        batch = [[float(v) for v in line.split(b",")] for line in body.split(b"\n")]
        self.rows.extend(batch)
        lines = [
            ",".join(["0.1", "0.2", "0.7"] if row[0] > 0.5 else ["0.6", "0.3", "0.1"])
            for row in batch
        ]
        return Invocation("\n".join(lines).encode(), "text/csv", "AllTraffic")


@pytest.fixture
def model(client: Client) -> SoftprobModel:
    softprob = SoftprobModel()
    wiring.container().endpoint_invoker = softprob
    return softprob


def png(pixels: list[list[int]]) -> str:
    buffer = io.BytesIO()
    Image.fromarray(np.array(pixels, dtype=np.uint8), mode="L").save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def test_images_and_feature_rows_in_one_request_are_each_normalized_by_their_kind(
    client: Client, model: SoftprobModel
) -> None:
    document = project_document("kinds")
    document["inference"] = {
        "input": {"shape": [2, 2], "image": {"scale": 255.0}, "features": {"scale": 1.0}},
        "request": {"content_type": "text/csv"},
        "response": {"accept": "text/csv", "postprocess": "multiclass", "labels": ["a", "b", "c"]},
    }
    register_project(client, document)
    body = {"instances": [{"image": png([[255, 0], [0, 255]])}, [0.25, 0.5, 0.75, 1.0]]}
    response = client.http.post(
        "/v1/projects/kinds/predictions?top_k=2",
        headers={"Content-Type": "application/json"},
        body=json.dumps(body).encode(),
    )
    assert response.status_code == 200, response.json_body
    assert model.rows == [[1.0, 0.0, 0.0, 1.0], [0.25, 0.5, 0.75, 1.0]]
    first, second = response.json_body["predictions"]
    assert (first["label"], first["probability"]) == ("c", 0.7)
    assert [p["label"] for p in first["top_k"]] == ["c", "b"]
    assert (second["label"], second["probability"]) == ("a", 0.6)


def test_a_binary_answer_outside_zero_to_one_is_a_model_error(client: Client) -> None:
    wiring.container().endpoint_invoker = FakeRuntime(answer=b'{"predictions": [{"score": 2.5}]}')
    document = project_document("margins")
    document["inference"]["response"] = {"postprocess": "binary", "labels": ["no", "yes"]}
    register_project(client, document)
    response = client.http.post(
        "/v1/projects/margins/predictions",
        headers={"Content-Type": "text/csv"},
        body=b",".join([b"1"] * 64),
    )
    assert response.status_code == 502
    assert "binary:logitraw" in response.json_body["error"]["message"]
