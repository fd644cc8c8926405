"""Connecting: the embedded server when no DSN is given, migrations, and the one way the
service reaches the database: :class:`Database`, an asyncpg pool.

Data access style (one for the whole service): each domain keeps its SQL in its own
``queries.py`` as plain asyncpg statements with ``$n`` placeholders, run through a
:class:`Database` or, inside a transaction, the :class:`Executor` it hands out. Rows
(``asyncpg.Record``) never leave those modules: they return Structs or plain values.
Piccolo is kept for what it does well here: running the migrations in ``migrations/``.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import os
import warnings
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from survey_service.errors import DatabaseError

__all__ = [
    "Database",
    "Executor",
    "PooledConnection",
    "Transaction",
    "apply_migrations",
    "embedded_dsn",
    "open_database",
    "pooled",
    "start_embedded",
    "stop_embedded",
]

log = logging.getLogger(__name__)

# sun_path holds 108 bytes; PostgreSQL appends "/.s.PGSQL.5432" to the data folder.
_MAX_SOCKET_DIR = 107 - len("/.s.PGSQL.5432") - 1
_MIGRATION_LOCK = 7_406_221  # pg_advisory_lock key: one migrator at a time


class Executor(Protocol):
    """What a query function needs: the pool-backed :class:`Database` or a connection
    inside a transaction (``asyncpg.Connection``) both fit."""

    async def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]: ...

    async def fetchrow(self, query: str, *args: Any) -> asyncpg.Record | None: ...

    async def fetchval(self, query: str, *args: Any) -> Any: ...

    async def execute(self, query: str, *args: Any) -> str: ...


Transaction = PoolConnectionProxy
"""A pooled connection inside :meth:`Database.transaction` (an :class:`Executor` with
``prepare`` and ``executemany`` too)."""


@dataclass(slots=True)
class Database:
    """The connection pool; each call borrows a connection for one statement."""

    pool: asyncpg.Pool
    dsn: str

    async def fetch(self, query: str, *args: Any) -> list[asyncpg.Record]:
        """All rows of ``query``."""
        return await self.pool.fetch(query, *args)

    async def fetchrow(self, query: str, *args: Any) -> asyncpg.Record | None:
        """The first row, or None."""
        return await self.pool.fetchrow(query, *args)

    async def fetchval(self, query: str, *args: Any) -> Any:
        """The first column of the first row, or None."""
        return await self.pool.fetchval(query, *args)

    async def execute(self, query: str, *args: Any) -> str:
        """Run ``query``; return its status tag."""
        return await self.pool.execute(query, *args)

    async def executemany(self, query: str, rows: Iterable[Sequence[Any]]) -> None:
        """Run ``query`` once per row, in one transaction."""
        async with self.transaction() as connection:
            await connection.executemany(query, rows)

    async def copy_records(
        self, table: str, columns: Sequence[str], records: Iterable[Sequence[Any]]
    ) -> None:
        """Write ``records`` into ``table`` with COPY (binary), all or none."""
        async with self.pool.acquire() as connection:
            await connection.copy_records_to_table(table, records=records, columns=columns)

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        """A connection inside a transaction, committed when the block ends normally."""
        async with self.pool.acquire() as connection, connection.transaction():
            yield connection

    async def close(self) -> None:
        """Close the pool; connections still busy after ten seconds (a database that went
        away mid-query) are dropped, so shutdown never hangs."""
        try:
            await asyncio.wait_for(self.pool.close(), 10.0)
        except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            self.pool.terminate()

    async def ping(self) -> bool:
        """True when a pooled connection answers ``SELECT 1`` within two seconds."""
        try:
            async with asyncio.timeout(2.0):
                return bool(await self.pool.fetchval("SELECT 1") == 1)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
            return False


def start_embedded(data_dir: str) -> tuple[str, Any]:
    """Start (or join) the embedded PostgreSQL under ``<data_dir>/pgdata``: its DSN and the
    handle :func:`stop_embedded` takes."""
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
        _forget_dead_users(pgdata / ".handle_pids.json")
        server = pgserver.get_server(pgdata, cleanup_mode="stop")  # type: ignore[attr-defined]
    return str(server.get_uri()), server


def embedded_dsn(data_dir: str) -> str:
    """The embedded server's DSN (started if needed; stopped when this process exits)."""
    return start_embedded(data_dir)[0]


def stop_embedded(server: Any) -> None:
    """Leave the embedded server: stop it when no other live process uses it.

    Called on shutdown rather than left to pgserver's exit hook: ASGI servers re-raise SIGTERM
    after a graceful shutdown, so exit hooks never run under docker, systemd or ``kill``.
    """
    server._cleanup()


def _forget_dead_users(registry: Path) -> None:
    """Drop processes that died without leaving (SIGKILL) from pgserver's list of users, so a
    stale entry never keeps the server running after the last live user exits."""
    try:
        pids = json.loads(registry.read_text())
    except (OSError, ValueError):
        return
    alive = [pid for pid in pids if isinstance(pid, int) and _alive(pid)]
    if alive != pids:
        registry.write_text(json.dumps(alive))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class PooledConnection(asyncpg.Connection):
    """A pooled connection that skips asyncpg's reset query on release.

    By default every release runs ``SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *;
    RESET ALL``: one more round trip and statement per query the service makes. Nothing
    here leaves session state behind (locks are transaction-scoped, no LISTEN, no SET,
    no cursor outside a transaction), so there is nothing to reset; an open transaction
    is still rolled back by asyncpg before the connection goes back to the pool.
    """

    def get_reset_query(self) -> str:
        """Nothing to reset (see the class docstring)."""
        return ""


async def open_database(
    dsn: str,
    *,
    pool_max: int = 10,
    migrate: bool = True,
    migrate_dsn: str | None = None,
    transaction_pooler: bool = False,
) -> Database:
    """Apply pending migrations (under an advisory lock, through ``migrate_dsn`` when given),
    then open the pool. Behind a transaction pooler (PgBouncer) no statement is cached:
    consecutive transactions may run on different server connections."""
    try:
        if migrate:
            await apply_migrations(migrate_dsn or dsn)
        return await pooled(dsn, pool_max=pool_max, transaction_pooler=transaction_pooler)
    except (OSError, asyncpg.PostgresError) as exc:
        raise DatabaseError(f"cannot use the database: {exc}") from exc


async def pooled(
    dsn: str,
    *,
    pool_max: int,
    transaction_pooler: bool,
    min_size: int = 1,
    connect_timeout: float = 10.0,
) -> Database:
    """A pool of :class:`PooledConnection` on ``dsn`` (``min_size`` 0: it connects on first
    use). Behind a transaction pooler no statement is cached."""
    pool = await asyncpg.create_pool(
        dsn,
        connection_class=PooledConnection,
        min_size=min_size,
        max_size=pool_max,
        statement_cache_size=0 if transaction_pooler else 100,
        # The fold's statement is 22 KB, past asyncpg's 15 KB default: uncached, it was
        # parsed again on every fold (2 ms of the server's CPU each).
        max_cacheable_statement_size=64 * 1024,
        timeout=connect_timeout,
    )
    return Database(pool=pool, dsn=dsn)


async def apply_migrations(dsn: str) -> list[str]:
    """Run the migrations not yet applied; return their ids. Safe with concurrent starters."""
    from piccolo.apps.migrations.commands.forwards import ForwardsMigrationManager

    from survey_service.db.piccolo_conf import bind_engine

    engine = bind_engine(dsn)
    connection: Any = await asyncpg.connect(dsn=dsn)
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
        if engine.pool is not None:
            await engine.close_connection_pool()
