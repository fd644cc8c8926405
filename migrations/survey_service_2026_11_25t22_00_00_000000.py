"""Daily totals: the daily rollup without the staff and channel dimensions.

Unfiltered reports and experiment results need only survey, day, version, variant and
language; without channel, touchpoint, agent and location the rows per day stay a handful
whatever the volume, so those reads stay flat from thousands to millions of responses.
"""

from survey_service.db.sql_migration import sql_migration

ID = "2026-11-25T22:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "daily totals rollups"

_KEY = "survey_id, day, survey_version_id, variant, language"

STATEMENTS = [
    f"""
    CREATE TABLE response_rollup_daily_totals (
        survey_id integer NOT NULL REFERENCES survey (id),
        day date NOT NULL,
        survey_version_id integer NOT NULL,
        variant varchar(40),
        language varchar(2) NOT NULL,
        flagged boolean NOT NULL,
        low_trust boolean NOT NULL,
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
        UNIQUE NULLS NOT DISTINCT ({_KEY}, flagged, low_trust)
    )
    """,
    f"""
    CREATE TABLE assignment_rollup_daily_totals (
        survey_id integer NOT NULL REFERENCES survey (id),
        day date NOT NULL,
        survey_version_id integer NOT NULL,
        variant varchar(40),
        language varchar(2) NOT NULL,
        n bigint NOT NULL DEFAULT 0,
        UNIQUE NULLS NOT DISTINCT ({_KEY})
    )
    """,
    "TRUNCATE response_rollup, response_rollup_daily, assignment_rollup, assignment_rollup_daily",
    "DELETE FROM rollup_state",
    "UPDATE response SET folded = false WHERE folded",
    "UPDATE assignment SET folded = false WHERE folded",
]

forwards = sql_migration(ID, DESCRIPTION, STATEMENTS)
