"""Trust as a rollup dimension: responses from plain (multi-use) counter QR codes carry the
``low_trust`` flag, which KPIs can filter on (``trust=high|low``) but which does not count
as an abuse flag. The response rollups are rebuilt with the new key at the next start.
"""

from survey_service.db.sql_migration import sql_migration

ID = "2026-11-25T21:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "low-trust dimension in response rollups"

_DIMENSIONS = """
        survey_id integer NOT NULL REFERENCES survey (id),
        {bucket},
        survey_version_id integer NOT NULL,
        variant varchar(40),
        channel varchar(10) NOT NULL,
        language varchar(2) NOT NULL,
        touchpoint text,
        agent text,
        location text,
        flagged boolean NOT NULL,
        low_trust boolean NOT NULL"""
_KEY = (
    "survey_id, {bucket_name}, survey_version_id, variant, channel, language, touchpoint,"
    " agent, location, flagged, low_trust"
)
_COLUMNS = """
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
        mismatch bigint NOT NULL DEFAULT 0"""


def _table(name: str, bucket: str, bucket_name: str) -> str:
    dimensions = _DIMENSIONS.replace("{bucket}", bucket)
    key = _KEY.replace("{bucket_name}", bucket_name)
    return (
        f"CREATE TABLE {name} ({dimensions},{_COLUMNS},\n        UNIQUE NULLS NOT DISTINCT ({key}))"
    )


STATEMENTS = [
    "DROP TABLE response_rollup",
    "DROP TABLE response_rollup_daily",
    _table("response_rollup", "hour timestamptz NOT NULL", "hour"),
    "CREATE INDEX response_rollup_survey_hour_idx ON response_rollup (survey_id, hour)",
    _table("response_rollup_daily", "day date NOT NULL", "day"),
    "TRUNCATE assignment_rollup, assignment_rollup_daily",
    "DELETE FROM rollup_state",
    "UPDATE response SET folded = false WHERE folded",
    "UPDATE assignment SET folded = false WHERE folded",
]

forwards = sql_migration(ID, DESCRIPTION, STATEMENTS)
