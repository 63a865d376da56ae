"""Postprocessing: every kind, softmax and top-k, and ModelFailed for anything off."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.errors import ModelFailed
from chalicelib.inference_spec import ModelOutputs, PostprocessKind, ResponseSpec
from chalicelib.processing.postprocess import postprocess


def spec(kind: PostprocessKind, **options: Any) -> ResponseSpec:
    return ResponseSpec(postprocess=kind, **options)


def assert_json_safe(predictions: list[dict[str, Any]]) -> None:
    assert orjson.loads(orjson.dumps(predictions)) == predictions


# linear_learner


def test_linear_learner_json() -> None:
    response = {
        "predictions": [
            {"score": 0.93, "predicted_label": 1.0},
            {"score": 0.02, "predicted_label": 0},
        ]
    }
    predictions = postprocess(response, spec("linear_learner"), 2)
    assert predictions == [
        {"score": 0.93, "predicted_label": 1},
        {"score": 0.02, "predicted_label": 0},
    ]
    assert type(predictions[0]["predicted_label"]) is int


def test_linear_learner_csv_rows_and_jsonlines() -> None:
    assert postprocess([[0.75, 1.0]], spec("linear_learner"), 1) == [
        {"score": 0.75, "predicted_label": 1}
    ]
    assert postprocess([{"score": 0.1, "predicted_label": 0}], spec("linear_learner"), 1) == [
        {"score": 0.1, "predicted_label": 0}
    ]


def test_linear_learner_multiclass_scores() -> None:
    response = {"predictions": [{"score": [0.1, 0.2, 0.7], "predicted_label": 2}]}
    assert postprocess(response, spec("linear_learner"), 1) == [
        {"score": [0.1, 0.2, 0.7], "predicted_label": 2}
    ]


@pytest.mark.parametrize(
    "item",
    [
        {"score": 0.5},
        {"score": "0.5", "predicted_label": 1},
        {"score": 0.5, "predicted_label": 0.5},
        {"score": True, "predicted_label": 1},
        {"score": math.inf, "predicted_label": 1},
        {"score": math.nan, "predicted_label": 1},
        [0.5],
        "0.5",
        # Found by hypothesis: a label past 64 bits made orjson fail after postprocessing.
        [0, 18446744073709550592],
        {"score": 0.5, "predicted_label": -(2**60)},
    ],
)
def test_linear_learner_refuses_odd_predictions(item: Any) -> None:
    with pytest.raises(ModelFailed):
        postprocess({"predictions": [item]}, spec("linear_learner"), 1)


# kmeans


def test_kmeans() -> None:
    response = {
        "predictions": [
            {"closest_cluster": 3.0, "distance_to_cluster": 7.25},
            {"closest_cluster": 0, "distance_to_cluster": 1},
        ]
    }
    assert postprocess(response, spec("kmeans"), 2) == [
        {"closest_cluster": 3, "distance_to_cluster": 7.25},
        {"closest_cluster": 0, "distance_to_cluster": 1.0},
    ]


def test_kmeans_refuses_a_cluster_past_what_a_float_holds_exactly() -> None:
    item = {"closest_cluster": 2.0**64, "distance_to_cluster": 1.0}

    with pytest.raises(ModelFailed, match="out of range"):
        postprocess({"predictions": [item]}, spec("kmeans"), 1)


def test_kmeans_needs_both_fields() -> None:
    with pytest.raises(ModelFailed, match="distance_to_cluster"):
        postprocess({"predictions": [{"closest_cluster": 1}]}, spec("kmeans"), 1)


# classifier


def softmax(row: list[float]) -> list[float]:
    exps = [math.exp(x - max(row)) for x in row]
    return [e / sum(exps) for e in exps]


def test_classifier_softmaxes_logits_and_ranks_top_k() -> None:
    logits = [[1.0, 3.0, 2.0, -1.0], [0.0, 0.0, 5.0, 0.0]]
    (first, second) = postprocess(logits, spec("classifier"), 2, top_k=3)
    expected = softmax(logits[0])
    assert first["label"] == 1
    assert first["probability"] == pytest.approx(expected[1])
    assert [entry["label"] for entry in first["top_k"]] == [1, 2, 0]
    assert [entry["probability"] for entry in first["top_k"]] == pytest.approx(
        [expected[1], expected[2], expected[0]]
    )
    assert second["label"] == 2
    assert_json_safe([first, second])


def test_softmax_is_numerically_stable() -> None:
    (prediction,) = postprocess([[1000.0, 1001.0, -1000.0]], spec("classifier"), 1, top_k=3)
    assert [entry["probability"] for entry in prediction["top_k"]] == pytest.approx(
        [0.7310585786, 0.2689414214, 0.0]
    )


def test_classifier_top_k_defaults_to_one_and_is_capped() -> None:
    (prediction,) = postprocess([[0.2, 0.8]], spec("classifier"), 1)
    assert prediction == {
        "label": 1,
        "probability": 0.8,
        "top_k": [{"label": 1, "probability": 0.8}],
    }
    (prediction,) = postprocess([[0.2, 0.8]], spec("classifier"), 1, top_k=10)
    assert [entry["label"] for entry in prediction["top_k"]] == [1, 0]


def test_ties_keep_class_order() -> None:
    (prediction,) = postprocess([[0.25, 0.25, 0.25, 0.25]], spec("classifier"), 1, top_k=4)
    assert [entry["label"] for entry in prediction["top_k"]] == [0, 1, 2, 3]


@pytest.mark.parametrize(
    ("outputs", "row", "expected"),
    [
        ("auto", [0.1, 0.6, 0.3], [0.1, 0.6, 0.3]),
        ("auto", [0.1, 0.6, 0.3005], [0.1, 0.6, 0.3005]),
        ("auto", [0.5, 0.6, 0.3], softmax([0.5, 0.6, 0.3])),
        ("auto", [-0.1, 0.8, 0.3], softmax([-0.1, 0.8, 0.3])),
        ("logits", [0.1, 0.6, 0.3], softmax([0.1, 0.6, 0.3])),
        ("probabilities", [2.0, 1.0, 0.5], [2.0, 1.0, 0.5]),
    ],
)
def test_classifier_outputs(outputs: ModelOutputs, row: list[float], expected: list[float]) -> None:
    (prediction,) = postprocess([row], spec("classifier", outputs=outputs), 1, top_k=3)
    by_label = {entry["label"]: entry["probability"] for entry in prediction["top_k"]}
    assert [by_label[i] for i in range(3)] == pytest.approx(expected)


def test_classifier_labels_and_response_shapes() -> None:
    labels_spec = spec("classifier", labels=("zero", "one"))
    for response in (
        {"predictions": [[0.3, 0.7]]},
        np.array([[0.3, 0.7]], dtype=np.float32),
        [0.3, 0.7],
        np.array([0.3, 0.7]),
    ):
        (prediction,) = postprocess(response, labels_spec, 1)
        assert prediction["label"] == "one"
        assert prediction["probability"] == pytest.approx(0.7)
        assert_json_safe([prediction])


@pytest.mark.parametrize(
    ("response", "message"),
    [
        ([[0.3, 0.7, 0.0]], "3 classes; the project has 2"),
        ([[0.3, 0.7], [0.5]], "not a matrix"),
        ([["a", "b"]], "not a matrix"),
        ([[]], "one row of numbers"),
        ([[math.nan, 1.0]], "not finite"),
        ([[{"p": 1}, {"p": 0}]], "not a matrix"),
        ({"predictions": "none"}, "no predictions"),
        ({"outputs": [[0.3, 0.7]]}, "no predictions"),
    ],
)
def test_classifier_refuses_odd_scores(response: Any, message: str) -> None:
    with pytest.raises(ModelFailed, match=message):
        postprocess(response, spec("classifier", labels=("a", "b")), len(response))


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.lists(st.floats(-50, 50), min_size=2, max_size=6).map(tuple),
        min_size=1,
        max_size=5,
    ).filter(lambda rows: len({len(row) for row in rows}) == 1),
    st.integers(1, 8),
)
def test_classifier_probabilities_are_ranked_and_sum_to_one(
    logits: list[tuple[float, ...]], top_k: int
) -> None:
    response = [list(row) for row in logits]
    predictions = postprocess(response, spec("classifier", outputs="logits"), len(logits), top_k)
    classes = len(logits[0])
    for row, prediction in zip(logits, predictions, strict=True):
        ranked = [entry["probability"] for entry in prediction["top_k"]]
        assert len(ranked) == min(top_k, classes)
        assert ranked == sorted(ranked, reverse=True)
        assert prediction["probability"] == ranked[0]
        assert max(row) - row[prediction["label"]] < 1e-9
        full = postprocess([list(row)], spec("classifier", outputs="logits"), 1, classes)
        assert sum(entry["probability"] for entry in full[0]["top_k"]) == pytest.approx(1.0)


# regression


@pytest.mark.parametrize(
    "response",
    [
        [1.5, -2.0],
        [[1.5], [-2.0]],
        {"predictions": [{"score": 1.5}, {"score": -2.0}]},
        [{"score": 1.5}, {"score": -2}],
        {"predictions": [1.5, -2.0]},
        [[1.5, -2.0]],
        np.array([1.5, -2.0], dtype=np.float32),
    ],
)
def test_regression_shapes(response: Any) -> None:
    assert postprocess(response, spec("regression"), 2) == [{"value": 1.5}, {"value": -2.0}]


@pytest.mark.parametrize("response", [[[1.0, 2.0]], [None], [math.inf], [{"value": 1.0}]])
def test_regression_refuses_odd_values(response: Any) -> None:
    with pytest.raises(ModelFailed):
        postprocess(response, spec("regression"), 1)


# raw


def nested(depth: int) -> list[Any]:
    value: list[Any] = []
    for _ in range(depth):
        value = [value]
    return value


def test_raw_passes_each_row_through() -> None:
    response = {"predictions": [{"boxes": [[1, 2]], "tag": "a"}, [0.5, None]]}
    predictions = postprocess(response, spec("raw"), 2)
    assert predictions == [{"output": {"boxes": [[1, 2]], "tag": "a"}}, {"output": [0.5, None]}]
    array = postprocess(np.arange(6, dtype=np.float32).reshape(2, 3), spec("raw"), 2)
    assert array == [{"output": [0.0, 1.0, 2.0]}, {"output": [3.0, 4.0, 5.0]}]
    assert_json_safe(array)


@pytest.mark.parametrize(
    "response",
    [
        {"outputs": [1, 2]},
        [1, 2, 3],
        5,
        [{"a": [1.0, math.nan]}, 1],
        np.array([1.0, np.inf]),
        [nested(200), 1],
    ],
)
def test_raw_refuses_what_it_cannot_pass_through(response: Any) -> None:
    with pytest.raises(ModelFailed):
        postprocess(response, spec("raw"), 2)


# Row counts


@pytest.mark.parametrize(
    ("kind", "response"),
    [
        ("linear_learner", {"predictions": [{"score": 0.5, "predicted_label": 1}]}),
        ("kmeans", {"predictions": []}),
        ("classifier", [[0.5, 0.5], [0.5, 0.5], [0.5, 0.5]]),
        ("regression", [1.0, 2.0, 3.0]),
        ("raw", [1]),
    ],
)
def test_wrong_row_counts_are_model_failures(kind: PostprocessKind, response: Any) -> None:
    with pytest.raises(ModelFailed, match="for 2 inputs"):
        postprocess(response, spec(kind), 2)


BINARY = ResponseSpec(postprocess="binary", labels=("negative", "positive"))


@pytest.mark.parametrize(
    "response",
    [
        [[0.25], [0.5], [0.875]],  # XGBoost CSV, one value per line
        [[0.25, 0.5, 0.875]],  # XGBoost CSV, all values on one line
        {"predictions": [{"score": 0.25}, {"score": 0.5}, {"score": 0.875}]},  # its JSON
        [0.25, 0.5, 0.875],
    ],
)
def test_binary_labels_a_probability_at_the_threshold(response: Any) -> None:
    assert postprocess(response, BINARY, 3) == [
        {"label": "negative", "probability": 0.75, "score": 0.25},
        {"label": "positive", "probability": 0.5, "score": 0.5},
        {"label": "positive", "probability": 0.875, "score": 0.875},
    ]


def test_binary_threshold_and_default_labels() -> None:
    spec = ResponseSpec(postprocess="binary", threshold=0.9)
    assert postprocess([[0.875]], spec, 1) == [{"label": 0, "probability": 0.125, "score": 0.875}]


@pytest.mark.parametrize("score", [-0.1, 1.5, math.inf, "0.5", None])
def test_binary_refuses_what_is_not_a_probability(score: Any) -> None:
    with pytest.raises(ModelFailed):
        postprocess([[score]], BINARY, 1)


@pytest.mark.parametrize(
    "response",
    [
        [[0.1, 0.7, 0.2], [0.6, 0.3, 0.1]],  # CSV lines
        {"predictions": [{"score": [0.1, 0.7, 0.2]}, {"score": [0.6, 0.3, 0.1]}]},
        [[0.1, 0.7, 0.2, 0.6, 0.3, 0.1]],  # one CSV line of rows x classes
    ],
)
def test_multiclass_ranks_softprob_rows(response: Any) -> None:
    spec = ResponseSpec(postprocess="multiclass", labels=("a", "b", "c"))
    first, second = postprocess(response, spec, 2, top_k=2)
    assert (first["label"], second["label"]) == ("b", "a")
    assert first["probability"] == pytest.approx(0.7)
    assert [p["label"] for p in first["top_k"]] == ["b", "c"]


def test_multiclass_takes_probabilities_as_they_are() -> None:
    # Rows that do not sum to 1 are not softmaxed again: softprob already is a distribution.
    spec = ResponseSpec(postprocess="multiclass")
    [prediction] = postprocess([[0.2, 0.3]], spec, 1)
    assert prediction == {
        "label": 1,
        "probability": 0.3,
        "top_k": [{"label": 1, "probability": 0.3}],
    }
