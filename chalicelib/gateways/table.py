"""The service's single DynamoDB table: schema, key layout, paged queries and error translation."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from botocore.config import Config
from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as TransportConnectionError

from chalicelib.errors import ServiceUnavailable

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import (
        AttributeValueTypeDef,
        PutTypeDef,
        TransactWriteItemTypeDef,
    )

_T = TypeVar("_T")
Item = dict[str, "AttributeValueTypeDef"]

# Generic pk/sk plus one inverted-list index; docs/table-design.md describes every item.
INDEX = "gsi1"
TABLE_SCHEMA: dict[str, Any] = {
    "AttributeDefinitions": [
        {"AttributeName": "pk", "AttributeType": "S"},
        {"AttributeName": "sk", "AttributeType": "S"},
        {"AttributeName": "gsi1pk", "AttributeType": "S"},
        {"AttributeName": "gsi1sk", "AttributeType": "S"},
    ],
    "KeySchema": [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ],
    "GlobalSecondaryIndexes": [
        {
            "IndexName": INDEX,
            "KeySchema": [
                {"AttributeName": "gsi1pk", "KeyType": "HASH"},
                {"AttributeName": "gsi1sk", "KeyType": "RANGE"},
            ],
            "Projection": {"ProjectionType": "ALL"},
        }
    ],
    "BillingMode": "PAY_PER_REQUEST",
}

# The index partition that lists every project definition.
PROJECTS_LIST = "PROJECTS"
# One partition holds every (dataset URI, run) pair, so that a URI prefix is one Query.
DATASET_USAGE = "DATASETS"
# Every version of every dataset object lives in one partition, for the same reason.
DATASET_OBJECTS = "DATASET_OBJECTS"
RUN_PREFIX = "RUN#"
PROMOTION_PREFIX = "PROMOTION#"
LEADERBOARD_PREFIX = "LEADERBOARD#"
IMPORT_PREFIX = "IMPORT#"
# A run's entry in the index of one of its project's named metrics (boards.py).
BOARD_PREFIX = "BOARD#"
# DynamoDB refuses a sort key (and a begins_with prefix) over 1,024 bytes.
MAX_SORT_KEY_BYTES = 1024
# Transactions hold at most 100 actions.
MAX_TRANSACT = 100
# Cancellation reasons that mean "another writer got there first": nothing was written.
LOST_RACE = frozenset({"ConditionalCheckFailed", "TransactionConflict"})
# Throttled or briefly unavailable: botocore's standard mode has retried these already.
_UNAVAILABLE = frozenset(
    {
        "ProvisionedThroughputExceededException",
        "ThrottlingException",
        "RequestLimitExceeded",
        "InternalServerError",
        "ServiceUnavailable",
        "TransactionConflictException",
        "TransactionInProgressException",
    }
)
_UNAVAILABLE_REASONS = frozenset(
    {"ProvisionedThroughputExceeded", "ThrottlingError", "TransactionConflict"}
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def project_pk(project: str) -> str:
    return f"PROJECT#{project}"


def leaderboard_pk(project: str, metric: str | None = None) -> str:
    """The index partition of a project's objective, or of one of its named metrics."""
    return (
        f"{LEADERBOARD_PREFIX}{project}"
        if metric is None
        else f"{LEADERBOARD_PREFIX}{project}#{metric}"
    )


def board_key(project: str, run: str, metric: str) -> Item:
    """A run's entry in the index of a project's named metric (run names hold no "#")."""
    return {"pk": {"S": project_pk(project)}, "sk": {"S": f"{BOARD_PREFIX}{run}#{metric}"}}


def board_state_key(project: str) -> Item:
    return {"pk": {"S": project_pk(project)}, "sk": {"S": "BOARDS"}}


def idempotency_pk(handler: str) -> str:
    return f"IDEMPOTENCY#{handler}"


def definition_key(project: str) -> Item:
    return {"pk": {"S": project_pk(project)}, "sk": {"S": "DEFINITION"}}


def owner_key(endpoint: str) -> Item:
    # SageMaker endpoint names are case-insensitive: `DIGITS-ZERO` is the endpoint `digits-zero`.
    return {"pk": {"S": f"ENDPOINT#{endpoint.lower()}"}, "sk": {"S": "OWNER"}}


def run_key(run: str) -> Item:
    return {"pk": {"S": f"{RUN_PREFIX}{run}"}, "sk": {"S": "RUN"}}


def membership_key(project: str, run: str) -> Item:
    """A run's entry in a project's leaderboard."""
    return {"pk": {"S": project_pk(project)}, "sk": {"S": f"{RUN_PREFIX}{run}"}}


def champion_key(project: str) -> Item:
    return {"pk": {"S": project_pk(project)}, "sk": {"S": "CHAMPION"}}


def promotion_key(project: str, promotion_id: str) -> Item:
    return {"pk": {"S": project_pk(project)}, "sk": {"S": f"{PROMOTION_PREFIX}{promotion_id}"}}


def import_key(project: str, import_id: str) -> Item:
    return {"pk": {"S": project_pk(project)}, "sk": {"S": f"{IMPORT_PREFIX}{import_id}"}}


def iso(value: datetime) -> str:
    """A tz-aware time as the ISO-8601 UTC string every item stores (`...T12:00:00.000000Z`)."""
    return _aware(value).astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def epoch_ms(value: datetime) -> int:
    return (_aware(value) - _EPOCH) // timedelta(milliseconds=1)


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: sagewire stores only tz-aware UTC times")
    return value


def client_config() -> Config:
    # A prediction reads its project on every request: a few quick attempts, then a 503 with
    # Retry-After, rather than the legacy mode's ten DynamoDB attempts with backoff.
    return Config(
        connect_timeout=2,
        read_timeout=5,
        retries={"mode": "standard", "total_max_attempts": 3},
    )


class Table:
    """The table's client and name: every call here, throttling raised as ServiceUnavailable."""

    def __init__(self, client: DynamoDBClient, name: str, retry_after_seconds: int = 2) -> None:
        self.client = client
        self.name = name
        self._retry_after = retry_after_seconds

    def get(self, key: Item, consistent: bool = False) -> Item | None:
        return self.call(
            lambda: self.client.get_item(TableName=self.name, Key=key, ConsistentRead=consistent)
        ).get("Item")

    def put(self, put: PutTypeDef) -> bool:
        """PutItem (in a transaction's shape); False when its condition did not hold."""
        return self._conditional(lambda: self.client.put_item(**put))

    def update(self, **params: Any) -> bool:
        """UpdateItem; False when its condition did not hold."""
        return self._conditional(lambda: self.client.update_item(TableName=self.name, **params))

    def transact(
        self, actions: Sequence[TransactWriteItemTypeDef], expected: frozenset[str] = LOST_RACE
    ) -> tuple[str | None, ...]:
        """Writes every action or none: () when written, else the cancellation reason of each
        action in order (None where an action was not the cause). Only `expected` reasons are
        returned; a throttled or conflicting write is ServiceUnavailable, anything else raised."""
        try:
            self.call(lambda: self.client.transact_write_items(TransactItems=list(actions)))
        except ClientError as error:
            if _code(error) != "TransactionCanceledException":
                raise
            reasons = tuple(
                None if reason.get("Code") in (None, "None") else reason.get("Code")
                for reason in error.response.get("CancellationReasons", [])
            )
            unexpected = {reason for reason in reasons if reason is not None} - expected
            if not unexpected and any(reasons):
                return reasons
            if unexpected and unexpected <= _UNAVAILABLE_REASONS:
                raise self._unavailable(f"the write was cancelled: {sorted(unexpected)}") from None
            raise
        return ()

    def query(self, **params: Any) -> Iterator[Item]:
        """Every item of a Query, page after page."""
        start: dict[str, Any] = {}
        while True:
            page = self.query_page(**params, **start)
            yield from page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return
            start = {"ExclusiveStartKey": page["LastEvaluatedKey"]}

    def query_page(self, **params: Any) -> Mapping[str, Any]:
        return self.call(lambda: self.client.query(TableName=self.name, **params))

    def call(self, call: Callable[[], _T]) -> _T:
        try:
            return call()
        except ClientError as error:
            if _code(error) in _UNAVAILABLE:
                raise self._unavailable(f"the table answered {_code(error)}") from None
            raise
        except (TransportConnectionError, HTTPClientError) as error:
            raise self._unavailable("the table could not be reached") from error

    def _conditional(self, call: Callable[[], object]) -> bool:
        try:
            self.call(call)
        except ClientError as error:
            if _code(error) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def _unavailable(self, why: str) -> ServiceUnavailable:
        return ServiceUnavailable(f"{why}; try again shortly", self._retry_after)


def _code(error: ClientError) -> str | None:
    return error.response.get("Error", {}).get("Code")
