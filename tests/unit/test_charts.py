"""The SVG charts: one cell per hour, escaped labels, an accessible name and a data table."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import date

import pytest

from web import charts

SVG = "{http://www.w3.org/2000/svg}"


def svg_of(markup: str) -> ET.Element:
    """The <svg> element, parsed as XML: it must be well-formed (escaping broken = parse error)."""
    return ET.fromstring(re.search(r"<svg.*</svg>", str(markup), re.S).group(0))


def empty_grid() -> list[list[int]]:
    return [[0] * 24 for _ in range(7)]


def test_heatmap_has_one_cell_per_hour_of_the_week_and_marks_attempts():
    chats, attempts = empty_grid(), empty_grid()
    chats[0][9], chats[4][14], attempts[0][21] = 8, 2, 3
    markup = charts.heatmap("heat", "Demand", chats, attempts)
    svg = svg_of(markup)
    cells = [rect for rect in svg.iter(f"{SVG}rect") if rect.get("class") == "cell"]
    assert len(cells) == 168
    assert {(int(c.get("data-day")), int(c.get("data-hour"))) for c in cells} == {
        (d, h) for d in range(7) for h in range(24)
    }
    by_cell = {(int(c.get("data-day")), int(c.get("data-hour"))): c for c in cells}
    assert by_cell[(0, 9)].get("fill") == charts.HEAT[4]  # the busiest hour gets the darkest step
    assert by_cell[(3, 3)].get("fill") == charts.HEAT[0]
    assert by_cell[(0, 21)].get("fill") != charts.HEAT[0]  # attempts while closed count as demand
    assert "3 attempts while closed" in by_cell[(0, 21)].find(f"{SVG}title").text
    assert len(list(svg.iter(f"{SVG}circle"))) == 2  # one dot for the hour with attempts, one in the legend
    assert svg.get("role") == "img" and "10 chats and 3 attempts while closed" in svg.get("aria-label")
    assert svg.find(f"{SVG}title").text == "Demand"
    assert '<table class="visually-hidden">' in markup and '<th scope="row">Mon 21:00</th>' in markup


def test_heat_steps_and_legend_cover_every_count():
    assert [charts.heat_step(v, 8) for v in (0, 1, 2, 3, 4, 5, 8)] == [0, 1, 1, 2, 2, 3, 4]
    assert charts.heat_legend(8) == [(0, 0), (1, 2), (3, 4), (5, 6), (7, 8)]
    assert charts.heat_legend(0) == [(0, 0)]


def test_every_label_is_escaped():
    nasty = '<script>alert("x")</script> & "quotes"'
    waits = [(date(2026, 11, 2), 30.0, 90.0, 4)]
    outcomes = [(date(2026, 11, 2), {"answered": 2, "missed": 1})]
    for markup in (
        charts.heatmap("a", nasty, empty_grid(), empty_grid()),
        charts.wait_lines("b", nasty, waits),
        charts.stacked_bars("c", nasty, outcomes),
        charts.bars("d", nasty, {nasty: 3, 2: 1}, nasty),
    ):
        assert "<script>" not in markup
        assert "&lt;script&gt;" in markup
        svg = svg_of(markup)
        assert svg.find(f"{SVG}title").text == nasty  # parsed back to the original text
        assert nasty in svg.get("aria-label")


def test_chart_ids_are_checked_because_they_go_into_attributes():
    with pytest.raises(ValueError):
        charts.bars('x" onload="alert(1)', "t", {1: 1}, "Rating")


def test_wait_lines_break_on_days_without_data_and_switch_to_minutes():
    waits = [
        (date(2026, 11, 1), 30.0, 60.0, 3),
        (date(2026, 11, 2), None, None, 0),
        (date(2026, 11, 3), 600.0, 1200.0, 5),
        (date(2026, 11, 4), 300.0, 900.0, 2),
    ]
    svg = svg_of(charts.wait_lines("w", "Waits", waits))
    lines = [p for p in svg.iter(f"{SVG}polyline") if p.get("class") == "p50"]
    assert [len(p.get("points").split()) for p in lines] == [1, 2]  # a gap where nobody was claimed
    labels = [t.text for t in svg.iter(f"{SVG}text")]
    assert "20m" in labels  # 1200 s peak: the axis is in minutes, topped at a round 20
    assert "3 of 4 days" in svg.get("aria-label")


def test_stacked_bars_stack_each_outcome_with_its_own_colour():
    outcomes = [(date(2026, 11, 2), {"answered": 3, "missed": 1, "abandoned": 0}), (date(2026, 11, 3), {})]
    svg = svg_of(charts.stacked_bars("o", "Outcomes", outcomes))
    bars = [r for r in svg.iter(f"{SVG}rect") if r.get("class") == "bar"]
    assert [b.get("fill") for b in bars] == [charts.OUTCOME_COLOURS["answered"], charts.OUTCOME_COLOURS["missed"]]
    heights = [float(b.get("height")) for b in bars]
    assert heights[0] == pytest.approx(3 * heights[1])
    assert "3 answered, 1 missed" in svg.get("aria-label")


def test_bars_have_one_bar_per_value_even_when_zero():
    markup = charts.bars("r", "Ratings", {1: 0, 2: 1, 3: 0, 4: 2, 5: 5}, "Rating")
    svg = svg_of(markup)
    assert len([r for r in svg.iter(f"{SVG}rect") if r.get("class") == "bar"]) == 5
    assert "8 chats with a rating: 0 × 1, 1 × 2, 0 × 3, 2 × 4, 5 × 5" in svg.get("aria-label")
    assert markup.count("<tr>") == 6  # header + one row per rating
