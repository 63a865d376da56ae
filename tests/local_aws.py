"""The devstack's control plane in-process, with a recording event router, for shim tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import boto3
import pytest

from devstack.aws import ControlPlane
from devstack.events import EventRouter
from devstack.jobs import LocalSageMaker

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client
    from mypy_boto3_sagemaker.client import SageMakerClient


@dataclass(frozen=True)
class LocalAws:
    control: ControlPlane
    router: EventRouter
    sagemaker: SageMakerClient
    s3: S3Client
    jobs: LocalSageMaker


@contextmanager
def local_aws(bucket: str, region: str = "us-east-1") -> Iterator[LocalAws]:
    """moto with the SageMaker shims on a free port, clients pointed at it, `bucket` made;
    SageMaker's events recorded by a router with no rules. Attach runners as the test needs."""
    control = ControlPlane()
    router = EventRouter([], function_prefix="unit-")
    control.shim.attach(router, lambda environ, start_response: [])
    control.start()
    router.start()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_ENDPOINT_URL", control.url)
        session = boto3.session.Session(region_name=region)
        s3, sagemaker = session.client("s3"), session.client("sagemaker")
        s3.create_bucket(Bucket=bucket)
        jobs = LocalSageMaker(sagemaker, s3, bucket, router)
        try:
            yield LocalAws(control, router, sagemaker, s3, jobs)
        finally:
            router.stop()
            control.stop()
