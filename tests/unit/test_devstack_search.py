"""The devstack's SageMaker Search: filters, sorting, paging, records and throttling."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError
from hypothesis import given
from hypothesis import strategies as st
from moto.sagemaker.models import sagemaker_backends

from devstack.aws import ControlPlane
from devstack.events import ACCOUNT_ID, EventRouter
from devstack.search import THROTTLE_PATH
from devstack.search_filters import Condition, SearchError, parse_time

if TYPE_CHECKING:
    from mypy_boto3_sagemaker.client import SageMakerClient
    from mypy_boto3_sagemaker.type_defs import SearchExpressionTypeDef

# A region of its own: moto's records are process-wide, and other modules train in us-east-1.
REGION = "eu-north-1"
ROLE = f"arn:aws:iam::{ACCOUNT_ID}:role/SageMakerExecution"
IMAGE = "382416733822.dkr.ecr.us-east-1.amazonaws.com/linear-learner:1"


@dataclass(frozen=True)
class Local:
    control: ControlPlane
    sagemaker: SageMakerClient

    @property
    def backend(self) -> Any:
        return sagemaker_backends[ACCOUNT_ID][REGION]

    def client(self, **config: Any) -> SageMakerClient:
        return boto3.session.Session(region_name=REGION).client(
            "sagemaker", endpoint_url=self.control.url, config=Config(**config)
        )


@pytest.fixture(scope="module")
def local() -> Iterator[Local]:
    control = ControlPlane()
    router = EventRouter([], function_prefix="unit-")
    control.attach(router, lambda environ, start_response: [])
    control.start()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_ACCESS_KEY_ID", "testing")
        patch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        session = boto3.session.Session(region_name=REGION)
        try:
            yield Local(control, session.client("sagemaker", endpoint_url=control.url))
        finally:
            control.stop()


def _create(
    local: Local,
    name: str,
    tags: dict[str, str],
    hyperparameters: dict[str, str] | None = None,
    experiment: tuple[str, str] | None = None,
) -> None:
    extra: dict[str, Any] = {}
    if experiment is not None:
        extra["ExperimentConfig"] = {"ExperimentName": experiment[0], "TrialName": experiment[1]}
    local.sagemaker.create_training_job(
        TrainingJobName=name,
        AlgorithmSpecification={"TrainingImage": IMAGE, "TrainingInputMode": "File"},
        RoleArn=ROLE,
        OutputDataConfig={"S3OutputPath": "s3://unit-search/models/"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
        StoppingCondition={"MaxRuntimeInSeconds": 3600},
        HyperParameters=hyperparameters or {},
        Tags=[{"Key": key, "Value": value} for key, value in tags.items()],
        **extra,
    )


def _names(local: Local, expression: SearchExpressionTypeDef) -> list[str]:
    answer = local.sagemaker.search(
        Resource="TrainingJob",
        SearchExpression=expression,
        SortBy="TrainingJobName",
        SortOrder="Ascending",
        MaxResults=100,
    )
    return [result["TrainingJob"]["TrainingJobName"] for result in answer["Results"]]


def _refused(local: Local, **request: Any) -> str:
    with pytest.raises(ClientError) as refused:
        local.sagemaker.search(**request)
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    return str(refused.value.response["Error"]["Message"])


@pytest.fixture(scope="module")
def operators(local: Local) -> list[str]:
    """Five jobs: ops-1 ... ops-5, lr 0.1 ... 0.5, `warm` on the even ones, metrics 1 ... 5."""
    names = [f"ops-{index}" for index in range(1, 6)]
    for index, name in enumerate(names, start=1):
        warm = {"warm": "yes"} if index % 2 == 0 else {}
        _create(local, name, {"Suite": "ops"}, {"lr": f"0.{index}", **warm})
        job = local.backend.training_jobs[name]
        vars(job)["final_metric_data_list"] = [
            {
                "MetricName": "validation:accuracy",
                "Value": index / 10,
                "Timestamp": job.creation_time,
            }
        ]
    return names


def test_paging_gives_every_job_once_in_sorted_order(local: Local) -> None:
    names = [f"page-{index:03d}" for index in range(250)]
    for name in reversed(names):
        _create(local, name, {"Suite": "paging"})
    expression: SearchExpressionTypeDef = {
        "Filters": [{"Name": "Tags.Suite", "Operator": "Equals", "Value": "paging"}]
    }
    seen: list[str] = []
    sizes: list[int] = []
    token: str | None = None
    while True:
        after: dict[str, Any] = {"NextToken": token} if token else {}
        answer = local.sagemaker.search(
            Resource="TrainingJob",
            SearchExpression=expression,
            SortBy="TrainingJobName",
            SortOrder="Ascending",
            MaxResults=100,
            **after,
        )
        assert answer["TotalHits"] == {"Value": 250, "Relation": "EqualTo"}
        sizes.append(len(answer["Results"]))
        seen += [result["TrainingJob"]["TrainingJobName"] for result in answer["Results"]]
        token = answer.get("NextToken")
        if token is None:
            break
    assert sizes == [100, 100, 50]
    assert seen == names
    paginator = local.sagemaker.get_paginator("search")
    pages = paginator.paginate(
        Resource="TrainingJob",
        SearchExpression=expression,
        SortBy="TrainingJobName",
        SortOrder="Descending",
        PaginationConfig={"PageSize": 100},
    )
    assert [r["TrainingJob"]["TrainingJobName"] for p in pages for r in p["Results"]] == seen[::-1]


def test_by_default_ten_newest_first_each_as_described_with_its_tags(
    local: Local, operators: list[str]
) -> None:
    answer = local.sagemaker.search(Resource="TrainingJob")
    jobs = [result["TrainingJob"] for result in answer["Results"]]
    assert len(jobs) == 10
    times = [job["LastModifiedTime"] for job in jobs]
    assert times == sorted(times, reverse=True)
    one = local.sagemaker.search(
        Resource="TrainingJob",
        SearchExpression={"Filters": [{"Name": "TrainingJobName", "Value": "ops-2"}]},
    )["Results"][0]["TrainingJob"]
    described: dict[str, Any] = dict(local.sagemaker.describe_training_job(TrainingJobName="ops-2"))
    del described["ResponseMetadata"]
    assert one == {**described, "Tags": [{"Key": "Suite", "Value": "ops"}]}


@pytest.mark.parametrize(
    ("name", "operator", "value", "expected"),
    [
        ("TrainingJobName", "Equals", "ops-3", [3]),
        ("TrainingJobName", "NotEquals", "ops-3", [1, 2, 4, 5]),
        ("HyperParameters.lr", "GreaterThan", "0.3", [4, 5]),
        ("HyperParameters.lr", "GreaterThanOrEqualTo", "0.3", [3, 4, 5]),
        ("HyperParameters.lr", "LessThan", "0.30", [1, 2]),
        ("HyperParameters.lr", "LessThanOrEqualTo", "0.3", [1, 2, 3]),
        ("HyperParameters.lr", "Equals", "0.50", [5]),
        ("Metrics.validation:accuracy", "GreaterThan", "0.35", [4, 5]),
        ("TrainingJobName", "Contains", "s-4", [4]),
        ("HyperParameters.warm", "Exists", None, [2, 4]),
        ("HyperParameters.warm", "NotExists", None, [1, 3, 5]),
        ("TrainingJobName", "In", "ops-1,ops-5,other", [1, 5]),
        ("TrainingJobStatus", "Equals", "Completed", [1, 2, 3, 4, 5]),
        ("AlgorithmSpecification.TrainingImage", "Equals", IMAGE, [1, 2, 3, 4, 5]),
        ("CreationTime", "GreaterThan", "2020-01-01T00:00:00Z", [1, 2, 3, 4, 5]),
        ("CreationTime", "LessThan", "1577836800", []),
        ("Tags.Suite", "NotEquals", "ops", []),
    ],
)
def test_each_operator_filters_like_sagemaker(
    local: Local,
    operators: list[str],
    name: str,
    operator: str,
    value: str | None,
    expected: list[int],
) -> None:
    condition: dict[str, Any] = {"Name": name, "Operator": operator}
    if value is not None:
        condition["Value"] = value
    suite = {"Name": "Tags.Suite", "Operator": "Equals", "Value": "ops"}
    expression: Any = {"Filters": [suite, condition]}
    assert _names(local, expression) == [f"ops-{index}" for index in expected]


def test_filters_combine_with_or_and_times_compare_as_times(
    local: Local, operators: list[str]
) -> None:
    created = local.backend.training_jobs["ops-1"].creation_time.replace(tzinfo=UTC)
    later = (created + timedelta(hours=1)).isoformat()
    either: Any = {
        "Operator": "Or",
        "Filters": [
            {"Name": "TrainingJobName", "Value": "ops-1"},
            {"Name": "HyperParameters.lr", "Operator": "GreaterThan", "Value": "0.4"},
        ],
    }
    assert _names(local, either) == ["ops-1", "ops-5"]
    before: Any = {
        "Filters": [
            {"Name": "Tags.Suite", "Value": "ops"},
            {"Name": "CreationTime", "Operator": "LessThan", "Value": later},
        ]
    }
    assert _names(local, before) == operators


def test_trial_components_have_parents_source_detail_and_metrics(local: Local) -> None:
    sagemaker = local.sagemaker
    sagemaker.create_experiment(ExperimentName="search-exp")
    for trial in ("search-a", "search-b"):
        sagemaker.create_trial(TrialName=trial, ExperimentName="search-exp")
    _create(local, "search-job", {"Project": "imports"}, experiment=("search-exp", "search-a"))
    job_arn = local.backend.training_jobs["search-job"].arn
    for name in ("search-shared", "search-training"):
        sagemaker.create_trial_component(TrialComponentName=name, DisplayName=name)
    vars(local.backend.trial_components["search-training"])["source"] = {
        "SourceArn": job_arn,
        "SourceType": "SageMakerTrainingJob",
    }
    for trial in ("search-a", "search-b"):
        sagemaker.associate_trial_component(TrialComponentName="search-shared", TrialName=trial)
    sagemaker.associate_trial_component(TrialComponentName="search-training", TrialName="search-a")
    metrics = boto3.session.Session(region_name=REGION).client(
        "sagemaker-metrics", endpoint_url=local.control.url
    )
    now = datetime.now(UTC)
    metrics.batch_put_metrics(
        TrialComponentName="search-training",
        MetricData=[
            {"MetricName": "loss", "Value": value, "Step": step, "Timestamp": now}
            for step, value in enumerate([0.9, 0.5, 0.2])
        ],
    )

    def components(*filters: Any) -> list[dict[str, Any]]:
        answer = sagemaker.search(
            Resource="ExperimentTrialComponent",
            SearchExpression={"Filters": list(filters)},
            SortBy="TrialComponentName",
            SortOrder="Ascending",
        )
        return [dict(result["TrialComponent"]) for result in answer["Results"]]

    in_b = components({"Name": "Parents.TrialName", "Value": "search-b"})
    assert [c["TrialComponentName"] for c in in_b] == ["search-shared"]
    assert in_b[0]["Parents"] == [
        {"TrialName": "search-a", "ExperimentName": "search-exp"},
        {"TrialName": "search-b", "ExperimentName": "search-exp"},
    ]
    in_experiment = components({"Name": "Parents.ExperimentName", "Value": "search-exp"})
    assert [c["TrialComponentName"] for c in in_experiment] == ["search-shared", "search-training"]
    (training,) = components(
        {"Name": "Source.SourceArn", "Value": job_arn},
        {"Name": "Metrics.loss.Min", "Operator": "LessThan", "Value": "0.3"},
    )
    assert training["SourceDetail"]["SourceArn"] == job_arn
    detail = training["SourceDetail"]["TrainingJob"]
    assert detail["TrainingJobName"] == "search-job"
    assert detail["Tags"] == [{"Key": "Project", "Value": "imports"}]
    assert detail["ExperimentConfig"] == {"ExperimentName": "search-exp", "TrialName": "search-a"}
    described = sagemaker.describe_trial_component(TrialComponentName="search-training")
    assert training["Metrics"] == described["Metrics"]
    assert training["Source"] == described["Source"]
    by_job = _names(
        local, {"Filters": [{"Name": "ExperimentConfig.TrialName", "Value": "search-a"}]}
    )
    assert by_job == ["search-job"]


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        ({"MaxResults": 101}, "maxResults"),
        ({"NextToken": "bm90IG91cnM="}, "NextToken"),
        ({"SortOrder": "Sideways"}, "sortOrder"),
        (
            {
                "SearchExpression": {
                    "Operator": "Xor",
                    "Filters": [{"Name": "RoleArn", "Value": "r"}],
                }
            },
            "searchExpression.operator",
        ),
        ({"SortBy": "Nonsense"}, "Unknown property name: Nonsense"),
        ({"SearchExpression": {"Filters": [{"Name": "Nope", "Value": "x"}]}}, "Unknown property"),
        (
            {"SearchExpression": {"Filters": [{"Name": "Metrics.x", "Value": "high"}]}},
            "not a valid number",
        ),
        (
            {
                "SearchExpression": {
                    "Filters": [{"Name": "CreationTime", "Operator": "LessThan", "Value": "soon"}]
                }
            },
            "not a valid time",
        ),
        (
            {
                "SearchExpression": {
                    "Filters": [{"Name": "TrainingJobName", "Operator": "LessThan"}]
                }
            },
            "Value is required",
        ),
        (
            {
                "SearchExpression": {
                    "SubExpressions": [{"Filters": [{"Name": "TrainingJobName", "Value": "x"}]}]
                }
            },
            "not supported by the local stack",
        ),
        (
            {
                "SearchExpression": {
                    "Filters": [
                        {"Name": "TrainingJobName", "Operator": "Contains", "Value": "a"},
                        {"Name": "RoleArn", "Operator": "Contains", "Value": "b"},
                    ]
                }
            },
            "only one Contains",
        ),
    ],
)
def test_what_sagemaker_refuses_is_a_validation_exception(
    local: Local, request_: dict[str, Any], message: str
) -> None:
    assert message in _refused(local, Resource="TrainingJob", **request_)


def test_a_next_token_only_continues_the_search_that_issued_it(
    local: Local, operators: list[str]
) -> None:
    expression: Any = {"Filters": [{"Name": "Tags.Suite", "Value": "ops"}]}
    first = local.sagemaker.search(
        Resource="TrainingJob", SearchExpression=expression, MaxResults=2
    )
    token = first["NextToken"]
    other: Any = {"Filters": [{"Name": "Tags.Suite", "Value": "paging"}]}
    assert "NextToken" in _refused(
        local, Resource="TrainingJob", SearchExpression=other, NextToken=token
    )
    assert "NextToken" in _refused(
        local, Resource="TrainingJob", SearchExpression=expression, NextToken=token[:-4] + "AAAA"
    )


def test_other_resources_are_answered_by_moto(local: Local) -> None:
    local.sagemaker.create_experiment(ExperimentName="search-moto")
    answer = local.sagemaker.search(
        Resource="Experiment",
        SearchExpression={
            "Filters": [{"Name": "ExperimentName", "Operator": "Equals", "Value": "search-moto"}]
        },
    )
    assert [r["Experiment"]["ExperimentName"] for r in answer["Results"]] == ["search-moto"]


def test_throttling_answers_rate_exceeded_the_next_n_calls(local: Local) -> None:
    once = local.client(retries={"total_max_attempts": 1})
    local.control.shim.search.throttle(2)
    for _ in range(2):
        with pytest.raises(ClientError) as throttled:
            once.search(Resource="TrainingJob")
        error = throttled.value.response
        assert error["Error"] == {"Code": "ThrottlingException", "Message": "Rate exceeded"}
        assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert once.search(Resource="TrainingJob")["Results"]
    answer = requests.post(
        local.control.url + THROTTLE_PATH, json={"operation": "Search", "times": 1}, timeout=10
    )
    assert answer.status_code == 200
    retried = local.client(retries={"mode": "standard", "total_max_attempts": 3})
    result = retried.search(Resource="TrainingJob", MaxResults=1)
    assert result["ResponseMetadata"]["RetryAttempts"] == 1
    refused = requests.post(
        local.control.url + THROTTLE_PATH, json={"operation": "Other", "times": 1}, timeout=10
    )
    assert refused.status_code == 400


# --- the filter conditions alone ---

finite = st.floats(allow_nan=False, allow_infinity=False, width=32)


@given(finite, finite)
def test_numbers_written_as_text_compare_as_numbers(left: float, right: float) -> None:
    for operator, expected in [
        ("GreaterThan", left > right),
        ("LessThanOrEqualTo", left <= right),
        ("Equals", left == right),
        ("NotEquals", left != right),
    ]:
        assert Condition.parse(operator, "text", repr(right)).holds([repr(left)]) is expected


@given(st.text(alphabet="abcxyz", min_size=1), st.text(alphabet="abcxyz", min_size=1))
def test_other_text_compares_as_text(left: str, right: str) -> None:
    assert Condition.parse("GreaterThan", "text", right).holds([left]) is (left > right)
    assert Condition.parse("Contains", "text", right).holds([left]) is (right in left)


@given(st.lists(st.sampled_from(["a", "b", "c", "d"]), min_size=1), st.sampled_from("abcde"))
def test_in_is_membership_and_any_value_of_a_list_counts(items: list[str], value: str) -> None:
    assert Condition.parse("In", "text", ",".join(items)).holds([value]) is (value in items)
    assert Condition.parse("Equals", "text", value).holds(["z", *items]) is (value in items)


@given(st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1)))
def test_times_parse_from_iso_8601_and_epoch_seconds(moment: datetime) -> None:
    aware = moment.replace(tzinfo=UTC)
    expected = aware.timestamp()
    assert math.isclose(parse_time(aware.isoformat()), expected)
    assert math.isclose(parse_time(moment.isoformat()), expected)
    assert parse_time(aware.strftime("%Y-%m-%dT%H:%M:%S") + "Z") == math.floor(expected)
    assert math.isclose(parse_time(str(expected)), expected)
    assert Condition.parse("GreaterThanOrEqualTo", "time", aware.isoformat()).holds([moment])


@pytest.mark.parametrize("text", ["", "yesterday", "nan", "inf", "2026-13-01"])
def test_a_malformed_time_or_number_is_refused(text: str) -> None:
    with pytest.raises(SearchError):
        Condition.parse("LessThan", "time", text or " ")
    with pytest.raises(SearchError):
        Condition.parse("Equals", "number", text or " ")
