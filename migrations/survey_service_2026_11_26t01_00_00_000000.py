"""Rate-limit windows shared by every service instance (``SURVEY_LIMIT_STORE=postgres``).

UNLOGGED: a crash forgets the counters, which is harmless for minute-long windows and
keeps these hot upserts out of the WAL (and off any replica).
"""

from survey_service.db.sql_migration import sql_migration

ID = "2026-11-26T01:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "shared rate-limit windows"

STATEMENTS = [
    """
    CREATE UNLOGGED TABLE rate_window (
        key text PRIMARY KEY,
        hits integer NOT NULL,
        expires_at timestamptz NOT NULL
    )
    """,
    "CREATE INDEX rate_window_expires_idx ON rate_window (expires_at)",
]

forwards = sql_migration(ID, DESCRIPTION, STATEMENTS)
