"""Daily rollups in the business's time zone, beside the hourly UTC ones.

Hourly rows multiply with every dimension value and barely compress; a day in the
business's own zone (``SURVEY_TIME_ZONE``, recorded in ``rollup_state``) is what almost every
report asks for and stays small at any volume. Existing rollups are emptied and every row
marked unfolded, so the next fold fills both grains from scratch.
"""

from survey_service.db.sql_migration import sql_migration

ID = "2026-11-25T19:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "daily rollups"

_DIMENSIONS = """
        survey_id integer NOT NULL REFERENCES survey (id),
        day date NOT NULL,
        survey_version_id integer NOT NULL,
        variant varchar(40),
        channel varchar(10) NOT NULL,
        language varchar(2) NOT NULL,
        touchpoint text,
        agent text,
        location text"""
_KEY = "survey_id, day, survey_version_id, variant, channel, language, touchpoint, agent, location"

STATEMENTS = [
    f"""
    CREATE TABLE response_rollup_daily ({_DIMENSIONS},
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
    f"""
    CREATE TABLE assignment_rollup_daily ({_DIMENSIONS},
        n bigint NOT NULL DEFAULT 0,
        UNIQUE NULLS NOT DISTINCT ({_KEY})
    )
    """,
    "CREATE TABLE rollup_state (name text PRIMARY KEY, value text NOT NULL)",
    "TRUNCATE response_rollup, assignment_rollup",
    "UPDATE response SET folded = false WHERE folded",
    "UPDATE assignment SET folded = false WHERE folded",
]

forwards = sql_migration(ID, DESCRIPTION, STATEMENTS)
