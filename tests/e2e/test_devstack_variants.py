"""End to end: an operator puts two named variants of two recorded runs on one endpoint, predicts
from each, and shifts their weights in place."""

from __future__ import annotations

import boto3
import pytest
import requests

from devstack.demo_client import settle
from devstack.stack import Stack
from tests.e2e.test_devstack_imports import definition, get, train

pytestmark = pytest.mark.e2e
PROJECT = "variants-e2e"
TAG = {"Key": "Project", "Value": PROJECT}
ROW = ",".join(["0.01"] * 10)


def test_variants_of_two_runs_serve_by_name_and_their_weights_shift_in_place(
    in_process_stack: Stack,
) -> None:
    stack = in_process_stack
    put = requests.put(
        f"{stack.api_url}/v1/projects/{PROJECT}",
        json=definition(PROJECT, {"tags": {TAG["Key"]: TAG["Value"]}}),
        timeout=30,
    )
    assert put.status_code == 201, put.text
    for name, rounds in (("variants-xgb-3", 3), ("variants-xgb-20", 20)):
        train(stack, name, rounds, Tags=[TAG])
    settle(stack)

    split = {
        "variants": [
            {"name": "Shallow", "run": "variants-xgb-3", "weight": 0.7},
            {"name": "Deep", "run": "variants-xgb-20", "weight": 0.3},
        ]
    }
    answer = requests.put(f"{stack.api_url}/v1/projects/{PROJECT}/variants", json=split, timeout=60)
    assert answer.status_code == 200, answer.text
    entry = answer.json()
    settle(stack)

    predictions = {}
    for variant in ("Shallow", "Deep"):
        predicted = requests.post(
            f"{stack.api_url}/v1/projects/{PROJECT}/predictions?variant={variant}",
            data=ROW,
            headers={"Content-Type": "text/csv"},
            timeout=30,
        )
        assert predicted.status_code == 200, predicted.text
        assert predicted.json()["variant"] == variant
        predictions[variant] = predicted.json()["predictions"][0]["value"]
    assert predictions["Shallow"] != predictions["Deep"]  # two models, trained differently

    patched = requests.patch(
        f"{stack.api_url}/v1/projects/{PROJECT}/variants",
        json={"weights": {"Shallow": 0.2, "Deep": 0.8}},
        timeout=30,
    )
    assert patched.status_code == 200, patched.text
    settle(stack)

    sagemaker = boto3.client("sagemaker", region_name=stack.state.region)
    described = sagemaker.describe_endpoint(EndpointName=PROJECT)
    assert described["EndpointConfigName"] == entry["endpoint_config_name"]  # no new config
    assert {
        v["VariantName"]: (v["CurrentWeight"], v["DesiredWeight"])
        for v in described["ProductionVariants"]
    } == {"Shallow": (0.2, 0.2), "Deep": (0.8, 0.8)}
    view = get(stack, f"/v1/projects/{PROJECT}/champion")
    assert view["champion"]["run_name"] == "variants-xgb-3"
    assert view["drift"] is False
    assert [(v["name"], v["run_name"], v["current_weight"]) for v in view["variants"]] == [
        ("Shallow", "variants-xgb-3", 0.2),
        ("Deep", "variants-xgb-20", 0.8),
    ]
    ledger = get(stack, f"/v1/projects/{PROJECT}/promotions")["promotions"]
    assert [(p["strategy"], p["outcome"]) for p in ledger[:2]] == [
        ("weights", "succeeded"),
        ("variants", "succeeded"),
    ]
    assert ledger[0]["message"] == "weights: Shallow 0.7 -> 0.2, Deep 0.3 -> 0.8"
