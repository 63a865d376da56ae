"""CloudWatch's AWS/SageMaker metrics: a variant's invocations over a window."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.errors import ServiceUnavailable

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch.client import CloudWatchClient

NAMESPACE = "AWS/SageMaker"


def metrics_client_config() -> Config:
    # The champion view waits for these; a slow CloudWatch costs it a null, not seconds.
    return Config(
        connect_timeout=1, read_timeout=2, retries={"mode": "standard", "total_max_attempts": 2}
    )


class CloudWatchMetrics:
    """The `TrafficMetrics` port on CloudWatch GetMetricStatistics."""

    def __init__(self, client: CloudWatchClient, retry_after_seconds: int) -> None:
        self._client = client
        self._retry_after = retry_after_seconds

    def invocations(
        self, endpoint: str, variant: str, start: datetime, end: datetime
    ) -> float | None:
        """The Sum of `Invocations` of the variant from `start` to `end` (one period over the
        whole window), None when CloudWatch has no datapoint."""
        period = max(60, int((end - start).total_seconds()) // 60 * 60)
        try:
            answer = self._client.get_metric_statistics(
                Namespace=NAMESPACE,
                MetricName="Invocations",
                Dimensions=[
                    {"Name": "EndpointName", "Value": endpoint},
                    {"Name": "VariantName", "Value": variant},
                ],
                StartTime=start,
                EndTime=end,
                Period=period,
                Statistics=["Sum"],
            )
        except (ClientError, BotoCoreError) as error:
            raise ServiceUnavailable(
                f"CloudWatch metrics of endpoint {endpoint}: {type(error).__name__}",
                self._retry_after,
            ) from None
        sums = [point["Sum"] for point in answer.get("Datapoints", []) if "Sum" in point]
        return sum(sums) if sums else None
