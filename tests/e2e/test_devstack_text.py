"""End to end: the course's sentiment model (XGBoost binary:logistic over a bag of words) trained
with plain boto3 on the bundled reviews, auto-promoted by sagewire, answering text/plain reviews
(the `make demo` text story)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
import requests

from devstack import demo_text
from devstack.demo_client import Api
from devstack.demo_text import JOB, LABELS, PROJECT, VOCABULARY_KEY, TextStories
from devstack.stack import Stack

pytestmark = pytest.mark.e2e


@dataclass(frozen=True)
class Told:
    """The stack, and what the sentiment story measured on it."""

    stack: Stack
    api: Api
    result: dict[str, Any]

    def get(self, path: str) -> Any:
        response = requests.get(f"{self.api.url}{path}", timeout=30)
        assert response.status_code == 200, response.text
        return response.json()

    def post(self, body: bytes, content_type: str = "text/plain") -> requests.Response:
        return self.api.post(PROJECT, body, content_type)


@pytest.fixture(scope="module")
def told(in_process_stack: Stack) -> Told:
    """The stack after the sentiment story."""
    api = Api(in_process_stack.api_url)
    return Told(in_process_stack, api, TextStories(in_process_stack, api).sentiment())


def test_held_out_reviews_get_a_label_and_its_probability(told: Told) -> None:
    answers = told.result["answers"]
    assert len(answers) == len(demo_text.split(demo_text.load_reviews()).test) == 48
    assert {a["label"] for a in answers} == set(LABELS)
    for answer in answers:
        assert 0.0 <= answer["score"] <= 1.0
        assert 0.5 <= answer["probability"] <= 1.0
        positive = answer["score"] >= 0.5
        assert answer["label"] == LABELS[positive]
        assert answer["probability"] == pytest.approx(
            answer["score"] if positive else 1 - answer["score"]
        )
    # The corpus is balanced: a model that learned nothing scores about 0.5.
    assert told.result["majority"] == 0.5
    assert told.result["accuracy"] >= 0.75


def test_the_job_is_the_projects_champion_and_serves_its_endpoint(told: Told) -> None:
    metrics = told.result["metrics"]
    assert metrics["validation:error"] < 0.35
    champion = told.get(f"/v1/projects/{PROJECT}/champion")["champion"]
    assert champion["run_name"] == JOB
    assert champion["objective_value"] == pytest.approx(metrics["validation:logloss"])
    promotions = told.get(f"/v1/projects/{PROJECT}/promotions")["promotions"]
    assert [p["run_name"] for p in promotions] == [JOB]
    run = told.get(f"/v1/runs/{JOB}")["run"]
    assert run["metrics"]["validation:logloss"] == pytest.approx(metrics["validation:logloss"])
    assert run["hyperparameters"]["objective"] == "binary:logistic"
    lineage = told.get(f"/v1/lineage/endpoints/{PROJECT}")
    assert JOB in json.dumps(lineage)


def test_the_served_vocabulary_is_the_one_the_job_was_trained_over(told: Told) -> None:
    s3 = boto3.client("s3")
    state = told.stack.state
    stored = s3.get_object(Bucket=state.bucket, Key=VOCABULARY_KEY)["Body"].read()
    vocabulary = json.loads(stored)
    assert vocabulary == told.result["vocabulary"]
    assert sorted(vocabulary.values()) == list(range(len(vocabulary)))
    sagemaker = boto3.client("sagemaker")
    described = sagemaker.describe_training_job(TrainingJobName=JOB)
    assert described["HyperParameters"]["objective"] == "binary:logistic"
    # A row of the training CSV: the label, then one count per vocabulary word.
    train = s3.get_object(Bucket=state.bucket, Key=f"{demo_text.PREFIX}/train/train.csv")
    first = train["Body"].read().decode().splitlines()[0].split(",")
    assert len(first) == 1 + len(vocabulary)


def test_markup_entities_and_case_do_not_change_the_answer(told: Told) -> None:
    plain = told.post(b"A wonderful film, I loved it. Great cast and a beautiful story!")
    marked = told.post(
        b"<i>A WONDERFUL film</i>,<br /><br />I loved it. Great cast &amp; a Beautiful story!"
    )
    assert plain.status_code == marked.status_code == 200, (plain.text, marked.text)
    assert plain.json()["predictions"] == marked.json()["predictions"]
    assert plain.json()["predictions"][0]["label"] == "positive"


def test_texts_in_json_and_lines_are_answered_in_order(told: Told) -> None:
    texts = ["A boring, awful waste of time.", "Brilliant, funny and beautifully acted."]
    answer = told.post(json.dumps({"texts": texts}).encode(), "application/json")
    assert answer.status_code == 200, answer.text
    assert [p["label"] for p in answer.json()["predictions"]] == ["negative", "positive"]
    one = told.post(json.dumps({"text": texts[1]}).encode(), "application/json")
    assert one.status_code == 200, one.text
    assert one.json()["predictions"] == answer.json()["predictions"][1:]


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"", "text/plain"),
        (b"   \n  ", "text/plain"),
        (b"\xff\xfe not utf-8", "text/plain"),
        (b'{"texts": "not a list"}', "application/json"),
        (b'{"texts": [1, 2]}', "application/json"),
    ],
)
def test_malformed_texts_are_a_4xx(told: Told, body: bytes, content_type: str) -> None:
    response = told.post(body, content_type)
    assert 400 <= response.status_code < 500, response.text
    assert "error" in response.json()


def test_a_review_with_no_vocabulary_word_still_gets_an_answer(told: Told) -> None:
    response = told.post(b"Zyzzyva quixotic xylophone.")
    assert response.status_code == 200, response.text
    (prediction,) = response.json()["predictions"]
    assert prediction["label"] in LABELS
