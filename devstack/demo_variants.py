"""The demo's variants story: an operator puts two imported runs side by side as named variants
(PUT .../variants), predicts from each, then shifts their weights in place (PATCH)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import requests

from devstack.demo_adoption import ADOPTED, ADOPTED_JOBS, AdoptionStories
from devstack.demo_client import DemoFailure, settle, show


class VariantStories(AdoptionStories):
    def chosen_variants(self, champion: str) -> None:
        """The imported champion beside the deepest other run as variants `Best` (0.8) and
        `Other` (0.2): one endpoint config, one update; held-out rows predicted by each; then
        PATCH 50/50 (UpdateEndpointWeightsAndCapacities, no new config)."""
        started = time.perf_counter()
        other = max((job for job in ADOPTED_JOBS if job != champion), key=ADOPTED_JOBS.__getitem__)
        split = [
            {"name": "Best", "run": champion, "weight": 0.8},
            {"name": "Other", "run": other, "weight": 0.2},
        ]
        entry = self._send("PUT", {"variants": split})
        settle(self._stack)
        x, y = self._held_out_rows("diabetes")
        csv = "".join(",".join(repr(float(v)) for v in row) + "\n" for row in x).encode()
        rmse = {}
        for variant in ("Best", "Other"):
            answer = self._api.predict(ADOPTED, csv, "text/csv", f"?variant={variant}")
            if answer["variant"] != variant:
                raise DemoFailure(f"{ADOPTED}: ?variant={variant} served by {answer['variant']}")
            values = np.array([p["value"] for p in answer["predictions"]])
            rmse[variant] = float(np.sqrt(np.mean((values - y) ** 2)))
        config = self._sagemaker.describe_endpoint(EndpointName=ADOPTED)["EndpointConfigName"]
        show(
            f"PUT /v1/projects/{ADOPTED}/variants Best={champion} (0.8), Other={other} (0.2)",
            f"ledger entry {entry['strategy']} {entry['outcome']}; endpoint config {config}; "
            f"{len(y)} held-out rows: ?variant=Best RMSE {rmse['Best']:.2f}, "
            f"?variant=Other RMSE {rmse['Other']:.2f}",
        )
        if config != entry["endpoint_config_name"] or rmse["Best"] >= rmse["Other"]:
            raise DemoFailure(f"{ADOPTED}: serves {config}, RMSE {rmse}")

        patched = self._send("PATCH", {"weights": {"Best": 0.5, "Other": 0.5}})
        settle(self._stack)
        described = self._sagemaker.describe_endpoint(EndpointName=ADOPTED)
        current = {v["VariantName"]: v["CurrentWeight"] for v in described["ProductionVariants"]}
        view = self._api.champion(ADOPTED)
        shown = ", ".join(
            f"{v['name']}={v['run_name']} weight {v['current_weight']}" for v in view["variants"]
        )
        show(
            f'PATCH /v1/projects/{ADOPTED}/variants {{"weights": {{"Best": 0.5, "Other": 0.5}}}}',
            f"{patched['message']}; DescribeEndpoint CurrentWeight {current} on the same config "
            f"{described['EndpointConfigName']}; GET .../champion: {shown} "
            f"[{time.perf_counter() - started:.1f}s]",
        )
        if described["EndpointConfigName"] != config or current != {"Best": 0.5, "Other": 0.5}:
            raise DemoFailure(f"{ADOPTED}: weights {current} on {described['EndpointConfigName']}")

    def _send(self, method: str, body: dict[str, Any]) -> Any:
        path = f"/v1/projects/{ADOPTED}/variants"
        response = requests.request(method, f"{self._api.url}{path}", json=body, timeout=60)
        if response.status_code != 200:
            raise DemoFailure(f"{method} {path}: HTTP {response.status_code} {response.text[:300]}")
        return response.json()
