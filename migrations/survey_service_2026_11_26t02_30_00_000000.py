"""Autovacuum the fold's queues as queues: after a thousand dead rows, without the usual
fraction of the table's size (a queue is nearly empty, so the fraction never triggers)
and without cost delays (vacuuming a few pages of two integer columns is quick)."""

from survey_service.db.sql_migration import sql_migration

ID = "2026-11-26T02:30:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "queue autovacuum settings"

STATEMENTS = [
    f"ALTER TABLE {queue} SET (autovacuum_vacuum_threshold = 1000,"
    " autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_cost_delay = 0)"
    for queue in ("response_unfolded", "assignment_unfolded")
]

forwards = sql_migration(ID, DESCRIPTION, STATEMENTS)
