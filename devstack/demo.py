"""`python -m devstack demo`: start the stack, deploy the demo models, send real requests, stop."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import numpy as np
import requests

from devstack import digits
from devstack.samples import first_of
from devstack.stack import Stack, StackSettings

BATCH_ROWS = 100
MIN_CLASSIFIER_ACCURACY = 0.9
MIN_ZERO_ACCURACY = 0.95


class DemoFailure(Exception):
    """A step of the demo did not get the answer it needs."""


class Api:
    def __init__(self, url: str) -> None:
        self.url = url
        self._http = requests.Session()

    def get(self, path: str) -> Any:
        return self._check(self._http.get(f"{self.url}{path}", timeout=30), f"GET {path}")

    def predict(
        self, project: str, body: bytes, content_type: str, query: str = ""
    ) -> dict[str, Any]:
        response = self.post(project, body, content_type, query)
        result: dict[str, Any] = self._check(response, f"POST {project}{query}")
        return result

    def post(
        self, project: str, body: bytes, content_type: str, query: str = ""
    ) -> requests.Response:
        return self._http.post(
            f"{self.url}/v1/projects/{project}/predictions{query}",
            data=body,
            headers={"Content-Type": content_type},
            timeout=60,
        )

    @staticmethod
    def _check(response: requests.Response, what: str) -> Any:
        if response.status_code != 200:
            raise DemoFailure(f"{what}: HTTP {response.status_code} {response.text[:300]}")
        return response.json()


def _classes(predictions: list[dict[str, Any]]) -> str:
    return " ".join(str(p["label"]) for p in predictions)


def _show(step: str, detail: str) -> None:
    print(f"demo: {step}\n        -> {detail}")


def tell_the_story(api: Api) -> None:
    split = digits.load_split()
    x, y = split.x_test, split.y_test
    health = api.get("/v1/health")
    names = sorted(p["name"] for p in api.get("/v1/projects")["projects"])
    _show("GET /v1/health; GET /v1/projects", f"{health['status']}; projects: {', '.join(names)}")

    zero = x[first_of(0)]
    png = digits.image_bytes(zero, "PNG")
    answer = api.predict("digits-zero", png, "image/png")
    (p,) = answer["predictions"]
    _show(
        "a held-out 0 as an 8x8 PNG -> digits-zero (linear-learner: is it a zero?)",
        f"predicted_label={p['predicted_label']} score={p['score']:.4f} "
        f"(endpoint {answer['endpoint']}, variant {answer['variant']})",
    )
    if p["predicted_label"] != 1:
        raise DemoFailure("digits-zero did not recognise a zero")

    seven = x[first_of(7)]
    answer = api.predict(
        "digits-classifier", digits.image_bytes(seven, "JPEG", upscale=8), "image/jpeg", "?top_k=3"
    )
    (p,) = answer["predictions"]
    top = ", ".join(f"{t['label']}: {t['probability']:.3f}" for t in p["top_k"])
    _show("a held-out 7 as a 64x64 JPEG -> digits-classifier ?top_k=3", f"top 3: {top}")

    rows = slice(0, 8)
    csv = digits.csv_rows(x[rows]).encode()
    clusters = api.predict("digits-kmeans", csv, "text/csv")["predictions"]
    zeros = api.predict("digits-zero", csv, "text/csv")["predictions"]
    _show(
        f"8 CSV rows (true digits {' '.join(map(str, y[rows]))}) -> digits-kmeans, digits-zero",
        f"closest_cluster {' '.join(str(c['closest_cluster']) for c in clusters)}; "
        f"is-zero {' '.join(str(z['predicted_label']) for z in zeros)}",
    )

    batch = json.dumps({"instances": digits.to_pixels(x[rows]).tolist()}).encode()
    answer = api.predict("digits-classifier", batch, "application/json")
    _show(
        '{"instances": [[64 pixels] x 8]} -> digits-classifier',
        f"labels {_classes(answer['predictions'])}",
    )

    document = json.dumps({"image": base64.b64encode(png).decode()}).encode()
    answer = api.predict("digits-classifier", document, "application/json")
    _show(
        '{"image": "<base64 PNG of the 0>"} -> digits-classifier', _classes(answer["predictions"])
    )

    for what, response in (
        ("an unknown project", api.post("no-such-project", csv, "text/csv")),
        ("an unknown variant", api.post("digits-zero", csv, "text/csv", "?variant=Nope")),
        ("a PNG that is not one", api.post("digits-zero", b"\x89PNG\r\n\x1a\nnope", "image/png")),
    ):
        error = response.json().get("error", {})
        _show(what, f"HTTP {response.status_code} {error.get('code')}: {error.get('message')}")
        if not 400 <= response.status_code < 500:
            raise DemoFailure(f"{what} got HTTP {response.status_code}, not a 4xx")

    _accuracy(api, x, y)


def _accuracy(api: Api, x: digits.FloatMatrix, y: digits.IntVector) -> None:
    """Every held-out digit through the HTTP API, in batched requests."""
    labels, is_zero = [], []
    for start in range(0, len(x), BATCH_ROWS):
        part = x[start : start + BATCH_ROWS]
        body = json.dumps({"instances": digits.to_pixels(part).tolist()}).encode()
        labels += [
            int(p["label"])
            for p in api.predict("digits-classifier", body, "application/json")["predictions"]
        ]
        csv = digits.csv_rows(part).encode()
        is_zero += [
            p["predicted_label"] for p in api.predict("digits-zero", csv, "text/csv")["predictions"]
        ]
    requests_sent = 2 * -(-len(x) // BATCH_ROWS)
    classifier = float(np.mean(np.array(labels) == y))
    zero = float(np.mean(np.array(is_zero) == (y == 0)))
    _show(
        f"held-out accuracy through the API ({len(x)} digits, {requests_sent} batched requests)",
        f"digits-classifier {classifier:.3f}; digits-zero {zero:.3f}",
    )
    if classifier < MIN_CLASSIFIER_ACCURACY or zero < MIN_ZERO_ACCURACY:
        raise DemoFailure(
            f"implausible accuracy (need >= {MIN_CLASSIFIER_ACCURACY} and >= {MIN_ZERO_ACCURACY})"
        )


def run() -> int:
    started = time.perf_counter()
    # The story is the output: the access log would drown it.
    with Stack(StackSettings.from_environ(default_api_port=0), access_log=False) as stack:
        try:
            stack.start()
            stack.deploy_demo_projects()
            seconds = time.perf_counter() - started
            print(f"devstack ready: sagewire API on {stack.api_url} [{seconds:.1f}s]")
            tell_the_story(Api(stack.api_url))
        except (DemoFailure, requests.RequestException, KeyError) as error:
            print(f"demo FAILED: {type(error).__name__}: {error}")
            return 1
    print(f"demo: OK, stack stopped [{time.perf_counter() - started:.1f}s]")
    return 0
