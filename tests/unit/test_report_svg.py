"""The report's charts: nice or log axes, the champion highlighted, the timeline's marks."""

from __future__ import annotations

import re
from datetime import timedelta

from chalicelib.processing.report_svg import Point, Step, axis, scatter_svg, timeline_svg
from tests.fakes import EPOCH
from tests.report_world import HOSTILE


def _tick_labels(svg: str, anchor: str) -> list[str]:
    return re.findall(rf'text-anchor="{anchor}">([^<]+)</text>', svg)


def test_learning_rates_over_decades_get_a_log_axis_of_powers_of_ten() -> None:
    points = [
        Point(f"r{i}", rate, 0.3 + i / 100, i == 2) for i, rate in enumerate((1e-4, 3e-3, 0.2))
    ]
    svg = scatter_svg("learning_rate", "loss", points)
    assert "learning_rate (log scale)" in svg
    labels = _tick_labels(svg, "middle")
    assert labels[:4] == ["0.0001", "0.001", "0.01", "0.1"]
    assert _tick_labels(svg, "end") == ["0.3", "0.305", "0.31", "0.315", "0.32"]
    assert svg.count('class="dot champion"') == 1
    assert "r2 (champion)" in svg


def test_a_linear_axis_places_values_between_its_first_and_last_ticks() -> None:
    scale = axis([37.5, 106.25, 175], 0, 100)
    assert not scale.log
    assert scale.ticks == (0, 50, 100, 150, 200)
    assert scale.place(0) == 0
    assert scale.place(200) == 100
    assert scale.place(100) == 50


def test_the_timeline_steps_through_succeeded_promotions_and_marks_the_others() -> None:
    steps = [
        Step(EPOCH, "a", 0.3, "succeeded"),
        Step(EPOCH + timedelta(days=1), HOSTILE, 0.2, "failed"),
        Step(EPOCH + timedelta(days=2), "b", 0.1, "succeeded"),
        Step(EPOCH + timedelta(days=3), "c", 0.05, "deploying"),
    ]
    svg = timeline_svg("loss", steps)
    assert svg.count('class="dot champion"') == 2
    assert svg.count('class="cross"') == 1
    assert svg.count('class="ring"') == 1
    assert svg.count('class="step"') == 1
    assert "<script>" not in svg
    # Ticks every 12 hours across the card, the date under each midnight.
    assert 'viewBox="0 0 960 250"' in svg
    assert svg.count(">00:00<tspan") == 4
    assert svg.count(">12:00</text>") == 3
    assert '">2026-11-23</tspan>' in svg
    assert '">2026-11-26</tspan>' in svg


def test_a_timeline_without_a_champion_has_no_objective_axis() -> None:
    svg = timeline_svg(
        "loss", [Step(EPOCH, "a", None, "recorded"), Step(EPOCH, "b", 0.1, "failed")]
    )
    assert "rotate(" not in svg  # no objective axis title, no objective ticks
    assert svg.count('text-anchor="end"') == 0
    assert svg.count('class="ring"') == 1
    assert svg.count('class="cross"') == 1
    recorded = timeline_svg("loss", [Step(EPOCH, "a", 0.2, "recorded")])
    assert recorded.count('class="dot champion"') == 1
