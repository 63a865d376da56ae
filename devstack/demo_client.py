"""The demo's HTTP client for the sagewire API, and how the demo prints and fails a step."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import requests

if TYPE_CHECKING:
    from devstack.stack import Stack
    from devstack.trainer import TrainingJob

# How long the demo waits for the stack's events to reach sagewire's handlers.
IDLE_TIMEOUT = 120.0


class DemoFailure(Exception):
    """A step of the demo did not get the answer it needs."""


def settle(stack: Stack) -> None:
    """Waits until the stack's event router has delivered every event; DemoFailure if it is
    still busy after IDLE_TIMEOUT or has dropped an event (a dead letter)."""
    router = stack.router
    if not router.wait_idle(IDLE_TIMEOUT):
        raise DemoFailure(f"events still being delivered after {IDLE_TIMEOUT:.0f}s")
    if router.dead_letters:
        dead = router.dead_letters[-1]
        raise DemoFailure(
            f"{len(router.dead_letters)} event(s) dropped; last: {dead.handler}: {dead.error}"
        )


def train_in_stack(stack: Stack, job: TrainingJob) -> None:
    """Runs `job` with the stack's own trainer; DemoFailure unless it completes."""
    report = stack.jobs.train(job)
    if report.status != "Completed":
        raise DemoFailure(f"training job {job.name} {report.status}: {report.failure}")


class Api:
    def __init__(self, url: str) -> None:
        self.url = url
        self._http = requests.Session()

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        response = self._http.get(f"{self.url}{path}", params=params, timeout=30)
        return self._check(response, f"GET {path}")

    def put_project(self, document: dict[str, Any]) -> Any:
        """PUT /v1/projects/{name}: creates (201) or replaces (200) a project's definition."""
        path = f"/v1/projects/{document['name']}"
        response = self._http.put(f"{self.url}{path}", json=document, timeout=30)
        if response.status_code == 201:
            return response.json()
        return self._check(response, f"PUT {path}")

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
