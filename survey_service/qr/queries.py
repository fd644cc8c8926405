"""SQL of the QR domain: short links and the kiosks' single-use codes."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from survey_service.db import Executor

__all__ = ["current_kiosk_code", "insert_link", "link"]


async def insert_link(
    db: Executor,
    code: str,
    survey_id: int,
    channel: str,
    metadata: str,
    *,
    kiosk: str | None = None,
    nonce: uuid.UUID | None = None,
    expires_at: dt.datetime | None = None,
) -> None:
    """Store a code (a code already stored stands for the same thing: nothing happens)."""
    await db.execute(
        "INSERT INTO short_link (code, survey_id, channel, metadata, kiosk, token_nonce,"
        " expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (code) DO NOTHING",
        code,
        survey_id,
        channel,
        metadata,
        kiosk,
        nonce,
        expires_at,
    )


async def link(db: Executor, code: str) -> dict[str, Any] | None:
    """What a code stands for: survey_id, channel, metadata, token_nonce, expires_at."""
    row = await db.fetchrow(
        "SELECT survey_id, channel, metadata, token_nonce, expires_at FROM short_link"
        " WHERE code = $1",
        code,
    )
    return None if row is None else dict(row)


async def current_kiosk_code(
    db: Executor, kiosk: str, now: dt.datetime
) -> tuple[str, uuid.UUID, int] | None:
    """The kiosk's newest unexpired code: (code, token nonce, survey id)."""
    row = await db.fetchrow(
        "SELECT code, token_nonce, survey_id FROM short_link"
        " WHERE kiosk = $1 AND expires_at > $2 ORDER BY created_at DESC LIMIT 1",
        kiosk,
        now,
    )
    return None if row is None else (row["code"], row["token_nonce"], row["survey_id"])
