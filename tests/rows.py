"""Rows written straight into the tables, for tests that need exact data (and rollup
snapshots to compare)."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import asyncpg

from survey_service.reporting.columns import GRAINS

T0 = dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.UTC)


async def insert(
    db: asyncpg.Connection,
    slug: str,
    *,
    at: dt.datetime,
    agent: str = "a1",
    flagged: bool = False,
    nps: int | None = None,
    csat: int | None = None,
    understood: int | None = None,
    cared: bool | None = None,
    emotional: int | None = None,
    influence: int | None = None,
    comment: str | None = None,
    sentiment: int | None = None,
    cues: tuple[str, ...] = (),
    variant: str | None = None,
    channel: str = "link",
    low_trust: bool = False,
    served_before: dt.timedelta = dt.timedelta(minutes=20),
    metadata: dict[str, str] | None = None,
) -> None:
    """A response, and the assignment that served its form ``served_before`` earlier
    (metadata: the agent's, and ``metadata``)."""
    carried = json.dumps({"agent": agent, **(metadata or {})})
    survey_id, version_id = await db.fetchrow(
        "SELECT s.id, s.current_version_id FROM survey s WHERE slug = $1", slug
    )
    nonce = uuid.uuid4()
    await db.execute(
        "INSERT INTO assignment (survey_id, survey_version_id, token_nonce, variant, channel,"
        " language, metadata, created_at) VALUES ($1, $2, $3, $4, $5, 'en', $6, $7)",
        survey_id,
        version_id,
        nonce,
        variant,
        channel,
        carried,
        at - served_before,
    )
    await db.execute(
        """INSERT INTO response (survey_id, survey_version_id, token_nonce, variant, channel,
        language, metadata, answers, nps, csat, empathy_understood, empathy_cared,
        empathy_emotional, empathy_influence, comment, flags, sentiment_class, sentiment_cues,
        created_at) VALUES ($1, $2, $3, $4, $5, 'en', $6, '{}', $7, $8, $9, $10, $11, $12,
        $13, $14, $15, $16, $17)""",
        survey_id,
        version_id,
        nonce,
        variant,
        channel,
        carried,
        nps,
        csat,
        understood,
        cared,
        emotional,
        influence,
        comment,
        (["honeypot"] if flagged else []) + (["low_trust"] if low_trust else []),
        sentiment,
        list(cues),
        at,
    )


async def insert_assignments(
    db: asyncpg.Connection, slug: str, count: int, at: dt.datetime, agent: str = "a1"
) -> None:
    survey_id, version_id = await db.fetchrow(
        "SELECT s.id, s.current_version_id FROM survey s WHERE slug = $1", slug
    )
    await db.executemany(
        "INSERT INTO assignment (survey_id, survey_version_id, token_nonce, channel, language,"
        " metadata, created_at) VALUES ($1, $2, $3, 'link', 'en', $4, $5)",
        [
            (survey_id, version_id, uuid.uuid4(), json.dumps({"agent": agent}), at)
            for _ in range(count)
        ],
    )


async def rollup_tables(db: asyncpg.Connection) -> dict[str, list[dict[str, Any]]]:
    tables = {}
    for table in (f"{t}_rollup{g.suffix}" for g in GRAINS for t in ("response", "assignment")):
        rows = [dict(r) for r in await db.fetch(f"SELECT * FROM {table}")]
        tables[table] = sorted(rows, key=lambda r: json.dumps(r, default=str, sort_keys=True))
    return tables
