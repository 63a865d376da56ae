"""Model responses to one clean, JSON-safe prediction per input row."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from chalicelib.errors import ModelFailed
from chalicelib.inference_spec import ResponseSpec

Prediction = dict[str, Any]
# orjson refuses to write JSON nested deeper than 254 levels; keep well inside that.
_MAX_OUTPUT_DEPTH = 128


def postprocess(
    response: Any, spec: ResponseSpec, rows: int, top_k: int | None = None
) -> list[Prediction]:
    """Exactly `rows` predictions of the project's kind, or ModelFailed."""
    if spec.postprocess == "classifier":
        return _classifier(response, spec, rows, top_k or 1)
    if spec.postprocess == "multiclass":
        return _multiclass(response, spec, rows, top_k or 1)
    if spec.postprocess == "binary":
        return _binary(response, spec, rows)
    return _KINDS[spec.postprocess](response, rows)


def _predictions(response: Any, rows: int) -> list[Any]:
    """The per-row items of a response: a list, an array, or {"predictions": [...]}."""
    if isinstance(response, dict) and "predictions" in response:
        response = response["predictions"]
    if isinstance(response, np.ndarray):
        response = response.tolist() if response.ndim else [response.item()]
    if not isinstance(response, list):
        raise ModelFailed("the model's response has no predictions")
    if len(response) != rows:
        raise ModelFailed(f"the model returned {len(response)} predictions for {rows} inputs")
    return response


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ModelFailed(f"the model's {what} is not a number")
    number = float(value)
    if not math.isfinite(number):
        raise ModelFailed(f"the model's {what} is not finite")
    return number


# Integers a float holds exactly; orjson refuses any beyond 64 bits, and JavaScript beyond this.
_MAX_INTEGER = 2**53


def _integer(value: Any, what: str) -> int:
    number = _number(value, what)
    if not number.is_integer():
        raise ModelFailed(f"the model's {what} is not an integer")
    if abs(number) > _MAX_INTEGER:
        raise ModelFailed(f"the model's {what} is out of range")
    return int(number)


def _field(item: Any, key: str, index: int) -> Any:
    if not isinstance(item, dict) or key not in item:
        raise ModelFailed(f'the model\'s prediction {index} has no "{key}"')
    return item[key]


def _linear_learner(response: Any, rows: int) -> list[Prediction]:
    predictions = []
    for index, item in enumerate(_predictions(response, rows)):
        if isinstance(item, list) and len(item) == 2:
            score, label = item
        else:
            score, label = _field(item, "score", index), _field(item, "predicted_label", index)
        predictions.append(
            {
                "score": (
                    [_number(value, "score") for value in score]
                    if isinstance(score, list)
                    else _number(score, "score")
                ),
                "predicted_label": _integer(label, "predicted_label"),
            }
        )
    return predictions


def _kmeans(response: Any, rows: int) -> list[Prediction]:
    return [
        {
            "closest_cluster": _integer(_field(item, "closest_cluster", index), "cluster"),
            "distance_to_cluster": _number(_field(item, "distance_to_cluster", index), "distance"),
        }
        for index, item in enumerate(_predictions(response, rows))
    ]


def _values(response: Any, rows: int) -> list[float]:
    """One number per row: a list, {"predictions": [{"score": ...}]}, or XGBoost's CSV (one
    value per line, or all of them on one line)."""
    if isinstance(response, list) and len(response) == 1 and rows > 1:
        (line,) = response
        if isinstance(line, list) and len(line) == rows:
            response = line
    values = []
    for index, item in enumerate(_predictions(response, rows)):
        if isinstance(item, dict):
            item = _field(item, "score", index)
        if isinstance(item, list) and len(item) == 1:
            (item,) = item
        values.append(_number(item, "prediction"))
    return values


def _regression(response: Any, rows: int) -> list[Prediction]:
    return [{"value": value} for value in _values(response, rows)]


def _binary(response: Any, spec: ResponseSpec, rows: int) -> list[Prediction]:
    """A positive-class probability per row (XGBoost's binary:logistic) as the label it decides
    at the project's threshold, that label's probability, and the model's score."""
    labels = spec.labels or (0, 1)
    if len(labels) != 2:
        raise ModelFailed(f"a binary model has 2 classes; the project has {len(labels)}")
    negative, positive = labels
    predictions = []
    for score in _values(response, rows):
        if not 0.0 <= score <= 1.0:
            raise ModelFailed(
                "the model's score is not a probability; a binary project needs one "
                "(XGBoost's binary:logistic, not binary:logitraw)"
            )
        chosen = score >= spec.threshold
        predictions.append(
            {
                "label": positive if chosen else negative,
                "probability": score if chosen else 1.0 - score,
                "score": score,
            }
        )
    return predictions


def _multiclass(response: Any, spec: ResponseSpec, rows: int, top_k: int) -> list[Prediction]:
    """Class probabilities per row (XGBoost's multi:softprob): JSON scores, CSV lines, or one CSV
    line of rows x classes values when the project names its classes."""
    if isinstance(response, dict) and "predictions" in response:
        items = response["predictions"]
        if isinstance(items, list):
            response = [
                _field(item, "score", index) if isinstance(item, dict) else item
                for index, item in enumerate(items)
            ]
    if spec.labels and isinstance(response, list) and len(response) == 1 and rows > 1:
        (line,) = response
        classes = len(spec.labels)
        if isinstance(line, list) and len(line) == rows * classes:
            response = [line[row * classes : (row + 1) * classes] for row in range(rows)]
    return _ranked(_score_matrix(response, rows), spec, True, top_k)


def _classifier(response: Any, spec: ResponseSpec, rows: int, top_k: int) -> list[Prediction]:
    if isinstance(response, dict) and "predictions" in response:
        response = response["predictions"]
    scores = _score_matrix(response, rows)
    return _ranked(scores, spec, _are_probabilities(scores, spec), top_k)


def _score_matrix(response: Any, rows: int) -> npt.NDArray[np.float64]:
    if rows == 1 and _is_vector(response):
        response = [response]
    try:
        scores = np.array(_predictions(response, rows), dtype=np.float64)
    except (ValueError, TypeError):
        raise ModelFailed("the model's class scores are not a matrix of numbers") from None
    if scores.ndim != 2 or not scores.shape[1]:
        raise ModelFailed("the model's class scores are not one row of numbers per input")
    if not np.isfinite(scores).all():
        raise ModelFailed("the model's class scores are not finite")
    return scores


def _ranked(
    scores: npt.NDArray[np.float64], spec: ResponseSpec, probabilities: bool, top_k: int
) -> list[Prediction]:
    classes = scores.shape[1]
    labels: tuple[str, ...] | range = spec.labels or range(classes)
    if len(labels) != classes:
        raise ModelFailed(f"the model returned {classes} classes; the project has {len(labels)}")
    if not probabilities:
        scores = _softmax(scores)
    k = min(top_k, classes)
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    predictions = []
    for row, ranked in zip(scores.tolist(), order.tolist(), strict=True):
        top = [{"label": labels[i], "probability": row[i]} for i in ranked]
        predictions.append(
            {"label": top[0]["label"], "probability": top[0]["probability"], "top_k": top}
        )
    return predictions


def _is_vector(value: Any) -> bool:
    if isinstance(value, np.ndarray):
        return value.ndim == 1
    return isinstance(value, list) and all(isinstance(item, int | float) for item in value)


def _are_probabilities(scores: npt.NDArray[np.float64], spec: ResponseSpec) -> bool:
    if spec.outputs != "auto":
        return spec.outputs == "probabilities"
    return bool((scores >= 0).all() and np.allclose(scores.sum(axis=1), 1.0, rtol=0, atol=1e-3))


def _softmax(scores: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    exp = np.exp(scores - scores.max(axis=1, keepdims=True))
    probabilities: npt.NDArray[np.float64] = exp / exp.sum(axis=1, keepdims=True)
    return probabilities


def _raw(response: Any, rows: int) -> list[Prediction]:
    return [{"output": _json_safe(item)} for item in _predictions(response, rows)]


def _json_safe(value: Any) -> Any:
    """The value with numpy types made plain; ModelFailed on NaN, infinity or deep nesting."""
    if isinstance(value, np.ndarray | np.generic):
        value = value.tolist()
    pending = [(value, 0)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, float) and not math.isfinite(item):
            raise ModelFailed("the model's output is not finite")
        if depth > _MAX_OUTPUT_DEPTH:
            raise ModelFailed("the model's output is nested too deeply")
        if isinstance(item, list):
            pending.extend((child, depth + 1) for child in item)
        elif isinstance(item, dict):
            pending.extend((child, depth + 1) for child in item.values())
    return value


_KINDS: dict[str, Callable[[Any, int], list[Prediction]]] = {
    "linear_learner": _linear_learner,
    "kmeans": _kmeans,
    "regression": _regression,
    "raw": _raw,
}
