"""AWS calls per training-job completion event: sagewire against a Search-every-event selector."""

from __future__ import annotations

import json
import random
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any, cast

import boto3
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.model import OperationModel
from chalice.test import Client
from moto import mock_aws

from app import app
from bench import Check, Outcome
from bench.sagemaker_wire import ACCOUNT, REGION, arn, json_response, validation_error
from bench.seeding import BatchedWrites
from chalicelib import wiring
from chalicelib.config import Settings
from chalicelib.definitions import parse_project
from chalicelib.gateways.runs import RunTable
from chalicelib.gateways.sagemaker import control_plane_client_config
from chalicelib.gateways.table import TABLE_SCHEMA
from chalicelib.records import EndpointChange

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_sagemaker.client import SageMakerClient
    from mypy_boto3_sagemaker.type_defs import TrainingJobTypeDef

NAME = "calls"
SIZES = (10, 1_000, 10_000)
MAX_LOSING = 4
MAX_WINNING = 10
PAGE_SIZE = 100
TABLE = "sagewire-bench"
PROJECT = "mnist-zero"
HANDLER = "on_training_job_state_change"
TAG_KEY, TAG_VALUE = "Project", "Project_Binary_Classifier"
OBJECTIVE = "train:objective_loss:final"
ACCURACY = "train:binary_classification_accuracy:final"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/SageMakerExecution"
IMAGE = "382416733822.dkr.ecr.us-east-1.amazonaws.com/linear-learner:1"
BUCKET = "s3://example-bucket/sagemaker/DEMO-linear-mnist"
START = datetime(2026, 11, 20, 12, tzinfo=UTC)
# The established champion's loss; the other recorded runs are worse, the losing run too.
CHAMPION_LOSS, LOSING_LOSS, WINNING_LOSS = 0.0226, 0.0412, 0.0187
# Only SageMaker passes moto by: every SageMaker request is answered by FakeSageMaker's hook.
MOTO_CONFIG: Any = {"core": {"passthrough": {"services": ["sagemaker"]}}}
IDEMPOTENCY = "idempotency"
WHO = "bench:who"
SERVICE = "service"

Job = dict[str, Any]
# (who, service, operation, error code or "") -> calls
Tally = Counter[tuple[str, str, str, str]]


def _epoch(moment: datetime) -> float:
    return moment.timestamp()


def _job(name: str, loss: float, accuracy: float, minute: int) -> Job:
    """A DescribeTrainingJob answer of a linear-learner run, in SageMaker's JSON wire form."""
    created = START + timedelta(minutes=minute)
    ended = created + timedelta(minutes=7)
    return {
        "TrainingJobName": name,
        "TrainingJobArn": arn("training-job", name),
        "ModelArtifacts": {"S3ModelArtifacts": f"{BUCKET}/output/{name}/output/model.tar.gz"},
        "TrainingJobStatus": "Completed",
        "SecondaryStatus": "Completed",
        "HyperParameters": {
            "feature_dim": "784",
            "predictor_type": "binary_classifier",
            "mini_batch_size": str(10 + minute % 200),
        },
        "AlgorithmSpecification": {"TrainingImage": IMAGE, "TrainingInputMode": "File"},
        "RoleArn": ROLE,
        "InputDataConfig": [
            {
                "ChannelName": "train",
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "S3Prefix",
                        "S3Uri": f"{BUCKET}/train/recordio-pb-data",
                        "S3DataDistributionType": "FullyReplicated",
                    }
                },
            }
        ],
        "OutputDataConfig": {"S3OutputPath": f"{BUCKET}/output"},
        "ResourceConfig": {
            "InstanceType": "ml.c4.xlarge",
            "InstanceCount": 1,
            "VolumeSizeInGB": 30,
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": 86400},
        "FinalMetricDataList": [
            {"MetricName": OBJECTIVE, "Value": loss, "Timestamp": _epoch(ended)},
            {"MetricName": ACCURACY, "Value": accuracy, "Timestamp": _epoch(ended)},
        ],
        "CreationTime": _epoch(created),
        "TrainingStartTime": _epoch(created + timedelta(minutes=1)),
        "TrainingEndTime": _epoch(ended),
        "LastModifiedTime": _epoch(ended),
    }


def _history(count: int) -> dict[str, Job]:
    """`count` finished runs; the first is the best (the champion), the rest are worse."""
    rng = random.Random(count)
    jobs = {"linear-00000": _job("linear-00000", CHAMPION_LOSS, 0.9921, 0)}
    for index in range(1, count):
        name = f"linear-{index:05d}"
        jobs[name] = _job(name, rng.uniform(0.025, 0.2), rng.uniform(0.95, 0.99), index)
    return jobs


class FakeSageMaker:
    """SageMaker's control plane answered in-process from a before-send hook: no network."""

    def __init__(self, jobs: dict[str, Job]) -> None:
        self.jobs = jobs
        self.models: set[str] = set()
        self.configs: set[str] = set()
        self.endpoint: dict[str, Any] | None = None
        # Model Registry: group -> its versions' ClientTokens, in order.
        self.groups: dict[str, list[str]] = {}

    def attach(self, client: SageMakerClient) -> None:
        answer: Callable[..., Any] = self._answer
        client.meta.events.register_first("before-send.sagemaker", answer)

    def serve(self, config: str) -> None:
        """The endpoint is InService on `config` (what an update settles to)."""
        self.endpoint = {
            "EndpointName": PROJECT,
            "EndpointArn": arn("endpoint", PROJECT),
            "EndpointConfigName": config,
            "EndpointStatus": "InService",
            "CreationTime": _epoch(START),
            "LastModifiedTime": _epoch(START + timedelta(days=1)),
        }

    @property
    def target(self) -> str | None:
        """The config the endpoint is moving to, or serves when it is not moving."""
        if self.endpoint is None:
            return None
        pending = self.endpoint.get("PendingDeploymentSummary", {}).get("EndpointConfigName")
        return cast("str", pending or self.endpoint["EndpointConfigName"])

    def _answer(self, request: AWSPreparedRequest, event_name: str, **_: Any) -> AWSResponse:
        operation = event_name.rsplit(".", 1)[-1]
        if not isinstance(request.body, str | bytes):
            raise TypeError(f"{operation}: SageMaker's JSON requests have a str or bytes body")
        params = json.loads(request.body or b"{}")
        handler = getattr(self, f"_{operation}", None)
        if handler is None:
            raise NotImplementedError(f"FakeSageMaker does not answer {operation}")
        status, body = handler(params)
        return json_response(request.url, status, body)

    def _DescribeTrainingJob(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        name = params["TrainingJobName"]
        if name not in self.jobs:
            return validation_error(f"Requested resource not found: training job {name}")
        return 200, self.jobs[name]

    def _Search(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """Training jobs by their filters (tags Equals, CreationTime GreaterThanOrEqualTo), sorted
        by a metric or CreationTime; no NextToken on the last page, as SageMaker."""
        filters = params.get("SearchExpression", {}).get("Filters", [])
        found = [job for job in self.jobs.values() if all(_passes(job, f) for f in filters)]
        sort_by = params.get("SortBy", "CreationTime")
        if sort_by.startswith("Metrics."):
            metric = sort_by.removeprefix("Metrics.")
            ranked = [(_metric(job, metric), job) for job in found]
            ranked.sort(key=lambda pair: (pair[0] is None, pair[0] or 0.0))
            found = [job for _, job in ranked]
        else:
            found.sort(key=lambda job: cast("float", job[sort_by]))
        if params.get("SortOrder") == "Descending":
            found.reverse()
        page, token = _page(found, params, PAGE_SIZE)
        return 200, {
            "Results": [{"TrainingJob": {**job, "Tags": _tag_list(job)}} for job in page],
            **token,
        }

    def _ListTrainingJobs(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """Every job's summary, oldest first (SageMaker's default order), 10 a page unless asked."""
        found = sorted(self.jobs.values(), key=lambda job: cast("float", job["CreationTime"]))
        if params.get("SortOrder") == "Descending":
            found.reverse()
        page, token = _page(found, params, 10)
        summaries = [
            {
                key: job[key]
                for key in (
                    "TrainingJobName",
                    "TrainingJobArn",
                    "CreationTime",
                    "TrainingEndTime",
                    "LastModifiedTime",
                    "TrainingJobStatus",
                    "SecondaryStatus",
                )
            }
            for job in page
        ]
        return 200, {"TrainingJobSummaries": summaries, **token}

    def _ListTags(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """A training job's tags (all in one page: the bench's jobs have few)."""
        resource = params["ResourceArn"]
        name = resource.removeprefix(arn("training-job", ""))
        if name == resource or name not in self.jobs:
            return validation_error(f"Requested resource not found: {resource}")
        return 200, {"Tags": _tag_list(self.jobs[name])}

    def _CreateModel(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        name = params["ModelName"]
        if name in self.models:
            return validation_error(f'Cannot create already existing model "{arn("model", name)}".')
        self.models.add(name)
        return 200, {"ModelArn": arn("model", name)}

    def _CreateModelPackageGroup(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        name = params["ModelPackageGroupName"]
        if name in self.groups:
            return validation_error(f"Model Package Group already exists: {name}")
        self.groups[name] = []
        return 200, {"ModelPackageGroupArn": arn("model-package-group", name)}

    def _CreateModelPackage(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        versions = self.groups[params["ModelPackageGroupName"]]
        if params["ClientToken"] not in versions:
            versions.append(params["ClientToken"])
        version = versions.index(params["ClientToken"]) + 1
        package = f"{params['ModelPackageGroupName']}/{version}"
        return 200, {"ModelPackageArn": arn("model-package", package)}

    def _CreateEndpointConfig(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        name = params["EndpointConfigName"]
        if name in self.configs:
            config_arn = arn("endpoint-config", name)
            return validation_error(
                f'Cannot create already existing endpoint configuration "{config_arn}".'
            )
        self.configs.add(name)
        return 200, {"EndpointConfigArn": arn("endpoint-config", name)}

    def _DescribeEndpoint(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if self.endpoint is None:
            return validation_error(f'Could not find endpoint "{params["EndpointName"]}".')
        return 200, self.endpoint

    def _CreateEndpoint(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        self.serve(params["EndpointConfigName"])
        assert self.endpoint is not None
        self.endpoint["EndpointStatus"] = "Creating"
        return 200, {"EndpointArn": self.endpoint["EndpointArn"]}

    def _UpdateEndpoint(self, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if self.endpoint is None or self.endpoint["EndpointStatus"] != "InService":
            return validation_error(
                f"Cannot update in-progress endpoint {arn('endpoint', PROJECT)}."
            )
        self.endpoint["EndpointStatus"] = "Updating"
        self.endpoint["PendingDeploymentSummary"] = {
            "EndpointConfigName": params["EndpointConfigName"],
            "StartTime": _epoch(START + timedelta(days=2)),
        }
        return 200, {"EndpointArn": self.endpoint["EndpointArn"]}


def _passes(job: Job, condition: dict[str, Any]) -> bool:
    """Whether a job meets one of Search's filters."""
    name, operator, value = (
        condition["Name"],
        condition.get("Operator", "Equals"),
        condition["Value"],
    )
    if name.startswith("Tags.") and operator == "Equals":
        return bool(job.get("Tags", {}).get(name.removeprefix("Tags.")) == value)
    if name == "CreationTime" and operator == "GreaterThanOrEqualTo":
        return bool(job["CreationTime"] >= datetime.fromisoformat(value).timestamp())
    raise NotImplementedError(f"FakeSageMaker's Search has no filter {name} {operator}")


def _page(
    found: list[Job], params: dict[str, Any], default: int
) -> tuple[list[Job], dict[str, str]]:
    """The page of a List or Search call and its NextToken, none after the last page."""
    start = int(params.get("NextToken", "0"))
    end = start + params.get("MaxResults", default)
    return found[start:end], ({"NextToken": str(end)} if end < len(found) else {})


def _tag_list(job: Job) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in job.get("Tags", {}).items()]


def _metric(job: Job, name: str) -> float | None:
    values = [m["Value"] for m in job.get("FinalMetricDataList", []) if m["MetricName"] == name]
    return cast("float", values[0]) if values else None


class CallCounter:
    """Counts every API call (botocore before-call, once per call whatever its retries) of the
    clients it is attached to, by who made it (Powertools idempotency or the service), and
    moves the calls that AWS rejected (after-call sees their error code) to that code."""

    def __init__(self) -> None:
        self.tally: Tally = Counter()

    def attach(self, client: Any) -> None:
        client.meta.events.register("before-call", self._count)
        client.meta.events.register("after-call", self._settle)

    def measure(self, action: Callable[[], object]) -> Tally:
        """The calls `action` made; later calls (the checks' reads) are not counted in it."""
        self.tally = Counter()
        action()
        return +self.tally

    def _count(
        self, model: OperationModel, params: dict[str, Any], context: dict[str, Any], **_: Any
    ) -> None:
        service = model.service_model.service_name
        context[WHO] = _who(service, params)
        self.tally[(context[WHO], service, model.name, "")] += 1

    def _settle(
        self, model: OperationModel, parsed: dict[str, Any], context: dict[str, Any], **_: Any
    ) -> None:
        code = parsed.get("Error", {}).get("Code")
        if code:
            call = (context[WHO], model.service_model.service_name, model.name)
            self.tally[(*call, "")] -= 1
            self.tally[(*call, code)] += 1


def _who(service: str, request: dict[str, Any]) -> str:
    """Powertools' records live under `IDEMPOTENCY#<handler>` partition keys."""
    if service != "dynamodb":
        return SERVICE
    body = json.loads(request.get("body") or b"{}")
    key = body.get("Key") or body.get("Item") or {}
    return IDEMPOTENCY if key.get("pk", {}).get("S", "").startswith("IDEMPOTENCY#") else SERVICE


def _calls(tally: Tally, who: str | None = None) -> int:
    return sum(count for (caller, *_), count in tally.items() if who in (None, caller))


def _event(job: Job) -> dict[str, Any]:
    """The EventBridge event of a job's completion: thin, with no metrics (as SageMaker sends)."""
    name = job["TrainingJobName"]
    detail = {
        key: job[key]
        for key in (
            "TrainingJobName",
            "TrainingJobArn",
            "TrainingJobStatus",
            "SecondaryStatus",
            "HyperParameters",
            "AlgorithmSpecification",
            "RoleArn",
            "InputDataConfig",
            "OutputDataConfig",
            "ResourceConfig",
            "StoppingCondition",
        )
    }
    for key in ("CreationTime", "TrainingStartTime", "TrainingEndTime", "LastModifiedTime"):
        detail[key] = str(int(job[key] * 1000))
    return {
        "version": "0",
        "id": f"bench-{name}",
        "detail-type": "SageMaker Training Job State Change",
        "source": "aws.sagemaker",
        "account": ACCOUNT,
        "time": datetime.fromtimestamp(job["LastModifiedTime"], UTC).isoformat(),
        "region": REGION,
        "resources": [job["TrainingJobArn"]],
        "detail": {**detail, "Tags": job["Tags"]},
    }


def _definition() -> dict[str, Any]:
    return {
        "name": PROJECT,
        "match": {"tags": {TAG_KEY: TAG_VALUE}},
        "objective": {"metric": OBJECTIVE, "goal": "minimize"},
        "endpoint": {"name": PROJECT, "instance_type": "ml.m5.large", "execution_role_arn": ROLE},
        "inference": {
            "input": {"shape": [28, 28], "scale": 255.0},
            "request": {"content_type": "text/csv"},
            "response": {"accept": "application/json", "postprocess": "linear_learner"},
        },
    }


@dataclass(frozen=True)
class Scenario:
    """A project's recorded runs (the first one is the served champion) and two challengers."""

    jobs: dict[str, Job]
    losing: Job
    winning: Job

    @classmethod
    def of(cls, size: int) -> Scenario:
        jobs = _history(size)
        losing = _job(f"linear-loser-{size}", LOSING_LOSS, 0.9905, size + 10)
        winning = _job(f"linear-winner-{size}", WINNING_LOSS, 0.9934, size + 20)
        for job in (*jobs.values(), losing, winning):
            job["Tags"] = {TAG_KEY: TAG_VALUE}
        return cls(jobs, losing, winning)


@dataclass(frozen=True)
class Counts:
    """The calls one side made for the losing and the winning event, and its checks."""

    losing: Tally
    winning: Tally
    losing_kept_champion: bool
    winner_took_over: bool


def bench_container(jobs: dict[str, Job]) -> tuple[wiring.Container, FakeSageMaker]:
    """The service's container (inside mock_aws): its table made on moto's DynamoDB, and its
    SageMaker client answered by a FakeSageMaker of `jobs`."""
    settings = replace(
        Settings.from_environ(),
        region=REGION,
        table_name=TABLE,
        trusted_images=(IMAGE.rsplit(":", 1)[0],),
        trusted_artifacts=(f"{BUCKET}/",),
    )
    container = wiring.Container(settings)
    boto3.client("dynamodb", region_name=REGION).create_table(TableName=TABLE, **TABLE_SCHEMA)
    sagemaker = FakeSageMaker(dict(jobs))
    sagemaker.attach(container.sagemaker_client)
    return container, sagemaker


def _sagewire(scenario: Scenario) -> tuple[Counts, float]:
    """The Chalice handler over moto's DynamoDB (the real table and gateways) and FakeSageMaker;
    returns the counts and the seconds spent seeding the table."""
    container, sagemaker = bench_container(scenario.jobs)
    project = parse_project(_definition())
    container.project_store.put(project)
    seeding = time.perf_counter()
    batch = BatchedWrites(container.dynamodb_client, TABLE)
    runs = RunTable(cast("DynamoDBClient", batch), TABLE)
    gateway = container.control_plane
    for job in scenario.jobs.values():
        run = gateway.describe_training_job(job["TrainingJobName"], job["Tags"])
        runs.put_run(run, [project])
    batch.flush()
    seeded = time.perf_counter() - seeding
    # The established champion: promoted through the service, deployed, and its promotion
    # closed as succeeded by the endpoint's InService event.
    champion = container.champions.promote(PROJECT, "linear-00000", "bench:setup")
    sagemaker.serve(champion.endpoint_config_name)
    container.rollout.on_endpoint(
        EndpointChange(PROJECT, arn("endpoint", PROJECT), "InService", START, None)
    )
    established = container.champion_store.get_promotion(PROJECT, champion.promotion_id)
    if established is None or established.outcome != "succeeded":
        raise RuntimeError(f"the champion's promotion did not succeed: {established}")
    counter = CallCounter()
    counter.attach(container.dynamodb_client)
    counter.attach(container.sagemaker_client)
    sagemaker.jobs.update(
        {job["TrainingJobName"]: job for job in (scenario.losing, scenario.winning)}
    )
    wiring.use(container)
    try:
        with Client(app) as client:
            losing = counter.measure(
                lambda: client.lambda_.invoke(HANDLER, _event(scenario.losing))
            )
            kept = container.champion_store.get_champion(PROJECT)
            winning = counter.measure(
                lambda: client.lambda_.invoke(HANDLER, _event(scenario.winning))
            )
            now = container.champion_store.get_champion(PROJECT)
    finally:
        wiring.use(None)
    return Counts(
        losing,
        winning,
        losing_kept_champion=kept is not None and kept.run_name == "linear-00000",
        winner_took_over=now is not None
        and now.run_name == scenario.winning["TrainingJobName"]
        and sagemaker.target == now.endpoint_config_name,
    ), seeded


class NaiveSelector:
    """The peer: on every event, describe the job, re-rank all the project's runs through
    SageMaker Search (pages of 100) and deploy the best when it changed. It keeps the champion
    in memory, which spares it any store calls."""

    def __init__(self, client: SageMakerClient, champion: str) -> None:
        self._client = client
        self.champion = champion

    def on_completed(self, name: str) -> None:
        job = self._client.describe_training_job(TrainingJobName=name)
        if job["TrainingJobStatus"] != "Completed":
            return
        best: tuple[float, TrainingJobTypeDef] | None = None
        pages = self._client.get_paginator("search").paginate(
            Resource="TrainingJob",
            SearchExpression={
                "Filters": [{"Name": f"Tags.{TAG_KEY}", "Operator": "Equals", "Value": TAG_VALUE}]
            },
            SortBy=f"Metrics.{OBJECTIVE}",
            SortOrder="Ascending",
            PaginationConfig={"PageSize": PAGE_SIZE},
        )
        for page in pages:
            for result in page["Results"]:
                run = result.get("TrainingJob", {})
                values = [
                    m["Value"]
                    for m in run.get("FinalMetricDataList", [])
                    if m.get("MetricName") == OBJECTIVE and "Value" in m
                ]
                if values and (best is None or values[0] < best[0]):
                    best = (values[0], run)
        if best is not None and best[1].get("TrainingJobName") != self.champion:
            self._deploy(best[1])

    def _deploy(self, run: TrainingJobTypeDef) -> None:
        """The same create, describe and update calls as sagewire's all-at-once rollout."""
        name = run["TrainingJobName"]
        model = f"{PROJECT}-{name}"
        self._client.create_model(
            ModelName=model,
            PrimaryContainer={
                "Image": run["AlgorithmSpecification"]["TrainingImage"],
                "ModelDataUrl": run["ModelArtifacts"]["S3ModelArtifacts"],
            },
            ExecutionRoleArn=ROLE,
        )
        self._client.create_endpoint_config(
            EndpointConfigName=model,
            ProductionVariants=[
                {
                    "VariantName": "AllTraffic",
                    "ModelName": model,
                    "InitialInstanceCount": 1,
                    "InstanceType": "ml.m5.large",
                    "InitialVariantWeight": 1.0,
                }
            ],
        )
        if self._client.describe_endpoint(EndpointName=PROJECT)["EndpointStatus"] == "InService":
            self._client.update_endpoint(EndpointName=PROJECT, EndpointConfigName=model)
            self.champion = name


def _naive(scenario: Scenario) -> Counts:
    """The peer on a real botocore SageMaker client answered by FakeSageMaker."""
    sagemaker = FakeSageMaker(dict(scenario.jobs))
    sagemaker.serve(f"{PROJECT}-linear-00000")
    client = boto3.session.Session(region_name=REGION).client(
        "sagemaker", config=control_plane_client_config()
    )
    sagemaker.attach(client)
    counter = CallCounter()
    counter.attach(client)
    selector = NaiveSelector(client, "linear-00000")
    tallies = []
    kept = []
    for job in (scenario.losing, scenario.winning):
        name = job["TrainingJobName"]
        sagemaker.jobs[name] = job
        tallies.append(counter.measure(partial(selector.on_completed, name)))
        kept.append(selector.champion)
    return Counts(
        tallies[0],
        tallies[1],
        losing_kept_champion=kept[0] == "linear-00000",
        winner_took_over=kept[1] == scenario.winning["TrainingJobName"]
        and sagemaker.target == f"{PROJECT}-{kept[1]}",
    )


def _breakdown(label: str, tallies: dict[int, Tally]) -> None:
    """One line per distinct breakdown, naming the sizes that share it."""
    shared: dict[tuple[str, ...], list[int]] = {}
    for size, tally in tallies.items():
        parts = tuple(
            f"{service}.{operation} x{count}"
            + (" (idempotency)" if who == IDEMPOTENCY else "")
            + (f" (rejected: {error})" if error else "")
            for (who, service, operation, error), count in sorted(tally.items())
        )
        shared.setdefault(parts, []).append(size)
    for parts, sizes in shared.items():
        calls = _calls(tallies[sizes[0]])
        print(f"    {label} (N = {', '.join(map(str, sizes))}): {calls} calls")
        for part in parts:
            print(f"      {part}")


def run() -> list[Outcome]:
    results: dict[int, tuple[Counts, Counts]] = {}
    started = time.perf_counter()
    for size in SIZES:
        scenario = Scenario.of(size)
        with mock_aws(config=MOTO_CONFIG):
            ours, seeded = _sagewire(scenario)
            results[size] = (ours, _naive(scenario))
        print(f"{NAME}: N={size:>6}: table seeded in {seeded:.1f} s")
    header = (
        "N",
        "losing: sagewire service/idempotency/total",
        "naive",
        "winning: sagewire service/idempotency/total",
        "naive",
    )
    print(f"{NAME}: AWS calls per training-job Completed event (botocore before-call hooks)")
    print(f"  {header[0]:>6}  {header[1]:<44}{header[2]:>6}  {header[3]:<45}{header[4]:>6}")
    for size, (ours, naive) in results.items():
        cells = [
            f"{_calls(t, SERVICE)} / {_calls(t, IDEMPOTENCY)} / {_calls(t)}"
            for t in (ours.losing, ours.winning)
        ]
        print(
            f"  {size:>6}  {cells[0]:<44}{_calls(naive.losing):>6}  "
            f"{cells[1]:<45}{_calls(naive.winning):>6}"
        )
    print(f"  ({time.perf_counter() - started:.0f} s in all)")
    return _goals(results)


def _goals(results: dict[int, tuple[Counts, Counts]]) -> list[Outcome]:
    """Goal status on sagewire's own calls and on all calls, breakdowns when a goal is missed."""
    sides = [ours for ours, _ in results.values()]
    goals: list[Check] = []
    for who, scope in ((SERVICE, "the service's own calls"), (None, "all calls")):
        losing = {_calls(counts.losing, who) for counts in sides}
        winning = {_calls(counts.winning, who) for counts in sides}
        targets = (
            (f"losing run ≤ {MAX_LOSING} AWS calls ({scope})", max(losing) <= MAX_LOSING),
            (f"winning run ≤ {MAX_WINNING} AWS calls ({scope})", max(winning) <= MAX_WINNING),
            (
                f"calls constant in the number of runs ({scope})",
                len(losing) == 1 and len(winning) == 1,
            ),
        )
        for text, met in targets:
            print(f"  goal {text}: {'met' if met else 'MISSED'}")
            goals.append(Check(NAME, f"goal: {text}", met))
    if not all(goal.passed for goal in goals):
        print("  per-operation breakdown:")
        _breakdown("sagewire, losing", {n: ours.losing for n, (ours, _) in results.items()})
        _breakdown("sagewire, winning", {n: ours.winning for n, (ours, _) in results.items()})
    largest = max(results)
    _breakdown("naive, losing", {largest: results[largest][1].losing})
    _breakdown("naive, winning", {largest: results[largest][1].winning})
    outcomes: list[Outcome] = [*goals]
    for label, index in (("sagewire", 0), ("naive", 1)):
        counts = [pair[index] for pair in results.values()]
        outcomes.append(
            Check(
                NAME,
                f"{label}: the losing run left the champion alone",
                all(c.losing_kept_champion for c in counts),
            )
        )
        outcomes.append(
            Check(
                NAME,
                f"{label}: the winning run became the champion and is deploying",
                all(c.winner_took_over for c in counts),
            )
        )
    return outcomes
