"""Lineage report and leaderboard at scale: AWS calls, wall time and memory against naive peers."""

from __future__ import annotations

import itertools
import json
import math
import random
import tempfile
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

import boto3
import orjson
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from botocore.model import OperationModel
from moto import mock_aws
from moto.dynamodb.models.table import Table

from bench import Check, Outcome, Row, Timing
from bench.disk_s3 import DiskS3
from bench.sagemaker_wire import ACCOUNT, REGION, arn, json_response, validation_error
from bench.seeding import BatchedWrites
from chalicelib import wiring
from chalicelib.config import Settings
from chalicelib.definitions import parse_project
from chalicelib.gateways.runs import RunTable
from chalicelib.gateways.sagemaker import SageMakerGateway, control_plane_client_config
from chalicelib.gateways.table import TABLE_SCHEMA
from chalicelib.models import Project
from chalicelib.processing.report_values import LeaderboardRow
from chalicelib.records import Channel, EndpointChange, Run
from chalicelib.services.reports import leaderboard
from chalicelib.services.selection import objective_value

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_s3.client import S3Client

NAME = "report_scale"
# The shape: 500 endpoints, each a project's, with 20 runs and then 200 runs each.
PROJECTS = 500
SIZES = (10_000, 100_000)
# The naive peer makes a DescribeTrainingJob per run: at larger sizes the report's leaderboards
# are checked against the same ranking of the seeded runs, without the calls.
NAIVE_MAX_RUNS = 10_000
MAX_PEAK_MIB = 128
TOP = 10
# Describe hops of an endpoint chain: endpoint -> endpoint config -> model.
CHAIN = ("DescribeEndpoint", "DescribeEndpointConfig", "DescribeModel")
MAX_TOP_ITEMS = 20
TABLE = "sagewire-bench"
BUCKET = "sagewire-bench-reports"
DATA = "s3://example-bucket/sagemaker"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/SageMakerExecution"
IMAGE = "382416733822.dkr.ecr.us-east-1.amazonaws.com/linear-learner:1"
LOSS = "train:objective_loss:final"
ACCURACY = "validation:binary_classification_accuracy"
START = datetime(2026, 11, 20, 12, tzinfo=UTC)
NOW = datetime(2026, 12, 24, 6, tzinfo=UTC)
# Only SageMaker passes moto by: every SageMaker request is answered by FakeSageMaker's hook.
# S3 passes by too, to DiskS3: moto would hold every object in this process's measured memory.
MOTO_CONFIG: Any = {"core": {"passthrough": {"services": ["sagemaker", "s3"]}}}
DESCRIBE_TRAINING_JOB = ("sagemaker", "DescribeTrainingJob")

Job = dict[str, Any]
# (service, operation) -> calls
Tally = Counter[tuple[str, str]]
_T = TypeVar("_T")


@contextmanager
def _partitioned_queries() -> Iterator[None]:
    """moto 5.2.5 sorts every item of the table on every Query (O(table) per call, so a report's
    Queries cost O(runs x Queries)); while this is in force a Query sees only the partition it
    names (of the table, or of the index: its hash key values), as DynamoDB reads it. What a
    Query returns is unchanged; only moto's cost, which would swamp sagewire's, goes."""
    table: Any = Table
    original = table.query

    def query(self: Any, hash_key: Any, *args: Any, **kwargs: Any) -> Any:
        index_name = args[6] if len(args) > 6 else kwargs.get("index_name")
        full = self.items
        if not self.range_key_attr:
            return original(self, hash_key, *args, **kwargs)
        if index_name is None:
            self.items = {hash_key: full[hash_key]} if hash_key in full else {}
        else:
            wanted = [
                (name, value.type, value.value) for name, value in kwargs["hash_key_conditions"]
            ]
            self.items = {
                key: {
                    sort: item
                    for sort, item in partition.items()
                    if all(
                        (have := item.attrs.get(name)) is not None
                        and (have.type, have.value) == (kind, value)
                        for name, kind, value in wanted
                    )
                }
                for key, partition in full.items()
            }
        try:
            return original(self, hash_key, *args, **kwargs)
        finally:
            self.items = full

    table.query = query
    try:
        yield
    finally:
        table.query = original


def _project_name(index: int) -> str:
    return f"proj-{index:03d}"


def _definition(index: int) -> Project:
    """Even projects minimize the loss, odd ones maximize the accuracy; each owns one endpoint."""
    name = _project_name(index)
    metric, goal = (LOSS, "minimize") if index % 2 == 0 else (ACCURACY, "maximize")
    return parse_project(
        {
            "name": name,
            "match": {"tags": {"Project": name}},
            "objective": {"metric": metric, "goal": goal},
            "endpoint": {"name": f"ep-{index:03d}", "execution_role_arn": ROLE},
            "inference": {
                "input": {"shape": [28, 28], "scale": 255.0},
                "request": {"content_type": "text/csv"},
                "response": {"accept": "application/json", "postprocess": "linear_learner"},
            },
        }
    )


def _runs(project: Project, count: int, rng: random.Random) -> list[Run]:
    """`count` linear-learner runs of a project; every 50th failed early, with no metrics."""
    runs = []
    for index in range(count):
        name = f"{project.name}-r{index:05d}"
        created = START + timedelta(minutes=index)
        ended = created + timedelta(minutes=7)
        failed = index % 50 == 49
        runs.append(
            Run(
                name=name,
                arn=arn("training-job", name),
                status="Failed" if failed else "Completed",
                last_modified_at=ended,
                metrics={}
                if failed
                else {
                    LOSS: round(rng.uniform(0.02, 0.2), 6),
                    ACCURACY: round(rng.uniform(0.9, 0.995), 6),
                    "train:progress": 100.0,
                },
                hyperparameters={
                    "feature_dim": "784",
                    "predictor_type": "binary_classifier",
                    "mini_batch_size": str(10 * rng.randint(1, 20)),
                    "learning_rate": f"{rng.uniform(0.001, 0.1):.4f}",
                    "epochs": str(rng.randint(5, 15)),
                },
                channels=(
                    Channel("train", f"{DATA}/{project.name}/train/recordio-pb-data"),
                    Channel("validation", f"{DATA}/{project.name}/validation/"),
                ),
                model_artifact=None if failed else f"{DATA}/output/{name}/output/model.tar.gz",
                training_image=IMAGE,
                role_arn=ROLE,
                tags={"Project": project.name},
                failure_reason="AlgorithmError: out of memory" if failed else None,
                created_at=created,
                started_at=created + timedelta(minutes=1),
                ended_at=ended,
            )
        )
    return runs


def _wire(run: Run) -> Job:
    """The DescribeTrainingJob answer of a run, in SageMaker's JSON wire form."""

    def epoch(moment: datetime | None) -> float | None:
        return None if moment is None else moment.timestamp()

    job: Job = {
        "TrainingJobName": run.name,
        "TrainingJobArn": run.arn,
        "TrainingJobStatus": run.status,
        "SecondaryStatus": run.status,
        "HyperParameters": run.hyperparameters,
        "AlgorithmSpecification": {
            "TrainingImage": run.training_image,
            "TrainingInputMode": "File",
        },
        "RoleArn": run.role_arn,
        "InputDataConfig": [
            {
                "ChannelName": channel.name,
                "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": channel.s3_uri}},
            }
            for channel in run.channels
        ],
        "OutputDataConfig": {"S3OutputPath": f"{DATA}/output"},
        "ResourceConfig": {
            "InstanceType": "ml.c4.xlarge",
            "InstanceCount": 1,
            "VolumeSizeInGB": 30,
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": 86400},
        "FinalMetricDataList": [
            {"MetricName": name, "Value": value, "Timestamp": epoch(run.ended_at)}
            for name, value in run.metrics.items()
        ],
        "CreationTime": epoch(run.created_at),
        "TrainingStartTime": epoch(run.started_at),
        "TrainingEndTime": epoch(run.ended_at),
        "LastModifiedTime": epoch(run.last_modified_at),
    }
    if run.model_artifact is not None:
        job["ModelArtifacts"] = {"S3ModelArtifacts": run.model_artifact}
    if run.failure_reason is not None:
        job["FailureReason"] = run.failure_reason
    return job


class FakeSageMaker:
    """SageMaker's control plane answered in-process from a before-send hook: training jobs,
    models, endpoint configs and endpoints, with the list calls paged as SageMaker pages them."""

    def __init__(self, runs: dict[str, Run]) -> None:
        self.runs = runs
        self.models: dict[str, Job] = {}
        self.configs: dict[str, Job] = {}
        self.endpoints: dict[str, Job] = {}

    def attach(self, client: Any) -> None:
        answer: Callable[..., Any] = self._answer
        client.meta.events.register_first("before-send.sagemaker", answer)

    def settle(self) -> None:
        """Every endpoint finishes what it was doing: InService on its newest config."""
        for endpoint in self.endpoints.values():
            pending = endpoint.pop("PendingDeploymentSummary", None)
            if pending is not None:
                endpoint["EndpointConfigName"] = pending["EndpointConfigName"]
            endpoint["EndpointStatus"] = "InService"

    def _answer(self, request: AWSPreparedRequest, event_name: str, **_: Any) -> AWSResponse:
        operation = event_name.rsplit(".", 1)[-1]
        if not isinstance(request.body, str | bytes):
            raise TypeError(f"{operation}: SageMaker's JSON requests have a str or bytes body")
        handler = getattr(self, f"_{operation}", None)
        if handler is None:
            raise NotImplementedError(f"FakeSageMaker does not answer {operation}")
        status, body = handler(json.loads(request.body or b"{}"))
        return json_response(request.url, status, body)

    def _DescribeTrainingJob(self, params: dict[str, Any]) -> tuple[int, Job]:
        run = self.runs.get(params["TrainingJobName"])
        if run is None:
            return validation_error(f"Requested resource not found: {params['TrainingJobName']}")
        return 200, _wire(run)

    def _CreateModel(self, params: dict[str, Any]) -> tuple[int, Job]:
        name = params["ModelName"]
        if name in self.models:
            return validation_error(f'Cannot create already existing model "{arn("model", name)}".')
        self.models[name] = {
            "ModelName": name,
            "ModelArn": arn("model", name),
            "PrimaryContainer": params["PrimaryContainer"],
            "ExecutionRoleArn": params["ExecutionRoleArn"],
            "CreationTime": START.timestamp(),
        }
        return 200, {"ModelArn": arn("model", name)}

    def _CreateModelPackageGroup(self, params: dict[str, Any]) -> tuple[int, Job]:
        return 200, {
            "ModelPackageGroupArn": arn("model-package-group", params["ModelPackageGroupName"])
        }

    def _CreateModelPackage(self, params: dict[str, Any]) -> tuple[int, Job]:
        """Each project's one promotion: its group's first version."""
        package = f"{params['ModelPackageGroupName']}/1"
        return 200, {"ModelPackageArn": arn("model-package", package)}

    def _DescribeModel(self, params: dict[str, Any]) -> tuple[int, Job]:
        model = self.models.get(params["ModelName"])
        if model is None:
            return validation_error(f'Could not find model "{arn("model", params["ModelName"])}".')
        return 200, model

    def _CreateEndpointConfig(self, params: dict[str, Any]) -> tuple[int, Job]:
        name = params["EndpointConfigName"]
        config_arn = arn("endpoint-config", name)
        if name in self.configs:
            return validation_error(
                f'Cannot create already existing endpoint configuration "{config_arn}".'
            )
        self.configs[name] = {
            "EndpointConfigName": name,
            "EndpointConfigArn": config_arn,
            "ProductionVariants": params["ProductionVariants"],
            "CreationTime": START.timestamp(),
        }
        return 200, {"EndpointConfigArn": config_arn}

    def _DescribeEndpointConfig(self, params: dict[str, Any]) -> tuple[int, Job]:
        config = self.configs.get(params["EndpointConfigName"])
        if config is None:
            return validation_error(
                f"Could not find endpoint configuration {params['EndpointConfigName']}."
            )
        return 200, config

    def _DescribeEndpoint(self, params: dict[str, Any]) -> tuple[int, Job]:
        endpoint = self.endpoints.get(params["EndpointName"])
        if endpoint is None:
            return validation_error(f'Could not find endpoint "{params["EndpointName"]}".')
        return 200, endpoint

    def _CreateEndpoint(self, params: dict[str, Any]) -> tuple[int, Job]:
        name = params["EndpointName"]
        if name in self.endpoints:
            return validation_error(
                f'Cannot create already existing endpoint "{arn("endpoint", name)}".'
            )
        self.endpoints[name] = {
            "EndpointName": name,
            "EndpointArn": arn("endpoint", name),
            "EndpointConfigName": params["EndpointConfigName"],
            "EndpointStatus": "Creating",
            "CreationTime": START.timestamp(),
            "LastModifiedTime": START.timestamp(),
        }
        return 200, {"EndpointArn": arn("endpoint", name)}

    def _UpdateEndpoint(self, params: dict[str, Any]) -> tuple[int, Job]:
        endpoint = self.endpoints.get(params["EndpointName"])
        if endpoint is None:
            return validation_error(f'Could not find endpoint "{params["EndpointName"]}".')
        if endpoint["EndpointStatus"] != "InService":
            return validation_error(
                f"Cannot update in-progress endpoint {endpoint['EndpointArn']}."
            )
        endpoint["EndpointStatus"] = "Updating"
        endpoint["PendingDeploymentSummary"] = {
            "EndpointConfigName": params["EndpointConfigName"],
            "StartTime": START.timestamp(),
        }
        return 200, {"EndpointArn": endpoint["EndpointArn"]}

    def _ListModels(self, params: dict[str, Any]) -> tuple[int, Job]:
        found = [
            {"ModelName": m["ModelName"], "ModelArn": m["ModelArn"], "CreationTime": 0}
            for name, m in sorted(self.models.items())
            if params.get("NameContains", "") in name
        ]
        return 200, _page(found, params, "Models")

    def _ListEndpointConfigs(self, params: dict[str, Any]) -> tuple[int, Job]:
        found = [
            {
                "EndpointConfigName": c["EndpointConfigName"],
                "EndpointConfigArn": c["EndpointConfigArn"],
                "CreationTime": 0,
            }
            for name, c in sorted(self.configs.items())
            if params.get("NameContains", "") in name
        ]
        return 200, _page(found, params, "EndpointConfigs")


def _page(found: list[Job], params: dict[str, Any], key: str) -> Job:
    start = int(params.get("NextToken", "0"))
    end = start + int(params.get("MaxResults", 10))
    return {key: found[start:end], **({"NextToken": str(end)} if end < len(found) else {})}


class CallCounter:
    """Counts every API call (botocore before-call, once per call whatever its retries) of the
    clients it is attached to, the Query calls that continue a paged read (ExclusiveStartKey),
    and the items DynamoDB returned and read (Count and ScannedCount of Query; GetItem's item)."""

    def __init__(self) -> None:
        self.tally: Tally = Counter()
        self.continued = 0
        self.returned = 0
        self.scanned = 0

    def attach(self, client: Any) -> None:
        client.meta.events.register("before-call", self._count)
        client.meta.events.register("after-call", self._items)

    def measure(self, action: Callable[[], _T]) -> tuple[_T, Tally]:
        self.tally = Counter()
        self.continued = self.returned = self.scanned = 0
        result = action()
        return result, +self.tally

    def _count(self, model: OperationModel, params: dict[str, Any], **_: Any) -> None:
        service = model.service_model.service_name
        self.tally[(service, model.name)] += 1
        if service == "dynamodb" and model.name in ("Query", "Scan"):
            body = json.loads(params.get("body") or b"{}")
            self.continued += "ExclusiveStartKey" in body

    def _items(self, model: OperationModel, parsed: dict[str, Any], **_: Any) -> None:
        if model.service_model.service_name != "dynamodb":
            return
        if model.name in ("Query", "Scan"):
            self.returned += parsed.get("Count", 0)
            self.scanned += parsed.get("ScannedCount", 0)
        elif model.name == "GetItem" and "Item" in parsed:
            self.returned += 1
            self.scanned += 1


@dataclass(frozen=True)
class Side:
    """One measured build: its calls (and continuation pages), wall time and peak memory: the
    peak of tracemalloc, and how far the process's resident set rose above where it was."""

    calls: Tally
    continued: int
    seconds: float
    peak_bytes: int
    rss_growth_bytes: int | None

    @property
    def bare_calls(self) -> int:
        """Calls less the pages of paged reads and the parts of uploads, which grow with the
        bytes read or written (a multipart upload's Create and Complete stand for a PutObject)."""
        parts = self.calls[("s3", "UploadPart")] + self.calls[("s3", "CreateMultipartUpload")]
        return sum(self.calls.values()) - self.continued - parts


@dataclass(frozen=True)
class Scale:
    """Both sides of the report at one number of runs, the top-10 reads, and the checks."""

    runs: int
    seeded_seconds: float
    seeded_items: int
    report: Side
    naive: Side | None
    top: dict[str, tuple[int, int, int]]  # project -> (calls, items returned, items read)
    naive_top: dict[str, tuple[int, int, int]]
    checks: tuple[tuple[str, bool], ...]


def _measure(
    counter: CallCounter, action: Callable[[], _T], reset: Callable[[], None]
) -> tuple[_T, Side]:
    """Calls and wall time of `action`, then its peak memory (tracemalloc) on a second run after
    `reset`; the second run must make the same calls."""
    resident = _resident_mark()
    start = time.perf_counter()
    result, calls = counter.measure(action)
    seconds = time.perf_counter() - start
    growth = None if resident is None else _status("VmHWM") - resident
    continued = counter.continued
    reset()
    tracemalloc.start()
    try:
        _, again = counter.measure(action)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    if again != calls:
        raise RuntimeError(f"the traced run made other calls: {again - calls} {calls - again}")
    return result, Side(calls, continued, seconds, peak, growth)


def _resident_mark() -> int | None:
    """Linux: the resident set now (VmRSS), its high-water mark (VmHWM) reset to it by
    clear_refs 5; None elsewhere."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return _status("VmRSS")
    except OSError:
        return None


def _status(name: str) -> int:
    """A size of /proc/self/status, in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{name}:"):
            return int(line.split()[1]) * 1024
    raise KeyError(name)


def _naive_report(
    gateway: SageMakerGateway, projects: list[Project], names: dict[str, list[str]]
) -> dict[str, tuple[LeaderboardRow, ...]]:
    """The peer: per project, its endpoint's chain (endpoint, config, each variant's model) and
    one DescribeTrainingJob per run, ranked by the objective. It is handed the run names."""
    boards = {}
    for project in projects:
        state = gateway.describe_endpoint(project.endpoint.name)
        if state.config_name is not None:
            for variant in gateway.describe_endpoint_config(state.config_name):
                gateway.describe_model(variant.model_name)
        runs = [
            gateway.describe_training_job(name, {"Project": project.name})
            for name in names[project.name]
        ]
        boards[project.name] = leaderboard(project, runs)
    return boards


def _same_boards(
    written: dict[str, Any], naive: dict[str, tuple[LeaderboardRow, ...]], runs: int
) -> bool:
    """The report's leaderboards (from its JSON) hold the naive peer's rows, every run once."""
    rows = 0
    for project in written["projects"]:
        theirs = naive[project["name"]]
        ours = project["leaderboard"]
        rows += len(ours)
        if len(ours) != len(theirs):
            return False
        for mine, peer in zip(ours, theirs, strict=True):
            if (mine["rank"], mine["run"]) != (peer.rank, peer.run_name):
                return False
            if (mine["objective"] is None) != (peer.objective is None) or (
                peer.objective is not None and not math.isclose(mine["objective"], peer.objective)
            ):
                return False
    return rows == runs


def _scales(disk: DiskS3) -> list[Scale]:
    """Seeds the projects, promotes each project's best run to its endpoint, then, for each size
    in SIZES, records runs up to that size and measures the report, the naive peer (up to
    NAIVE_MAX_RUNS) and the top-10 leaderboards: the same endpoints and champions at every size,
    so that only the number of runs changes between them."""
    settings = replace(
        Settings.from_environ(),
        region=REGION,
        table_name=TABLE,
        bucket_name=BUCKET,
        trusted_images=(IMAGE.rsplit(":", 1)[0],),
        trusted_artifacts=(f"{DATA}/",),
    )
    container = wiring.Container(settings)
    container.dynamodb_client.create_table(TableName=TABLE, **TABLE_SCHEMA)
    s3: S3Client = boto3.client("s3", region_name=REGION)
    disk.attach(s3)
    disk.attach(container.s3_client)
    s3.create_bucket(Bucket=BUCKET)
    # The training channels' data: each project's train object exists (its channel lineage is
    # the current object); the validation prefixes are unversioned.
    data_bucket, _, data_prefix = DATA.removeprefix("s3://").partition("/")
    s3.create_bucket(Bucket=data_bucket)
    projects = [_definition(index) for index in range(PROJECTS)]
    rng = random.Random(max(SIZES))
    every_run = {p.name: _runs(p, max(SIZES) // PROJECTS, rng) for p in projects}
    sagemaker = FakeSageMaker({run.name: run for rs in every_run.values() for run in rs})
    sagemaker.attach(container.sagemaker_client)
    for project in projects:
        container.project_store.put(project)
        key = f"{data_prefix}/{project.name}/train/recordio-pb-data"
        s3.put_object(Bucket=data_bucket, Key=key, Body=b"recordio")
    # Each project's best run is its champion: recorded first, promoted through the service,
    # deployed, and the promotion closed as succeeded by its endpoint's InService event; then the
    # other runs are recorded. (In this order because moto copies every table for each
    # TransactWriteItems, which costs seconds per promotion once the runs are in.)
    best = {p.name: leaderboard(p, every_run[p.name])[0].run_name for p in projects}
    seeding = time.perf_counter()
    batch = BatchedWrites(container.dynamodb_client, TABLE)
    table = RunTable(cast("DynamoDBClient", batch), TABLE)
    for project in projects:
        table.put_run(
            next(r for r in every_run[project.name] if r.name == best[project.name]), [project]
        )
    seeded_items = batch.flush()
    for project in projects:
        container.champions.promote(project.name, best[project.name], "bench:setup")
    sagemaker.settle()
    for project in projects:
        name = project.endpoint.name
        container.rollout.on_endpoint(
            EndpointChange(name, arn("endpoint", name), "InService", START, None)
        )
    champions_seconds = time.perf_counter() - seeding
    settled = all(
        (champion := container.champion_store.get_champion(p.name)) is not None
        and (promotion := container.champion_store.get_promotion(p.name, champion.promotion_id))
        is not None
        and promotion.outcome == "succeeded"
        for p in projects
    )
    counter = CallCounter()
    for client in (container.dynamodb_client, container.sagemaker_client, container.s3_client):
        counter.attach(client)
    # The best run first, then the others in order: each size's runs are the first of the list.
    ordered = {
        p.name: sorted(every_run[p.name], key=lambda run: run.name != best[p.name])
        for p in projects
    }
    scales: list[Scale] = []
    recorded = 1
    for size in sorted(SIZES):
        seeding = time.perf_counter()
        per_project = size // PROJECTS
        for project in projects:
            for run in ordered[project.name][recorded:per_project]:
                table.put_run(run, [project])
        seeded_items += batch.flush()
        recorded = per_project
        runs = {p.name: ordered[p.name][:per_project] for p in projects}
        seeded = champions_seconds + time.perf_counter() - seeding
        scale = _measured(container, sagemaker, counter, s3, disk, projects, runs)
        checks = (("every champion's promotion succeeded before the report", settled),)
        scales.append(
            replace(
                scale,
                seeded_seconds=seeded,
                seeded_items=seeded_items,
                checks=checks + scale.checks,
            )
        )
    return scales


def _measured(
    container: wiring.Container,
    sagemaker: FakeSageMaker,
    counter: CallCounter,
    s3: S3Client,
    disk: DiskS3,
    projects: list[Project],
    runs: dict[str, list[Run]],
) -> Scale:
    """The report (from an empty bucket), the naive peer and the top-10 reads over `runs`."""
    runs_total = sum(len(project_runs) for project_runs in runs.values())

    def empty_bucket() -> None:
        listed = s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])
        for stored in listed:
            s3.delete_object(Bucket=BUCKET, Key=stored["Key"])

    keys, report = _measure(counter, lambda: container.reports.write(NOW), empty_bucket)
    written = _written_projects(disk.path(BUCKET, keys.latest[0]))
    if runs_total > NAIVE_MAX_RUNS:
        boards = {p.name: leaderboard(p, runs[p.name]) for p in projects}
        naive = None
    else:
        boards, naive = _naive_boards(container, sagemaker, counter, projects, runs)

    top: dict[str, tuple[int, int, int]] = {}
    naive_top: dict[str, tuple[int, int, int]] = {}
    same_top = True
    for project in projects[:2]:
        top_page = partial(container.leaderboard.page, project.name)
        page, calls = counter.measure(top_page)
        top[project.name] = (sum(calls.values()), counter.returned, counter.scanned)

        def full_read(p: Project = project) -> list[str]:
            board = leaderboard(p, container.run_store.project_runs(p.name))
            return [row.run_name for row in board[:TOP]]

        expected, calls = counter.measure(full_read)
        naive_top[project.name] = (sum(calls.values()), counter.returned, counter.scanned)
        same_top &= [entry.run.name for entry in page.entries] == expected
        same_top &= all(objective_value(project, entry.run) is not None for entry in page.entries)

    checks = (
        (
            "the report was written under 4 dated and 4 latest keys",
            len(keys.dated + keys.latest) == 8,
        ),
        (
            "the report's leaderboards are the naive peer's, every run once",
            _same_boards(written, boards, runs_total),
        ),
        ("every endpoint's lineage chain reached its champion's run", _chains_resolved(written)),
        (
            "the report's runs (its OpenLineage events) hold each run once, by name",
            _runs_once(disk.path(BUCKET, keys.latest[3]), runs_total),
        ),
        ("the top-10 pages are the naive full read's top 10", same_top),
    )
    # The next size's report starts from an empty bucket too: no earlier report to compare with.
    empty_bucket()
    return Scale(runs_total, 0.0, 0, report, naive, top, naive_top, checks)


def _naive_boards(
    container: wiring.Container,
    sagemaker: FakeSageMaker,
    counter: CallCounter,
    projects: list[Project],
    runs: dict[str, list[Run]],
) -> tuple[dict[str, tuple[LeaderboardRow, ...]], Side]:
    peer_client: Any = boto3.session.Session(region_name=REGION).client(
        "sagemaker", config=control_plane_client_config()
    )
    sagemaker.attach(peer_client)
    counter.attach(peer_client)
    gateway = SageMakerGateway(peer_client, container.settings.retry_after_seconds)
    names = {p.name: [run.name for run in runs[p.name]] for p in projects}
    return _measure(counter, lambda: _naive_report(gateway, projects, names), lambda: None)


def _written_projects(path: Path) -> dict[str, Any]:
    """The written JSON report up to its `runs` (the projects' leaderboards and lineage), read
    without building a document of every run."""
    data = path.read_bytes()
    return cast("dict[str, Any]", orjson.loads(data[: data.index(b',\n  "region": ')] + b"}"))


def _runs_once(path: Path, total: int) -> bool:
    """The OpenLineage file: one event per run, by run name, each run once."""
    with path.open("rb") as lines:
        names = [orjson.loads(line)["job"]["name"] for line in lines]
    return len(names) == total and all(a < b for a, b in itertools.pairwise(names))


def _chains_resolved(written: dict[str, Any]) -> bool:
    for project in written["projects"]:
        champion = (project.get("champion") or {}).get("run")
        lineage = project.get("lineage") or {}
        served = [v["model"].get("run_name") for v in lineage.get("variants", [])]
        if champion is None or served != [champion]:
            return False
    return True


def _describes(calls: Tally) -> Counter[str]:
    return Counter(
        {op: n for (service, op), n in calls.items() if service == "sagemaker" and "Describe" in op}
    )


def _print_side(label: str, side: Side) -> None:
    total = sum(side.calls.values())
    rss = (
        ""
        if side.rss_growth_bytes is None
        else f", resident set +{side.rss_growth_bytes / 2**20:.1f} MiB (untraced run)"
    )
    print(
        f"    {label}: {total} AWS calls ({side.continued} continuation pages), "
        f"{side.seconds:.2f} s, peak {side.peak_bytes / 2**20:.1f} MiB (tracemalloc){rss}"
    )
    for (service, operation), count in sorted(side.calls.items()):
        print(f"      {service}.{operation} x{count}")


def run() -> list[Outcome]:
    started = time.perf_counter()
    with (
        mock_aws(config=MOTO_CONFIG),
        _partitioned_queries(),
        tempfile.TemporaryDirectory() as objects,
    ):
        scales = _scales(DiskS3(Path(objects)))
    for scale in scales:
        print(
            f"{NAME}: {scale.runs:>6} runs over {PROJECTS} projects/endpoints: "
            f"{scale.seeded_items} items in the table, seeded in {scale.seeded_seconds:.1f} s"
        )
    print(f"{NAME}: the lineage report (ReportService.write) against the naive report")
    for scale in scales:
        print(f"  {scale.runs} runs, {PROJECTS} endpoints")
        _print_side("sagewire report (streamed: 4 bodies and a snapshot, 5 copies)", scale.report)
        if scale.naive is None:
            print(f"    naive: not run above {NAIVE_MAX_RUNS} runs (a Describe per run)")
        else:
            _print_side("naive (a Describe per run, the chain per endpoint, ranked)", scale.naive)
    print(f"{NAME}: top-{TOP} leaderboard sorted by the objective (DynamoDB items)")
    largest = scales[-1]
    for project, (calls, returned, read) in largest.top.items():
        peer = largest.naive_top[project]
        print(
            f"  {project} ({largest.runs // PROJECTS} runs): sagewire {calls} calls, "
            f"{returned} items returned, {read} read; "
            f"naive full read {peer[0]} calls, {peer[1]} returned, {peer[2]} read"
        )
    print(f"  ({time.perf_counter() - started:.0f} s in all)")
    return _outcomes(scales)


def _outcomes(scales: list[Scale]) -> list[Outcome]:
    largest = scales[-1]
    describes = _describes(largest.report.calls)
    limit = len(CHAIN) * PROJECTS
    bare = {scale.runs: scale.report.bare_calls for scale in scales}
    peak = largest.report.peak_bytes / 2**20
    goals = (
        (
            f"report: SageMaker Describe calls ≤ {len(CHAIN)} hops x {PROJECTS} endpoints "
            f"= {limit} (made {sum(describes.values())})",
            sum(describes.values()) <= limit,
        ),
        (
            f"report: at most one Describe per hop per endpoint, ≤ {PROJECTS} each of "
            f"{', '.join(CHAIN)} (made "
            f"{', '.join(f'{op} {describes[op]}' for op in CHAIN)})",
            all(describes[op] <= PROJECTS for op in CHAIN)
            and set(describes) <= {*CHAIN, DESCRIBE_TRAINING_JOB[1]},
        ),
        (
            "report: no DescribeTrainingJob when records exist (made "
            f"{largest.report.calls[DESCRIBE_TRAINING_JOB]})",
            all(scale.report.calls[DESCRIBE_TRAINING_JOB] == 0 for scale in scales),
        ),
        (
            f"report: peak memory at {largest.runs} runs ≤ {MAX_PEAK_MIB} MiB (tracemalloc: "
            f"{peak:.1f} MiB)",
            peak <= MAX_PEAK_MIB,
        ),
        (
            "report: calls grow with pages, not runs (calls less continuation pages and upload "
            "parts: " + ", ".join(f"{n} at {runs} runs" for runs, n in bare.items()) + ")",
            len(set(bare.values())) == 1,
        ),
        *(
            (
                f"top-{TOP} of {project}: ≤ {MAX_TOP_ITEMS} DynamoDB items read (read {read})",
                read <= MAX_TOP_ITEMS,
            )
            for project, (_, _, read) in largest.top.items()
        ),
    )
    outcomes: list[Outcome] = []
    for text, met in goals:
        print(f"  goal {text}: {'met' if met else 'MISSED'}")
        outcomes.append(Check(NAME, f"goal: {text}", met))
    for scale in scales:
        outcomes.extend(Check(NAME, f"{scale.runs} runs: {text}", ok) for text, ok in scale.checks)
    compared = [scale for scale in scales if scale.naive is not None]
    outcomes.extend(
        Row(
            NAME,
            f"report vs naive, {scale.runs} runs (one build each)",
            Timing.of([int(scale.report.seconds * 1e9)]),
            Timing.of([int(scale.naive.seconds * 1e9)]),
        )
        for scale in compared[-1:]
        if scale.naive is not None
    )
    return outcomes
