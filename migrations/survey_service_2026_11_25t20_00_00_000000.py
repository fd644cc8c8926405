"""Experiment subjects: sticky assignments made before the survey (service scripts).

One row per experiment and subject (customer, order, ticket); the unique key makes a
repeated or concurrent request return the first draw. ``token_nonce`` is the survey token's
nonce the subject's link carries, so one subject answers at most once.
"""

from survey_service.db.sql_migration import sql_migration

ID = "2026-11-25T20:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "experiment subjects"

STATEMENTS = [
    """
    CREATE TABLE experiment_subject (
        id bigserial PRIMARY KEY,
        survey_id integer NOT NULL REFERENCES survey (id),
        experiment_key varchar(63) NOT NULL,
        subject varchar(200) NOT NULL,
        variant varchar(40) NOT NULL,
        cluster varchar(200),
        token_nonce uuid NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        UNIQUE (survey_id, experiment_key, subject)
    )
    """,
]

forwards = sql_migration(ID, DESCRIPTION, STATEMENTS)
