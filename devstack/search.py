"""SageMaker's Search over moto's training jobs and trial components, answered as SageMaker does."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import secrets
import threading
from collections.abc import Callable, Mapping
from typing import Any

from moto.core.serialize import XFormedAttributePicker, get_serializer_class
from moto.core.utils import get_service_model

from devstack.create_shim import Refusal
from devstack.search_filters import Condition, Kind, SearchError, sort_key
from devstack.wsgi import json_answer

TARGET = "SageMaker.Search"
THROTTLE_PATH = "/_devstack/throttle"
# The resources answered here (others are moto's), their record's name in a result and name field.
_RESOURCES = {
    "TrainingJob": ("TrainingJob", "TrainingJobName"),
    "ExperimentTrialComponent": ("TrialComponent", "TrialComponentName"),
}
_DEFAULT_MAX_RESULTS = 10
_DEFAULT_SORT = "LastModifiedTime"
_SORT_ORDERS = ("Ascending", "Descending")
_METRIC_STATISTICS = ("Max", "Min", "Last", "Count", "Avg", "StdDev")
# A trial component search may hold several Contains on these properties; otherwise one at most.
_MANY_CONTAINS = ("DisplayName", "TrialComponentName", "Tags.", "InputArtifacts", "OutputArtifacts")
_KINDS: dict[str, Kind] = {
    "timestamp": "time",
    "integer": "number",
    "long": "number",
    "float": "number",
    "double": "number",
    "string": "text",
    "boolean": "text",
}
# Signs the NextTokens this process issues, so that any other token is refused.
_SECRET = secrets.token_bytes(16)

Record = dict[str, Any]
Reader = Callable[[Record], list[Any]]


@functools.cache
def _service() -> Any:
    return get_service_model("sagemaker")


def _path_values(record: Record, parts: list[str]) -> list[Any]:
    """The values at a dotted path; a list on the way (Parents) contributes each of its items."""
    found: list[Any] = [record]
    for part in parts:
        found = [
            item[part]
            for node in found
            for item in (node if isinstance(node, list) else [node])
            if isinstance(item, dict) and item.get(part) is not None
        ]
    return [value for node in found for value in (node if isinstance(node, list) else [node])]


def _unlisted(shape: Any) -> Any:
    """A list's item shape (a path reads through lists), or the shape itself."""
    while shape.type_name == "list":
        shape = shape.member
    return shape


def _kind(shape_name: str, parts: list[str], name: str) -> Kind:
    """The kind of a path's values, from the record's shape in SageMaker's API model."""
    shape = _unlisted(_service().shape_for(shape_name))
    for part in parts:
        if shape.type_name == "structure" and part in shape.members:
            shape = _unlisted(shape.members[part])
        elif shape.type_name == "map":
            shape = _unlisted(shape.value)
        else:
            raise SearchError(f"Unknown property name: {name}")
    kind = _KINDS.get(shape.type_name)
    if kind is None:
        raise SearchError(f"Unknown property name: {name}")
    return kind


def _property(shape_name: str, name: str) -> tuple[Kind, Reader]:
    """A property name's kind and how to read its values off a record."""
    head, _, rest = name.partition(".")
    read: Reader
    if head == "Tags" and rest:
        kind: Kind = "text"

        def read(record: Record) -> list[Any]:
            return [tag["Value"] for tag in record.get("Tags") or [] if tag.get("Key") == rest]

    elif head == "Metrics" and rest and shape_name == "TrainingJob":
        kind = "number"

        def read(record: Record) -> list[Any]:
            metrics = record.get("FinalMetricDataList") or []
            return [metric["Value"] for metric in metrics if metric.get("MetricName") == rest]

    elif head == "Metrics" and shape_name == "TrialComponent":
        metric, _, statistic = rest.rpartition(".")
        if not metric or statistic not in _METRIC_STATISTICS:
            raise SearchError(f"Unknown property name: {name}")
        kind = "number"

        def read(record: Record) -> list[Any]:
            summaries = record.get("Metrics") or []
            return [s.get(statistic) for s in summaries if s.get("MetricName") == metric]

    elif head == "Parameters" and rest and shape_name == "TrialComponent":
        kind = "text"

        def read(record: Record) -> list[Any]:
            value = (record.get("Parameters") or {}).get(rest) or {}
            return [value.get("StringValue", value.get("NumberValue"))]

    else:
        parts = name.split(".")
        kind = _kind(shape_name, parts, name)

        def read(record: Record) -> list[Any]:
            return _path_values(record, parts)

    return kind, lambda record: [value for value in read(record) if value is not None]


def _training_job(job: Any) -> Record:
    """What DescribeTrainingJob answers for the job, with its Tags (moto keeps them on it)."""
    return dict(job.response_object)


def _trial_components(backend: Any) -> list[Record]:
    """What DescribeTrialComponent answers, with Parents (the trials holding the component)
    and SourceDetail (the source training job's record)."""
    parents: dict[str, list[dict[str, str]]] = {}
    for trial in list(backend.trials.values()):
        for name in dict.fromkeys(trial.trial_components):
            parent = {"TrialName": trial.trial_name, "ExperimentName": trial.experiment_name}
            parents.setdefault(name, []).append(parent)
    jobs = {job.arn: job for job in list(backend.training_jobs.values())}
    records = []
    for name, component in list(backend.trial_components.items()):
        record: Record = dict(component.response_object)
        if name in parents:
            record["Parents"] = parents[name]
        source_arn = (record.get("Source") or {}).get("SourceArn")
        if source_arn:
            record["SourceDetail"] = {"SourceArn": source_arn}
            if source_arn in jobs:
                record["SourceDetail"]["TrainingJob"] = _training_job(jobs[source_arn])
        records.append(record)
    return records


def _conditions(shape_name: str, expression: Any) -> list[tuple[Condition, Reader]]:
    if not isinstance(expression, dict):
        raise SearchError("SearchExpression must be an object.")
    if expression.get("NestedFilters") or expression.get("SubExpressions"):
        raise SearchError("NestedFilters and SubExpressions are not supported by the local stack.")
    if expression.get("Operator", "And") not in ("And", "Or"):
        raise SearchError(
            f"Value '{expression['Operator']}' at 'searchExpression.operator' failed to satisfy "
            "constraint: Member must satisfy enum value set: [And, Or]"
        )
    filters = expression.get("Filters")
    if not isinstance(filters, list) or not filters:
        raise SearchError("A SearchExpression must have at least one filter.")
    conditions, contains = [], 0
    for entry in filters:
        if not isinstance(entry, dict) or not isinstance(entry.get("Name"), str):
            raise SearchError("Every filter must have a Name.")
        kind, read = _property(shape_name, entry["Name"])
        condition = Condition.parse(entry.get("Operator"), kind, entry.get("Value"))
        many = shape_name == "TrialComponent" and entry["Name"].startswith(_MANY_CONTAINS)
        contains += condition.operator == "Contains" and not many
        conditions.append((condition, read))
    if contains > 1:
        raise SearchError("A SearchExpression can include only one Contains operator.")
    return conditions


def _sorted(
    records: list[Record], name_field: str, by: str, order: Any, shape: str
) -> list[Record]:
    """Sorted by the property (records without it last), ties by name: paging is stable."""
    if order not in _SORT_ORDERS:
        raise SearchError(
            f"Value '{order}' at 'sortOrder' failed to satisfy constraint: "
            "Member must satisfy enum value set: [Ascending, Descending]"
        )
    kind, read = _property(shape, by)
    keyed = [(sort_key(kind, read(r)), r) for r in sorted(records, key=lambda r: r[name_field])]
    present = [(key, record) for key, record in keyed if key is not None]
    present.sort(key=lambda pair: pair[0], reverse=order == "Descending")  # stable
    return [record for _, record in present] + [record for key, record in keyed if key is None]


def _signature(query: str, payload: str) -> str:
    return hmac.new(_SECRET, f"{query}\n{payload}".encode(), hashlib.sha256).hexdigest()


def _token(query: str, offset: int, after: str) -> str:
    """A NextToken: where the next page starts (after the record named `after`, or at `offset`
    when that record is gone), signed for this search."""
    payload = json.dumps([offset, after])
    return base64.urlsafe_b64encode(
        json.dumps([payload, _signature(query, payload)]).encode()
    ).decode()


def _start(token: Any, query: str, names: list[str]) -> int:
    if token is None:
        return 0
    try:
        payload, signature = json.loads(base64.urlsafe_b64decode(str(token).encode()))
        if not hmac.compare_digest(signature, _signature(query, payload)):
            raise ValueError(token)
        offset, after = json.loads(payload)
    except (ValueError, TypeError):
        raise SearchError("Invalid NextToken: not one this search returned.") from None
    return names.index(after) + 1 if after in names else int(offset)


def search(backend: Any, params: Mapping[str, Any]) -> dict[str, Any]:
    """One page of Search results for a resource in `_RESOURCES`, as botocore parses them."""
    shape, name_field = _RESOURCES[params["Resource"]]
    if params.get("VisibilityConditions"):
        raise SearchError("VisibilityConditions are not supported by the local stack.")
    size = params.get("MaxResults", _DEFAULT_MAX_RESULTS)
    if not isinstance(size, int) or isinstance(size, bool) or not 1 <= size <= 100:
        raise SearchError(
            f"Value '{size}' at 'maxResults' failed to satisfy constraint: "
            "Member must have value between 1 and 100"
        )
    expression = params.get("SearchExpression")
    conditions = [] if expression is None else _conditions(shape, expression)
    combine = any if (expression or {}).get("Operator") == "Or" else all
    records = (
        [_training_job(job) for job in list(backend.training_jobs.values())]
        if shape == "TrainingJob"
        else _trial_components(backend)
    )
    matched = [r for r in records if combine(c.holds(read(r)) for c, read in conditions)]
    by, order = params.get("SortBy") or _DEFAULT_SORT, params.get("SortOrder") or "Descending"
    ordered = _sorted(matched, name_field, by, order, shape)
    names = [record[name_field] for record in ordered]
    identity = [params["Resource"], expression, by, order]
    query = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()
    start = _start(params.get("NextToken"), query, names)
    answer: dict[str, Any] = {
        "Results": [{shape: record} for record in ordered[start : start + size]],
        "TotalHits": {"Value": len(ordered), "Relation": "EqualTo"},
    }
    if start + size < len(ordered):
        answer["NextToken"] = _token(query, start + size, names[start + size - 1])
    service = _service()
    serializer = get_serializer_class(service.service_name, service.protocol)(
        operation_model=service.operation_model("Search"),
        value_picker=XFormedAttributePicker(),
    )
    return dict(json.loads(serializer.serialize(answer)["body"]))


class SearchShim:
    """Answers Search for training jobs and trial components (moto answers the other
    resources); `throttle` makes the next Search calls answer ThrottlingException."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._throttled = 0

    def throttle(self, times: int) -> None:
        """The next `times` Search calls answer ThrottlingException ("Rate exceeded")."""
        with self._lock:
            self._throttled = max(0, times)

    def answer(
        self, backend: Any, params: Mapping[str, Any], start_response: Callable[..., Any]
    ) -> list[bytes] | None:
        """The answer to a Search call, or None for moto to answer it."""
        with self._lock:
            throttled, self._throttled = self._throttled > 0, max(0, self._throttled - 1)
        if throttled:
            return Refusal("ThrottlingException", "Rate exceeded").answer(start_response)
        if params.get("Resource") not in _RESOURCES:
            return None
        try:
            return json_answer(start_response, "200 OK", search(backend, params))
        except SearchError as error:
            return Refusal("ValidationException", str(error)).answer(start_response)

    def control(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        """`POST /_devstack/throttle {"operation": "Search", "times": N}`: throttle from afar."""
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = json.loads(environ["wsgi.input"].read(min(length, 4096)) or b"{}")
            if environ.get("REQUEST_METHOD") != "POST" or not isinstance(body, dict):
                raise ValueError("POST a JSON object")
            times = body.get("times")
            if body.get("operation") != "Search":
                raise ValueError("only Search can be throttled")
            if not isinstance(times, int) or isinstance(times, bool) or times < 0:
                raise ValueError("times must be a whole number, 0 or more")
        except ValueError as error:
            return json_answer(start_response, "400 Bad Request", {"error": str(error)})
        self.throttle(times)
        return json_answer(start_response, "200 OK", {"operation": "Search", "times": times})
