"""SageMaker Search: a project's existing training jobs, a page at a time, resumable."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC
from typing import TYPE_CHECKING, Any, cast

from botocore.exceptions import ClientError

from chalicelib.gateways.sagemaker import SageMakerGateway
from chalicelib.gateways.sagemaker_errors import translate
from chalicelib.gateways.sagemaker_shapes import metric_statistics, training_run
from chalicelib.imports import SearchCursor, SearchPage
from chalicelib.models import Match
from chalicelib.records import Run

if TYPE_CHECKING:
    from mypy_boto3_sagemaker.client import SageMakerClient
    from mypy_boto3_sagemaker.literals import ResourceTypeType
    from mypy_boto3_sagemaker.type_defs import (
        DescribeTrainingJobResponseTypeDef,
        DescribeTrialComponentResponseTypeDef,
        FilterTypeDef,
        SearchRecordTypeDef,
        SearchRequestTypeDef,
    )

# Search's largest page: an import of N runs costs N / 100 Search calls.
PAGE_SIZE = 100
MAX_REMEMBERED_TUNING_JOBS = 1_000


def search_request(
    match: Match, cursor: SearchCursor, tuning_job_arn: str | None, page_size: int = PAGE_SIZE
) -> SearchRequestTypeDef:
    """The Search for the runs a match names, oldest first. Runs of an experiment or a trial
    are found through their trial components, which carry the job and its metrics' statistics
    in one record; other runs as training jobs, by tags and tuning job."""
    filters: list[FilterTypeDef] = []
    resource: ResourceTypeType
    if match.experiment_name is not None or match.trial_name is not None:
        resource = "ExperimentTrialComponent"
        for key, value in (
            ("Parents.ExperimentName", match.experiment_name),
            ("Parents.TrialName", match.trial_name),
        ):
            if value is not None:
                filters.append({"Name": key, "Operator": "Equals", "Value": value})
    else:
        resource = "TrainingJob"
        filters += [
            {"Name": f"Tags.{key}", "Operator": "Equals", "Value": value}
            for key, value in sorted(match.tags.items())
        ]
        if tuning_job_arn is not None:
            filters.append({"Name": "TuningJobArn", "Operator": "Equals", "Value": tuning_job_arn})
    if cursor.since is not None:
        since = cursor.since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        filters.append({"Name": "CreationTime", "Operator": "GreaterThanOrEqualTo", "Value": since})
    request: SearchRequestTypeDef = {
        "Resource": resource,
        "SortBy": "CreationTime",
        "SortOrder": "Ascending",
        "MaxResults": page_size,
    }
    if filters:
        request["SearchExpression"] = {"Filters": filters}
    if cursor.next_token is not None:
        request["NextToken"] = cursor.next_token
    return request


def record_run(record: SearchRecordTypeDef) -> tuple[Run, bool] | None:
    """The run of a Search record, and whether it is complete (a trial component's record
    carries its experiment and statistics); None for a component of no training job."""
    if "TrainingJob" in record:
        return _run_of(record["TrainingJob"]), False
    component = record.get("TrialComponent", {})
    job = component.get("SourceDetail", {}).get("TrainingJob")
    if job is None or "TrainingJobName" not in job:
        return None
    run = _run_of(job)
    parents = component.get("Parents", [])
    if run.experiment_name is None and parents:
        run = replace(run, experiment_name=parents[0].get("ExperimentName"))
    statistics = metric_statistics(cast("DescribeTrialComponentResponseTypeDef", component))
    return replace(run, metric_statistics=statistics), True


def _run_of(job: Any) -> Run:
    tags = {tag["Key"]: tag["Value"] for tag in job.get("Tags", []) if "Value" in tag}
    return training_run(cast("DescribeTrainingJobResponseTypeDef", job), tags)


class RunSearch:
    """The `RunFinder` port on SageMaker Search; the rest of a run comes from the gateway."""

    def __init__(
        self, client: SageMakerClient, sagemaker: SageMakerGateway, retry_after_seconds: int
    ) -> None:
        self._client = client
        self._sagemaker = sagemaker
        self._retry_after = retry_after_seconds
        self._tuning_job_arns: dict[str, str] = {}

    def search_runs(
        self, match: Match, cursor: SearchCursor, page_size: int = PAGE_SIZE
    ) -> SearchPage:
        """One page of the runs the match names, from `cursor`; a token SageMaker no longer
        accepts restarts the query at the last run seen."""
        tuning_job_arn = (
            None if match.tuning_job_name is None else self._tuning_job_arn(match.tuning_job_name)
        )
        try:
            page = self._client.search(**search_request(match, cursor, tuning_job_arn, page_size))
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code")
            if cursor.next_token is None or code != "ValidationException":
                raise translate("search", error, self._retry_after) from None
            cursor = SearchCursor(None, cursor.last_created, cursor.last_created)
            page = self._sagemaker.call(
                "search",
                lambda: self._client.search(
                    **search_request(match, cursor, tuning_job_arn, page_size)
                ),
            )
        runs: list[Run] = []
        for record in page.get("Results", []):
            found = record_run(record)
            if found is None:
                continue
            run, complete = found
            runs.append(run if complete else self._sagemaker.in_experiment(run))
        last_created = max(
            (run.created_at for run in runs if run.created_at is not None),
            default=cursor.last_created,
        )
        token = page.get("NextToken")
        following = None if not token else SearchCursor(token, cursor.since, last_created)
        return SearchPage(tuple(runs), following)

    def _tuning_job_arn(self, name: str) -> str:
        if name not in self._tuning_job_arns:
            if len(self._tuning_job_arns) >= MAX_REMEMBERED_TUNING_JOBS:
                self._tuning_job_arns.clear()
            job = self._sagemaker.call(
                f"tuning job {name}",
                lambda: self._client.describe_hyper_parameter_tuning_job(
                    HyperParameterTuningJobName=name
                ),
            )
            self._tuning_job_arns[name] = job["HyperParameterTuningJobArn"]
        return self._tuning_job_arns[name]
