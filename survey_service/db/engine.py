"""Connecting: the embedded server when no DSN is given, the Piccolo engine, migrations."""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
from piccolo.engine.postgres import PostgresEngine
from piccolo.table import Table

from survey_service.db import piccolo_conf
from survey_service.db.tables import TABLES

__all__ = ["Database", "DatabaseError", "bind_engine", "embedded_dsn", "open_database"]

log = logging.getLogger(__name__)

# sun_path holds 108 bytes; PostgreSQL appends "/.s.PGSQL.5432" to the data folder.
_MAX_SOCKET_DIR = 107 - len("/.s.PGSQL.5432") - 1
_MIGRATION_LOCK = 7_406_221  # pg_advisory_lock key: one migrator at a time


class DatabaseError(Exception):
    """The database cannot be reached or prepared; the message says what to do."""


@dataclass(slots=True)
class Database:
    """An open engine with its pool; ``close()`` releases both."""

    engine: PostgresEngine
    dsn: str

    async def close(self) -> None:
        """Close the pool."""
        if self.engine.pool is not None:
            await self.engine.close_connection_pool()

    async def ping(self) -> bool:
        """True when a pooled connection answers ``SELECT 1`` within two seconds."""
        pool = self.engine.pool
        if pool is None:
            return False
        try:
            async with asyncio.timeout(2.0), pool.acquire() as connection:
                return bool(await connection.fetchval("SELECT 1") == 1)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
            return False


def embedded_dsn(data_dir: str) -> str:
    """Start (or join) the embedded PostgreSQL under ``<data_dir>/pgdata``; return its DSN."""
    pgdata = Path(data_dir, "pgdata").resolve()
    if len(str(pgdata)) > _MAX_SOCKET_DIR:
        raise DatabaseError(
            f"embedded database folder {pgdata} is {len(str(pgdata))} characters long; PostgreSQL's"
            f" socket path allows {_MAX_SOCKET_DIR}. Set SURVEY_DATA_DIR to a shorter path."
        )
    # pgserver logs every pg_ctl call at INFO; keep only its warnings.
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
        import pgserver  # lazily: only the zero-set-up path needs it

        pgdata.mkdir(parents=True, exist_ok=True)
        server = pgserver.get_server(pgdata, cleanup_mode="stop")  # type: ignore[attr-defined]
    return str(server.get_uri())


def bind_engine(dsn: str) -> PostgresEngine:
    """Build the engine for ``dsn`` and make every table and Piccolo's finder use it."""
    os.environ.setdefault("PICCOLO_CONF", "survey_service.db.piccolo_conf")
    engine = PostgresEngine(config={"dsn": dsn})
    piccolo_conf.DB = engine
    from piccolo.apps.migrations.tables import Migration

    tables: tuple[type[Table], ...] = (*TABLES, Migration)
    for table in tables:
        table._meta.db = engine
    return engine


async def open_database(dsn: str, *, pool_max: int = 10, migrate: bool = True) -> Database:
    """Connect, apply pending migrations (under an advisory lock), start the pool."""
    engine = bind_engine(dsn)
    try:
        if migrate:
            await apply_migrations(engine)
        await engine.start_connection_pool(min_size=1, max_size=pool_max)
    except (OSError, asyncpg.PostgresError) as exc:
        raise DatabaseError(f"cannot use the database: {exc}") from exc
    return Database(engine=engine, dsn=dsn)


async def apply_migrations(engine: PostgresEngine) -> list[str]:
    """Run the migrations not yet applied; return their ids. Safe with concurrent starters."""
    from piccolo.apps.migrations.commands.forwards import ForwardsMigrationManager

    connection: Any = await asyncpg.connect(dsn=engine.config["dsn"])
    try:
        await connection.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK)
        manager = ForwardsMigrationManager(app_name="survey_service")
        # Piccolo prints progress with emoji; keep it in our log instead of stdout.
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            result = await manager.run()
        for line in out.getvalue().splitlines():
            if line.strip():
                log.info("migrations: %s", line.strip())
        if not result.success:
            raise DatabaseError(f"migration failed: {result.message}")
        return [line for line in out.getvalue().splitlines() if "ok!" in line]
    finally:
        with contextlib.suppress(Exception):
            await connection.execute("SELECT pg_advisory_unlock($1)", _MIGRATION_LOCK)
        await connection.close()
