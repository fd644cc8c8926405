"""The dashboard's SVG charts: well-formed, accessible, drawn where the numbers say, and
safe with any label."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from survey_service.dashboard.charts import Bar, Point, interval_chart, line_chart, nice_ticks

SVG = "{http://www.w3.org/2000/svg}"


def parse(markup: str) -> ET.Element:
    return ET.fromstring(markup)  # our own markup, checked to be well formed


def test_line_chart_draws_the_line_the_band_and_the_words() -> None:
    points = [
        Point(label=f"11-{d:02d}", value=v, low=v - 10, high=v + 10)
        for d, v in ((1, 0.0), (2, 50.0), (3, 100.0))
    ]
    root = parse(line_chart(points, chart_id="c", title="Empathy <index>", lower=0, upper=100))
    assert root.get("role") == "img"
    assert root.get("aria-labelledby") == "c-t c-d"
    assert root.find(f"{SVG}title").text == "Empathy <index>"
    desc = root.find(f"{SVG}desc").text
    assert "latest 11-03: 100.0" in desc
    assert "95% interval 90.0 to 110.0" in desc
    circles = root.findall(f"{SVG}circle")
    ys = [float(c.get("cy")) for c in circles]
    assert ys[0] > ys[1] > ys[2]  # higher values are drawn higher
    assert ys[1] == pytest.approx((ys[0] + ys[2]) / 2)
    assert len(root.findall(f"{SVG}polygon")) == 1
    assert "style=" not in line_chart(points, chart_id="c", title="t", lower=0, upper=100)


def test_gaps_split_the_line_and_empty_charts_say_so() -> None:
    points = [
        Point(label="a", value=1.0),
        Point(label="b", value=None),
        Point(label="c", value=2.0),
    ]
    root = parse(line_chart(points, chart_id="g", title="t", lower=0, upper=5))
    assert len(root.findall(f"{SVG}path")) == 2
    empty = parse(
        line_chart([Point(label="a", value=None)], chart_id="e", title="t", lower=0, upper=1)
    )
    assert empty.find(f"{SVG}desc").text == "No period has enough data to show."


def test_interval_chart_places_values_and_escapes_labels() -> None:
    bars = [
        Bar(label="<script>", value=25.0, low=20.0, high=30.0, n=40),
        Bar(label="tiny", value=None, n=3, suppressed=True),
    ]
    markup = interval_chart(bars, chart_id="b", title="t", lower=0, upper=100, reference=50)
    assert "<script>" not in markup
    root = parse(markup)
    [dot] = root.findall(f"{SVG}circle")
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert "suppressed (n=3)" in texts
    assert "&lt;script&gt;" in markup
    x0, x100 = 170.0, 640 - 16
    assert float(dot.get("cx")) == pytest.approx(x0 + (x100 - x0) * 0.25)
    assert "tiny: suppressed (n=3)" in root.find(f"{SVG}desc").text


@pytest.mark.parametrize(
    ("low", "high", "expected"),
    [
        (0, 100, [0, 25, 50, 75, 100]),
        (-100, 100, [-100, -50, 0, 50, 100]),
        (-1, 1, [-1, -0.5, 0, 0.5, 1]),
    ],
)
def test_ticks_are_round(low: float, high: float, expected: list[float]) -> None:
    assert nice_ticks(low, high) == expected
