"""RunSearch against a real botocore client: Search requests, records, tokens, throttling."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from botocore.stub import Stubber
from hypothesis import given
from hypothesis import strategies as st
from mypy_boto3_sagemaker.client import SageMakerClient

from chalicelib.errors import ServiceUnavailable
from chalicelib.gateways.sagemaker import SageMakerGateway
from chalicelib.gateways.sagemaker_search import RunSearch, record_run, search_request
from chalicelib.imports import SearchCursor
from chalicelib.models import Match
from tests.gateways.test_sagemaker import (
    ARN_PREFIX,
    CREATED,
    JOB,
    RETRY_AFTER,
    TAGS,
    on_send,
    sleeps,
    throttled,
    training_job,
    trial_component,
)

__all__ = ["sleeps"]  # the fixture, shared with the gateway's own tests
TAG_MATCH = Match(tags=TAGS)
ORDER = {"SortBy": "CreationTime", "SortOrder": "Ascending", "MaxResults": 100}


@pytest.fixture
def search(client: SageMakerClient) -> RunSearch:
    return RunSearch(client, SageMakerGateway(client, RETRY_AFTER), RETRY_AFTER)


def tagged_job(**changes: Any) -> dict[str, Any]:
    job = training_job(Tags=[{"Key": "Project", "Value": "Project_Binary_Classifier"}])
    job.pop("ExperimentConfig")
    return job | changes


def tag_search(**extra: Any) -> dict[str, Any]:
    filters = [{"Name": "Tags.Project", "Operator": "Equals", "Value": TAGS["Project"]}]
    return {"Resource": "TrainingJob", "SearchExpression": {"Filters": filters}, **ORDER, **extra}


def test_a_tag_match_searches_training_jobs_oldest_first_and_reads_each_record(
    stubber: Stubber, search: RunSearch
) -> None:
    stubber.add_response(
        "search", {"Results": [{"TrainingJob": tagged_job()}], "NextToken": "t1"}, tag_search()
    )

    page = search.search_runs(TAG_MATCH, SearchCursor())

    (found,) = page.runs
    assert (found.name, found.tags, found.metrics["train:objective_loss:final"]) == (
        JOB,
        TAGS,
        0.0351,
    )
    assert page.cursor == SearchCursor("t1", None, CREATED)


def test_the_last_page_has_no_cursor_and_a_job_in_an_experiment_gets_its_statistics(
    stubber: Stubber, search: RunSearch
) -> None:
    in_experiment = tagged_job(ExperimentConfig={"ExperimentName": "e", "TrialName": "t"})
    stubber.add_response(
        "search", {"Results": [{"TrainingJob": in_experiment}]}, tag_search(NextToken="t1")
    )
    stubber.add_response(
        "describe_trial_component",
        trial_component(),
        {"TrialComponentName": f"{JOB}-aws-training-job"},
    )

    page = search.search_runs(TAG_MATCH, SearchCursor("t1", None, CREATED))

    assert page.cursor is None
    assert page.runs[0].metric_statistics["validation:binary_f_beta"]["max"] == 0.97


def test_an_experiment_match_searches_trial_components_which_carry_job_and_statistics(
    stubber: Stubber, search: RunSearch
) -> None:
    trial_only = tagged_job(ExperimentConfig={"TrialName": "mb-200"})
    component = trial_component(
        SourceDetail={"SourceArn": trial_only["TrainingJobArn"], "TrainingJob": trial_only},
        Parents=[{"TrialName": "mb-200", "ExperimentName": "digits-zero"}],
    )
    notebook_run = trial_component(TrialComponentName="notebook-run")
    notebook_run.pop("Source")
    filters = [{"Name": "Parents.ExperimentName", "Operator": "Equals", "Value": "digits-zero"}]
    stubber.add_response(
        "search",
        {"Results": [{"TrialComponent": component}, {"TrialComponent": notebook_run}]},
        {"Resource": "ExperimentTrialComponent", "SearchExpression": {"Filters": filters}} | ORDER,
    )

    page = search.search_runs(Match(experiment_name="digits-zero"), SearchCursor())

    (found,) = page.runs  # the component of no training job is no run
    assert (found.experiment_name, found.trial_name, found.tags) == ("digits-zero", "mb-200", TAGS)
    assert found.metric_statistics["validation:binary_f_beta"]["avg"] == 0.93


def test_a_tuning_match_filters_by_the_tuning_jobs_arn_described_once(
    stubber: Stubber, search: RunSearch
) -> None:
    arn = f"{ARN_PREFIX}:hyper-parameter-tuning-job/digits-zero-tuning"
    stubber.add_response(
        "describe_hyper_parameter_tuning_job",
        {
            "HyperParameterTuningJobName": "digits-zero-tuning",
            "HyperParameterTuningJobArn": arn,
            "HyperParameterTuningJobConfig": {
                "Strategy": "Bayesian",
                "ResourceLimits": {"MaxParallelTrainingJobs": 2},
            },
            "HyperParameterTuningJobStatus": "Completed",
            "CreationTime": CREATED,
            "TrainingJobStatusCounters": {},
            "ObjectiveStatusCounters": {},
        },
        {"HyperParameterTuningJobName": "digits-zero-tuning"},
    )
    filters = [{"Name": "TuningJobArn", "Operator": "Equals", "Value": arn}]
    request = {"Resource": "TrainingJob", "SearchExpression": {"Filters": filters}} | ORDER
    stubber.add_response("search", {"Results": [], "NextToken": "t1"}, request)
    stubber.add_response("search", {"Results": []}, request | {"NextToken": "t1"})
    match = Match(tuning_job_name="digits-zero-tuning")

    first = search.search_runs(match, SearchCursor())
    assert first.cursor is not None
    assert search.search_runs(match, first.cursor).cursor is None


def test_a_token_search_refuses_restarts_the_query_at_the_last_run_seen(
    stubber: Stubber, search: RunSearch
) -> None:
    stubber.add_client_error(
        "search",
        "ValidationException",
        "The NextToken is invalid or has expired.",
        400,
        tag_search(NextToken="stale"),
    )
    since = {"Name": "CreationTime", "Operator": "GreaterThanOrEqualTo"}
    restart = tag_search()
    restart["SearchExpression"]["Filters"].append(since | {"Value": "2024-05-01T12:00:00.000000Z"})
    stubber.add_response("search", {"Results": [], "NextToken": "fresh"}, restart)

    page = search.search_runs(TAG_MATCH, SearchCursor("stale", None, CREATED))

    assert page.cursor == SearchCursor("fresh", CREATED, CREATED)


def test_search_throttled_beyond_botocores_retries_is_service_unavailable(
    client: SageMakerClient, search: RunSearch, sleeps: list[float]
) -> None:
    sent = on_send(client, "Search", [throttled])

    with pytest.raises(ServiceUnavailable) as raised:
        search.search_runs(TAG_MATCH, SearchCursor())

    assert len(sent) == 5
    assert len(sleeps) == 4
    assert raised.value.retry_after == RETRY_AFTER


def test_a_refused_token_is_not_retried_when_the_query_had_none(
    stubber: Stubber, search: RunSearch
) -> None:
    stubber.add_client_error("search", "ValidationException", "Unknown property name", 400)
    with pytest.raises(Exception, match="search"):
        search.search_runs(TAG_MATCH, SearchCursor())


@given(
    tags=st.dictionaries(st.text(min_size=1, max_size=8), st.text(max_size=8), max_size=3),
    seconds=st.one_of(st.none(), st.integers(0, 10**9)),
    token=st.one_of(st.none(), st.text(min_size=1, max_size=20)),
)
def test_every_request_is_one_botocore_accepts(
    tags: dict[str, str], seconds: int | None, token: str | None
) -> None:
    since = None if seconds is None else CREATED + timedelta(seconds=seconds)
    request = search_request(Match(tags=tags), SearchCursor(token, since, since), None)
    filters = request.get("SearchExpression", {}).get("Filters", [])
    assert len(filters) == len(tags) + (since is not None)
    assert ("NextToken" in request) == (token is not None)


def test_records_of_other_resources_are_no_runs() -> None:
    assert record_run({"Experiment": {"ExperimentName": "e"}}) is None
    assert record_run({"TrialComponent": {"TrialComponentName": "c"}}) is None
