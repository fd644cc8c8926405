"""Rollup sums as integers, except the one that can outgrow them.

PostgreSQL sums ``integer`` columns into a ``bigint`` accumulator, but ``bigint`` columns
through 128-bit state and a ``numeric`` result: a grouped read (90 days by agent, 1,820
groups from 10,920 daily rows) took 46 ms of server time with bigint columns and 14 ms with
integers. Each rollup row holds one hour or one day of one combination of dimensions, far
below what an integer holds (see ``WIDE_SUMS`` in ``survey_service.reporting.columns``).
Each table is rewritten once (one ALTER with every column).
"""

from survey_service.db.sql_migration import sql_migration

ID = "2026-11-26T09:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "rollup sums as integers"

# As the columns stood at this migration (a later aggregate brings its own migration).
SUMS = {
    "response": [
        *("n", "nps_n", "nps_promoters", "nps_detractors"),
        *("csat_n", "csat_sum", "csat_sumsq", "csat_top2"),
        *("empathy_understood_n", "empathy_understood_sum", "empathy_understood_sumsq"),
        *("empathy_cared_n", "empathy_cared_yes"),
        *("empathy_emotional_n", "empathy_emotional_sum", "empathy_emotional_sumsq"),
        *("empathy_influence_n", "empathy_influence_sum", "empathy_influence_sumsq"),
        *("empathy_n", "empathy_sum6"),
        *("css_positive", "css_neutral", "css_negative", "comments", "heard", "ignored"),
        "mismatch",
    ],
    "assignment": ["n", "answered"],
}

STATEMENTS = [
    f"ALTER TABLE {source}_rollup{grain} "
    + ", ".join(f"ALTER COLUMN {name} TYPE integer" for name in names)
    for source, names in SUMS.items()
    for grain in ("", "_daily", "_daily_totals")
]

forwards = sql_migration(ID, DESCRIPTION, STATEMENTS)
