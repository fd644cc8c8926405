"""SQL of the surveys domain: surveys and their immutable versions."""

from __future__ import annotations

from survey_service.db import Executor

__all__ = [
    "find_version",
    "insert_version",
    "load_version",
    "lock_for_sync",
    "point_at",
    "upsert_survey",
    "version_id",
    "version_numbers",
]

_SYNC_LOCK = 7_406_222  # pg_advisory_xact_lock key: one syncing process at a time


async def lock_for_sync(db: Executor) -> None:
    """Wait until no other process is syncing definitions (held until the transaction ends)."""
    await db.execute("SELECT pg_advisory_xact_lock($1)", _SYNC_LOCK)


async def upsert_survey(db: Executor, slug: str) -> int:
    """The survey's id, creating the row the first time."""
    survey_id: int = await db.fetchval(
        "INSERT INTO survey (slug) VALUES ($1)"
        " ON CONFLICT (slug) DO UPDATE SET slug = EXCLUDED.slug RETURNING id",
        slug,
    )
    return survey_id


async def find_version(db: Executor, survey_id: int, digest: str) -> tuple[int, int] | None:
    """(id, version number) of the survey's version with this content hash, if stored."""
    row = await db.fetchrow(
        "SELECT id, version FROM survey_version WHERE survey_id = $1 AND content_hash = $2",
        survey_id,
        digest,
    )
    return None if row is None else (row["id"], row["version"])


async def insert_version(
    db: Executor, survey_id: int, digest: str, definition: str
) -> tuple[int, int]:
    """Store a new version numbered max + 1; (id, version number)."""
    row = await db.fetchrow(
        "INSERT INTO survey_version (survey_id, version, content_hash, definition)"
        " SELECT $1, coalesce(max(version), 0) + 1, $2, $3 FROM survey_version"
        " WHERE survey_id = $1 RETURNING id, version",
        survey_id,
        digest,
        definition,
    )
    assert row is not None
    return row["id"], row["version"]


async def point_at(db: Executor, survey_id: int, version_id: int) -> None:
    """Make ``version_id`` the survey's current version."""
    await db.execute(
        "UPDATE survey SET current_version_id = $2 WHERE id = $1", survey_id, version_id
    )


async def load_version(db: Executor, version_id: int) -> tuple[int, int, str] | None:
    """(survey id, version number, definition JSON) of any stored version."""
    row = await db.fetchrow(
        "SELECT survey_id, version, definition FROM survey_version WHERE id = $1", version_id
    )
    return None if row is None else (row["survey_id"], row["version"], row["definition"])


async def version_id(db: Executor, survey_id: int, version: int) -> int | None:
    """The id of the survey's version numbered ``version``."""
    found: int | None = await db.fetchval(
        "SELECT id FROM survey_version WHERE survey_id = $1 AND version = $2", survey_id, version
    )
    return found


async def version_numbers(db: Executor, survey_ids: list[int]) -> dict[int, int]:
    """Version number by version id, for these surveys."""
    rows = await db.fetch(
        "SELECT id, version FROM survey_version WHERE survey_id = ANY($1)", survey_ids
    )
    return {r["id"]: r["version"] for r in rows}


async def current_version_ids(db: Executor, survey_ids: list[int]) -> dict[int, int]:
    """Each survey's current version id (surveys with none are left out)."""
    rows = await db.fetch(
        "SELECT id, current_version_id FROM survey"
        " WHERE id = ANY($1) AND current_version_id IS NOT NULL",
        survey_ids,
    )
    return {row["id"]: row["current_version_id"] for row in rows}
