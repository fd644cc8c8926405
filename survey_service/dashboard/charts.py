"""SVG charts drawn by the service: a line with its 95% band, and values with interval bars.
Pure functions returning markup.

Written here rather than taken from a plotting library: the two shapes the dashboard needs
are ~150 lines, render in well under a millisecond, need no browser or NumPy, and can be
made exactly as accessible as required: every chart is ``role="img"`` with a ``<title>``
and a ``<desc>`` that states the numbers in words (the page shows the same numbers as a
table), text is real text, and colours come from the Okabe-Ito palette, which stays
distinguishable with every common colour-vision deficiency; meaning never rests on colour
alone (bands are drawn lighter *and* behind the line, suppressed groups are written out).
No ``style`` attributes: the pages' Content-Security-Policy allows no inline styles.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

from survey_service.lib.structs import Struct

__all__ = ["BLUE", "Bar", "Point", "interval_chart", "line_chart", "nice_ticks"]

BLUE, SKY, GREY, INK, VERMILION = "#0072B2", "#56B4E9", "#767676", "#1b1b1b", "#D55E00"
"""Okabe-Ito blue and sky blue for data, a grey that passes 4.5:1 on white for axes, ink
for text, vermilion for the zero line."""
WIDTH = 640
ROW = 30


class Point(Struct):
    """One x position of a line chart: its label, value and interval (None: no data)."""

    label: str
    value: float | None
    low: float | None = None
    high: float | None = None


class Bar(Struct):
    """One row of an interval chart; ``suppressed`` rows show their n instead."""

    label: str
    value: float | None
    low: float | None = None
    high: float | None = None
    n: int = 0
    suppressed: bool = False


def _fmt(value: float) -> str:
    return f"{value:.1f}"


def nice_ticks(lower: float, upper: float, count: int = 5) -> list[float]:
    """About ``count`` round tick values covering [lower, upper]."""
    if upper <= lower:
        return [lower]
    raw = (upper - lower) / max(1, count - 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.ceil(lower / step - 1e-9) * step
    ticks = []
    value = first
    while value <= upper + 1e-9:
        ticks.append(round(value, 10))
        value += step
    return ticks


def _open(chart_id: str, title: str, desc: str, height: int) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}"'
        f' width="100%" role="img" aria-labelledby="{chart_id}-t {chart_id}-d"'
        f' font-family="system-ui,sans-serif" font-size="12">',
        f'<title id="{chart_id}-t">{html.escape(title)}</title>',
        f'<desc id="{chart_id}-d">{html.escape(desc)}</desc>',
    ]


def line_chart(
    points: Sequence[Point],
    *,
    chart_id: str,
    title: str,
    lower: float,
    upper: float,
    unit: str = "",
) -> str:
    """A line of ``points`` over [lower, upper] with its 95% band; gaps where no value."""
    height, left, right, top, bottom = 240, 48, 12, 12, 40
    inner_w, inner_h = WIDTH - left - right, height - top - bottom
    count = len(points)

    def x(i: int) -> float:
        return left + (inner_w * (i + 0.5) / count if count else 0)

    def y(v: float) -> float:
        clamped = min(max(v, lower), upper)
        return top + inner_h * (upper - clamped) / (upper - lower)

    shown = [p for p in points if p.value is not None]
    if shown:
        last = shown[-1]
        band = (
            f" (95% interval {_fmt(last.low)} to {_fmt(last.high)})"
            if last.low is not None and last.high is not None
            else ""
        )
        desc = (
            f"{len(shown)} of {count} periods with data, from {points[0].label} to"
            f" {points[-1].label}; latest {last.label}: {_fmt(last.value or 0)}{unit}{band}."
        )
    else:
        desc = "No period has enough data to show."
    parts = _open(chart_id, title, desc, height)
    for tick in nice_ticks(lower, upper):
        ty = y(tick)
        parts.append(
            f'<line x1="{left}" x2="{WIDTH - right}" y1="{ty:.1f}" y2="{ty:.1f}"'
            f' stroke="#e3e3e3"/><text x="{left - 6}" y="{ty + 4:.1f}" text-anchor="end"'
            f' fill="{INK}">{_fmt(tick).removesuffix(".0")}</text>'
        )
    runs: list[list[int]] = [[]]
    for i, p in enumerate(points):
        if p.value is None:
            runs.append([])
        else:
            runs[-1].append(i)
    for run in (r for r in runs if r):
        banded = [i for i in run if points[i].low is not None and points[i].high is not None]
        if len(banded) > 1:
            upper_edge = " ".join(f"{x(i):.1f},{y(points[i].high or 0):.1f}" for i in banded)
            lower_edge = " ".join(
                f"{x(i):.1f},{y(points[i].low or 0):.1f}" for i in reversed(banded)
            )
            parts.append(
                f'<polygon points="{upper_edge} {lower_edge}" fill="{SKY}" fill-opacity="0.35"/>'
            )
        path = " ".join(
            f"{'M' if k == 0 else 'L'}{x(i):.1f},{y(points[i].value or 0):.1f}"
            for k, i in enumerate(run)
        )
        parts.append(f'<path d="{path}" fill="none" stroke="{BLUE}" stroke-width="2.5"/>')
        for i in run:
            parts.append(
                f'<circle cx="{x(i):.1f}" cy="{y(points[i].value or 0):.1f}" r="3" fill="{BLUE}"/>'
            )
    every = max(1, math.ceil(count / 8))
    for i, p in enumerate(points):
        if i % every == 0 or i == count - 1:
            parts.append(
                f'<text x="{x(i):.1f}" y="{height - bottom + 18}" text-anchor="middle"'
                f' fill="{INK}">{html.escape(p.label)}</text>'
            )
    parts.append(f'<line x1="{left}" x2="{left}" y1="{top}" y2="{top + inner_h}" stroke="{GREY}"/>')
    parts.append("</svg>")
    return "".join(parts)


def interval_chart(
    bars: Sequence[Bar],
    *,
    chart_id: str,
    title: str,
    lower: float,
    upper: float,
    unit: str = "",
    reference: float | None = None,
) -> str:
    """One row per bar: a dot at the value and a whisker over its 95% interval, on a
    shared axis [lower, upper]; ``reference`` draws a vertical line (e.g. zero)."""
    label_w, right, top, axis_h = 170, 16, 8, 28
    height = top + ROW * max(1, len(bars)) + axis_h
    inner_w = WIDTH - label_w - right

    def x(v: float) -> float:
        clamped = min(max(v, lower), upper)
        return label_w + inner_w * (clamped - lower) / (upper - lower)

    words = []
    for b in bars:
        if b.suppressed or b.value is None:
            words.append(f"{b.label}: suppressed (n={b.n})")
        elif b.low is not None and b.high is not None:
            words.append(f"{b.label}: {_fmt(b.value)}{unit} ({_fmt(b.low)} to {_fmt(b.high)})")
        else:
            words.append(f"{b.label}: {_fmt(b.value)}{unit}")
    parts = _open(chart_id, title, "; ".join(words) or "No data.", height)
    for tick in nice_ticks(lower, upper):
        tx = x(tick)
        parts.append(
            f'<line x1="{tx:.1f}" x2="{tx:.1f}" y1="{top}" y2="{height - axis_h}"'
            f' stroke="#e3e3e3"/><text x="{tx:.1f}" y="{height - 10}" text-anchor="middle"'
            f' fill="{INK}">{_fmt(tick).removesuffix(".0")}</text>'
        )
    if reference is not None and lower <= reference <= upper:
        rx = x(reference)
        parts.append(
            f'<line x1="{rx:.1f}" x2="{rx:.1f}" y1="{top}" y2="{height - axis_h}"'
            f' stroke="{VERMILION}" stroke-dasharray="4 3"/>'
        )
    for row, b in enumerate(bars):
        cy = top + ROW * row + ROW / 2
        label = b.label if len(b.label) <= 24 else b.label[:23] + "…"
        parts.append(
            f'<text x="{label_w - 8}" y="{cy + 4:.1f}" text-anchor="end"'
            f' fill="{INK}">{html.escape(label)}</text>'
        )
        if b.suppressed or b.value is None:
            parts.append(
                f'<text x="{label_w + 4}" y="{cy + 4:.1f}" fill="{INK}">suppressed (n={b.n})</text>'
            )
            continue
        if b.low is not None and b.high is not None:
            parts.append(
                f'<line x1="{x(b.low):.1f}" x2="{x(b.high):.1f}" y1="{cy:.1f}" y2="{cy:.1f}"'
                f' stroke="{BLUE}" stroke-width="2"/>'
            )
            for end in (b.low, b.high):
                parts.append(
                    f'<line x1="{x(end):.1f}" x2="{x(end):.1f}" y1="{cy - 6:.1f}"'
                    f' y2="{cy + 6:.1f}" stroke="{BLUE}" stroke-width="2"/>'
                )
        parts.append(f'<circle cx="{x(b.value):.1f}" cy="{cy:.1f}" r="5" fill="{BLUE}"/>')
    parts.append("</svg>")
    return "".join(parts)
