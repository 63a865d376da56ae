"""The world the campaign's requests land in: moto's DynamoDB and S3, a control plane and a
sagemaker-runtime fake, and registered projects (one per postprocess kind and request format)
with recorded runs, a champion, dataset versions and a lineage report."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import numpy as np
import orjson
from botocore.exceptions import ClientError
from moto import mock_aws

from chalicelib import wiring
from chalicelib.config import Settings
from chalicelib.definitions import parse_project
from chalicelib.gateways.table import TABLE_SCHEMA
from chalicelib.models import Invocation, Project
from chalicelib.records import (
    Champion,
    Channel,
    DatasetVersion,
    Promotion,
    Run,
    TrialComponent,
    Variant,
)
from devstack.container_codecs import parse_request, serialize_response
from tests.campaign.gateway import Exchange
from tests.factories import project_document, trusting
from tests.fakes import FakeEndpoint, FakeSageMaker

TABLE = "sagewire-campaign"
BUCKET = "sagewire-campaign"
ROLE = "arn:aws:iam::123456789012:role/SageMakerExecution"
IMAGE = "382416733822.dkr.ecr.us-east-1.amazonaws.com/linear-learner:1"
T0 = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
LOSS = "train:objective_loss:final"
TRAIN = "s3://sagewire-data/digits/train/"
CHAMPION_RUN = "ll-batch-200"
CHAMPION_CONFIG = f"digits-zero-{CHAMPION_RUN}-1a2b3c4d"
CHAMPION_PROMOTION = f"2026-11-20T13:00:00.000000Z#{CHAMPION_RUN}"


def _definition(name: str, **inference: dict[str, Any]) -> dict[str, Any]:
    document = project_document(name)
    document["endpoint"]["execution_role_arn"] = ROLE
    document["inference"] = inference
    document["access"] = {"groups": ["digits-team"], "api_keys": ["campaignkey1"]}
    return document


# One project per postprocess kind, with every request serialization and response format.
SEED_DOCUMENTS: dict[str, dict[str, Any]] = {
    "digits-zero": _definition(
        "digits-zero",
        input={"shape": [8, 8], "scale": 255.0},
        request={"content_type": "text/csv"},
        response={"accept": "application/json", "postprocess": "linear_learner"},
    ),
    "digits-kmeans": _definition(
        "digits-kmeans",
        input={"shape": [8, 8], "scale": 255.0, "invert": True},
        request={"content_type": "application/x-recordio-protobuf"},
        response={"accept": "application/json", "postprocess": "kmeans"},
    ),
    "digits-classifier": _definition(
        "digits-classifier",
        input={
            "shape": [1, 8, 8],
            "scale": 255.0,
            "mean": 0.1307,
            "std": 0.3081,
            "flatten": False,
            "channel_first": True,
            "resize_filter": "bilinear",
        },
        request={"content_type": "application/json", "json_layout": "instances"},
        response={
            "accept": "application/json",
            "postprocess": "classifier",
            "outputs": "logits",
            "labels": [str(digit) for digit in range(10)],
        },
    ),
    "tabular-regression": _definition(
        "tabular-regression",
        input={"shape": [4]},
        request={"content_type": "application/x-npy"},
        response={"accept": "text/csv", "postprocess": "regression"},
    ),
    "tabular-raw": _definition(
        "tabular-raw",
        input={"shape": [3]},
        request={"content_type": "application/json", "json_layout": "features"},
        response={"accept": "application/x-npy", "postprocess": "raw"},
    ),
}
SEED_PROJECTS: dict[str, Project] = {
    name: parse_project(document) for name, document in SEED_DOCUMENTS.items()
}
RUN_NAMES = ("ll-batch-100", CHAMPION_RUN, "ll-batch-300", "ll-batch-400")


class CampaignRuntime:
    """A sagemaker-runtime whose answer has the format of each seeded project's model: reads the
    request as a container would, and answers in the project's `accept` format."""

    def __init__(self) -> None:
        self.calls = 0

    def invoke(
        self,
        endpoint: str,
        body: bytes,
        content_type: str,
        accept: str,
        target_variant: str | None = None,
    ) -> Invocation:
        self.calls += 1
        rows = parse_request(body, content_type).astype(np.float64)
        # Bounded, finite scores whatever the (finite, float32) features.
        signal = np.tanh(rows.mean(axis=1) / 1e3)
        answer: Any
        if endpoint == "digits-kmeans":
            answer = {
                "predictions": [
                    {"closest_cluster": int(abs(s) * 9), "distance_to_cluster": float(abs(s))}
                    for s in signal
                ]
            }
        elif endpoint == "digits-classifier":
            answer = [[float(s * digit) for digit in range(10)] for s in signal]
        elif endpoint == "tabular-regression":
            answer = signal
        elif endpoint == "tabular-raw":
            answer = np.stack([signal, -signal], axis=1)
        else:
            answer = {
                "predictions": [
                    {"score": float((s + 1) / 2), "predicted_label": int(s > 0)} for s in signal
                ]
            }
        return Invocation(
            body=serialize_response(answer, accept),
            content_type=accept,
            variant=target_variant or "AllTraffic",
        )


_KEY_LIMITS = {"pk": 2048, "gsi1pk": 2048, "sk": 1024, "gsi1sk": 1024}
_CONDITION = re.compile(r"(#?\w+)\s*=\s*(:\w+)|begins_with\(\s*(#?\w+)\s*,\s*(:\w+)\s*\)")


def _key_too_large(attributes: dict[str, Any]) -> bool:
    return any(
        len(str(attributes[name].get("S", "")).encode("utf-8", "surrogatepass")) > limit
        for name, limit in _KEY_LIMITS.items()
        if isinstance(attributes.get(name), dict)
    )


def enforce_key_limits(params: dict[str, Any], model: Any, **_: Any) -> None:
    """What moto does not check and DynamoDB does: a partition key of at most 2,048 bytes and a
    sort key of at most 1,024, in keys, items, start keys and key conditions."""
    operation = model.name
    keys = [params.get(field) for field in ("Key", "Item", "ExclusiveStartKey")]
    for item in params.get("TransactItems", []):
        for action in item.values():
            keys += [action.get("Key"), action.get("Item")]
    condition = params.get("KeyConditionExpression")
    if condition:
        names = params.get("ExpressionAttributeNames", {})
        values = params.get("ExpressionAttributeValues", {})
        compared = {}
        for match in _CONDITION.finditer(condition):
            attribute = match.group(1) or match.group(3)
            compared[names.get(attribute, attribute)] = values.get(match.group(2) or match.group(4))
        keys.append(compared)
    if any(isinstance(key, dict) and _key_too_large(key) for key in keys):
        raise ClientError(
            {
                "Error": {
                    "Code": "ValidationException",
                    "Message": "One or more parameter values were invalid: Size of a key "
                    "attribute has exceeded the maximum size limit",
                }
            },
            operation,
        )


def _run(name: str, loss: float | None, status: str = "Completed") -> Run:
    batch = int(name.rsplit("-", 1)[1])
    return Run(
        name=name,
        arn=f"arn:aws:sagemaker:us-east-1:123456789012:training-job/{name}",
        status=status,  # type: ignore[arg-type]
        last_modified_at=T0 + timedelta(hours=1),
        metrics={"validation:f1": batch / 1000} | ({} if loss is None else {LOSS: loss}),
        hyperparameters={"mini_batch_size": str(batch), "predictor_type": "binary_classifier"},
        channels=(Channel("train", f"{TRAIN}part-{batch}.csv"), Channel("validation", TRAIN)),
        model_artifact=None if loss is None else f"s3://sagewire-models/{name}/output/model.tar.gz",
        training_image=IMAGE,
        role_arn=ROLE,
        tags={"Project": "Project_Binary_Classifier", "Team": "vision" if batch < 300 else "nlp"},
        trial_name="digits-trial-1",
        created_at=T0,
        started_at=T0 + timedelta(minutes=5),
        ended_at=T0 + timedelta(minutes=50) if status == "Completed" else None,
    )


@dataclass
class World:
    container: wiring.Container
    runtime: CampaignRuntime
    sagemaker: FakeSageMaker
    # The seeded champion items (raw) and endpoints, to put back after a promotion.
    champions: dict[str, Any]
    endpoints: dict[str, FakeEndpoint]
    # The seeded models with their `sagewire:run` tags, to put back after a teardown.
    models: dict[str, tuple[tuple[str, str | None, str | None], str | None]]

    def undo(self, exchange: Exchange) -> None:
        """Undoes what a successful PUT, DELETE or promotion changed, so that every request lands
        in the same world (and reads stay as cheap as at the start)."""
        if exchange.status >= 300 or exchange.method not in ("PUT", "DELETE", "POST", "PATCH"):
            return
        project = exchange.parameters.get("project", "")
        if exchange.resource.endswith("/variants"):
            self._undo_promotion(project, orjson.loads(exchange.body)["promotion_id"])
            self.sagemaker.weights.clear()
            return
        if exchange.method == "POST" and exchange.resource.endswith("/promotions"):
            self._undo_promotion(project, orjson.loads(exchange.body)["promotion_id"])
            return
        if exchange.method == "DELETE" and (torn := orjson.loads(exchange.body)["promotion_id"]):
            self._undo_promotion(project, torn)
            for name, (model, run) in self.models.items():
                self.sagemaker.models[name] = model
                if run is not None:
                    self.sagemaker.model_runs[name] = run
        if exchange.method == "POST":
            return
        store = self.container.project_store
        seed = SEED_PROJECTS.get(project)
        if seed is None:
            store.delete(project)
        elif store.get(project) != seed:
            store.put(seed)

    def _undo_promotion(self, project: str, promotion_id: str) -> None:
        client = self.container.dynamodb_client
        key = {"pk": {"S": f"PROJECT#{project}"}}
        client.delete_item(TableName=TABLE, Key={**key, "sk": {"S": f"PROMOTION#{promotion_id}"}})
        champion = self.champions.get(project)
        if champion is None:
            client.delete_item(TableName=TABLE, Key={**key, "sk": {"S": "CHAMPION"}})
        else:
            client.put_item(TableName=TABLE, Item=champion)
        self.sagemaker.endpoints.clear()
        self.sagemaker.endpoints.update(
            {name: replace(endpoint) for name, endpoint in self.endpoints.items()}
        )


def _seed(container: wiring.Container, sagemaker: FakeSageMaker) -> None:
    boto3.client("dynamodb").create_table(TableName=TABLE, **TABLE_SCHEMA)
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    boto3.client("s3").create_bucket(Bucket="sagewire-data")
    boto3.client("s3").put_object(
        Bucket="sagewire-data", Key="digits/train/part-100.csv", Body=b"0,1,2\n"
    )
    for project in SEED_PROJECTS.values():
        container.project_store.put(project)
    zero = SEED_PROJECTS["digits-zero"]
    for name, loss, status in [
        ("ll-batch-100", 0.30, "Completed"),
        (CHAMPION_RUN, 0.10, "Completed"),
        ("ll-batch-300", 0.20, "Completed"),
        ("ll-batch-400", None, "Failed"),
    ]:
        container.run_store.put_run(_run(name, loss, status), [zero])
    model = f"digits-zero-{CHAMPION_RUN}"
    promotion_id = CHAMPION_PROMOTION
    champion = Champion(
        "digits-zero", CHAMPION_RUN, 0.10, 1, model, CHAMPION_CONFIG, promotion_id, T0
    )
    promotion = Promotion(
        "digits-zero", promotion_id, CHAMPION_RUN, None, "event:seed", "all_at_once",
        "succeeded", model, CHAMPION_CONFIG, None, T0, T0,
    )  # fmt: skip
    container.champion_store.replace(champion, 0, promotion)
    container.dataset_store.put_version(
        DatasetVersion(f"{TRAIN}part-200.csv", "etag-1", 2048, T0 - timedelta(days=1), "v1", "0A")
    )
    sagemaker.models[model] = (
        ROLE,
        IMAGE,
        f"s3://sagewire-models/{CHAMPION_RUN}/output/model.tar.gz",
    )
    sagemaker.model_runs[model] = CHAMPION_RUN
    sagemaker.configs[CHAMPION_CONFIG] = (Variant("AllTraffic", model, 1.0),)
    sagemaker.endpoints["digits-zero"] = FakeEndpoint("InService", CHAMPION_CONFIG)
    sagemaker.endpoints["digits-kmeans"] = FakeEndpoint("Creating", None, "digits-kmeans-cfg")
    sagemaker.trials["digits-trial-1"] = [
        TrialComponent("digits-preprocessing", "Preprocessing", {"scale": 255.0, "mode": "L"}),
    ]
    container.reports.write(T0 + timedelta(days=1))


@contextmanager
def world() -> Iterator[World]:
    """The seeded world, installed as the app's container for the duration."""
    with mock_aws():
        settings = replace(
            trusting(Settings.from_environ()),
            table_name=TABLE,
            bucket_name=BUCKET,
            # The stage's own limits on definitions, which the document cannot express, are off.
            endpoint_prefix="",
            execution_role_arn=None,
            require_network_isolation=False,
            max_request_bytes=1024 * 1024,
        )
        container = wiring.Container(settings)
        runtime = CampaignRuntime()
        sagemaker = FakeSageMaker()
        container.endpoint_invoker = runtime
        container.control_plane = sagemaker
        container.resource_deleter = sagemaker
        container.variant_weights = sagemaker
        container.dynamodb_client.meta.events.register(
            "provide-client-params.dynamodb.*", enforce_key_limits
        )
        _seed(container, sagemaker)
        champions = {
            name: item
            for name in SEED_PROJECTS
            if (
                item := container.dynamodb_client.get_item(
                    TableName=TABLE, Key={"pk": {"S": f"PROJECT#{name}"}, "sk": {"S": "CHAMPION"}}
                ).get("Item")
            )
        }
        endpoints = {name: replace(endpoint) for name, endpoint in sagemaker.endpoints.items()}
        models = {
            name: (model, sagemaker.model_runs.get(name))
            for name, model in sagemaker.models.items()
        }
        wiring.use(container)
        try:
            yield World(container, runtime, sagemaker, champions, endpoints, models)
        finally:
            wiring.use(None)
