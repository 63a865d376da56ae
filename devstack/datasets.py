"""Data sets the stack puts in its bucket for the examples' own code: 28x28 digits and tabular."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from devstack import digits, recordio

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client

PREFIX = "datasets"
SEED = 0
TRAIN_FRACTION = 0.8


def csv_label_first(x: npt.NDArray[Any], y: npt.NDArray[Any]) -> bytes:
    """CSV as the built-in algorithms read it: the label first, no header."""
    return "".join(
        f"{label!r}," + ",".join(repr(float(v)) for v in row) + "\n"
        for label, row in zip(y.tolist(), x, strict=True)
    ).encode()


def _tabular(
    loader: Callable[..., Any],
) -> tuple[npt.NDArray[Any], npt.NDArray[Any], npt.NDArray[Any], npt.NDArray[Any]]:
    x, y = loader(return_X_y=True)
    order = np.random.default_rng(SEED).permutation(len(x))
    cut = round(len(x) * TRAIN_FRACTION)
    return x[order[:cut]], y[order[:cut]], x[order[cut:]], y[order[cut:]]


def objects() -> dict[str, bytes]:
    """Key (under the bucket) -> body: `<set>/<channel>/<file>`, one object per channel."""
    from sklearn.datasets import load_breast_cancer, load_diabetes

    mnist = digits.load_mnist_split()
    out: dict[str, bytes] = {}
    for channel, x, y in (
        ("train", mnist.x_train, mnist.y_train),
        ("test", mnist.x_test, mnist.y_test),
    ):
        # Features float32, labels as the examples keep them (integers -> an Int32 label tensor).
        out[f"{PREFIX}/digits28/{channel}/digits28.rec"] = recordio.write_dense_tensor(
            x.astype(np.float32), y
        )
    for name, loader, integer in (
        ("diabetes", load_diabetes, False),
        ("breast-cancer", load_breast_cancer, True),
    ):
        x_train, y_train, x_test, y_test = _tabular(loader)
        for channel, x, y in (("train", x_train, y_train), ("validation", x_test, y_test)):
            labels = y.astype(np.int64) if integer else y.astype(np.float64)
            out[f"{PREFIX}/{name}/{channel}/{name}.csv"] = csv_label_first(x, labels)
    return out


def upload(s3: S3Client, bucket: str) -> dict[str, str]:
    """Puts every object in `bucket`; answers each channel's S3 prefix, e.g.
    {"diabetes/train": "s3://<bucket>/datasets/diabetes/train/"}."""
    uris: dict[str, str] = {}
    for key, body in objects().items():
        s3.put_object(Bucket=bucket, Key=key, Body=body)
        name, channel = key.split("/")[1:3]
        uris[f"{name}/{channel}"] = f"s3://{bucket}/{PREFIX}/{name}/{channel}/"
    return uris
