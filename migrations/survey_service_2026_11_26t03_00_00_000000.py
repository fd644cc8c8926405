"""No JIT compilation for this database's sessions.

The service's statements are short (a KPI read is a few milliseconds), but their cost
estimates can pass ``jit_above_cost`` when a queue looks longer than it is; compiling then
costs more than running (13 ms of a 40 ms read, measured). Where the service's user does
not own the database, the setting is skipped with a notice (ask the owner to run
``ALTER DATABASE ... SET jit = off``).
"""

from survey_service.db.sql_migration import sql_migration

ID = "2026-11-26T03:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "jit off"

STATEMENTS = [
    """
    DO $$
    BEGIN
        EXECUTE format('ALTER DATABASE %I SET jit = off', current_database());
    EXCEPTION WHEN insufficient_privilege THEN
        RAISE NOTICE 'not the database owner: jit stays as it is';
    END
    $$
    """,
]

forwards = sql_migration(ID, DESCRIPTION, STATEMENTS)
