"""The demo's adoption stories: a project defined after its runs imports them, an operator
deploys the imported champion, and a teardown removes what sagewire made for it."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import requests
from botocore.exceptions import ClientError

from devstack.demo_client import DemoFailure, print_leaderboard, settle, show
from devstack.demo_models import ModelKindStories, _regressor_definition

ADOPTED = "diabetes-adopted"
# A team's history: three depths of the XGBoost example's regressor, trained before any project.
ADOPTED_JOBS = {f"{ADOPTED}-depth{depth}": depth for depth in (2, 4, 6)}
OBJECTIVE = "validation:rmse"


class AdoptionStories(ModelKindStories):
    def project_after_its_runs(self) -> str:
        """Runs tagged for a project that does not exist yet; the project, defined afterwards,
        imports them through SageMaker Search, records the best as champion without deploying
        it (`import.promote` is false), and an operator deploys it."""
        started = time.perf_counter()
        for job, depth in ADOPTED_JOBS.items():
            self._train_regressor(job, ADOPTED, max_depth=depth)
        settle(self._stack)
        self._api.put_project(_regressor_definition(ADOPTED))
        settle(self._stack)
        imported = self._api.get(f"/v1/projects/{ADOPTED}/imports/latest")
        show(
            f"(i) 3 XGBoost regressors tagged Project={ADOPTED} trained first, then PUT "
            f"/v1/projects/{ADOPTED}: its import (SageMaker Search, on_run_import)",
            f"{imported['status']}: {imported['pages']} page(s), {imported['seen']} runs seen, "
            f"{imported['recorded'] + imported['already_recorded']} on the leaderboard; "
            f"champion {imported['champion']} recorded, not deployed (import.promote false)",
        )
        ranked = print_leaderboard(self._api.leaderboard(ADOPTED, OBJECTIVE), OBJECTIVE)
        (entry,) = self._api.promotions(ADOPTED)
        if imported["status"] != "completed" or sorted(ranked) != sorted(ADOPTED_JOBS):
            raise DemoFailure(f"{ADOPTED}: import {imported['status']}, leaderboard {ranked}")
        if imported["champion"] != ranked[0] or entry["outcome"] != "recorded":
            raise DemoFailure(f"{ADOPTED}: champion {imported['champion']}, ledger {entry}")
        if self._endpoint_exists(ADOPTED):
            raise DemoFailure(f"{ADOPTED}: the import deployed its champion")

        champion = ranked[0]
        promoted = self._post(f"/v1/projects/{ADOPTED}/promotions", {"run": champion})
        settle(self._stack)
        _, serving = self._promoted(ADOPTED, champion)
        x, y = self._held_out_rows("diabetes")
        csv = "".join(",".join(repr(float(v)) for v in row) + "\n" for row in x).encode()
        values = np.array(
            [p["value"] for p in self._api.predict(ADOPTED, csv, "text/csv")["predictions"]]
        )
        rmse = float(np.sqrt(np.mean((values - y) ** 2)))
        show(
            f'POST /v1/projects/{ADOPTED}/promotions {{"run": "{champion}"}} (an operator '
            f"deploys the imported champion); {len(y)} held-out rows",
            f"promotion {promoted['outcome']} -> endpoint {ADOPTED} {serving.status} on "
            f"{serving.config}; RMSE {rmse:.2f} [{time.perf_counter() - started:.1f}s]",
        )
        return champion

    def teardown(self, champion: str) -> None:
        """DELETE ?teardown=true: the endpoint, and the configs and models sagewire made (one
        per variant)."""
        config = self._sagemaker.describe_endpoint_config(
            EndpointConfigName=self._sagemaker.describe_endpoint(EndpointName=ADOPTED)[
                "EndpointConfigName"
            ]
        )
        models = [variant["ModelName"] for variant in config["ProductionVariants"]]
        response = requests.delete(
            f"{self._api.url}/v1/projects/{ADOPTED}", params={"teardown": "true"}, timeout=60
        )
        if response.status_code != 200:
            raise DemoFailure(f"teardown: HTTP {response.status_code} {response.text[:300]}")
        answer = response.json()
        show(
            f"DELETE /v1/projects/{ADOPTED}?teardown=true",
            f"deleted {', '.join(answer['deleted'])}; kept {answer['kept'] or 'nothing'}",
        )
        gone = requests.get(f"{self._api.url}/v1/projects/{ADOPTED}", timeout=30).status_code
        if self._endpoint_exists(ADOPTED) or gone != 404:
            raise DemoFailure(f"{ADOPTED}: endpoint or definition left after the teardown")
        for model in models:
            try:
                self._sagemaker.describe_model(ModelName=model)
            except ClientError:
                continue
            raise DemoFailure(f"{ADOPTED}: model {model} of {champion} left after the teardown")

    def _endpoint_exists(self, name: str) -> bool:
        try:
            self._sagemaker.describe_endpoint(EndpointName=name)
        except ClientError:
            return False
        return True

    def _post(self, path: str, body: dict[str, Any]) -> Any:
        response = requests.post(f"{self._api.url}{path}", json=body, timeout=60)
        if response.status_code not in (200, 201):
            raise DemoFailure(f"POST {path}: HTTP {response.status_code} {response.text[:300]}")
        return response.json()
