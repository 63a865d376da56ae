"""Fault-matrix fixtures: the functional client (moto in-process, Stubber), and a local stack in
this process: moto's server with the devstack shims (SageMaker, S3 events, Lambda's Invoke API),
the real app's functions behind the event router (Lambda's retries, an SQS on-failure
destination), the real gateways and the idempotency records in moto's DynamoDB."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import boto3
import numpy as np
import pytest
import requests
from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders
from moto.sagemaker.models import sagemaker_backends

from app import app
from chalicelib import wiring
from chalicelib.config import Settings
from chalicelib.gateways.table import TABLE_SCHEMA
from devstack import algorithms, sagemaker_events
from devstack.aws import ControlPlane
from devstack.events import ACCOUNT_ID, EventRouter, Rule
from devstack.functions import SqsDestination, dead_letter_queue_name
from tests.factories import project_document, trusting
from tests.functional.conftest import client, endpoint, settings

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client
    from mypy_boto3_sagemaker.client import SageMakerClient
    from mypy_boto3_sqs.client import SQSClient

__all__ = ["client", "endpoint", "local", "settings"]

REGION = "us-east-1"
ROLE = f"arn:aws:iam::{ACCOUNT_ID}:role/SageMakerExecution"
IMAGE = "382416733822.dkr.ecr.us-east-1.amazonaws.com/linear-learner:1"
METRIC = "train:objective_loss:final"
TAGS = {"Project": "Project_Binary_Classifier"}
# Lambda retries an asynchronous invocation after about 1 and 2 minutes, and a crashed run's
# idempotency record is "in progress" until the function's timeout: here 0.5 s, retried after
# 0.6 s and 1.2 s, so that a retry comes after the crashed run's deadline, as on Lambda.
FUNCTION_TIMEOUT_SECONDS = 0.5
RETRY_DELAYS = (0.6, 1.2)
SETTLE_SECONDS = 30.0


def error_response(
    code: str, message: str, status: int = 400
) -> tuple[AWSResponse, dict[str, Any]]:
    """What a botocore `before-call` handler returns to answer a call with an error, unretried
    (botocore's own retries are spent: the fault outlasted them)."""
    parsed = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return AWSResponse("https://fault.invalid/", status, HTTPHeaders(), None), parsed


@dataclass
class Outage:
    on: bool = True

    def clear(self) -> None:
        self.on = False


@dataclass
class LocalStack:
    url: str
    router: EventRouter
    container: wiring.Container
    settings: Settings
    sqs: SQSClient
    s3: S3Client
    sagemaker: SageMakerClient
    queue_url: str

    def start(self) -> None:
        """Starts delivering: events published before are waiting in the router's queue."""
        self.router.start()

    def settle(self) -> None:
        """Waits until every event, retry and endpoint transition has been delivered."""
        assert self.router.wait_idle(SETTLE_SECONDS), "the local stack did not settle"

    def rule(self, name: str) -> Rule:
        found = self.router.function(name)
        assert found is not None
        return found

    def register(self, name: str, strategy: dict[str, Any] | None = None) -> None:
        document = project_document(name)
        document["endpoint"]["execution_role_arn"] = ROLE
        document["endpoint"]["strategy"] = strategy or {"type": "all_at_once"}
        self.container.projects.put(name, document)
        # The import its definition started, run now: it finds no job yet, whenever the router
        # delivers its request (which then finds it ended).
        started = self.container.imports.latest(name)
        self.container.imports.advance(name, started.import_id, lambda: 10**6)

    def complete_training_job(self, name: str, loss: float) -> dict[str, Any]:
        """A training job that completed in moto with `loss` as its objective; returns the
        "SageMaker Training Job State Change" event SageMaker sends for it."""
        bucket = self.settings.bucket_name
        self.sagemaker.create_training_job(
            TrainingJobName=name,
            AlgorithmSpecification={"TrainingImage": IMAGE, "TrainingInputMode": "File"},
            RoleArn=ROLE,
            OutputDataConfig={"S3OutputPath": f"s3://{bucket}/models"},
            ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
            StoppingCondition={"MaxRuntimeInSeconds": 3600},
            HyperParameters={"mini_batch_size": "100"},
            Tags=[{"Key": key, "Value": value} for key, value in TAGS.items()],
        )
        # A real artifact of the image's kind: the endpoint's ping loads it.
        self.s3.put_object(
            Bucket=bucket,
            Key=f"models/{name}/output/model.tar.gz",
            Body=algorithms.pack(
                algorithms.Model(
                    algorithms.LINEAR_LEARNER, 1, {"weights": np.zeros(1), "bias": np.zeros(1)}, {}
                )
            ),
        )
        record = sagemaker_backends[ACCOUNT_ID][REGION].training_jobs[name]
        now = datetime.now(UTC)
        vars(record).update(
            training_job_status="Completed",
            secondary_status="Completed",
            training_start_time=now,
            training_end_time=now,
            last_modified_time=now,
            model_artifacts={
                "S3ModelArtifacts": f"s3://{bucket}/models/{name}/output/model.tar.gz"
            },
            final_metric_data_list=[{"MetricName": METRIC, "Value": loss, "Timestamp": now}],
        )
        return sagemaker_events.training_job_event(record.response_object, REGION)

    def on_sagemaker(self, hook: str, handler: Callable[..., Any]) -> None:
        """A botocore hook (e.g. `before-call.sagemaker.UpdateEndpoint`) on the app's client."""
        self.container.sagemaker_client.meta.events.register(hook, handler)

    def throttle(self, operation: str) -> Outage:
        """SageMaker throttles `operation` (past botocore's retries) until the outage clears."""
        outage = Outage()

        def throttled(**_: Any) -> Any:
            return error_response("ThrottlingException", "Rate exceeded") if outage.on else None

        self.on_sagemaker(f"before-call.sagemaker.{operation}", throttled)
        return outage

    def queue_depth(self) -> int:
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.queue_url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(
            attributes["ApproximateNumberOfMessagesNotVisible"]
        )

    def peek(self) -> list[Any]:
        """Every message in the dead-letter queue, left there (visible again at once)."""
        messages = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=10,
            VisibilityTimeout=0,
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        return list(messages)


@pytest.fixture
def local(monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalStack]:
    control = ControlPlane(update_delay_seconds=0.3, create_delay_seconds=0.2)
    control.start()
    # moto's backends live in this process: start from nothing, whatever ran before.
    requests.post(f"{control.url}/moto-api/reset", timeout=10).raise_for_status()
    monkeypatch.setenv("AWS_ENDPOINT_URL", control.url)
    session = boto3.session.Session(region_name=REGION)
    settings = replace(
        trusting(Settings.from_environ()), table_name=f"faults-{uuid.uuid4().hex[:8]}"
    )
    session.client("dynamodb").create_table(TableName=settings.table_name, **TABLE_SCHEMA)
    s3 = session.client("s3")
    s3.create_bucket(Bucket=settings.bucket_name)
    s3.put_bucket_versioning(
        Bucket=settings.bucket_name, VersioningConfiguration={"Status": "Enabled"}
    )
    s3.put_bucket_notification_configuration(
        Bucket=settings.bucket_name, NotificationConfiguration={"EventBridgeConfiguration": {}}
    )
    sqs = session.client("sqs")
    queue_url = sqs.create_queue(QueueName=dead_letter_queue_name(app.app_name, "local"))[
        "QueueUrl"
    ]
    container = wiring.Container(settings)
    wiring.use(container)
    router = EventRouter.for_app(
        app,
        "local",
        region=REGION,
        retry_delays=RETRY_DELAYS,
        schedule_seconds=3600,
        timeout_seconds=FUNCTION_TIMEOUT_SECONDS,
        dead_letter_sink=SqsDestination(sqs, queue_url),
    )
    control.attach(router, lambda environ, start_response: [], functions=router)
    try:
        yield LocalStack(
            control.url,
            router,
            container,
            settings,
            sqs,
            s3,
            session.client("sagemaker"),
            queue_url,
        )
    finally:
        router.stop()
        control.stop()
        wiring.use(None)
