"""The response rate as a cohort by serving time: assignment rollups count how many of the
forms served in each bucket have been answered (whenever the answer came), so the rate can
never exceed 100%. Rollups are rebuilt at the next start (``rollup_state`` is emptied).
"""

from survey_service.db.sql_migration import sql_migration

ID = "2026-11-25T23:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "answered forms in the assignment rollups"

_ROLLUPS = ("assignment_rollup", "assignment_rollup_daily", "assignment_rollup_daily_totals")

STATEMENTS = [
    *(f"ALTER TABLE {t} ADD COLUMN answered bigint NOT NULL DEFAULT 0" for t in _ROLLUPS),
    "TRUNCATE response_rollup, response_rollup_daily, response_rollup_daily_totals, "
    + ", ".join(_ROLLUPS),
    "DELETE FROM rollup_state",
    "UPDATE response SET folded = false WHERE folded",
    "UPDATE assignment SET folded = false WHERE folded",
]

forwards = sql_migration(ID, DESCRIPTION, STATEMENTS)
