"""sagewire's request serializers against the SageMaker Python SDK v2 serializers."""

from __future__ import annotations

from dataclasses import replace
from functools import partial

import numpy as np

from bench import Check, Goal, Outcome, Row, compare, describe, digit_images, format_speedup
from bench.sdk_peers import serializers as sdk_serializers
from chalicelib.models import FloatArray
from chalicelib.processing.codecs import serialize
from devstack.container_codecs import parse_request

NAME = "serializers"
SECONDS_PER_CASE = 1.2
RECORDIO = "application/x-recordio-protobuf"
# Minimum speed-ups over the SDK, held on the 100-row batches.
GOALS = {"text/csv": 10.0, "application/json": 20.0, RECORDIO: 100.0}
GOAL_ROWS = 100


def arrays() -> dict[str, FloatArray]:
    """MNIST-like pixels scaled to [0, 1], and standard-normal features; 1 and 100 rows."""
    pixels = digit_images(GOAL_ROWS).reshape(GOAL_ROWS, -1).astype(np.float32) / np.float32(255)
    normal = np.random.default_rng(11).standard_normal(pixels.shape, dtype=np.float32)
    return {
        f"{rows}x{features.shape[1]} {kind}": features[:rows]
        for kind, features in (("pixels", pixels), ("normal", normal))
        for rows in (1, GOAL_ROWS)
    }


def _round_trips(features: FloatArray, content_type: str) -> bool:
    parsed = parse_request(serialize(features, content_type), content_type)
    return (
        parsed.dtype == np.float32
        and parsed.size == features.size
        and np.ascontiguousarray(parsed).tobytes() == features.tobytes()
    )


def _checks(cases: dict[str, FloatArray], content_types: list[str]) -> list[Check]:
    sdk_recordio = sdk_serializers()[RECORDIO]
    outcomes = [
        Check(
            NAME,
            f"float32 round-trips exactly through parse_request: {content_type}",
            all(_round_trips(features, content_type) for features in cases.values()),
        )
        for content_type in content_types
    ]
    identical = all(
        serialize(features, RECORDIO) == sdk_recordio(features) for features in cases.values()
    )
    outcomes.append(Check(NAME, "RecordIO bytes identical to the SDK's", identical))
    return outcomes


def run() -> list[Outcome]:
    cases = arrays()
    peers = sdk_serializers()
    outcomes: list[Outcome] = [*_checks(cases, list(peers))]
    print(f"{NAME}: per call, sagewire vs SageMaker SDK v2 (n = timed calls)")
    for content_type, peer in peers.items():
        for case, features in cases.items():
            ours, theirs = compare(
                partial(serialize, features, content_type),
                partial(peer, features),
                SECONDS_PER_CASE,
            )
            row = Row(NAME, f"{content_type} {case}", ours, theirs)
            minimum = GOALS.get(content_type)
            if minimum is not None and len(features) == GOAL_ROWS:
                row = replace(row, goals=(Goal(f"≥ {minimum:g}x", row.speedup >= minimum),))
            outcomes.append(row)
            print(
                f"  {row.case:<47} {describe(ours, 'sagewire')}  {describe(theirs, 'SDK')}  "
                f"{format_speedup(row.speedup)}"
            )
    return outcomes
