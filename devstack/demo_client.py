"""The demo's HTTP client for the sagewire API, and how the demo prints and fails a step."""

from __future__ import annotations

from typing import Any

import requests


class DemoFailure(Exception):
    """A step of the demo did not get the answer it needs."""


class Api:
    def __init__(self, url: str) -> None:
        self.url = url
        self._http = requests.Session()

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        response = self._http.get(f"{self.url}{path}", params=params, timeout=30)
        return self._check(response, f"GET {path}")

    def champion(self, project: str) -> dict[str, Any]:
        answer: dict[str, Any] = self.get(f"/v1/projects/{project}/champion")
        return answer

    def promotions(self, project: str) -> list[dict[str, Any]]:
        answer: list[dict[str, Any]] = self.get(f"/v1/projects/{project}/promotions")["promotions"]
        return answer

    def leaderboard(
        self, project: str, sort: str, filters: tuple[str, ...] = (), limit: int = 10
    ) -> list[dict[str, Any]]:
        """GET /v1/projects/{project}/leaderboard: runs ranked by the metric `sort` names."""
        params: dict[str, Any] = {"sort": f"Metrics.{sort}", "limit": str(limit)}
        if filters:
            params["filter"] = list(filters)
        runs: list[dict[str, Any]] = self.get(f"/v1/projects/{project}/leaderboard", params)["runs"]
        return runs

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


def classes(predictions: list[dict[str, Any]]) -> str:
    return " ".join(str(p["label"]) for p in predictions)


def show(step: str, detail: str) -> None:
    print(f"demo: {step}\n        -> {detail}")


def print_leaderboard(runs: list[dict[str, Any]], metric: str) -> list[str]:
    """`#rank run: metric = value` lines; returns the run names in rank order."""
    for rank, run in enumerate(runs, start=1):
        value = run["metrics"].get(metric)
        shown = "-" if value is None else f"{value:.6f}"
        print(f"        #{rank} {run['name']}: {metric} = {shown}")
    return [str(run["name"]) for run in runs]
