"""Model Registry values: model packages, their state changes, and what sagewire registers."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final, Literal

ApprovalStatus = Literal["Approved", "Rejected", "PendingManualApproval"]
APPROVAL_STATUSES: Final = ("Approved", "Rejected", "PendingManualApproval")
# CustomerMetadataProperties sagewire writes on every version it registers.
RUN_KEY: Final = "sagewire:run"
PROMOTION_KEY: Final = "sagewire:promotion"
PROJECT_KEY: Final = "sagewire:project"
# SageMaker's limits on CustomerMetadataProperties: keys, values, entries.
MAX_KEY, MAX_VALUE, MAX_ENTRIES = 128, 256, 50
# The ledger cause of a promotion an approval in the Model Registry made.
REGISTRY_CAUSE: Final = "registry:"
GROUP_DESCRIPTION: Final = "sagewire project {project}: one version per promotion of its champion"


@dataclass(frozen=True)
class ModelPackageChange:
    """A normalized "SageMaker Model Package State Change" event."""

    arn: str
    group: str
    approval: str
    last_modified_at: datetime


@dataclass(frozen=True)
class ModelPackage:
    """A model package version as DescribeModelPackage tells it."""

    arn: str
    group: str | None
    approval: str
    artifact: str | None
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PackageRequest:
    """One version to register: the serving container, content types, approval and metadata;
    `token` makes a retried registration create nothing twice (CreateModelPackage's ClientToken)."""

    group: str
    image: str
    artifact: str | None
    environment: dict[str, str]
    content_types: tuple[str, ...]
    response_types: tuple[str, ...]
    approval: ApprovalStatus
    metadata: dict[str, str]
    description: str
    token: str


def client_token(project: str, promotion_id: str) -> str:
    """A ClientToken (1-36 of [a-zA-Z0-9-]) that names one promotion of one project."""
    return hashlib.sha256(f"{project}\n{promotion_id}".encode()).hexdigest()[:36]


def metadata(entries: dict[str, str]) -> dict[str, str]:
    """CustomerMetadataProperties within SageMaker's limits: keys and values cut to size, at most
    MAX_ENTRIES (the first ones kept)."""
    bounded: dict[str, str] = {}
    for key, value in entries.items():
        if len(bounded) == MAX_ENTRIES:
            break
        bounded[key[:MAX_KEY]] = value[:MAX_VALUE]
    return bounded
