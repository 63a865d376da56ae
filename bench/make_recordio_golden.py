"""Writes the SDK-made RecordIO golden files of tests/unit/test_codecs.py (in the bench venv)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt

from bench.sdk_peers import serializers

DATA = Path(__file__).resolve().parent.parent / "tests" / "unit" / "data"
RECORDIO = "application/x-recordio-protobuf"


def cases() -> dict[str, npt.NDArray[np.float32]]:
    """Seeded arrays, one of them with the float32 edge values (-0, subnormals, extremes)."""
    rng = np.random.default_rng(20240611)
    edges = np.array(
        [0.0, -0.0, 1e-45, -1e-45, 1.1754942e-38, 3.4028235e38, -3.4028235e38, 1.0, -1.0,
         0.1, 255.0, 1e-7, 123456790.0, 0.5, -2.5],
        dtype=np.float32,
    )  # fmt: skip
    return {
        "1x784": rng.random((1, 784), dtype=np.float32),
        "3x5": edges.reshape(3, 5),
    }


def main() -> None:
    serialize = serializers()[RECORDIO]
    DATA.mkdir(parents=True, exist_ok=True)
    for name, features in cases().items():
        np.save(DATA / f"recordio_{name}.npy", features, allow_pickle=False)
        (DATA / f"recordio_{name}.bin").write_bytes(serialize(features))
        print(f"wrote recordio_{name}.npy and recordio_{name}.bin")


if __name__ == "__main__":
    main()
