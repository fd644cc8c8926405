"""Email invitations (an outbox) and the suppression list.

Each invitation has its own token nonce (its personal link answers at most once) and its
A/B variant drawn at creation. Unsubscribed addresses go on ``suppression``, which every
later invitation is checked against.
"""

from survey_service.db.sql_migration import sql_migration

ID = "2026-11-25T22:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "invitations and suppression"

STATEMENTS = [
    """
    CREATE TABLE invitation (
        id bigserial PRIMARY KEY,
        survey_id integer NOT NULL REFERENCES survey (id),
        survey_version_id integer NOT NULL REFERENCES survey_version (id),
        email varchar(254) NOT NULL,
        name varchar(100),
        language varchar(2) NOT NULL,
        metadata jsonb NOT NULL,
        variant varchar(40),
        token_nonce uuid NOT NULL,
        status varchar(16) NOT NULL DEFAULT 'queued',
        send_at timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz NOT NULL,
        attempts integer NOT NULL DEFAULT 0,
        last_error text,
        sent_at timestamptz,
        created_at timestamptz NOT NULL DEFAULT now(),
        UNIQUE (survey_id, token_nonce)
    )
    """,
    "CREATE INDEX invitation_due_idx ON invitation (send_at) WHERE status = 'queued'",
    "CREATE INDEX invitation_survey_idx ON invitation (survey_id, id)",
    """
    CREATE TABLE suppression (
        email varchar(254) PRIMARY KEY,
        created_at timestamptz NOT NULL DEFAULT now()
    )
    """,
]

forwards = sql_migration(ID, DESCRIPTION, STATEMENTS)
