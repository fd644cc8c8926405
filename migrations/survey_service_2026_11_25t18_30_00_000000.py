"""Comment sentiment stored with each response (Customer Sentiment Score, cues, mismatch).

``sentiment_class`` is NULL when the comment is empty or not in a language the analyser
handles (counted as unclassified). ``sentiment_version`` names the analyser that scored
the row, so ``survey-service sentiment rescore`` can find rows scored by an older one.
"""

from survey_service.db.sql_migration import sql_migration

ID = "2026-11-25T18:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "response sentiment columns"

STATEMENTS = [
    "ALTER TABLE response ADD COLUMN sentiment_polarity real",
    "ALTER TABLE response ADD COLUMN sentiment_class smallint CHECK (sentiment_class BETWEEN -1 AND 1)",
    "ALTER TABLE response ADD COLUMN sentiment_cues text[] NOT NULL DEFAULT ARRAY[]::text[]",
    "ALTER TABLE response ADD COLUMN sentiment_version varchar(20)",
    "ALTER TABLE response ADD COLUMN score_text_mismatch boolean NOT NULL DEFAULT false",
]

forwards = sql_migration(ID, DESCRIPTION, STATEMENTS)
