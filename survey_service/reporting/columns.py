"""The additive aggregates every KPI is computed from, each defined once as a per-row SQL
expression. The rollup table's columns, the fold that fills them, and the KPI read over
not-yet-folded rows are all generated from this list; the migrations that built the
rollup tables are checked against it by ``tests/integration/test_schema.py``.

Every value is an integer: the empathy index of a response is an average of 1-3 items on
0/25/50/75/100, so six times it is always a whole number (``empathy_sum6``); sums and
sums of squares therefore add up exactly, whatever the order.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = [
    "AGGREGATE_NAMES",
    "BY_NAME",
    "DIMENSIONS",
    "GRAINS",
    "RESPONSE_AGGREGATES",
    "SERVED_AGGREGATES",
    "TIME_GROUPS",
    "WIDE_SUMS",
    "Dimension",
    "Grain",
]

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

AGGREGATE_NAMES = [name for name, _ in RESPONSE_AGGREGATES]

WIDE_SUMS = frozenset({"empathy_sumsq36"})
"""Rollup columns stored as ``bigint``; every other is an ``integer``. A rollup row holds
one hour or day of one combination of dimensions, and no other value exceeds 600 per
response (``empathy_sum6``): an integer holds 3.5 million responses of one combination in
one day. The squares of six times the empathy index reach 360,000 per response, so that
column is wide. Narrow columns are what make grouped reads fast: PostgreSQL sums integers
into a bigint, but sums bigints through 128-bit and numeric arithmetic (three times slower,
measured on 20,000 daily rows). An overflow is an error of the fold, never a wrong sum."""

SERVED_AGGREGATES: list[tuple[str, str]] = [("n", "1"), ("answered", "0")]
"""Assignment rollups: forms served, and how many of them were answered (added by the
response fold to the bucket of the form's serving time: the response rate's cohort)."""


class Dimension(NamedTuple):
    """A breakdown dimension: its API name, its rollup column and SQL type, and the
    expression that reads it from a response or assignment row."""

    name: str
    column: str
    sql_type: str
    null: bool
    expression: str
    in_totals: bool
    """Kept in the daily totals rollups (no staff or channel dimensions there)."""


DIMENSIONS: tuple[Dimension, ...] = (
    Dimension("version", "survey_version_id", "integer", False, "survey_version_id", True),
    Dimension("variant", "variant", "character varying(40)", True, "variant", True),
    Dimension("channel", "channel", "character varying(10)", False, "channel", False),
    Dimension("language", "language", "character varying(2)", False, "language", True),
    Dimension("touchpoint", "touchpoint", "text", True, "metadata->>'touchpoint'", False),
    Dimension("agent", "agent", "text", True, "metadata->>'agent'", False),
    Dimension("location", "location", "text", True, "metadata->>'location'", False),
)
"""Every breakdown and filter dimension, in rollup column order: the one list the rollup
tables, the fold, the KPI reads and the API's parameters are built from."""

BY_NAME: dict[str, Dimension] = {d.name: d for d in DIMENSIONS}


class Grain(NamedTuple):
    """One rollup of responses and one of assignments (``response_rollup<suffix>``,
    ``assignment_rollup<suffix>``): their time bucket and the dimensions they keep."""

    suffix: str
    bucket: str
    """``hour`` (UTC) or ``day`` (local to the business's zone)."""
    dimensions: tuple[Dimension, ...]


_STAFF = ("touchpoint", "agent", "location")

GRAINS: tuple[Grain, ...] = (
    Grain("", "hour", DIMENSIONS),
    Grain("_daily", "day", DIMENSIONS),
    Grain("_daily_totals", "day", tuple(d for d in DIMENSIONS if d.in_totals)),
    Grain("_daily_staff", "day", tuple(d for d in DIMENSIONS if d.name in _STAFF)),
)
"""Every rollup the fold keeps. A read takes the narrowest daily one that holds its
dimensions: the totals for unfiltered reports and experiments; the staff rollup for
breakdowns by agent, touchpoint or location (a day x agent breakdown of a million
responses reads 3,600 rows there instead of 20,000 with every channel, variant and
language apart: its answers statement took 9 ms instead of 18 on ``bench_kpis``' data)."""
TIME_GROUPS = ("day", "week", "month")
"""Time groups (local to the caller's zone); ``week`` is the ISO week starting Monday."""
