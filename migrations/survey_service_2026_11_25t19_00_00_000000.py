"""KPI rollups folded incrementally, and API keys.

Each response and assignment is folded exactly once into an hourly (UTC) rollup row per
survey, version and dimension values: the fold marks rows ``folded`` in the same
transaction that adds them (rows locked with SKIP LOCKED, so concurrent folders never fold
a row twice and never wait on each other). KPI reads add the small unfolded tail. NULL
dimension values are one group (NULLS NOT DISTINCT, PostgreSQL 15+).
"""

from survey_service.db.sql_migration import sql_migration

ID = "2026-11-25T19:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "kpi rollups and api keys"

_DIMENSIONS = """
        survey_id integer NOT NULL REFERENCES survey (id),
        hour timestamptz NOT NULL,
        survey_version_id integer NOT NULL,
        variant varchar(40),
        channel varchar(10) NOT NULL,
        language varchar(2) NOT NULL,
        touchpoint text,
        agent text,
        location text"""
_KEY = "survey_id, hour, survey_version_id, variant, channel, language, touchpoint, agent, location"

STATEMENTS = [
    "ALTER TABLE response ADD COLUMN folded boolean NOT NULL DEFAULT false",
    "CREATE INDEX response_unfolded_idx ON response (survey_id, created_at) WHERE NOT folded",
    "ALTER TABLE assignment ADD COLUMN folded boolean NOT NULL DEFAULT false",
    "CREATE INDEX assignment_unfolded_idx ON assignment (survey_id, created_at) WHERE NOT folded",
    f"""
    CREATE TABLE response_rollup ({_DIMENSIONS},
        flagged boolean NOT NULL,
        n bigint NOT NULL DEFAULT 0,
        nps_n bigint NOT NULL DEFAULT 0,
        nps_promoters bigint NOT NULL DEFAULT 0,
        nps_detractors bigint NOT NULL DEFAULT 0,
        csat_n bigint NOT NULL DEFAULT 0,
        csat_sum bigint NOT NULL DEFAULT 0,
        csat_sumsq bigint NOT NULL DEFAULT 0,
        csat_top2 bigint NOT NULL DEFAULT 0,
        empathy_understood_n bigint NOT NULL DEFAULT 0,
        empathy_understood_sum bigint NOT NULL DEFAULT 0,
        empathy_understood_sumsq bigint NOT NULL DEFAULT 0,
        empathy_cared_n bigint NOT NULL DEFAULT 0,
        empathy_cared_yes bigint NOT NULL DEFAULT 0,
        empathy_emotional_n bigint NOT NULL DEFAULT 0,
        empathy_emotional_sum bigint NOT NULL DEFAULT 0,
        empathy_emotional_sumsq bigint NOT NULL DEFAULT 0,
        empathy_influence_n bigint NOT NULL DEFAULT 0,
        empathy_influence_sum bigint NOT NULL DEFAULT 0,
        empathy_influence_sumsq bigint NOT NULL DEFAULT 0,
        empathy_n bigint NOT NULL DEFAULT 0,
        empathy_sum6 bigint NOT NULL DEFAULT 0,
        empathy_sumsq36 bigint NOT NULL DEFAULT 0,
        css_positive bigint NOT NULL DEFAULT 0,
        css_neutral bigint NOT NULL DEFAULT 0,
        css_negative bigint NOT NULL DEFAULT 0,
        comments bigint NOT NULL DEFAULT 0,
        heard bigint NOT NULL DEFAULT 0,
        ignored bigint NOT NULL DEFAULT 0,
        mismatch bigint NOT NULL DEFAULT 0,
        UNIQUE NULLS NOT DISTINCT ({_KEY}, flagged)
    )
    """,
    "CREATE INDEX response_rollup_survey_hour_idx ON response_rollup (survey_id, hour)",
    f"""
    CREATE TABLE assignment_rollup ({_DIMENSIONS},
        n bigint NOT NULL DEFAULT 0,
        UNIQUE NULLS NOT DISTINCT ({_KEY})
    )
    """,
    "CREATE INDEX assignment_rollup_survey_hour_idx ON assignment_rollup (survey_id, hour)",
    """
    CREATE TABLE api_key (
        id serial PRIMARY KEY,
        name varchar(100) NOT NULL,
        prefix varchar(16) NOT NULL UNIQUE,
        secret_hash varchar(64) NOT NULL,
        scopes text[] NOT NULL,
        surveys text[] NOT NULL DEFAULT ARRAY[]::text[],
        created_at timestamptz NOT NULL DEFAULT now(),
        revoked_at timestamptz,
        last_used_at timestamptz
    )
    """,
]

forwards = sql_migration(ID, DESCRIPTION, STATEMENTS)
