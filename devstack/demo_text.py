"""The demo's text story: the SageMaker course's sentiment model (XGBoost binary:logistic over a
bag of words), trained with plain boto3 and served by sagewire from text/plain reviews."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from chalicelib.inference_spec import TextSpec
from chalicelib.processing.text import Vocabulary, bag_of_words, words
from devstack import images
from devstack.datasets import csv_label_first
from devstack.demo_boto3 import Boto3Stories, channel
from devstack.demo_client import DemoFailure, settle, show
from devstack.jobs import ROLE_ARN
from devstack.projects import INSTANCE_TYPE

CORPUS = Path(__file__).parent / "data" / "reviews.tsv"
PROJECT = "reviews-sentiment"
JOB = "reviews-xgboost-demo"
PREFIX = "reviews"
VOCABULARY_KEY = "vocabularies/word_dict.json"
# Every 5th review is held out for testing; of the rest, every 4th validates the training job.
HELD_OUT_EVERY = 5
VALIDATION_EVERY = 4
# The course keeps the 5,000 most frequent words of 25,000 reviews; a small corpus keeps the
# words its training reviews use at least twice.
MIN_WORD_COUNT = 2
# The course's cleaning: HTML stripped, lower case, NLTK's English stop words, Porter stems.
CLEANING: dict[str, Any] = {"stop_words": True, "stemmer": "porter"}
HYPERPARAMETERS = {
    "objective": "binary:logistic",
    "num_round": "50",
    "max_depth": "3",
    "eta": "0.3",
    "eval_metric": "logloss,error",
}
OBJECTIVE = "validation:logloss"
LABELS = ["negative", "positive"]
# Held-out accuracy must beat always answering the majority class by this much.
MIN_MARGIN = 0.15


@dataclass(frozen=True)
class Review:
    label: int
    text: str


@dataclass(frozen=True)
class Split:
    train: list[Review]
    validation: list[Review]
    test: list[Review]


def load_reviews(path: Path = CORPUS) -> list[Review]:
    """The corpus's reviews in file order: `label<TAB>text` lines; `#` lines are comments."""
    reviews = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line or line.startswith("#"):
            continue
        label, text = line.split("\t", 1)
        reviews.append(Review(int(label), text))
    return reviews


def split(reviews: list[Review]) -> Split:
    """Every 5th review held out for testing; every 4th of the others for validation."""
    test = reviews[HELD_OUT_EVERY - 1 :: HELD_OUT_EVERY]
    rest = [r for i, r in enumerate(reviews) if i % HELD_OUT_EVERY != HELD_OUT_EVERY - 1]
    validation = rest[VALIDATION_EVERY - 1 :: VALIDATION_EVERY]
    train = [r for i, r in enumerate(rest) if i % VALIDATION_EVERY != VALIDATION_EVERY - 1]
    return Split(train, validation, test)


def build_vocabulary(
    texts: list[str], spec: TextSpec, min_count: int = MIN_WORD_COUNT
) -> dict[str, int]:
    """word -> index over the words (cleaned as sagewire cleans them) seen at least `min_count`
    times, most frequent first (ties alphabetical), as the course's word_dict."""
    counts: dict[str, int] = {}
    for text in texts:
        for word in words(text, spec):
            counts[word] = counts.get(word, 0) + 1
    kept = sorted((w for w, n in counts.items() if n >= min_count), key=lambda w: (-counts[w], w))
    return {word: index for index, word in enumerate(kept)}


def training_csv(reviews: list[Review], spec: TextSpec, vocabulary: Vocabulary) -> bytes:
    """Label-first, headerless CSV of word counts, counted by sagewire's own `bag_of_words`, so
    that the model is trained on exactly the features serving computes."""
    texts = [r.text for r in reviews]
    counts = bag_of_words(texts, spec, vocabulary, vocabulary.size, 10**9, 10**9)
    return csv_label_first(counts, np.array([r.label for r in reviews], dtype=np.int64))


class TextStories(Boto3Stories):
    """The course's sentiment notebook in plain boto3 against the stack, and its Lambda's job
    (text in, label out) done by sagewire's prediction route."""

    def definition(self) -> dict[str, Any]:
        """The project: tags match its runs; texts become word counts over the vocabulary."""
        return {
            "name": PROJECT,
            "match": {"tags": {"Project": PROJECT}},
            "objective": {"metric": OBJECTIVE, "goal": "minimize"},
            "guards": [{"metric": "validation:error", "op": "<=", "value": 0.35}],
            "endpoint": {
                "name": PROJECT,
                "instance_type": INSTANCE_TYPE,
                "instance_count": 1,
                "execution_role_arn": ROLE_ARN,
                "strategy": {"type": "all_at_once"},
            },
            "inference": {
                "input": {
                    "text": {
                        "vocabulary": f"s3://{self._bucket}/{VOCABULARY_KEY}",
                        **CLEANING,
                    }
                },
                "request": {"content_type": "text/csv"},
                "response": {"accept": "text/csv", "postprocess": "binary", "labels": LABELS},
            },
        }

    def _train_sentiment(self) -> dict[str, float]:
        """The course's XGBoost job over the bag-of-words CSVs, tagged for the project."""
        data = f"s3://{self._bucket}/{PREFIX}"
        return self._train(
            JOB,
            {"Project": PROJECT},
            max_runtime=600,
            AlgorithmSpecification={
                "TrainingImage": images.image_uri(images.XGBOOST, self._region, "1.7-1"),
                "TrainingInputMode": "File",
            },
            HyperParameters=HYPERPARAMETERS,
            InputDataConfig=[
                channel(name, f"{data}/{name}/", "text/csv") for name in ("train", "validation")
            ],
            OutputDataConfig={"S3OutputPath": f"{data}/output"},
        )

    def sentiment(self) -> dict[str, Any]:
        """Vocabulary and bag-of-words CSVs from the training reviews, an XGBoost job, the
        project (registered first, so the job's completion promotes it), then held-out reviews
        as text/plain through the API. Returns what the story measured."""
        spec = TextSpec(vocabulary="demo", **CLEANING)
        data = split(load_reviews())
        indices = build_vocabulary([r.text for r in data.train], spec)
        uri = f"s3://{self._bucket}/{VOCABULARY_KEY}"
        vocabulary = Vocabulary(uri, "", indices, len(indices))
        self._s3.put_object(Bucket=self._bucket, Key=VOCABULARY_KEY, Body=json.dumps(indices))
        for name, reviews in (("train", data.train), ("validation", data.validation)):
            self._s3.put_object(
                Bucket=self._bucket,
                Key=f"{PREFIX}/{name}/{name}.csv",
                Body=training_csv(reviews, spec, vocabulary),
            )
        self._api.put_project(self.definition())
        metrics = self._train_sentiment()
        settle(self._stack)
        champion = self._api.champion(PROJECT)["champion"]
        show(
            f"the course's sentiment notebook, plain boto3: {len(data.train)} written reviews -> "
            f"{len(indices)}-word {VOCABULARY_KEY} (words seen twice, cleaned by sagewire's "
            "text.words), bag-of-words CSVs, CreateTrainingJob (sagemaker-xgboost, "
            f"binary:logistic) tagged for the project {PROJECT}",
            f"{OBJECTIVE}={metrics[OBJECTIVE]:.4f} validation:error="
            f"{metrics['validation:error']:.3f}; champion {champion['run_name']}",
        )
        if champion["run_name"] != JOB:
            raise DemoFailure(f"{PROJECT}: the champion is {champion['run_name']}, not {JOB}")

        answers, endpoints = [], set()
        for review in data.test:
            answer = self._api.predict(PROJECT, review.text.encode(), "text/plain")
            endpoints.add(f"{answer['endpoint']} ({answer['variant']})")
            answers.extend(answer["predictions"])
        # Two held-out reviews, and the first with HTML or an entity for the cleaning to strip.
        marked = next(i for i, r in enumerate(data.test) if "<" in r.text or "&" in r.text)
        shown = [0, 1, marked]
        for index in shown:
            review, p = data.test[index], answers[index]
            show(
                f"text/plain {review.text[:60]!r}... -> {PROJECT}",
                f"{p['label']} (probability {p['probability']:.3f}; written as "
                f"{LABELS[review.label]})",
            )
        truth = np.array([r.label for r in data.test])
        said = np.array([LABELS.index(p["label"]) for p in answers])
        accuracy = float(np.mean(said == truth))
        majority = max(float(np.mean(truth)), 1 - float(np.mean(truth)))
        show(
            f"{len(data.test)} held-out reviews as text/plain, one request each",
            f"accuracy {accuracy:.3f} (always answering the majority class: {majority:.3f}); "
            f"served by {', '.join(sorted(endpoints))}",
        )
        if accuracy < majority + MIN_MARGIN:
            raise DemoFailure(f"{PROJECT}: held-out accuracy {accuracy:.3f} is implausibly low")

        body = json.dumps({"texts": [data.test[i].text for i in shown]}).encode()
        batch = self._api.predict(PROJECT, body, "application/json")["predictions"]
        show(
            f'{{"texts": [the {len(shown)} reviews above]}} -> {PROJECT}, one request',
            ", ".join(f"{p['label']} {p['probability']:.3f}" for p in batch),
        )
        if [p["score"] for p in batch] != [answers[i]["score"] for i in shown]:
            raise DemoFailure(f"{PROJECT}: JSON texts and text/plain disagree")
        return {
            "job": JOB,
            "metrics": metrics,
            "vocabulary": indices,
            "answers": answers,
            "accuracy": accuracy,
            "majority": majority,
        }
