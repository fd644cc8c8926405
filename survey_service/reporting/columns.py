"""The additive aggregates every KPI is computed from, each defined once as a per-row SQL
expression. The rollup table's columns, the fold that fills them, and the KPI read over
not-yet-folded rows are all generated from this list, so they cannot drift apart.

Every value is an integer: the empathy index of a response is an average of 1-3 items on
0/25/50/75/100, so six times it is always a whole number (``empathy_sum6``); sums and
sums of squares therefore add up exactly, whatever the order.
"""

from __future__ import annotations

__all__ = ["ASSIGNMENT_DIMENSIONS", "DIMENSIONS", "RESPONSE_AGGREGATES"]

_ITEMS = ("empathy_understood", "empathy_cared", "empathy_emotional")
_SCALED = (
    "(CASE WHEN empathy_understood IS NULL THEN 0 ELSE (empathy_understood - 1) * 25 END"
    " + CASE WHEN empathy_cared IS NULL THEN 0 WHEN empathy_cared THEN 100 ELSE 0 END"
    " + CASE WHEN empathy_emotional IS NULL THEN 0 ELSE (empathy_emotional - 1) * 25 END)"
)
_ANSWERED = " + ".join(f"(CASE WHEN {c} IS NULL THEN 0 ELSE 1 END)" for c in _ITEMS)
_EMPATHY6 = f"(6 * {_SCALED} / NULLIF({_ANSWERED}, 0))"


def _rating(column: str) -> list[tuple[str, str]]:
    return [
        (f"{column}_n", f"({column} IS NOT NULL)::int"),
        (f"{column}_sum", column),
        (f"{column}_sumsq", f"{column} * {column}"),
    ]


RESPONSE_AGGREGATES: list[tuple[str, str]] = [
    ("n", "1"),
    ("nps_n", "(nps IS NOT NULL)::int"),
    ("nps_promoters", "(nps >= 9)::int"),
    ("nps_detractors", "(nps <= 6)::int"),
    *_rating("csat"),
    ("csat_top2", "(csat >= 4)::int"),
    *_rating("empathy_understood"),
    ("empathy_cared_n", "(empathy_cared IS NOT NULL)::int"),
    ("empathy_cared_yes", "(empathy_cared)::int"),
    *_rating("empathy_emotional"),
    *_rating("empathy_influence"),
    ("empathy_n", f"({_EMPATHY6} IS NOT NULL)::int"),
    ("empathy_sum6", _EMPATHY6),
    ("empathy_sumsq36", f"{_EMPATHY6} * {_EMPATHY6}"),
    ("css_positive", "(sentiment_class = 1)::int"),
    ("css_neutral", "(sentiment_class = 0)::int"),
    ("css_negative", "(sentiment_class = -1)::int"),
    ("comments", "(comment IS NOT NULL)::int"),
    ("heard", "(comment IS NOT NULL AND 'felt_heard' = ANY(sentiment_cues))::int"),
    ("ignored", "(comment IS NOT NULL AND 'not_heard' = ANY(sentiment_cues))::int"),
    ("mismatch", "score_text_mismatch::int"),
]
"""(column, per-response expression): summed per rollup group."""

DIMENSIONS: dict[str, str] = {
    "version": "survey_version_id",
    "variant": "variant",
    "channel": "channel",
    "language": "language",
    "touchpoint": "metadata->>'touchpoint'",
    "agent": "metadata->>'agent'",
    "location": "metadata->>'location'",
}
"""Breakdown dimensions: API name -> expression on a response or assignment row."""

ASSIGNMENT_DIMENSIONS = DIMENSIONS
