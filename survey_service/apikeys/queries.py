"""SQL of the API keys: rows of ``api_key``, never its hash outside this module but for the
comparison :func:`by_prefix` hands back."""

from __future__ import annotations

import datetime as dt
from typing import Any

from survey_service.db import Executor

__all__ = ["COLUMNS", "by_prefix", "insert_key", "list_keys", "revoke", "touch"]

COLUMNS = "id, name, prefix, scopes, surveys, created_at, revoked_at, last_used_at"


async def insert_key(
    db: Executor, name: str, prefix: str, secret_hash: str, scopes: list[str], surveys: list[str]
) -> dict[str, Any]:
    """Store a key; its public columns."""
    row = await db.fetchrow(
        "INSERT INTO api_key (name, prefix, secret_hash, scopes, surveys)"
        f" VALUES ($1, $2, $3, $4, $5) RETURNING {COLUMNS}",
        name,
        prefix,
        secret_hash,
        scopes,
        surveys,
    )
    assert row is not None
    return dict(row)


async def list_keys(db: Executor) -> list[dict[str, Any]]:
    """Every key's public columns, newest first."""
    return [dict(r) for r in await db.fetch(f"SELECT {COLUMNS} FROM api_key ORDER BY id DESC")]


async def revoke(db: Executor, prefix_or_id: str, now: dt.datetime) -> bool:
    """Revoke the live key with this prefix (or id); False when there is none."""
    number = int(prefix_or_id) if prefix_or_id.isdecimal() and len(prefix_or_id) < 10 else None
    row = await db.fetchrow(
        "UPDATE api_key SET revoked_at = $3 WHERE (prefix = $1 OR id = $2)"
        " AND revoked_at IS NULL RETURNING id",
        prefix_or_id,
        number,
        now,
    )
    return row is not None


async def by_prefix(db: Executor, prefix: str) -> tuple[dict[str, Any], str] | None:
    """The key's public columns and its stored hash."""
    row = await db.fetchrow(f"SELECT {COLUMNS}, secret_hash FROM api_key WHERE prefix = $1", prefix)
    if row is None:
        return None
    columns = dict(row)
    return columns, columns.pop("secret_hash")


async def touch(db: Executor, key_id: int, now: dt.datetime) -> None:
    """Record when the key was last used."""
    await db.execute("UPDATE api_key SET last_used_at = $2 WHERE id = $1", key_id, now)
