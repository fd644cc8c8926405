"""SQL of the responses domain: storing a response once, and rescoring comments."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from survey_service.db import Database, Executor
from survey_service.surveys.definitions import Role

__all__ = [
    "answered",
    "count_pending",
    "existing",
    "insert_response",
    "pending_comments",
    "rescore",
]

_COLUMNS = (
    "survey_id, survey_version_id, token_nonce, variant, channel, language, metadata, answers,"
    " flags, client_hash, sentiment_polarity, sentiment_class, sentiment_cues,"
    " sentiment_version, score_text_mismatch, " + ", ".join(role.value for role in Role)
)
_VALUES = ", ".join(f"${i}" for i in range(1, _COLUMNS.count(",") + 2))
_SERVED_AT = f"${_COLUMNS.count(',') + 2}"
_INSERT = (
    # The response's own assignment, in the same statement: assignments are written in
    # batches, and a crash before the batch lands must not leave a response without one.
    "WITH served AS (INSERT INTO assignment"
    " (survey_id, survey_version_id, token_nonce, variant, channel, language, metadata,"
    f" created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, to_timestamp({_SERVED_AT}))"
    " ON CONFLICT (survey_id, token_nonce) DO NOTHING)"
    f" INSERT INTO response ({_COLUMNS}) VALUES ({_VALUES})"
    " ON CONFLICT (survey_id, token_nonce) DO NOTHING RETURNING id, variant, created_at"
)


async def insert_response(
    db: Executor, values: Sequence[Any], served_at: int
) -> tuple[int, str | None, Any] | None:
    """Insert one response (values in the order of the columns above) and, when it is not
    there yet, the assignment its token describes (served at ``served_at``, Unix time);
    None when the token nonce already has a response. created_at comes from the database
    clock."""
    row = await db.fetchrow(_INSERT, *values, served_at)
    return None if row is None else (row["id"], row["variant"], row["created_at"])


async def existing(db: Executor, survey_id: int, nonce: uuid.UUID) -> tuple[int, str | None, Any]:
    """The response already stored for this token nonce."""
    row = await db.fetchrow(
        "SELECT id, variant, created_at FROM response WHERE survey_id = $1 AND token_nonce = $2",
        survey_id,
        nonce,
    )
    assert row is not None, "called after a conflicting insert"
    return row["id"], row["variant"], row["created_at"]


async def answered(db: Executor, survey_id: int, nonce: uuid.UUID) -> bool:
    """Whether a response with this token nonce exists."""
    found: bool = await db.fetchval(
        "SELECT EXISTS (SELECT 1 FROM response WHERE survey_id = $1 AND token_nonce = $2)",
        survey_id,
        nonce,
    )
    return found


# Rows scored by another analyser version (or never): the rescore's resumable work list.
_PENDING = " FROM response WHERE comment IS NOT NULL AND sentiment_version IS DISTINCT FROM $1"


async def count_pending(db: Database, analyser: str) -> int:
    """How many comments still need scoring by ``analyser``."""
    total: int = await db.fetchval("SELECT count(*)" + _PENDING, analyser)
    return total


async def pending_comments(
    db: Database, analyser: str, after: int, limit: int
) -> list[tuple[int, str, str, int | None, int | None]]:
    """The next comments to score after id ``after``: (id, comment, language, nps, csat)."""
    rows = await db.fetch(
        "SELECT id, comment, language, nps, csat" + _PENDING + " AND id > $2 ORDER BY id LIMIT $3",
        analyser,
        after,
        limit,
    )
    return [(r["id"], r["comment"], r["language"], r["nps"], r["csat"]) for r in rows]


async def rescore(db: Database, updates: Sequence[tuple[Any, ...]]) -> None:
    """Store new scores: (id, polarity, class, cues, analyser, mismatch) per row."""
    await db.executemany(
        "UPDATE response SET sentiment_polarity = $2, sentiment_class = $3, sentiment_cues = $4,"
        " sentiment_version = $5, score_text_mismatch = $6 WHERE id = $1",
        updates,
    )
