"""A training job's S3 channels read as the built-in algorithms read them: CSV or RecordIO."""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from devstack import recordio

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

CSV = "text/csv"
RECORDIO = "application/x-recordio-protobuf"
_MAX_CHANNEL_BYTES = 256 * 1024 * 1024


class ChannelError(ValueError):
    """Channel data the algorithm cannot read (SageMaker reports it as a ClientError)."""


@dataclass(frozen=True, eq=False)
class Data:
    """One channel: features, and labels if the records carry them."""

    x: recordio.FloatMatrix
    y: recordio.FloatVector | None


def media_type(content_type: str | None, default: str) -> str:
    media = (content_type or default).split(";", 1)[0].strip().lower()
    if media not in (CSV, RECORDIO):
        raise ChannelError(
            f"content type {content_type!r} is not supported; use {CSV} or {RECORDIO}"
        )
    return media


def read_csv(body: bytes) -> Data:
    """CSV without a header, the label in the first column (SageMaker's built-in convention)."""
    try:
        text = body.decode("utf-8")
        if not text.strip():
            raise ChannelError("an empty CSV object")
        rows = np.loadtxt(
            io.StringIO(text), delimiter=",", dtype=np.float64, ndmin=2, comments=None
        )
    except (UnicodeDecodeError, ValueError) as error:
        raise ChannelError(f"unreadable CSV (label first, no header): {error}") from None
    if rows.shape[0] == 0 or rows.shape[1] < 2:
        raise ChannelError("a CSV channel needs a label column and at least one feature column")
    if not np.isfinite(rows).all():
        raise ChannelError("CSV values must be finite numbers")
    return Data(x=rows[:, 1:], y=rows[:, 0])


def read_recordio(body: bytes) -> Data:
    try:
        x, y = recordio.read_records(body)
    except recordio.RecordError as error:
        raise ChannelError(f"unreadable RecordIO-protobuf: {error}") from None
    return Data(x=x, y=y)


def _objects(s3: S3Client, uri: str, data_type: str) -> list[tuple[str, str]]:
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    if not uri.startswith("s3://") or not bucket:
        raise ChannelError(f"S3Uri must be s3://<bucket>/<prefix>, not {uri!r}")
    if data_type != "S3Prefix":
        raise ChannelError(f"S3DataType {data_type} is not supported here; use S3Prefix")
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys += [item["Key"] for item in page.get("Contents", []) if not item["Key"].endswith("/")]
    if not keys:
        raise ChannelError(f"no objects under {uri}")
    return [(bucket, key) for key in sorted(keys)]


def read_channel(s3: S3Client, channel: Mapping[str, Any], default_type: str) -> Data:
    """Every object under the channel's S3 prefix, in key order, as one data set."""
    name = channel.get("ChannelName", "?")
    source = channel.get("DataSource", {}).get("S3DataSource")
    if not isinstance(source, Mapping):
        raise ChannelError(f"channel {name}: only S3DataSource channels are supported")
    if channel.get("CompressionType", "None") != "None":
        raise ChannelError(f"channel {name}: compressed channels are not supported")
    media = media_type(channel.get("ContentType"), default_type)
    parts: list[Data] = []
    total = 0
    for bucket, key in _objects(s3, str(source.get("S3Uri", "")), source.get("S3DataType", "")):
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        total += len(body)
        if total > _MAX_CHANNEL_BYTES:
            raise ChannelError(f"channel {name} is larger than the stack reads")
        parts.append(read_csv(body) if media == CSV else read_recordio(body))
    if len({part.x.shape[1] for part in parts}) != 1:
        raise ChannelError(f"channel {name}: objects of different feature dimensions")
    labels = [part.y for part in parts if part.y is not None]
    y = np.concatenate(labels) if len(labels) == len(parts) else None
    return Data(x=np.vstack([part.x for part in parts]), y=y)


def read_channels(
    s3: S3Client, config: list[Mapping[str, Any]], default_type: str
) -> dict[str, Data]:
    return {str(c["ChannelName"]): read_channel(s3, c, default_type) for c in config}


@dataclass(frozen=True, eq=False)
class Channels:
    """An algorithm's data, in the model's feature space: train, and validation / test if given."""

    x_train: recordio.FloatMatrix
    y_train: npt.NDArray[Any]
    x_validation: recordio.FloatMatrix | None = None
    y_validation: npt.NDArray[Any] | None = None
    x_test: recordio.FloatMatrix | None = None
    y_test: npt.NDArray[Any] | None = None

    def held_out(self) -> list[tuple[str, recordio.FloatMatrix, npt.NDArray[Any]]]:
        """(metric prefix, x, y) of the validation and test channels present."""
        return [
            (name, x, y)
            for name, x, y in (
                ("validation", self.x_validation, self.y_validation),
                ("test", self.x_test, self.y_test),
            )
            if x is not None and y is not None
        ]
