"""The SageMaker Python SDK v2 peers; the only module that imports the SDK."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from io import BytesIO

import numpy as np
import numpy.typing as npt
from PIL import Image

try:
    # Importing the SDK logs its config lookup and a v2 deprecation notice: noise, not figures.
    logging.disable(logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # The dev venv that runs mypy has no SDK, and the SDK has no type hints anyway.
        from sagemaker.amazon.common import RecordSerializer  # type: ignore[import-not-found]
        from sagemaker.serializers import (  # type: ignore[import-not-found]
            CSVSerializer,
            JSONSerializer,
            NumpySerializer,
        )
except ImportError as error:
    raise SystemExit(
        f"the benchmarks need the SageMaker Python SDK ({error}); run them with `make bench`"
    ) from error
finally:
    logging.disable(logging.NOTSET)

Serializer = Callable[[npt.NDArray[np.float32]], bytes]


def _csv() -> Serializer:
    serializer = CSVSerializer()
    return lambda features: serializer.serialize(features).encode()


def _json() -> Serializer:
    serializer = JSONSerializer()
    return lambda features: serializer.serialize(features).encode()


def _npy() -> Serializer:
    serializer = NumpySerializer()
    return lambda features: serializer.serialize(features)


def _recordio() -> Serializer:
    serializer = RecordSerializer()
    return lambda features: serializer.serialize(features).getvalue()


def serializers() -> dict[str, Serializer]:
    """The SDK serializer for each content type, ending in the request body bytes.

    The SDK gives CSV and JSON as ``str`` and RecordIO as a ``BytesIO``; boto3 turns them into
    bytes before sending, and so do these wrappers, so both sides produce the same thing.
    """
    return {
        "text/csv": _csv(),
        "application/json": _json(),
        "application/x-npy": _npy(),
        "application/x-recordio-protobuf": _recordio(),
    }


def png_to_csv() -> Callable[[bytes], bytes]:
    """A PNG to a CSV request body the way a typical hand-written Lambda does it."""
    serializer = CSVSerializer()

    def convert(png: bytes) -> bytes:
        image = Image.open(BytesIO(png)).convert("L")
        pixels = np.asarray(image) / 255.0
        body: str = serializer.serialize(pixels.reshape(1, -1))
        return body.encode()

    return convert
