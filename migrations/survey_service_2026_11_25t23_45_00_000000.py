"""Privacy: an audit of erasures that keeps no personal data, and when retention removed a
response's or an invitation's personal parts."""

from survey_service.db.sql_migration import sql_migration

ID = "2026-11-25T23:45:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "erasure audit and retention"

STATEMENTS = [
    """
    CREATE TABLE erasure (
        id bigserial PRIMARY KEY,
        kind varchar(20) NOT NULL,
        subject_hash varchar(64) NOT NULL,
        responses integer NOT NULL,
        invitations integer NOT NULL,
        requested_by varchar(100) NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
    )
    """,
    "ALTER TABLE response ADD COLUMN redacted_at timestamptz",
    "ALTER TABLE invitation ADD COLUMN redacted_at timestamptz",
    "CREATE INDEX response_unredacted_idx ON response (created_at) WHERE redacted_at IS NULL",
    "CREATE INDEX invitation_unredacted_idx ON invitation (created_at) WHERE redacted_at IS NULL",
]

forwards = sql_migration(ID, DESCRIPTION, STATEMENTS)
