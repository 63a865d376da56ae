"""One 28x28 PNG to a text/csv request body: sagewire against a hand-written SDK-style Lambda."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import numpy.typing as npt

from bench import (
    Check,
    Goal,
    Outcome,
    Row,
    compare,
    describe,
    digit_images,
    format_ns,
    format_speedup,
    png_bytes,
)
from bench.sdk_peers import png_to_csv
from chalicelib.inference_spec import InputSpec
from chalicelib.processing.codecs import serialize
from chalicelib.processing.decode import decode
from chalicelib.processing.preprocess import preprocess

NAME = "preprocess"
SECONDS = 3.0
MIN_SPEEDUP = 8.0
MAX_P50_NS = 100_000
SPEC = InputSpec(shape=(28, 28), scale=255.0)


def sagewire_png_to_csv(png: bytes) -> bytes:
    return serialize(preprocess(decode(png, "image/png"), SPEC), "text/csv")


def _features(csv: bytes) -> npt.NDArray[np.float64]:
    return np.array(csv.decode().split(","), dtype=np.float64)


def run() -> list[Outcome]:
    png = png_bytes(digit_images(1)[0])
    peer = png_to_csv()
    same = np.allclose(_features(sagewire_png_to_csv(png)), _features(peer(png)), rtol=1e-6, atol=0)
    ours, theirs = compare(lambda: sagewire_png_to_csv(png), lambda: peer(png), SECONDS)
    row = Row(NAME, "28x28 PNG to text/csv body", ours, theirs)
    row = replace(
        row,
        goals=(
            Goal(f"≥ {MIN_SPEEDUP:g}x", row.speedup >= MIN_SPEEDUP),
            Goal(f"p50 ≤ {format_ns(MAX_P50_NS)}", ours.p50_ns <= MAX_P50_NS),
        ),
    )
    print(f"{NAME}: one 28x28 PNG to a text/csv body, per call (n = timed calls)")
    print(f"  {describe(ours, 'sagewire')}  (decode → preprocess → serialize)")
    print(f"  {describe(theirs, 'SDK-style')}  (Pillow, np.asarray / 255.0, CSVSerializer)")
    print(f"  {format_speedup(row.speedup)} (goals: {', '.join(g.text for g in row.goals)})")
    return [
        Check(NAME, "same features as the SDK-style path (to float32 precision)", bool(same)),
        row,
    ]
