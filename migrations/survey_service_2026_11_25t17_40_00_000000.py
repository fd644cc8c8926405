"""Initial schema: surveys, immutable versions, assignments and responses.

Raw SQL so that constraints and indexes are exactly what the queries rely on: the
(survey_id, token_nonce) unique keys make a double submit impossible without a
read-then-write, and (survey_id, created_at) serves every KPI window.
"""

from survey_service.db.sql_migration import sql_migration

ID = "2026-11-25T17:40:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "surveys, survey versions, assignments, responses"

STATEMENTS = [
    """
    CREATE TABLE survey (
        id serial PRIMARY KEY,
        slug varchar(63) NOT NULL UNIQUE,
        current_version_id integer,
        created_at timestamptz NOT NULL DEFAULT now()
    )
    """,
    """
    CREATE TABLE survey_version (
        id serial PRIMARY KEY,
        survey_id integer NOT NULL REFERENCES survey (id),
        version integer NOT NULL,
        content_hash varchar(64) NOT NULL,
        definition jsonb NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        UNIQUE (survey_id, version),
        UNIQUE (survey_id, content_hash)
    )
    """,
    """
    ALTER TABLE survey ADD CONSTRAINT survey_current_version_fk
        FOREIGN KEY (current_version_id) REFERENCES survey_version (id)
    """,
    """
    CREATE TABLE assignment (
        id bigserial PRIMARY KEY,
        survey_id integer NOT NULL REFERENCES survey (id),
        survey_version_id integer NOT NULL REFERENCES survey_version (id),
        token_nonce uuid NOT NULL,
        variant varchar(40),
        channel varchar(10) NOT NULL,
        language varchar(2) NOT NULL,
        metadata jsonb NOT NULL DEFAULT jsonb_build_object(),
        created_at timestamptz NOT NULL DEFAULT now(),
        UNIQUE (survey_id, token_nonce)
    )
    """,
    "CREATE INDEX assignment_survey_created_idx ON assignment (survey_id, created_at)",
    """
    CREATE TABLE response (
        id bigserial PRIMARY KEY,
        survey_id integer NOT NULL REFERENCES survey (id),
        survey_version_id integer NOT NULL REFERENCES survey_version (id),
        token_nonce uuid NOT NULL,
        variant varchar(40),
        channel varchar(10) NOT NULL,
        language varchar(2) NOT NULL,
        metadata jsonb NOT NULL DEFAULT jsonb_build_object(),
        answers jsonb NOT NULL,
        nps smallint CHECK (nps BETWEEN 0 AND 10),
        csat smallint CHECK (csat BETWEEN 1 AND 5),
        empathy_understood smallint CHECK (empathy_understood BETWEEN 1 AND 5),
        empathy_cared boolean,
        empathy_emotional smallint CHECK (empathy_emotional BETWEEN 1 AND 5),
        empathy_influence smallint CHECK (empathy_influence BETWEEN 1 AND 5),
        comment text,
        created_at timestamptz NOT NULL DEFAULT now(),
        UNIQUE (survey_id, token_nonce)
    )
    """,
    "CREATE INDEX response_survey_created_idx ON response (survey_id, created_at)",
]


forwards = sql_migration(ID, DESCRIPTION, STATEMENTS)
