"""Frozen settings read once from the environment."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal, cast, get_args

MiB = 1024 * 1024
# Where promotions write script-mode models' artifacts repacked with their code, in the bucket.
PACKED_MODELS_PREFIX = "models/"
# How API Gateway authenticates prediction clients; `none` is for the local stack only.
PredictionsAuth = Literal["iam", "cognito", "api_key", "none"]
_ACCOUNT_ID = re.compile(r"\d{12}")


@dataclass(frozen=True)
class Settings:
    region: str
    table_name: str
    bucket_name: str
    max_request_bytes: int
    max_invoke_bytes: int
    invoke_read_timeout_seconds: float
    invoke_connect_timeout_seconds: float
    invoke_max_attempts: int
    retry_after_seconds: int
    # How long a container answers predictions from a definition it read (docs/configuration.md).
    definition_cache_seconds: float = 5.0
    vocabulary_cache_seconds: float = 300.0
    # A script-mode model's artifact and its code, each, when they are packed into one.
    max_repack_bytes: int = 200 * MiB
    datasets_prefix: str = "datasets/"
    batch_input_prefix: str = "batch/input/"
    batch_output_prefix: str = "batch/output/"
    max_batch_object_bytes: int = 50 * MiB
    max_request_pixels: int = 16_000_000
    max_batch_pixels: int = 100_000_000
    stage: str = "local"
    # Endpoint (and so model and endpoint config) names this stage may manage: its IAM policy
    # grants SageMaker writes on this prefix only.
    endpoint_prefix: str = ""
    # Existing endpoints projects may front with `endpoint.managed: false` (predictions and
    # lineage; never changed): the policy grants InvokeEndpoint on them. Compared lower-cased.
    fronted_endpoints: tuple[str, ...] = ()
    # The only role the stage may pass to SageMaker; the default for projects that name none.
    execution_role_arn: str | None = None
    # The AWS account the stage runs in: event patterns match it alone, handlers check it.
    account_id: str | None = None
    predictions_auth: PredictionsAuth = "iam"
    cognito_user_pool_arns: tuple[str, ...] = ()
    # The stage's trust policy: what projects without one of their own may promote automatically.
    trusted_images: tuple[str, ...] = ()
    trusted_artifacts: tuple[str, ...] = ()
    # Where project vocabularies may be read from (the function's role may read only these).
    vocabulary_prefixes: tuple[str, ...] = ()
    trusted_roles: tuple[str, ...] = ()
    # Models are created without network access; projects may opt out only where this is false.
    require_network_isolation: bool = True
    tracing: bool = False
    service_name: str = "sagewire"
    metrics_namespace: str = "sagewire"
    metrics_disabled: bool = False

    def __post_init__(self) -> None:
        _refuse_overlapping_prefixes(
            {
                "SAGEWIRE_DATASETS_PREFIX": self.datasets_prefix,
                "SAGEWIRE_BATCH_INPUT_PREFIX": self.batch_input_prefix,
                "SAGEWIRE_BATCH_OUTPUT_PREFIX": self.batch_output_prefix,
                "packed models": PACKED_MODELS_PREFIX,
            }
        )

    @classmethod
    def from_environ(cls, environ: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if environ is None else environ)
        return cls(
            region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1",
            table_name=env.get("SAGEWIRE_TABLE", "sagewire"),
            bucket_name=env.get("SAGEWIRE_BUCKET", "sagewire"),
            # API Gateway accepts 10 MB and Lambda 6 MB of event; base64 costs a third of that.
            max_request_bytes=int(env.get("SAGEWIRE_MAX_REQUEST_BYTES", str(4 * MiB))),
            # InvokeEndpoint accepts at most 6 MiB per call.
            max_invoke_bytes=int(env.get("SAGEWIRE_MAX_INVOKE_BYTES", str(6 * MiB - 1024))),
            # Attempts x read timeout stays below API Gateway's 29 s integration timeout.
            invoke_read_timeout_seconds=float(env.get("SAGEWIRE_INVOKE_READ_TIMEOUT", "7")),
            invoke_connect_timeout_seconds=float(env.get("SAGEWIRE_INVOKE_CONNECT_TIMEOUT", "2")),
            invoke_max_attempts=int(env.get("SAGEWIRE_INVOKE_MAX_ATTEMPTS", "3")),
            retry_after_seconds=int(env.get("SAGEWIRE_RETRY_AFTER_SECONDS", "2")),
            definition_cache_seconds=float(env.get("SAGEWIRE_DEFINITION_CACHE_SECONDS", "5")),
            vocabulary_cache_seconds=float(env.get("SAGEWIRE_VOCABULARY_CACHE_SECONDS", "300")),
            max_repack_bytes=int(env.get("SAGEWIRE_MAX_REPACK_BYTES", str(200 * MiB))),
            datasets_prefix=env.get("SAGEWIRE_DATASETS_PREFIX", "datasets/"),
            batch_input_prefix=env.get("SAGEWIRE_BATCH_INPUT_PREFIX", "batch/input/"),
            batch_output_prefix=env.get("SAGEWIRE_BATCH_OUTPUT_PREFIX", "batch/output/"),
            max_batch_object_bytes=int(env.get("SAGEWIRE_MAX_BATCH_OBJECT_BYTES", str(50 * MiB))),
            # All images of one request, from their headers: 4 images at the 4-megapixel cap per
            # image, or 256 of 250x250. Decoded, they hold 48 MB as RGB and cost about 0.5 s of
            # CPU in the worst case (random-noise PNGs), well inside the 512 MB function.
            max_request_pixels=int(env.get("SAGEWIRE_MAX_REQUEST_PIXELS", "16000000")),
            # All images of one batch object: 100,000 digits of 28x28 (78.4 million) fit.
            # Records are decoded a few at a time, so this bounds the object's CPU (a few
            # seconds), not its memory.
            max_batch_pixels=int(env.get("SAGEWIRE_MAX_BATCH_PIXELS", "100000000")),
            stage=env.get("SAGEWIRE_STAGE", "local"),
            endpoint_prefix=env.get("SAGEWIRE_ENDPOINT_PREFIX", ""),
            fronted_endpoints=_list(env, "SAGEWIRE_FRONTED_ENDPOINTS"),
            execution_role_arn=env.get("SAGEWIRE_EXECUTION_ROLE_ARN") or None,
            account_id=_account_id(env.get("SAGEWIRE_ACCOUNT_ID", "")),
            predictions_auth=_predictions_auth(env.get("SAGEWIRE_PREDICTIONS_AUTH", "iam")),
            cognito_user_pool_arns=_list(env, "SAGEWIRE_COGNITO_USER_POOL_ARNS"),
            trusted_images=_list(env, "SAGEWIRE_TRUSTED_IMAGES"),
            trusted_artifacts=_list(env, "SAGEWIRE_TRUSTED_ARTIFACTS"),
            vocabulary_prefixes=_list(env, "SAGEWIRE_VOCABULARY_PREFIXES")
            or (f"s3://{env.get('SAGEWIRE_BUCKET', 'sagewire')}/vocabularies/",),
            trusted_roles=_list(env, "SAGEWIRE_TRUSTED_ROLES"),
            require_network_isolation=(
                env.get("SAGEWIRE_REQUIRE_NETWORK_ISOLATION", "true").lower() != "false"
            ),
            tracing=env.get("SAGEWIRE_TRACING", "false").lower() == "true",
            service_name=env.get("POWERTOOLS_SERVICE_NAME") or "sagewire",
            metrics_namespace=env.get("POWERTOOLS_METRICS_NAMESPACE") or "sagewire",
            metrics_disabled=env.get("POWERTOOLS_METRICS_DISABLED", "").lower() in ("1", "true"),
        )


def _list(env: dict[str, str], name: str) -> tuple[str, ...]:
    """A comma-separated setting, blanks dropped."""
    return tuple(item.strip() for item in env.get(name, "").split(",") if item.strip())


def _refuse_overlapping_prefixes(prefixes: dict[str, str]) -> None:
    """Each S3 prefix must own its keys: batch output under the batch input prefix would be
    predicted again, forever, and under the datasets prefix recorded as datasets."""
    named = sorted(prefixes.items())
    for index, (name, prefix) in enumerate(named):
        for other_name, other in named[index + 1 :]:
            if prefix.startswith(other) or other.startswith(prefix):
                raise ValueError(
                    f"{name} ({prefix!r}) and {other_name} ({other!r}) overlap: one is a prefix "
                    "of the other; give each its own folder, e.g. 'batch/input/' and "
                    "'batch/output/'"
                )


def _account_id(value: str) -> str | None:
    if value and not _ACCOUNT_ID.fullmatch(value):
        raise ValueError("SAGEWIRE_ACCOUNT_ID must be an AWS account id, 12 digits")
    return value or None


def _predictions_auth(value: str) -> PredictionsAuth:
    if value not in get_args(PredictionsAuth):
        raise ValueError(
            f"SAGEWIRE_PREDICTIONS_AUTH must be one of {', '.join(get_args(PredictionsAuth))}"
        )
    return cast(PredictionsAuth, value)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings.from_environ()
