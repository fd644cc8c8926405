"""Short links for QR codes: a code stands for a survey, channel and metadata.

Codes are HMACs of what they stand for, so the same poster options always give the same
code (and the same image), and nobody can make up a code for other metadata.
"""

from survey_service.db.sql_migration import sql_migration

ID = "2026-11-25T20:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "short links"

STATEMENTS = [
    """
    CREATE TABLE short_link (
        code varchar(16) PRIMARY KEY,
        survey_id integer NOT NULL REFERENCES survey (id),
        channel varchar(10) NOT NULL,
        metadata jsonb NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
    )
    """,
]

forwards = sql_migration(ID, DESCRIPTION, STATEMENTS)
