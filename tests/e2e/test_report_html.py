"""The HTML lineage report in headless Chromium: tables, charts and the lineage graph render, the
page's script sorts and filters (its state in the URL fragment), and its policy holds.

Screenshots at 1280 and 390 px wide are kept as test artifacts in `$SAGEWIRE_TEST_ARTIFACTS`
(default `out/test-artifacts/`, gitignored): `report-1280.png`, `report-390.png` and the page
itself, `report.html`."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import cast

import pytest
from PIL import Image

from chalicelib.processing.report_html import anchor
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
ARTIFACTS = Path(
    os.environ.get("SAGEWIRE_TEST_ARTIFACTS")
    or Path(__file__).parents[2] / "out" / "test-artifacts"
)
RUNS = anchor("digits-zero") + "-runs"
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (apt-get install -y chromium)"
)


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two projects with the lineage chains services/lineage.py describes, a failed run, runs
    over learning rates spanning decades, and a new champion not yet serving (drift)."""
    world = trained_world(chains=True)
    for index, rate in enumerate((0.0001, 0.001, 0.01, 0.3)):
        tuned = run(f"ll-lr-{index}", 0.35 + index / 100, 250)
        rates = {**tuned.hyperparameters, "learning_rate": str(rate)}
        world.train(replace(tuned, hyperparameters=rates))
    world.reports.write(EPOCH)
    world.train(run("ll-batch-400", 0.05, 400), settle=False)
    path = tmp_path_factory.mktemp("report") / "lineage.html"
    world.reports.write(EPOCH.replace(day=24))
    path.write_bytes(world.reports.latest("html").body)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, ARTIFACTS / "report.html")
    return path


def _chromium(url: str, tmp: Path, *args: str) -> str:
    assert CHROMIUM is not None
    done = subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={tmp / 'profile'}", *args, url],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=True,
        env={**os.environ, "HOME": str(tmp)},
    )
    return done.stdout


def _dom(page: Path, tmp: Path, fragment: str = "", *args: str) -> str:
    """The DOM after the page's script ran (virtual time lets it finish before the dump)."""
    url = page.as_uri() + fragment
    return _chromium(url, tmp, "--virtual-time-budget=2000", *args, "--dump-dom")


def _rows(dom: str, table_id: str) -> list[tuple[str, bool]]:
    """(the run cell's text, whether the row is hidden) for each body row of a table."""
    [table] = re.findall(rf'<table class="sortable" id="{table_id}">(.*?)</table>', dom, re.S)
    body = table[table.index("<tbody>") :]
    rows = re.findall(r"<tr([^>]*)>(.*?)</tr>", body, re.S)
    return [
        (re.findall(r"<td[^>]*>(.*?)</td>", cells, re.S)[1], "hidden" in attributes)
        for attributes, cells in rows
    ]


def test_the_dom_has_the_graph_charts_and_navigation(page: Path, tmp_path: Path) -> None:
    dom = _dom(page, tmp_path)
    assert dom.count('<section class="project"') == 2
    # digits-zero's graph: the serving path (endpoint, config, variant, model, run ll-batch-200,
    # two datasets: 7 nodes, 6 edges), and the new champion's, not serving yet (drift): its
    # config (the endpoint's pending one), model and run ll-batch-400, which read the same
    # datasets (3 nodes, 5 edges).
    [graph] = re.findall(
        rf'id="{anchor("digits-zero")}".*?(<svg[^>]*class="graph".*?</svg>)', dom, re.S
    )
    assert graph.count('<g class="node') == 10
    assert graph.count('<g class="node serving"') == 7
    assert graph.count('<path class="edge') == 11
    assert graph.count('<path class="edge serving"') == 6
    # One chart per numeric hyperparameter; learning rates span three decades: a log scale.
    assert dom.count('aria-label="train:objective_loss:final against learning_rate"') == 2
    assert "learning_rate (log scale)" in dom
    assert "mini_batch_size (log scale)" not in dom
    assert dom.count('class="dot champion"') >= 2
    ids = set(re.findall(r' id="([^"]+)"', dom))
    nav = dom[dom.index("<nav") : dom.index("</nav>")]
    links = re.findall(r'href="#([^"]+)"', nav)
    assert len(links) == 6
    assert set(links) <= ids
    # The script shows the filter boxes it serves; escaping held.
    assert 'class="filter" type="search"' in dom
    assert ' hidden="" placeholder' not in dom
    assert "<script>alert" not in dom
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in dom


def test_sorting_from_the_fragment_orders_rows_numerically(page: Path, tmp_path: Path) -> None:
    unsorted = [name for name, _ in _rows(_dom(page, tmp_path), RUNS)]
    assert unsorted[:2] == ["ll-batch-400", "ll-batch-200"]  # the leaderboard's order

    dom = _dom(page, tmp_path, f"#sort={RUNS}:hp:mini_batch_size:desc")

    names = [name for name, _ in _rows(dom, RUNS)]
    assert names != unsorted
    assert sorted(names) == sorted(unsorted)
    # 400 before 300 before 250 before ... 50: numbers, not text ("50" > "400" as text).
    assert names[:2] in (["ll-batch-400", "ll-failed"], ["ll-failed", "ll-batch-400"])
    assert names[-1] == "&lt;script&gt;alert(1)&lt;/script&gt;"
    assert re.search(r'<th data-key="hp:mini_batch_size"[^>]*aria-sort="descending"', dom)
    worst_first = [
        name for name, _ in _rows(_dom(page, tmp_path, f"#sort={RUNS}:objective:desc"), RUNS)
    ]
    # The largest loss first; the failed run has none, and empty cells sort last either way.
    assert worst_first[0] == "&lt;script&gt;alert(1)&lt;/script&gt;"
    assert worst_first[-1] == "ll-failed"


def test_decimals_sort_as_numbers(page: Path, tmp_path: Path) -> None:
    rates = _rows(_dom(page, tmp_path, f"#sort={RUNS}:hp:learning_rate:desc"), RUNS)
    # 0.3 > 0.01 > 0.001 > 0.0001 (as text, digit runs would put 0.0001 and 0.001 together).
    assert [name for name, _ in rates][:4] == ["ll-lr-3", "ll-lr-2", "ll-lr-1", "ll-lr-0"]


def test_filtering_from_the_fragment_hides_other_rows(page: Path, tmp_path: Path) -> None:
    rows = _rows(_dom(page, tmp_path, f"#filter={RUNS}:failed"), RUNS)
    assert [name for name, hidden in rows if not hidden] == ["ll-failed"]


def _tampered(page: Path, tmp_path: Path, before: str, after: str) -> Path:
    text = page.read_text()
    assert before in text
    tampered = tmp_path / "tampered.html"
    tampered.write_text(text.replace(before, after))
    return tampered


def test_a_script_the_policy_does_not_name_does_not_run_and_the_page_still_reads(
    page: Path, tmp_path: Path
) -> None:
    tampered = _tampered(page, tmp_path, "(function(){", "(function(){/* changed */")
    dom = _dom(tampered, tmp_path, f"#sort={RUNS}:run:desc")
    rows = _rows(dom, RUNS)
    # The leaderboard's order, every row shown, the filter boxes left hidden.
    assert [name for name, _ in rows][:2] == ["ll-batch-400", "ll-batch-200"]
    assert not any(hidden for _, hidden in rows)
    assert dom.count(' hidden="" placeholder') == dom.count('class="filter"') > 0


def _screenshot(url: str, tmp_path: Path, width: int, height: int, name: str) -> Image.Image:
    shot = ARTIFACTS / name
    _chromium(url, tmp_path, f"--screenshot={shot}", f"--window-size={width},{height}")
    image = Image.open(shot).convert("RGB")
    assert image.size == (width, height)
    return image


def _colors(image: Image.Image) -> list[tuple[int, tuple[int, int, int]]]:
    # An RGB image's colors are (r, g, b) triples.
    return cast(
        "list[tuple[int, tuple[int, int, int]]]",
        image.getcolors(image.size[0] * image.size[1]) or [],
    )


@pytest.mark.parametrize(("width", "height"), [(1280, 3600), (390, 6400)])
def test_the_screenshots_are_not_blank(page: Path, tmp_path: Path, width: int, height: int) -> None:
    image = _screenshot(page.as_uri(), tmp_path, width, height, f"report-{width}.png")
    counts = _colors(image)
    ink = sum(count for count, (r, g, b) in counts if r + g + b < 600)
    assert ink > 0.01 * width * height
    colors = {color for _, color in counts}
    assert (0x1A, 0x36, 0x5D) in colors  # the header's navy: the stylesheet applies
    assert (0x2F, 0x85, 0x5A) in colors  # the serving path's green
    assert (0xD5, 0x3F, 0x8C) in colors  # the champion's magenta
    # Nothing is wider than the screen: tables and the graph scroll inside their boxes.
    # The right edge is the page's background, the header's and the navigation's (and a few
    # pixels of the navigation's shadow), never a table cell or a node.
    edge = _colors(image.crop((width - 2, 0, width, height)))
    page_colors = {(0xF4, 0xF6, 0xF9), (0x1A, 0x36, 0x5D), (0x2A, 0x43, 0x65)}
    assert sum(n for n, color in edge if color in page_colors) >= 0.99 * 2 * height


def test_the_pages_policy_refuses_a_stylesheet_it_does_not_name(page: Path, tmp_path: Path) -> None:
    assert 'http-equiv="Content-Security-Policy"' in page.read_text()
    tampered = _tampered(
        page, tmp_path, "header.top{background:#1a365d", "header.top{background:#1a365e"
    )
    image = _screenshot(tampered.as_uri(), tmp_path, 1280, 800, "tampered.png")
    colors = {color for _, color in _colors(image)}
    assert (0x1A, 0x36, 0x5E) not in colors
    assert (0x1A, 0x36, 0x5D) not in colors  # no stylesheet at all
