"""Helper for migrations written as plain SQL statements."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from survey_service.db.tables import Survey

__all__ = ["sql_migration"]


def sql_migration(
    migration_id: str, description: str, statements: Sequence[str]
) -> Callable[[], Awaitable[MigrationManager]]:
    """A Piccolo ``forwards`` that runs ``statements`` in the migration's transaction.

    Raw SQL keeps constraints and indexes exactly as the queries need them. Statements go
    through Piccolo's querystrings, so a literal ``{}`` must be avoided (use
    ``jsonb_build_object()`` or ``ARRAY[]::text[]``).
    """

    async def forwards() -> MigrationManager:
        manager = MigrationManager(
            migration_id=migration_id, app_name="survey_service", description=description
        )

        async def run() -> None:
            for statement in statements:
                await Survey.raw(statement).run()

        manager.add_raw(run)
        return manager

    return forwards
