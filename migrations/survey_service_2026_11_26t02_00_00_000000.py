"""The fold's queue: rows waiting for the rollups are listed in small ``*_unfolded`` tables
instead of being flagged, so folding never updates a response or an assignment.

Updating a ``folded`` flag rewrote every row once more (a new version of a wide row with
JSON, and, as the flag was in an index predicate, new entries in every index) and left a
dead row version per response in the table and its indexes until autovacuum came: KPI
reads at a million responses slowed 40-fold after a rebuild until a VACUUM. Now a
statement-level trigger lists each inserted row (any writer: the service, COPY, a
restore), the fold deletes what it folds from the small queue, and a rebuild empties it.
"""

from survey_service.db.sql_migration import sql_migration

ID = "2026-11-26T02:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "fold queue instead of folded flags"


def _queue(table: str) -> list[str]:
    # ``table`` is one of two constants below, never input.
    return [
        f"""
        CREATE TABLE {table}_unfolded (
            survey_id integer NOT NULL,
            id bigint NOT NULL,
            PRIMARY KEY (survey_id, id)
        )
        """,
        f"INSERT INTO {table}_unfolded SELECT survey_id, id FROM {table} WHERE NOT folded",  # noqa: S608
        f"""
        CREATE FUNCTION {table}_queue_unfolded() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO {table}_unfolded (survey_id, id) SELECT survey_id, id FROM new_rows;
            RETURN NULL;
        END
        $$
        """,  # noqa: S608
        f"""
        CREATE TRIGGER {table}_unfolded AFTER INSERT ON {table}
        REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
        EXECUTE FUNCTION {table}_queue_unfolded()
        """,
        f"DROP INDEX {table}_unfolded_idx",
        f"ALTER TABLE {table} DROP COLUMN folded",
    ]


STATEMENTS = [*_queue("response"), *_queue("assignment")]

forwards = sql_migration(ID, DESCRIPTION, STATEMENTS)
