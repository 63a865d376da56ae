"""Builders of valid test values shared by every test layer."""

from __future__ import annotations

import json
from typing import Any


def project_document(name: str = "digits-zero", endpoint: str | None = None) -> dict[str, Any]:
    return {
        "name": name,
        "match": {"tags": {"Project": "Project_Binary_Classifier"}},
        "objective": {"metric": "train:objective_loss:final", "goal": "minimize"},
        "endpoint": {"name": endpoint or name, "instance_type": "ml.m5.large"},
        "inference": {
            "input": {"shape": [8, 8], "scale": 255.0},
            "request": {"content_type": "text/csv"},
            "response": {"accept": "application/json", "postprocess": "linear_learner"},
        },
    }


def register_project(client: Any, document: dict[str, Any]) -> None:
    """PUTs a new project definition through the API (a chalice.test.Client)."""
    response = client.http.put(
        f"/v1/projects/{document['name']}",
        headers={"Content-Type": "application/json"},
        body=json.dumps(document).encode(),
    )
    assert response.status_code == 201, response.json_body
