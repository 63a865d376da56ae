"""The fault matrix (issue 5): each fault, the outcome sagewire promises, and the tests that hold
it to the promise. "Nothing lost" means every event ends handled, deferred in the ledger (and
resumed later), or in the dead-letter queue, from which `python -m ops.dlq replay` re-delivers it.
Runbook: docs/runbook.md.

(a) Throttling bursts
  fault     InvokeEndpoint throttled for a burst of prediction requests
  promised  each answer is 200, or 503 EndpointUnavailable with Retry-After; no other 5xx;
            botocore tries at most SAGEWIRE_INVOKE_MAX_ATTEMPTS per request; 200 once it passes
  test      test_a_throttling_burst_on_predictions_is_503_with_retry_after_and_nothing_else
  fault     a training job completes while SageMaker throttles DescribeTrainingJob
  promised  the event fails with nothing recorded half-way and no idempotency record left
            behind, so Lambda's retry records and deploys the run
  test      test_a_throttled_describe_fails_the_event_and_its_retry_deploys_the_run
  fault     ... while SageMaker throttles the deployment (CreateModel)
  promised  the run is recorded and champion, its promotion `pending` (the event succeeds);
            reconcile resumes it, the endpoint's state change closes it `succeeded`
  test      test_a_throttled_deployment_is_pending_then_resumed_by_reconcile

(b) A busy endpoint ("Cannot update in-progress endpoint")
  promised  the better run's promotion is `pending`, the one it replaced `superseded`; the
            endpoint's next state change, or reconcile, resumes it (its model and config are
            verified and reused, not recreated) and it ends `succeeded`
  tests     test_a_busy_endpoint_defers_the_promotion_until_the_endpoint_or_reconcile_resumes_it
            [endpoint-event] and [reconcile]; over fakes: tests/unit/test_champions.py::
            test_a_winner_while_the_endpoint_is_busy_is_deferred_then_resumed

(c) A crash mid-promotion: the runtime dies after CreateModel and CreateEndpointConfig, before
    UpdateEndpoint (local stack: moto behind the devstack shim refuses duplicates like SageMaker)
  promised  a duplicate delivered meanwhile is refused (the dead run's idempotency record is in
            progress until its deadline); Lambda's retry after the deadline, or reconcile, completes
            the promotion; no model, endpoint config or endpoint is created or updated twice
  tests     test_a_crash_before_update_endpoint_is_completed_once[redelivery] and [reconcile];
            tests/functional/test_events.py::test_a_crash_midway_is_finished_by_the_redelivered_event

(d) Retries exhausted (local stack: the router's retries, moto's SQS, Lambda's Invoke API shim)
  promised  after Lambda's three attempts the event is in the SQS dead-letter queue as Lambda's
            on-failure record (`RetriesExhausted`, the event as `requestPayload`); once the fault
            clears, `ops.dlq replay` re-invokes the function, the run is recorded and deployed,
            and the queue ends empty
  tests     test_an_event_whose_retries_ran_out_is_dead_lettered_then_replayed; the tool's other
            promises (both formats, unreadable messages kept, --wait, --dry-run, --max, the CLI
            against the stack through AWS_ENDPOINT_URL): tests/faults/test_dlq_replay.py

(e) DynamoDB conditional-check races
  fault     events for different runs of one project; each compare-and-swap may lose to an event
            that read later and wrote earlier (every order and preemption of 3 runs, and ties)
  promised  the best run ends champion and serving; each promotion improved on the one before
  tests     test_racing_events_of_one_project_leave_the_best_run_whatever_the_interleaving;
            threads over fakes: tests/unit/test_champions.py::
            test_any_order_duplicates_and_concurrency_leave_the_best_run_serving
  fault     two edits of one project definition at once
  promised  the later writer gets 409 Conflict (a JSON error); the first edit stands
  test      test_a_concurrent_project_edit_is_a_409_and_the_first_edit_stands

(f) A lineage report run twice (the same day, then the next)
  promised  the same eight keys and no other object; bodies equal but for `generated_at`;
            `latest` is always the newest run's report; an earlier day's report is left alone
  tests     test_a_report_run_twice_rewrites_the_same_keys_and_latest_follows_the_newest_day;
            tests/unit/test_reports.py::test_twice_the_same_day_writes_the_same_keys_and_bytes

(g) An S3 "Object Created" event for an object deleted before its handler ran
  promised  no crash, no retry (one attempt each), nothing dead-lettered; the batch handler
            records it as skipped ("the object no longer exists") with no output, the dataset
            handler records the version the event describes; the other objects are predicted
  tests     test_an_object_deleted_before_its_handler_ran_is_skipped_once;
            tests/functional/test_s3_events.py::test_a_deleted_batch_object_is_skipped

Found by this campaign, fixed, and held here
  fault     a run read a dataset object from a bucket sagewire may not read (403 under the
            least-privilege policy) or that no longer exists
  promised  its lineage is 200 with that channel `unversioned`; the lineage report is written
            (before the fix: 500 on /v1/runs and /v1/lineage/endpoints, the report job failing)
  test      test_lineage_of_a_run_reading_an_unreadable_or_missing_bucket_is_served
"""

from __future__ import annotations

import io
import itertools
import json
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
import urllib3
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
)
from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders
from botocore.stub import ANY, Stubber
from chalice.test import Client
from moto import mock_aws

from chalicelib import wiring
from chalicelib.config import Settings
from chalicelib.definitions import parse_project
from chalicelib.entrypoints import events as event_handlers
from chalicelib.errors import EndpointUnavailable
from chalicelib.gateways.champions import ChampionTable
from chalicelib.gateways.projects import ProjectTable
from chalicelib.gateways.runs import RunTable
from chalicelib.gateways.sagemaker_runtime import SageMakerRuntimeGateway, runtime_client_config
from chalicelib.gateways.table import TABLE_SCHEMA
from chalicelib.records import (
    Champion,
    Channel,
    Promotion,
    PromotionOutcome,
    Run,
    TrainingJobChange,
)
from devstack.events import LambdaContext
from ops import dlq
from tests.factories import automation, project_document, register_project
from tests.fakes import EPOCH, FakeRuntime, FakeSageMaker
from tests.faults.conftest import (
    IMAGE,
    METRIC,
    REGION,
    ROLE,
    LocalStack,
    error_response,
)
from tests.faults.conftest import TAGS as FAULT_TAGS
from tests.functional.conftest import TABLE
from tests.functional.test_events import (
    MODEL,
    described_job,
    expect_described_job,
    expect_first_deployment,
    expect_registration,
    fixture,
)

ARN = "arn:aws:sagemaker:us-east-1:123456789012"

TRAINING = "on_training_job_state_change"


# --- (d) retries exhausted ---


def test_an_event_whose_retries_ran_out_is_dead_lettered_then_replayed(local: LocalStack) -> None:
    local.register("zero")
    outage = local.throttle("DescribeTrainingJob")
    local.start()
    event = local.complete_training_job("zero-mbs-100", 0.3)
    delivery = local.router.publish(event)
    local.settle()

    [outcome] = delivery.outcomes
    assert (outcome.status, outcome.attempts) == ("dropped", 3)
    assert local.container.run_store.get_run("zero-mbs-100") is None
    [message] = local.peek()
    record = json.loads(message["Body"])
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert record["requestContext"]["functionArn"].endswith(
        f":function:sagewire-local-{TRAINING}:$LATEST"
    )
    assert record["requestPayload"] == event
    assert record["responsePayload"]["errorType"] == "EndpointUnavailable"

    outage.clear()
    out = io.StringIO()
    assert dlq.main(["replay", "--queue-url", local.queue_url, "--poll-seconds", "0"], out) == 0
    local.settle()

    assert "replayed 1, failed 0, unreadable 0" in out.getvalue()
    assert local.queue_depth() == 0
    run = local.container.run_store.get_run("zero-mbs-100")
    assert run is not None
    assert run.metrics[METRIC] == 0.3
    [promotion] = local.container.champion_store.promotions("zero")
    assert (promotion.run_name, promotion.outcome) == ("zero-mbs-100", "succeeded")
    assert promotion.cause == f"event:{event['id']}"  # the original event, replayed
    endpoint = local.sagemaker.describe_endpoint(EndpointName="zero")
    assert endpoint["EndpointConfigName"] == promotion.endpoint_config_name
    assert len(local.router.dead_letters) == 1  # the replay itself succeeded first time


# --- (c) a crash mid-promotion ---


class LambdaDied(BaseException):
    """The runtime ended mid-invocation (timeout, out of memory): no `except Exception` runs,
    so the idempotency record stays "in progress" until the function's deadline."""


def _created(local: LocalStack) -> list[tuple[str, str]]:
    """(operation, resource name) of every SageMaker create or update that succeeded."""
    succeeded: list[tuple[str, str]] = []

    def remember(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["fault_resource"] = next(
            (
                params[k]
                for k in (
                    "ClientToken",  # a model package version, one per promotion
                    "ModelName",
                    "EndpointConfigName",
                    "EndpointName",
                    "ModelPackageGroupName",
                )
                if k in params
            ),
            "",
        )

    def count(http_response: Any, model: Any, context: dict[str, Any], **_: Any) -> None:
        operation = model.name
        if operation.startswith(("Create", "Update")) and http_response.status_code == 200:
            succeeded.append((operation, context.get("fault_resource", "")))

    local.on_sagemaker("provide-client-params.sagemaker", remember)
    local.on_sagemaker("after-call.sagemaker", count)
    return succeeded


def _pass_the_deadline(local: LocalStack) -> None:
    """The crashed run's deadline passes, without waiting for it: the one idempotency record left
    "in progress" gets a deadline (`in_progress_expiration`, epoch ms) a millisecond ago."""
    client, table = local.container.dynamodb_client, local.settings.table_name
    items = client.query(
        TableName=table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"IDEMPOTENCY#{TRAINING}"}},
    )["Items"]
    [record] = [item for item in items if item["status"]["S"] == "INPROGRESS"]
    client.update_item(
        TableName=table,
        Key={"pk": record["pk"], "sk": record["sk"]},
        UpdateExpression="SET in_progress_expiration = :past",
        ExpressionAttributeValues={":past": {"N": str(int(time.time() * 1000) - 1)}},
    )


@pytest.mark.parametrize("resumed_by", ["redelivery", "reconcile"])
def test_a_crash_before_update_endpoint_is_completed_once(
    local: LocalStack, resumed_by: str
) -> None:
    local.register("crash")
    created = _created(local)
    local.start()
    local.router.publish(local.complete_training_job("crash-a", 0.3))
    local.settle()
    rule = local.rule(TRAINING)
    event = local.complete_training_job("crash-b", 0.2)
    refused: list[BaseException] = []

    def die(**_: Any) -> None:
        if refused:
            return
        # A duplicate delivered while the first run is still alive is refused, not run twice.
        try:
            rule.handler(json.loads(json.dumps(event)), _context(10.0))
        except IdempotencyAlreadyInProgressError as error:
            refused.append(error)
        raise LambdaDied

    local.on_sagemaker("before-call.sagemaker.UpdateEndpoint", die)
    # A deadline a minute away (a deployed function's timeout): the duplicate finds the record in
    # progress however slow the machine, and the retry below does not wait for the deadline.
    with pytest.raises(LambdaDied):
        rule.handler(json.loads(json.dumps(event)), _context(60.0))
    assert len(refused) == 1
    champions = local.container.champion_store
    champion = champions.get_champion("crash")
    assert champion is not None
    assert champion.run_name == "crash-b"
    assert champions.promotions("crash")[0].outcome == "pending"
    assert ("CreateModel", champion.model_name) in created
    assert ("CreateEndpointConfig", champion.endpoint_config_name) in created
    served = local.sagemaker.describe_endpoint(EndpointName="crash")["EndpointConfigName"]
    assert served != champion.endpoint_config_name

    if resumed_by == "reconcile":
        local.router.invoke_schedule(local.rule("reconcile"))
        local.settle()
    # Lambda retries the crashed invocation once its deadline has passed.
    _pass_the_deadline(local)
    retry = local.router.publish(event)
    local.settle()

    assert [(o.status, o.attempts) for o in retry.outcomes] == [("succeeded", 1)]
    assert [(p.run_name, p.outcome) for p in champions.promotions("crash")] == [
        ("crash-b", "succeeded"),
        ("crash-a", "succeeded"),  # it had settled: an outcome is never rewritten
    ]
    endpoint = local.sagemaker.describe_endpoint(EndpointName="crash")
    assert (endpoint["EndpointStatus"], endpoint["EndpointConfigName"]) == (
        "InService",
        champion.endpoint_config_name,
    )
    assert len(created) == len(set(created)), created  # nothing created (or updated) twice
    assert sorted(m["ModelName"] for m in local.sagemaker.list_models()["Models"]) == [
        "crash-crash-a",
        "crash-crash-b",
    ]
    assert len(local.sagemaker.list_endpoint_configs()["EndpointConfigs"]) == 2
    assert local.queue_depth() == 0


def _context(timeout_seconds: float) -> LambdaContext:
    return LambdaContext(f"sagewire-local-{TRAINING}", REGION, timeout_seconds)


# --- (g) an S3 event for an object deleted before its handler ran ---


def test_an_object_deleted_before_its_handler_ran_is_skipped_once(local: LocalStack) -> None:
    local.register("digits-zero")
    endpoint = FakeRuntime()
    local.container.endpoint_invoker = endpoint
    bucket, settings = local.settings.bucket_name, local.settings
    row = ",".join(["255"] * 64).encode() + b"\n"
    gone = f"{settings.batch_input_prefix}digits-zero/gone.csv"
    kept = f"{settings.batch_input_prefix}digits-zero/kept.csv"
    dataset = f"{settings.datasets_prefix}digits/gone.csv"
    # The events are published at each write and wait in the router: the deletes come first.
    for key in (gone, dataset, kept):
        local.s3.put_object(Bucket=bucket, Key=key, Body=row)
    local.s3.delete_object(Bucket=bucket, Key=gone)
    local.s3.delete_object(Bucket=bucket, Key=dataset)
    local.start()
    local.settle()

    outcomes = {
        delivery.event["detail"]["object"]["key"]: delivery.outcomes
        for delivery in local.router.published_since(0)
        if delivery.outcomes and delivery.event["source"] == "aws.s3"
    }
    assert {key: [(o.status, o.attempts) for o in found] for key, found in outcomes.items()} == {
        gone: [("succeeded", 1)],
        dataset: [("succeeded", 1)],
        kept: [("succeeded", 1)],
    }
    skipped = json.loads(outcomes[gone][0].result or "{}")
    assert (skipped["status"], skipped["reason"]) == ("skipped", "the object no longer exists")
    assert json.loads(outcomes[kept][0].result or "{}")["status"] == "written"
    listed = local.s3.list_objects_v2(Bucket=bucket, Prefix=settings.batch_output_prefix)
    outputs = sorted(item["Key"].rsplit("/", 1)[-1] for item in listed.get("Contents", []))
    assert outputs == ["manifest.json", "predictions.jsonl"]  # the kept object's only
    assert len(endpoint.calls) == 1
    versions = local.container.dataset_store.versions_under(f"s3://{bucket}/{dataset}")
    assert [v.uri for v in versions] == [f"s3://{bucket}/{dataset}"]
    assert local.router.dead_letters == []
    assert local.queue_depth() == 0


# --- (a) throttling bursts ---

BURST_ATTEMPTS = 20
REQUESTS = 12


def _wire(status: int, body: Any, headers: dict[str, str]) -> AWSResponse:
    raw = urllib3.HTTPResponse(
        body=io.BytesIO(json.dumps(body).encode()),
        status=status,
        headers=headers,
        preload_content=False,
    )
    return AWSResponse("https://runtime.invalid/", status, HTTPHeaders.from_dict(headers), raw)


def test_a_throttling_burst_on_predictions_is_503_with_retry_after_and_nothing_else(
    client: Client, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    register_project(client, project_document())
    runtime = boto3.client("sagemaker-runtime", config=runtime_client_config(settings))
    attempts: list[int] = []

    def sagemaker_runtime(request: Any, **_: Any) -> AWSResponse:
        """Throttles the first BURST_ATTEMPTS attempts, then answers."""
        attempts.append(1)
        if len(attempts) <= BURST_ATTEMPTS:
            headers = {
                "Content-Type": "application/json",
                "x-amzn-ErrorType": "ThrottlingException",
            }
            return _wire(429, {"message": "Rate exceeded"}, headers)
        headers = {"Content-Type": "application/json", "x-Amzn-Invoked-Production-Variant": "A"}
        return _wire(200, {"predictions": [{"score": 0.9, "predicted_label": 1}]}, headers)

    runtime.meta.events.register_first(
        "before-send.sagemaker-runtime.InvokeEndpoint",
        sagemaker_runtime,  # type: ignore[arg-type]
    )
    wiring.container().endpoint_invoker = SageMakerRuntimeGateway(
        runtime, settings.retry_after_seconds
    )
    backoff: list[float] = []
    monkeypatch.setattr(time, "sleep", backoff.append)  # botocore's, recorded instead of slept

    responses = [
        client.http.post(
            "/v1/projects/digits-zero/predictions",
            headers={"Content-Type": "text/csv"},
            body=b",".join([b"255"] * 64),
        )
        for _ in range(REQUESTS)
    ]

    max_attempts = settings.invoke_max_attempts
    refused = BURST_ATTEMPTS // max_attempts  # requests whose every attempt was throttled
    assert [r.status_code for r in responses] == [503] * refused + [200] * (REQUESTS - refused)
    for response in responses[:refused]:
        assert response.headers["Retry-After"] == str(settings.retry_after_seconds)
        assert response.json_body["error"]["code"] == "EndpointUnavailable"
        assert response.json_body["error"]["request_id"]
    assert responses[-1].json_body["predictions"] == [{"score": 0.9, "predicted_label": 1}]
    # botocore absorbed part of the burst, never more than the configured attempts per request
    assert len(attempts) == BURST_ATTEMPTS + (REQUESTS - refused)
    assert len(backoff) == BURST_ATTEMPTS - refused


def _register_mnist_zero(client: Client) -> None:
    document = project_document("mnist-zero")
    document["endpoint"]["execution_role_arn"] = ROLE
    register_project(client, document)


def _promotions(client: Client) -> list[dict[str, Any]]:
    promotions: list[dict[str, Any]] = client.http.get(
        "/v1/projects/mnist-zero/promotions"
    ).json_body["promotions"]
    return promotions


def _endpoint_event(config: str, modified_ms: int) -> dict[str, Any]:
    event = fixture("endpoint-state-change.json")
    event["id"] = f"endpoint-{modified_ms}"
    event["detail"]["EndpointConfigName"] = config
    event["detail"]["LastModifiedTime"] = modified_ms
    return event


def _described_endpoint(config: str, modified_ms: int) -> dict[str, Any]:
    return {
        "EndpointName": "mnist-zero",
        "EndpointArn": f"{ARN}:endpoint/mnist-zero",
        "EndpointConfigName": config,
        "EndpointStatus": "InService",
        "CreationTime": datetime(2026, 11, 20, 12, 30, tzinfo=UTC),
        "LastModifiedTime": datetime.fromtimestamp(modified_ms / 1000, UTC),
    }


def _scheduled(client: Client) -> Any:
    return client.events.generate_cw_event(
        source="aws.events", detail_type="Scheduled Event", detail={}, resources=[]
    )


def test_a_throttled_describe_fails_the_event_and_its_retry_deploys_the_run(
    client: Client,
) -> None:
    _register_mnist_zero(client)
    event = fixture("training-job-completed.json")
    with Stubber(wiring.container().sagemaker_client) as sagemaker:
        sagemaker.add_client_error(
            "describe_training_job",
            "ThrottlingException",
            "Rate exceeded",
            400,
            expected_params={"TrainingJobName": "linear-mbs-100"},
        )
        with pytest.raises(EndpointUnavailable):
            client.lambda_.invoke(TRAINING, event)
        assert client.http.get("/v1/runs/linear-mbs-100").status_code == 404
        assert _promotions(client) == []

        expect_first_deployment(sagemaker)
        client.lambda_.invoke(TRAINING, event)  # Lambda's retry: not refused as a duplicate
        sagemaker.assert_no_pending_responses()

    [promotion] = _promotions(client)
    assert (promotion["run_name"], promotion["outcome"]) == ("linear-mbs-100", "deploying")


def test_a_throttled_deployment_is_pending_then_resumed_by_reconcile(client: Client) -> None:
    _register_mnist_zero(client)
    with Stubber(wiring.container().sagemaker_client) as sagemaker:
        expect_described_job(sagemaker)
        expect_registration(sagemaker)
        sagemaker.add_client_error("create_model", "ThrottlingException", "Rate exceeded", 400)
        client.lambda_.invoke(TRAINING, fixture("training-job-completed.json"))
        [pending] = _promotions(client)
        assert (pending["run_name"], pending["outcome"]) == ("linear-mbs-100", "pending")
        config = pending["endpoint_config_name"]

        sagemaker.add_response("create_model", {"ModelArn": f"{ARN}:model/{MODEL}"})
        sagemaker.add_response(
            "create_endpoint_config", {"EndpointConfigArn": f"{ARN}:endpoint-config/{config}"}
        )
        sagemaker.add_client_error(
            "describe_endpoint",
            "ValidationException",
            f'Could not find endpoint "{ARN}:endpoint/mnist-zero".',
            400,
        )
        sagemaker.add_response(
            "create_endpoint",
            {"EndpointArn": f"{ARN}:endpoint/mnist-zero"},
            {"EndpointName": "mnist-zero", "EndpointConfigName": config},
        )
        report = client.lambda_.invoke("reconcile", _scheduled(client)).payload
        assert [p["outcome"] for p in report["advanced"]] == ["deploying"]

        sagemaker.add_response(
            "describe_endpoint", _described_endpoint(config, 1763642500000), {"EndpointName": ANY}
        )
        client.lambda_.invoke("on_endpoint_state_change", _endpoint_event(config, 1763642500000))
        sagemaker.assert_no_pending_responses()

    [done] = _promotions(client)
    assert (done["run_name"], done["outcome"]) == ("linear-mbs-100", "succeeded")
    assert client.http.get("/v1/runs/linear-mbs-100").status_code == 200


# --- (b) a busy endpoint ---


@pytest.mark.parametrize("resumed_by", ["endpoint-event", "reconcile"])
def test_a_busy_endpoint_defers_the_promotion_until_the_endpoint_or_reconcile_resumes_it(
    client: Client, resumed_by: str
) -> None:
    _register_mnist_zero(client)
    better = fixture("training-job-completed.json")
    better["id"] = "better-run"
    better["detail"].update(
        TrainingJobName="linear-mbs-200", TrainingJobArn=f"{ARN}:training-job/linear-mbs-200"
    )
    artifact = "s3://example-bucket/linear-mbs-200/output/model.tar.gz"
    with Stubber(wiring.container().sagemaker_client) as sagemaker:
        expect_first_deployment(sagemaker)
        client.lambda_.invoke(TRAINING, fixture("training-job-completed.json"))
        config_a = _promotions(client)[0]["endpoint_config_name"]

        # A better run completes while the endpoint is still being created.
        expect_described_job(
            sagemaker,
            described_job(
                "linear-mbs-200",
                ModelArtifacts={"S3ModelArtifacts": artifact},
                FinalMetricDataList=[
                    {"MetricName": METRIC, "Value": 0.01, "Timestamp": datetime.now(UTC)}
                ],
            ),
        )
        expect_registration(sagemaker, version=2)
        sagemaker.add_response("create_model", {"ModelArn": f"{ARN}:model/m"})
        sagemaker.add_response("create_endpoint_config", {"EndpointConfigArn": f"{ARN}:ec/c"})
        sagemaker.add_client_error(
            "update_endpoint",
            "ValidationException",
            f'Cannot update in-progress endpoint "{ARN}:endpoint/mnist-zero".',
            400,
        )
        client.lambda_.invoke(TRAINING, better)
        deferred, replaced = _promotions(client)
        assert (deferred["run_name"], deferred["outcome"]) == ("linear-mbs-200", "pending")
        assert "in-progress" in deferred["message"]
        assert (replaced["run_name"], replaced["outcome"]) == ("linear-mbs-100", "superseded")
        model_b, config_b = deferred["model_name"], deferred["endpoint_config_name"]

        # Resumed: the model and config it created are verified and reused, then the update.
        sagemaker.add_client_error(
            "create_model",
            "ValidationException",
            f'Cannot create already existing model "{ARN}:model/{model_b}".',
            400,
        )
        sagemaker.add_response(
            "describe_model",
            {
                "ModelName": model_b,
                "ModelArn": f"{ARN}:model/{model_b}",
                "CreationTime": datetime.now(UTC),
                "ExecutionRoleArn": ROLE,
                "PrimaryContainer": {"Image": IMAGE, "ModelDataUrl": artifact},
                "EnableNetworkIsolation": True,
            },
            {"ModelName": model_b},
        )
        sagemaker.add_client_error(
            "create_endpoint_config",
            "ValidationException",
            f'Cannot create already existing endpoint configuration "{ARN}:ec/{config_b}".',
            400,
        )
        sagemaker.add_response(
            "describe_endpoint_config",
            {
                "EndpointConfigName": config_b,
                "EndpointConfigArn": f"{ARN}:endpoint-config/{config_b}",
                "CreationTime": datetime.now(UTC),
                "ProductionVariants": [
                    {
                        "VariantName": "AllTraffic",
                        "ModelName": model_b,
                        "InitialInstanceCount": 1,
                        "InstanceType": "ml.m5.large",
                        "InitialVariantWeight": 1.0,
                    }
                ],
            },
            {"EndpointConfigName": config_b},
        )
        sagemaker.add_response(
            "describe_endpoint", _described_endpoint(config_a, 1763642500000), {"EndpointName": ANY}
        )
        sagemaker.add_response(
            "update_endpoint",
            {"EndpointArn": f"{ARN}:endpoint/mnist-zero"},
            {"EndpointName": "mnist-zero", "EndpointConfigName": config_b},
        )
        if resumed_by == "endpoint-event":
            client.lambda_.invoke(
                "on_endpoint_state_change", _endpoint_event(config_a, 1763642500000)
            )
        else:
            report = client.lambda_.invoke("reconcile", _scheduled(client)).payload
            assert [p["run_name"] for p in report["advanced"]] == ["linear-mbs-200"]
        assert _promotions(client)[0]["outcome"] == "deploying"

        sagemaker.add_response(
            "describe_endpoint", _described_endpoint(config_b, 1763642600000), {"EndpointName": ANY}
        )
        client.lambda_.invoke("on_endpoint_state_change", _endpoint_event(config_b, 1763642600000))
        sagemaker.assert_no_pending_responses()

    assert [(p["run_name"], p["outcome"]) for p in _promotions(client)] == [
        ("linear-mbs-200", "succeeded"),
        ("linear-mbs-100", "superseded"),
    ]


# --- (e) DynamoDB conditional-check races ---


class Interleaving:
    """The real champion table, whose compare-and-swap first lets the schedule's next event run
    to its end when the schedule says so: a rival that read later and wrote earlier."""

    def __init__(self, table: ChampionTable, deliver: Any) -> None:
        self._table = table
        self._deliver = deliver
        self.lost = 0

    def get_champion(self, project: str) -> Champion | None:
        return self._table.get_champion(project)

    def replace(self, champion: Champion, expected_version: int, promotion: Promotion) -> bool:
        self._deliver()
        won = self._table.replace(champion, expected_version, promotion)
        self.lost += not won
        return won

    def get_promotion(self, project: str, promotion_id: str) -> Promotion | None:
        return self._table.get_promotion(project, promotion_id)

    def set_outcome(
        self,
        project: str,
        promotion_id: str,
        outcome: PromotionOutcome,
        message: str | None,
        expected: PromotionOutcome | None = None,
    ) -> bool:
        return self._table.set_outcome(project, promotion_id, outcome, message, expected)

    def set_model_package(self, project: str, promotion_id: str, arn: str) -> bool:
        return self._table.set_model_package(project, promotion_id, arn)

    def promotions(self, project: str, limit: int = 100) -> list[Promotion]:
        return self._table.promotions(project, limit)

    def retire(self, champion: Champion, promotion: Promotion) -> bool:
        return self._table.retire(champion, promotion)


LOSSES = {"run-a": 0.3, "run-b": 0.1, "run-c": 0.2, "run-d": 0.1}  # run-b wins the tie on its name


def _race(order: tuple[str, ...], preempts: tuple[bool, ...], table: str) -> Interleaving:
    """Delivers the runs' events in `order`; where `preempts[i]`, event i's compare-and-swap
    waits until the next event has run to its end (itself perhaps preempted)."""
    dynamodb = boto3.client("dynamodb")
    dynamodb.create_table(TableName=table, **TABLE_SCHEMA)
    projects = ProjectTable(dynamodb, table)
    projects.put(parse_project({**project_document("race"), "endpoint": {"name": "race"}}))
    sagemaker = FakeSageMaker()
    pending = list(range(len(order)))
    running: list[int] = []
    used: set[int] = set()

    def preempt() -> None:
        me = running[-1]
        if preempts[me] and me not in used and pending:
            used.add(me)
            deliver(pending.pop(0))

    champions = Interleaving(ChampionTable(dynamodb, table), preempt)
    built = automation(projects, RunTable(dynamodb, table), champions, sagemaker)

    def deliver(index: int) -> None:
        name = order[index]
        sagemaker.jobs[name] = _run(name, LOSSES[name])
        running.append(index)
        change = TrainingJobChange(name, f"arn:{name}", "Completed", EPOCH, FAULT_TAGS)
        built.selection.on_training_job(change, cause=f"event:{name}")
        running.pop()

    while pending:
        deliver(pending.pop(0))
    for _ in range(2):  # the endpoint's updates land, then reconcile, then again
        while (change := sagemaker.settle("race")) is not None:
            built.rollout.on_endpoint(change)
        built.rollout.reconcile()

    champion = champions.get_champion("race")
    assert champion is not None
    assert champion.run_name == "run-b", (order, preempts)
    assert sagemaker.endpoints["race"].config == champion.endpoint_config_name
    ledger = sorted(champions.promotions("race"), key=lambda p: p.promotion_id)
    assert ledger[-1].outcome == "succeeded"
    assert all(p.outcome in ("succeeded", "superseded") for p in ledger)
    values = [(LOSSES[p.run_name], p.run_name) for p in ledger]
    assert values == sorted(values, reverse=True), (order, preempts)  # each one improved
    return champions


def _run(name: str, loss: float) -> Run:
    return Run(
        name=name,
        arn=f"arn:{name}",
        status="Completed",
        last_modified_at=EPOCH,
        metrics={METRIC: loss},
        model_artifact=f"s3://bucket/{name}/output/model.tar.gz",
        training_image=IMAGE,
        role_arn=ROLE,
        tags=FAULT_TAGS,
    )


def test_racing_events_of_one_project_leave_the_best_run_whatever_the_interleaving() -> None:
    lost = 0
    with mock_aws():
        # The last event has nothing left to let in first: two flags cover every preemption.
        schedules = itertools.product(
            itertools.permutations(["run-a", "run-b", "run-c"]),
            itertools.product([False, True], repeat=2),
        )
        for number, (order, preempts) in enumerate(schedules):
            lost += _race(order, (*preempts, False), f"race-{number}").lost
        # a tie with the champion, arriving first or last, in the middle of a race
        for order in (("run-d", "run-b", "run-a"), ("run-b", "run-a", "run-d")):
            lost += _race(order, (True, True, False), f"tie-{order[0]}").lost
    assert lost > 0  # compare-and-swaps really lost, and their events decided again


def test_a_concurrent_project_edit_is_a_409_and_the_first_edit_stands(client: Client) -> None:
    register_project(client, project_document("digits-zero"))
    dynamodb = wiring.container().dynamodb_client
    rival = ProjectTable(boto3.client("dynamodb"), TABLE)
    first_edit = parse_project(project_document("digits-zero", endpoint="first-edit"))

    def rival_writes_first(**_: Any) -> None:
        dynamodb.meta.events.unregister(
            "before-call.dynamodb.TransactWriteItems", rival_writes_first
        )
        rival.put(first_edit)

    dynamodb.meta.events.register("before-call.dynamodb.TransactWriteItems", rival_writes_first)
    response = client.http.put(
        "/v1/projects/digits-zero",
        headers={"Content-Type": "application/json"},
        body=json.dumps(project_document("digits-zero", endpoint="second-edit")).encode(),
    )

    assert response.status_code == 409
    assert response.json_body["error"]["code"] == "Conflict"
    assert "changed concurrently" in response.json_body["error"]["message"]
    stored = client.http.get("/v1/projects/digits-zero").json_body
    assert stored["endpoint"]["name"] == "first-edit"


# --- (f) a report run twice ---


class _Clock(datetime):
    moment = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)

    @classmethod
    def now(cls, tz: Any = None) -> datetime:  # type: ignore[override]
        return cls.moment


def _reports(settings: Settings) -> dict[str, bytes]:
    """The reports' bodies by key, without the snapshots the next day's report compares with."""
    s3 = boto3.client("s3")
    listed = s3.list_objects_v2(Bucket=settings.bucket_name, Prefix="reports/").get("Contents", [])
    return {
        item["Key"]: s3.get_object(Bucket=settings.bucket_name, Key=item["Key"])["Body"].read()
        for item in listed
        if not item["Key"].endswith(".snapshot.jsonl")
    }


def _snapshots(settings: Settings) -> list[str]:
    listed = boto3.client("s3").list_objects_v2(Bucket=settings.bucket_name, Prefix="reports/")
    return [
        item["Key"]
        for item in listed.get("Contents", [])
        if item["Key"].endswith(".snapshot.jsonl")
    ]


def test_a_report_run_twice_rewrites_the_same_keys_and_latest_follows_the_newest_day(
    client: Client, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    boto3.client("s3").create_bucket(Bucket=settings.bucket_name)
    register_project(client, project_document("digits-zero"))
    sagemaker = FakeSageMaker()
    wiring.container().control_plane = sagemaker
    champions = wiring.container().champions
    for name, loss in (("ll-100", 0.3), ("ll-200", 0.2)):
        sagemaker.jobs[name] = _run(name, loss)
        champions.on_training_job(
            TrainingJobChange(name, f"arn:{name}", "Completed", EPOCH, FAULT_TAGS), "event"
        )
    monkeypatch.setattr(event_handlers, "datetime", _Clock)
    scheduled = _scheduled(client)

    first = client.lambda_.invoke("lineage_report", scheduled).payload
    before = _reports(settings)
    _Clock.moment += timedelta(hours=3)
    again = client.lambda_.invoke("lineage_report", scheduled).payload
    after = _reports(settings)

    assert again == first
    assert sorted(after) == sorted(before) == sorted(first["dated"] + first["latest"])
    assert _snapshots(settings) == [
        "reports/2026/11/23/lineage.snapshot.jsonl",
        "reports/latest.snapshot.jsonl",
    ]
    assert len(after) == 8
    for key in after:
        if key.endswith((".csv", ".jsonl")):
            assert after[key] == before[key], key
        if key.endswith(".json"):
            old, new = json.loads(before[key]), json.loads(after[key])
            assert new.pop("generated_at") != old.pop("generated_at")
            assert new == old
    for dated, latest in zip(first["dated"], first["latest"], strict=True):
        assert after[latest] == after[dated]  # latest is this (newest) report

    _Clock.moment += timedelta(days=1)
    next_day = client.lambda_.invoke("lineage_report", scheduled).payload
    final = _reports(settings)
    assert len(final) == 12
    assert len(_snapshots(settings)) == 3
    assert all(key.startswith("reports/2026/11/24/") for key in next_day["dated"])
    for dated, latest in zip(next_day["dated"], next_day["latest"], strict=True):
        assert final[latest] == final[dated]
    for key in first["dated"]:
        assert final[key] == after[key]  # the earlier day's report is left as it was
    served = client.http.get("/v1/reports/latest").json_body
    assert served == json.loads(final["reports/2026/11/24/lineage.json"])


# --- found by the campaign: lineage of a run whose dataset sagewire may not read ---


def test_lineage_of_a_run_reading_an_unreadable_or_missing_bucket_is_served(
    client: Client, settings: Settings
) -> None:
    boto3.client("s3").create_bucket(Bucket=settings.bucket_name)
    register_project(client, project_document("digits-zero"))
    sagemaker = FakeSageMaker()
    container = wiring.container()
    container.control_plane = sagemaker
    channels = (
        Channel("train", "s3://another-team/digits/train.csv"),  # HeadObject: 403
        Channel("validation", "s3://deleted-bucket/digits/validation.csv"),  # NoSuchBucket
    )
    sagemaker.jobs["ll-100"] = replace(_run("ll-100", 0.2), channels=channels)
    container.champions.on_training_job(
        TrainingJobChange("ll-100", "arn:ll-100", "Completed", EPOCH, FAULT_TAGS), "event"
    )

    def forbidden(params: dict[str, Any], **_: Any) -> Any:
        if params.get("Bucket") == "another-team":
            return error_response("403", "Forbidden", 403)
        return None

    container.s3_client.meta.events.register("before-call.s3.HeadObject", forbidden)

    response = client.http.get("/v1/runs/ll-100")
    assert response.status_code == 200, response.json_body
    provenance = {c["name"]: c["provenance"] for c in response.json_body["inputs"]}
    assert provenance == {"train": "unversioned", "validation": "unversioned"}
    report = client.lambda_.invoke("lineage_report", _scheduled(client)).payload
    assert "reports/latest.json" in report["latest"]
