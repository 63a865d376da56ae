"""Training channels as the built-in algorithms read them: RecordIO-protobuf and label-first CSV."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from chalicelib.processing.codecs import serialize
from devstack import channels, recordio

DATA = Path(__file__).parent / "data"
FINITE = st.floats(-1e6, 1e6, allow_nan=False, width=32)


@pytest.mark.parametrize("name", ["recordio_3x5", "recordio_1x784"])
def test_the_golden_files_read_back(name: str) -> None:
    data = channels.read_recordio((DATA / f"{name}.bin").read_bytes())
    np.testing.assert_array_equal(data.x, np.load(DATA / f"{name}.npy"))
    assert data.y is None


@settings(max_examples=50, deadline=None)
@given(
    arrays(np.float32, st.tuples(st.integers(1, 20), st.integers(1, 30)), elements=FINITE),
    st.sampled_from(["int64", "float32", "float64", None]),
)
def test_records_written_like_the_sdk_read_back(
    x: npt.NDArray[np.float32], label_type: str | None
) -> None:
    labels = None if label_type is None else (np.arange(len(x)) % 7 - 3).astype(label_type)
    data = channels.read_recordio(recordio.write_dense_tensor(x, labels))
    np.testing.assert_array_equal(data.x, x.astype(np.float64))
    if labels is None:
        assert data.y is None
    else:
        assert data.y is not None
        np.testing.assert_array_equal(data.y, labels.astype(np.float64))


@settings(max_examples=50, deadline=None)
@given(arrays(np.float32, st.tuples(st.integers(1, 20), st.integers(0, 30)), elements=FINITE))
def test_the_app_serializer_is_read_as_unlabelled_records(x: npt.NDArray[np.float32]) -> None:
    data = channels.read_recordio(serialize(x, "application/x-recordio-protobuf"))
    np.testing.assert_array_equal(data.x, x.astype(np.float64))


@settings(max_examples=50, deadline=None)
@given(
    arrays(
        np.float64,
        st.tuples(st.integers(1, 20), st.integers(2, 12)),
        elements=st.floats(-1e9, 1e9, allow_nan=False),
    )
)
def test_csv_is_label_first_without_header(rows: npt.NDArray[np.float64]) -> None:
    text = "\n".join(",".join(repr(float(v)) for v in row) for row in rows) + "\n"
    data = channels.read_csv(text.encode())
    np.testing.assert_array_equal(data.x, rows[:, 1:])
    assert data.y is not None
    np.testing.assert_array_equal(data.y, rows[:, 0])


@given(st.binary(max_size=200))
def test_any_bytes_are_read_or_refused_cleanly(body: bytes) -> None:
    for read in (channels.read_recordio, channels.read_csv):
        try:
            data = read(body)
        except channels.ChannelError:
            continue
        assert data.x.ndim == 2


@pytest.mark.parametrize(
    "body",
    [
        b"label,f1\n1,2\n",  # a header
        b"1\n2\n",  # no feature column
        b"1,nan\n",
        b"1,2\n1,2,3\n",
    ],
)
def test_bad_csv_is_refused(body: bytes) -> None:
    with pytest.raises(channels.ChannelError):
        channels.read_csv(body)


def test_mixed_labelled_and_unlabelled_records_are_refused() -> None:
    x = np.ones((2, 3), dtype=np.float32)
    body = recordio.write_dense_tensor(x[:1], np.array([1])) + recordio.write_dense_tensor(x[1:])
    with pytest.raises(recordio.RecordError, match="some records"):
        recordio.read_records(body)
