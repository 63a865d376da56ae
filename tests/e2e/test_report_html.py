"""The HTML lineage report in headless Chromium: it renders tables and plots, and is not blank."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import cast

import pytest
from PIL import Image

from tests.fakes import EPOCH
from tests.report_world import run, trained_world

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
TIMEOUT = 120
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (apt-get install -y chromium)"
)


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    world = trained_world()
    world.reports.write(EPOCH)
    world.train(run("ll-batch-400", 0.05, 400), settle=False)
    path = tmp_path_factory.mktemp("report") / "lineage.html"
    world.reports.write(EPOCH.replace(day=24))
    path.write_bytes(world.reports.latest("html").body)
    return path


def _chromium(page: Path, tmp: Path, *args: str) -> str:
    assert CHROMIUM is not None
    done = subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={tmp / 'profile'}", *args, page.as_uri()],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=True,
        env={**os.environ, "HOME": str(tmp)},
    )
    return done.stdout


def test_the_dom_has_the_tables_and_plots(page: Path, tmp_path: Path) -> None:
    dom = _chromium(page, tmp_path, "--dump-dom")
    assert dom.count('<section class="project">') == 2
    assert dom.count("<svg") == 2
    assert dom.count("<circle") >= 8
    assert "<script>alert" not in dom
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in dom


def _screenshot(page: Path, tmp_path: Path) -> list[tuple[int, tuple[int, int, int]]]:
    shot = tmp_path / "report.png"
    _chromium(page, tmp_path, f"--screenshot={shot}", "--window-size=1280,2000")
    image = Image.open(shot).convert("RGB")
    assert image.size == (1280, 2000)
    # An RGB image's colors are (r, g, b) triples.
    return cast("list[tuple[int, tuple[int, int, int]]]", image.getcolors(1280 * 2000) or [])


def test_the_screenshot_is_not_blank(page: Path, tmp_path: Path) -> None:
    counts = _screenshot(page, tmp_path)
    ink = sum(count for count, (r, g, b) in counts if r + g + b < 600)
    assert ink > 0.01 * 1280 * 2000
    # The plot's points: the champion's magenta and the other runs' blue.
    colors = {color for _, color in counts}
    assert (0xD5, 0x3F, 0x8C) in colors
    assert (0x2B, 0x6C, 0xB0) in colors
    # The table headers' background comes from the stylesheet: the page's own
    # Content-Security-Policy (a <meta>, as the S3 object has no header) lets it apply.
    assert (0xED, 0xF2, 0xF7) in colors


def test_the_pages_policy_refuses_a_stylesheet_it_does_not_name(page: Path, tmp_path: Path) -> None:
    text = page.read_text()
    assert 'http-equiv="Content-Security-Policy"' in text
    tampered = tmp_path / "tampered.html"
    tampered.write_text(text.replace("th{background:#edf2f7}", "th{background:#edf2f8}"))

    colors = {color for _, color in _screenshot(tampered, tmp_path)}

    assert (0xED, 0xF2, 0xF8) not in colors
    assert (0x2B, 0x6C, 0xB0) in colors  # the SVG's points are attributes, not styles
