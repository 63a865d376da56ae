"""Text predictions through the route: vocabularies from S3, every hostile text a clear 4xx."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from typing import Any

import boto3
import numpy as np
import pytest
from chalice.test import Client

from chalicelib import wiring
from chalicelib.config import Settings
from chalicelib.models import Invocation
from tests.factories import project_document, register_project

BUCKET = "sagewire"
VOCABULARY = f"s3://{BUCKET}/vocabularies/word_dict.json"
WORDS = {"great": 0, "love": 1, "bad": 2, "bore": 3, "movi": 4}


@dataclass
class SentimentModel:
    """An XGBoost binary:logistic stand-in: CSV counts in, one probability per line out."""

    calls: list[dict[str, Any]] = field(default_factory=list)

    def invoke(
        self, endpoint: str, body: bytes, content_type: str, accept: str, target: str | None = None
    ) -> Invocation:
        self.calls.append({"body": body, "content_type": content_type, "accept": accept})
        if content_type == "application/json":
            texts = json.loads(body)["instances"]
            answer = [[len(text) / 100] for text in texts]
            return Invocation(json.dumps(answer).encode(), "application/json", "AllTraffic")
        rows = np.array([line.split(b",") for line in body.split(b"\n")], dtype=np.float64)
        margin = rows[:, 0] + rows[:, 1] - rows[:, 2] - rows[:, 3]
        lines = [repr(1 / (1 + math.exp(-m))) for m in margin]
        return Invocation("\n".join(lines).encode(), "text/csv", "AllTraffic")


@pytest.fixture(autouse=True)
def model(client: Client) -> SentimentModel:
    sentiment_model = SentimentModel()
    wiring.container().endpoint_invoker = sentiment_model
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="vocabularies/word_dict.json", Body=json.dumps(WORDS))
    return sentiment_model


def sentiment(text: dict[str, Any] | None = None, **response: Any) -> dict[str, Any]:
    document = project_document("reviews")
    document["inference"] = {
        "input": {
            "text": text or {"vocabulary": VOCABULARY, "stop_words": True, "stemmer": "porter"}
        },
        "request": {"content_type": "text/csv"},
        "response": {
            "accept": "text/csv",
            "postprocess": "binary",
            "labels": ["negative", "positive"],
            **response,
        },
    }
    return document


def put(client: Client, document: dict[str, Any]) -> Any:
    return client.http.put(
        f"/v1/projects/{document['name']}",
        headers={"Content-Type": "application/json"},
        body=json.dumps(document).encode(),
    )


def predict(
    client: Client, body: bytes, content_type: str = "text/plain", name: str = "reviews"
) -> Any:
    return client.http.post(
        f"/v1/projects/{name}/predictions", headers={"Content-Type": content_type}, body=body
    )


def test_a_review_is_counted_over_the_vocabulary_and_labelled(
    client: Client, model: SentimentModel
) -> None:
    register_project(client, sentiment())
    response = predict(client, b"I <i>loved</i> this movie!<br /><br />Great, great acting.")
    assert response.status_code == 200, response.json_body
    [prediction] = response.json_body["predictions"]
    assert prediction["label"] == "positive"
    assert prediction["score"] == pytest.approx(1 / (1 + math.exp(-3)))
    [call] = model.calls
    assert call["content_type"] == "text/csv"
    assert call["body"] == b"2.0,1.0,0.0,0.0,1.0"


def test_texts_in_json_and_lines_of_text_are_one_prediction_each(client: Client) -> None:
    register_project(client, sentiment())
    body = json.dumps({"texts": ["bad, boring movie", "great"]}).encode()
    response = predict(client, body, "application/json")
    assert [p["label"] for p in response.json_body["predictions"]] == ["negative", "positive"]

    lines = sentiment({"vocabulary": VOCABULARY, "stemmer": "porter", "split": "line"})
    put(client, lines)
    response = predict(client, b"bad\n\ngreat\nboring\n")
    assert [p["label"] for p in response.json_body["predictions"]] == [
        "negative",
        "positive",
        "negative",
    ]


def test_a_model_that_takes_text_gets_the_texts(client: Client, model: SentimentModel) -> None:
    document = sentiment(
        {"representation": "raw"}, postprocess="regression", accept="application/json"
    )
    document["inference"]["request"] = {
        "content_type": "application/json",
        "json_layout": "instances",
    }
    register_project(client, document)
    response = predict(client, json.dumps({"text": "<b>As it is</b>"}).encode(), "application/json")
    assert response.status_code == 200, response.json_body
    assert model.calls[0]["body"] == b'{"instances":["<b>As it is</b>"]}'
    assert response.json_body["predictions"] == [{"value": 0.15}]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"\xff\xfe bad bytes", 400, "MalformedInput"),
        (b" \n\t ", 400, "EmptyInput"),
        (b"x" * 4_000_000, 413, "InputTooLarge"),
        (b"great " * 1_000_000, 413, "InputTooLarge"),
    ],
)
def test_hostile_texts_are_clear_client_errors(
    client: Client, body: bytes, status: int, code: str
) -> None:
    register_project(client, sentiment())
    response = predict(client, body)
    assert response.status_code == status
    assert response.json_body["error"]["code"] == code


def test_a_project_that_takes_no_text_refuses_it(client: Client) -> None:
    register_project(client, project_document())
    response = predict(client, b"great", name="digits-zero")
    assert response.status_code == 415
    assert "takes no text" in response.json_body["error"]["message"]


@pytest.mark.parametrize(
    ("key", "body", "message"),
    [
        ("vocabularies/absent.json", None, "does not exist"),
        ("vocabularies/list.json", b"[1, 2]", "object of word"),
        ("vocabularies/text.json", b"great bad", "not JSON"),
        ("vocabularies/big.json", b" " * (16 * 1024 * 1024 + 1), "over the limit"),
        ("elsewhere/word_dict.json", b'{"a": 0}', "vocabulary prefixes"),
    ],
)
def test_a_vocabulary_that_cannot_serve_refuses_the_definition(
    client: Client, key: str, body: bytes | None, message: str
) -> None:
    if body is not None:
        boto3.client("s3").put_object(Bucket=BUCKET, Key=key, Body=body)
    response = put(client, sentiment({"vocabulary": f"s3://{BUCKET}/{key}"}))
    assert response.status_code == 422
    error = response.json_body["error"]
    assert error["field"] == "inference.input.text.vocabulary"
    assert message in error["message"]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # Every prediction checks the vocabulary's ETag (one HeadObject) instead of trusting memory.
    return replace(settings, vocabulary_cache_seconds=0)


def test_a_vocabulary_gone_since_is_a_clear_error_not_a_5xx(client: Client) -> None:
    register_project(client, sentiment())
    boto3.client("s3").delete_object(Bucket=BUCKET, Key="vocabularies/word_dict.json")
    response = predict(client, b"great")
    assert response.status_code == 422
    assert response.json_body["error"]["code"] == "InvalidVocabulary"


def test_a_shape_narrower_than_the_vocabulary_is_refused(client: Client) -> None:
    document = sentiment()
    document["inference"]["input"]["shape"] = [3]
    response = put(client, document)
    assert response.status_code == 422
    assert response.json_body["error"]["field"] == "inference.input.shape"
