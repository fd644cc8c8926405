"""Staff interactions and business outcomes.

``interaction``: what staff log about one customer interaction (the customer's primary
emotion, the actions taken, how the customer responded). ``outcome``: what a customer did
afterwards, reported by another system (purchases, referrals, refunds, complaints, churn),
idempotent by the caller's ``event_id``. Both link to responses and experiment subjects by
``customer_key``, a keyed hash of the customer reference (the plain reference is kept only
when the caller does not ask for the hash alone). Erasure counts both in its audit.
"""

from survey_service.db.sql_migration import sql_migration

ID = "2026-11-26T04:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "interactions and outcomes"

STATEMENTS = [
    """
    CREATE TABLE interaction (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        occurred_at timestamptz NOT NULL,
        touchpoint varchar(63),
        agent varchar(63),
        channel varchar(10) NOT NULL,
        emotion varchar(12) NOT NULL,
        actions text[] NOT NULL,
        reaction varchar(12) NOT NULL,
        duration_seconds integer CHECK (duration_seconds BETWEEN 0 AND 86400),
        note text,
        customer_key varchar(32),
        customer_ref varchar(200),
        recorded_by varchar(100) NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
    )
    """,
    "CREATE INDEX interaction_occurred ON interaction (occurred_at)",
    "CREATE INDEX interaction_customer ON interaction (customer_key)"
    " WHERE customer_key IS NOT NULL",
    """
    CREATE TABLE outcome (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        event_id varchar(200) NOT NULL UNIQUE,
        kind varchar(20) NOT NULL,
        customer_key varchar(32) NOT NULL,
        customer_ref varchar(200),
        occurred_at timestamptz NOT NULL,
        amount numeric(18, 4),
        currency varchar(3),
        recorded_by varchar(100) NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        CHECK ((amount IS NULL) = (currency IS NULL))
    )
    """,
    "CREATE INDEX outcome_customer ON outcome (customer_key, occurred_at)",
    "ALTER TABLE erasure ADD COLUMN interactions integer NOT NULL DEFAULT 0,"
    " ADD COLUMN outcomes integer NOT NULL DEFAULT 0",
]

forwards = sql_migration(ID, DESCRIPTION, STATEMENTS)
