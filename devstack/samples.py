"""Sample request bodies made from held-out digits, and the curl and sagewire lines that send
them."""

from __future__ import annotations

import base64
import json
import os
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl

import numpy as np

from devstack import digits


@dataclass(frozen=True)
class Sample:
    path: Path
    content_type: str
    project: str
    query: str = ""
    what: str = ""


def first_of(label: int) -> int:
    """Index of the first held-out digit with this label."""
    return int(np.flatnonzero(digits.load_split().y_test == label)[0])


def write_samples(directory: Path) -> list[Sample]:
    split = digits.load_split()
    x = split.x_test
    zero, seven = x[first_of(0)], x[first_of(7)]
    directory.mkdir(parents=True, exist_ok=True)
    png = digits.image_bytes(zero, "PNG")
    files = {
        "zero.png": png,
        "seven.jpg": digits.image_bytes(seven, "JPEG", upscale=8),
        "rows.csv": digits.csv_rows(x[:5]).encode(),
        "batch.json": json.dumps({"instances": digits.to_pixels(x[:5]).tolist()}).encode(),
        "image.json": json.dumps({"image": base64.b64encode(png).decode()}).encode(),
    }
    for name, data in files.items():
        (directory / name).write_bytes(data)
    labels = ", ".join(str(label) for label in split.y_test[:5])
    return [
        Sample(directory / "zero.png", "image/png", "digits-zero", what="a held-out 0, 8x8 PNG"),
        Sample(
            directory / "seven.jpg",
            "image/jpeg",
            "digits-classifier",
            "?top_k=3",
            "a held-out 7, 64x64 JPEG",
        ),
        Sample(directory / "rows.csv", "text/csv", "digits-kmeans", what=f"digits {labels}"),
        Sample(
            directory / "batch.json",
            "application/json",
            "digits-classifier",
            what=f"digits {labels}",
        ),
        Sample(directory / "image.json", "application/json", "digits-zero", what="base64 PNG"),
    ]


def _shown(path: Path) -> str:
    """The path as a shell word, relative when it is under the working directory."""
    return shlex.quote(os.path.relpath(path) if path.is_relative_to(Path.cwd()) else str(path))


def curl_line(api_url: str, sample: Sample) -> str:
    url = f"{api_url}/v1/projects/{sample.project}/predictions{sample.query}"
    return (
        f"curl -s -H {shlex.quote('Content-Type: ' + sample.content_type)} "
        f"--data-binary @{_shown(sample.path)} {shlex.quote(url)}"
    )


def sagewire_command(api_url: str) -> str:
    """The `sagewire` command beside this interpreter (`make setup` installs it in .venv), else
    the package run by this interpreter, pointed at the local API."""
    python = Path(sys.executable)
    script = python.with_name("sagewire")
    command = _shown(script) if script.exists() else f"{_shown(python)} -m sagewire"
    return f"{command} --endpoint-url {shlex.quote(api_url)}"


def sagewire_line(api_url: str, sample: Sample) -> str:
    """The sample sent by the `sagewire` command, its query as the command's options."""
    options = "".join(
        f" --{name.replace('_', '-')} {shlex.quote(value)}"
        for name, value in parse_qsl(sample.query.removeprefix("?"))
    )
    return f"{sagewire_command(api_url)} predict {sample.project} {_shown(sample.path)}{options}"
