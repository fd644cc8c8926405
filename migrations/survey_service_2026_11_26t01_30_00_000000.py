"""Ready to shard: every hot table's primary key leads with ``survey_id``.

Citus distributes a table by one column and needs it in every primary and unique key; the
unique keys already lead with ``survey_id`` (token nonces, rollup keys, experiment
subjects). ``id`` stays a bigserial, unique on its own in practice, so queries by id keep
working; the key now also says which shard a row lives on.
"""

from survey_service.db.sql_migration import sql_migration

ID = "2026-11-26T01:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "survey_id in every hot primary key"

STATEMENTS = [
    f"ALTER TABLE {table} DROP CONSTRAINT {table}_pkey, ADD PRIMARY KEY (survey_id, id)"
    for table in ("response", "assignment", "invitation", "experiment_subject")
]

forwards = sql_migration(ID, DESCRIPTION, STATEMENTS)
