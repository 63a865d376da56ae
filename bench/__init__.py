"""Benchmarks of sagewire, each timed against its peer in the same run: shared timing and data."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from io import BytesIO

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw

ROUNDS = 15
WARMUP_SECONDS = 0.05


@dataclass(frozen=True)
class Timing:
    """Per-operation wall time in nanoseconds over ``reps`` repetitions."""

    p50_ns: float
    mean_ns: float
    reps: int

    @classmethod
    def of(cls, samples: list[int]) -> Timing:
        return cls(statistics.median(samples), statistics.fmean(samples), len(samples))


@dataclass(frozen=True)
class Goal:
    text: str
    met: bool


@dataclass(frozen=True)
class Row:
    """One case: sagewire against its peer, with the goal the case is held to (if any)."""

    benchmark: str
    case: str
    ours: Timing
    peer: Timing
    goals: tuple[Goal, ...] = ()

    @property
    def speedup(self) -> float:
        """How many times faster sagewire is (below 1: slower), on the p50s."""
        return self.peer.p50_ns / self.ours.p50_ns


@dataclass(frozen=True)
class Check:
    """A correctness check that must pass for the figures to mean anything."""

    benchmark: str
    name: str
    passed: bool


Outcome = Row | Check


def format_ns(ns: float) -> str:
    if ns >= 1e6:
        return f"{ns / 1e6:.1f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.1f} µs"
    return f"{ns:.0f} ns"


def format_speedup(speedup: float) -> str:
    return f"{speedup:.1f}x faster" if speedup >= 1 else f"{1 / speedup:.2f}x slower"


def describe(timing: Timing, who: str) -> str:
    return (
        f"{who} p50 {format_ns(timing.p50_ns):>9}  mean {format_ns(timing.mean_ns):>9}  "
        f"n {timing.reps:>6}"
    )


def _batch(op: Callable[[], object], count: int, samples: list[int]) -> None:
    clock = time.perf_counter_ns
    for _ in range(count):
        start = clock()
        op()
        samples.append(clock() - start)


def _calls_per_round(op: Callable[[], object], seconds_per_round: float) -> int:
    """Warms ``op`` up and returns how many calls fill one round."""
    calls = 0
    start = time.perf_counter()
    while (elapsed := time.perf_counter() - start) < WARMUP_SECONDS or calls < 3:
        op()
        calls += 1
    return max(1, int(seconds_per_round * calls / elapsed))


def compare(
    ours: Callable[[], object], peer: Callable[[], object], seconds: float
) -> tuple[Timing, Timing]:
    """Times each call of both, alternating rounds so that load changes hit both alike."""
    per_round = seconds / (2 * ROUNDS)
    counts = (_calls_per_round(ours, per_round), _calls_per_round(peer, per_round))
    ours_samples: list[int] = []
    peer_samples: list[int] = []
    for _ in range(ROUNDS):
        _batch(ours, counts[0], ours_samples)
        _batch(peer, counts[1], peer_samples)
    return Timing.of(ours_samples), Timing.of(peer_samples)


def digit_images(count: int, seed: int = 7) -> npt.NDArray[np.uint8]:
    """MNIST-like 28x28 grayscale digits: thick anti-aliased strokes on a black background."""
    rng = np.random.default_rng(seed)
    images = np.empty((count, 28, 28), dtype=np.uint8)
    for index in range(count):
        canvas = Image.new("L", (224, 224))
        draw = ImageDraw.Draw(canvas)
        left, top = (int(v) for v in rng.integers(32, 80, size=2))
        right, bottom = (int(v) for v in rng.integers(144, 192, size=2))
        draw.ellipse((left, top, right, bottom), outline=255, width=20)
        if rng.random() < 0.5:
            draw.line((right, top, left, bottom), fill=255, width=20)
        images[index] = np.asarray(canvas.resize((28, 28), Image.Resampling.BOX))
    return images


def png_bytes(image: npt.NDArray[np.uint8]) -> bytes:
    buffer = BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()
