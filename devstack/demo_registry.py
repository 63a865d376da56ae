"""The demo's Model Registry story: a manual project's winner registered PendingManualApproval,
approved with plain boto3 as Studio's button does, deployed by sagewire, and predicting."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from botocore.exceptions import ClientError

from devstack.demo_client import DemoFailure, settle, show
from devstack.demo_models import ModelKindStories, _regressor_definition

APPROVED = "diabetes-approved"
JOB = f"{APPROVED}-depth4"


class RegistryStories(ModelKindStories):
    def manual_approval(self) -> None:
        started = time.perf_counter()
        definition = _regressor_definition(APPROVED)
        definition["endpoint"]["strategy"] = {"type": "manual"}
        self._api.put_project(definition)
        self._train_regressor(JOB, APPROVED, max_depth=4)
        settle(self._stack)
        (entry,) = self._api.promotions(APPROVED)
        package = self._package(entry)
        if package["ModelApprovalStatus"] != "PendingManualApproval" or self._deployed():
            raise DemoFailure(f"{APPROVED}: {package['ModelApprovalStatus']}, or deployed")
        metadata = package.get("CustomerMetadataProperties", {})
        show(
            f"(r) a manual project {APPROVED}; {JOB} wins: recorded, and registered in the Model "
            f"Registry (model package group {APPROVED})",
            f"version {package['ModelPackageVersion']} {package['ModelApprovalStatus']}, "
            f"metadata run={metadata.get('sagewire:run')} "
            f"rmse={float(metadata.get('sagewire:objective-value', 'nan')):.2f}; "
            "no endpoint yet",
        )
        arn = entry["model_package_arn"]
        # What Studio's "Approve" does, twice (a second click, or a retried call).
        for _ in range(2):
            self._sagemaker.update_model_package(
                ModelPackageArn=arn,
                ModelApprovalStatus="Approved",
                ApprovalDescription="approved in Studio",
            )
            settle(self._stack)
        settle(self._stack)
        _, serving = self._promoted(APPROVED, JOB)
        settle(self._stack)
        ledger = self._api.promotions(APPROVED)
        deployed = [p for p in ledger if p["cause"] == f"registry:{arn}"]
        if len(deployed) != 1:
            raise DemoFailure(f"{APPROVED}: {len(deployed)} deployments of one approval")
        x, y = self._held_out_rows("diabetes")
        csv = "".join(",".join(repr(float(v)) for v in row) + "\n" for row in x).encode()
        answer = self._api.predict(APPROVED, csv, "text/csv")["predictions"]
        rmse = float(np.sqrt(np.mean((np.array([p["value"] for p in answer]) - y) ** 2)))
        show(
            "sagemaker.update_model_package(ModelApprovalStatus='Approved') with plain boto3, "
            "twice (on_model_package_state_change)",
            f"one promotion, cause registry:…/{arn.rsplit('/', 2)[-2]}/"
            f"{arn.rsplit('/', 1)[-1]}, {deployed[0]['outcome']} -> endpoint {APPROVED} "
            f"{serving.status}; {len(y)} held-out rows, RMSE {rmse:.2f} "
            f"[{time.perf_counter() - started:.1f}s]",
        )

    def _package(self, entry: dict[str, Any]) -> Any:
        arn = entry.get("model_package_arn")
        if not arn:
            raise DemoFailure(f"{APPROVED}: the winner was not registered: {entry}")
        return self._sagemaker.describe_model_package(ModelPackageName=arn)

    def _deployed(self) -> bool:
        try:
            self._sagemaker.describe_endpoint(EndpointName=APPROVED)
        except ClientError:
            return False
        return True
