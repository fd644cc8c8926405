"""Helper for migrations written as plain SQL statements."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.apps.migrations.tables import Migration

__all__ = ["sql_migration"]


def sql_migration(
    migration_id: str, description: str, statements: Sequence[str]
) -> Callable[[], Awaitable[MigrationManager]]:
    """A Piccolo ``forwards`` that runs ``statements`` in the migration's transaction.

    Raw SQL keeps constraints and indexes exactly as the queries need them. Statements go
    through Piccolo's querystrings (run on its own ``Migration`` table's engine, inside the
    migration's transaction), so a literal ``{}`` must be avoided (use
    ``jsonb_build_object()`` or ``ARRAY[]::text[]``).
    """

    async def forwards() -> MigrationManager:
        manager = MigrationManager(
            migration_id=migration_id, app_name="survey_service", description=description
        )

        async def run() -> None:
            for statement in statements:
                await Migration.raw(statement).run()

        manager.add_raw(run)
        return manager

    return forwards
