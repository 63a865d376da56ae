"""S3 "Object Created" events normalized: the fixture's fields, and nothing but MalformedInput."""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.errors import MalformedInput
from chalicelib.processing.events import object_created

FIXTURE = Path(__file__).resolve().parents[3] / "shared/fixtures/events/s3-object-created.json"


def event() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(FIXTURE.read_text())
    return loaded


def test_the_fixture_normalizes() -> None:
    change = object_created(event())

    assert change.bucket == "example-bucket"
    assert change.key == "datasets/mnist/train/recordio-pb-data"
    assert change.uri == "s3://example-bucket/datasets/mnist/train/recordio-pb-data"
    assert (change.etag, change.size) == ("b1946ac92492d2347c6235b4d2611184", 164000000)
    assert change.version_id == "IYV3p45BhZA1YMiaLakn.HtvEl_0CGvn"
    assert change.sequencer == "00617F08299329D189"
    assert change.time == datetime(2026, 11, 20, 10, tzinfo=UTC)


def test_keys_are_used_as_sent_since_eventbridge_does_not_encode_them() -> None:
    sent = event()
    sent["detail"]["object"]["key"] = "datasets/a b+c%20d/ü.csv"

    assert object_created(sent).key == "datasets/a b+c%20d/ü.csv"


def test_quoted_etags_and_absent_versions_are_normalized() -> None:
    sent = event()
    sent["detail"]["object"]["etag"] = '"abc"'
    del sent["detail"]["object"]["version-id"], sent["detail"]["object"]["sequencer"]

    change = object_created(sent)

    assert (change.etag, change.version_id, change.sequencer) == ("abc", None, None)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("detail", "object", "key"), ""),
        (("detail", "object", "key"), "k" * 1025),
        (("detail", "object", "key"), "\ud800"),
        (("detail", "object", "size"), -1),
        (("detail", "object", "size"), True),
        (("detail", "object", "size"), "12"),
        (("detail", "object", "etag"), '""'),
        (("detail", "object", "sequencer"), "not-hex"),
        (("detail", "bucket"), "example-bucket"),
        (("detail", "object"), None),
        (("time",), "yesterday"),
    ],
)
def test_a_malformed_event_is_refused(path: tuple[str, ...], value: Any) -> None:
    sent = event()
    parent = sent
    for name in path[:-1]:
        parent = parent[name]
    parent[path[-1]] = value

    with pytest.raises(MalformedInput):
        object_created(sent)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)


@given(
    st.dictionaries(
        st.sampled_from(["key", "size", "etag", "version-id", "sequencer"]) | st.text(max_size=5),
        json_values,
    ),
    json_values,
    json_values,
)
def test_any_event_normalizes_or_is_malformed(obj: Any, bucket: Any, time: Any) -> None:
    sent = event()
    sent["detail"]["object"] = obj
    sent["detail"]["bucket"] = bucket
    sent["time"] = time
    with contextlib.suppress(MalformedInput):
        object_created(sent)


@given(json_values)
def test_any_detail_normalizes_or_is_malformed(detail: Any) -> None:
    with contextlib.suppress(MalformedInput):
        object_created({"detail": detail, "time": "2026-11-20T10:00:00Z"})
