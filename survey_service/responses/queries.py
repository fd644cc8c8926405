"""SQL of the responses domain: storing a response once, rescoring comments, and the
responses that name a customer."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

import msgspec

from survey_service.db import Database, Executor
from survey_service.reporting.rollups import ABUSE_FLAGGED
from survey_service.surveys.definitions import Role

__all__ = [
    "INPUT_NAMES",
    "Inserted",
    "Key",
    "answered",
    "count_pending",
    "existing_many",
    "insert_responses",
    "pending_comments",
    "referenced",
    "rescore",
]

_ABUSE_FLAGGED_R = ABUSE_FLAGGED.replace("flags", "r.flags")

# Responses are inserted many at once (group commit: one statement, one commit), each with
# its own assignment in the same statement: assignments are written in batches, and a crash
# before the batch lands must not leave a response without one. The batch travels as one
# JSON array of objects (``jsonb_to_recordset``): one parameter encoded by msgspec in C,
# where two dozen typed arrays cost asyncpg a type check per value (profiled).
_ROLE_TYPES = {
    Role.NPS: "smallint",
    Role.CSAT: "smallint",
    Role.EMPATHY_UNDERSTOOD: "smallint",
    Role.EMPATHY_CARED: "boolean",
    Role.EMPATHY_EMOTIONAL: "smallint",
    Role.EMPATHY_INFLUENCE: "smallint",
    Role.COMMENT: "text",
}
_INPUT = [
    ("survey_id", "integer"),
    ("survey_version_id", "integer"),
    ("token_nonce", "uuid"),
    ("variant", "text"),
    ("channel", "text"),
    ("language", "text"),
    ("metadata", "jsonb"),
    ("answers", "jsonb"),
    ("flags", "text[]"),
    ("client_hash", "text"),
    ("sentiment_polarity", "real"),
    ("sentiment_class", "smallint"),
    ("sentiment_cues", "text[]"),
    ("sentiment_version", "text"),
    ("score_text_mismatch", "boolean"),
    *((role.value, _ROLE_TYPES[role]) for role in Role),
    ("served_at", "bigint"),
]
INPUT_NAMES = tuple(name for name, _ in _INPUT)
"""The values of a response to insert, in the order :func:`insert_responses` takes them."""
_COLUMNS = ", ".join(INPUT_NAMES[:-1])

# Both inserts go in (survey, nonce) order, as the assignment recorder's do: statements
# inserting overlapping keys in different orders would each wait for the other's commit
# (a deadlock PostgreSQL breaks only after a second).
_INSERT_MANY = (
    "WITH input AS (SELECT * FROM jsonb_to_recordset($1::jsonb) AS i("
    + ", ".join(f"{name} {kind}" for name, kind in _INPUT)
    + ")),"
    " served AS (INSERT INTO assignment"
    " (survey_id, survey_version_id, token_nonce, variant, channel, language, metadata,"
    " created_at) SELECT survey_id, survey_version_id, token_nonce, variant, channel,"
    " language, metadata, to_timestamp(served_at) FROM input"
    " ORDER BY survey_id, token_nonce"
    " ON CONFLICT (survey_id, token_nonce) DO NOTHING)"
    f" INSERT INTO response ({_COLUMNS}) SELECT {_COLUMNS}"
    " FROM input ORDER BY survey_id, token_nonce"
    " ON CONFLICT (survey_id, token_nonce) DO NOTHING"
    " RETURNING survey_id, token_nonce, id, variant, created_at"
)

Key = tuple[int, str]
"""A response's (survey_id, token_nonce), the nonce as 32 hex digits."""
Inserted = tuple[int, str | None, dt.datetime]
"""A stored response's id, variant and creation time."""


async def insert_responses(db: Executor, rows: Sequence[Sequence[Any]]) -> dict[Key, Inserted]:
    """Insert responses (values in the order of :data:`INPUT_NAMES`: the token nonce as 32
    hex digits, ``served_at`` in Unix time; created_at from the database clock) and, where
    missing, the assignments their tokens describe, in one statement: the rows inserted,
    by key. A token already stored, or twice in ``rows``, is inserted once."""
    batch = msgspec.json.encode([dict(zip(INPUT_NAMES, row, strict=True)) for row in rows])
    inserted = await db.fetch(_INSERT_MANY, batch.decode())
    return {
        (r["survey_id"], r["token_nonce"].hex): (r["id"], r["variant"], r["created_at"])
        for r in inserted
    }


async def existing_many(db: Executor, keys: Sequence[Key]) -> dict[Key, Inserted]:
    """The responses already stored with these keys."""
    rows = await db.fetch(
        "SELECT r.survey_id, r.token_nonce, r.id, r.variant, r.created_at FROM response r"
        " JOIN unnest($1::integer[], $2::uuid[]) AS k(survey_id, token_nonce)"
        " ON r.survey_id = k.survey_id AND r.token_nonce = k.token_nonce",
        [k[0] for k in keys],
        [k[1] for k in keys],
    )
    return {
        (r["survey_id"], r["token_nonce"].hex): (r["id"], r["variant"], r["created_at"])
        for r in rows
    }


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


async def referenced(
    db: Executor, survey_ids: list[int], start: dt.datetime, end: dt.datetime | None
) -> list[Any]:
    """Responses in [start, end) of these surveys that name a customer: by a reference in
    their metadata or as an experiment subject's form. Columns: ``survey_id``, ``id``,
    ``created_at``, ``reference``, the three empathy items, ``touchpoint``, ``channel``."""
    return await db.fetch(
        "SELECT r.survey_id, r.id, r.created_at, r.channel,"
        " r.metadata->>'touchpoint' AS touchpoint,"
        " COALESCE(NULLIF(r.metadata->>'customer_ref', ''), NULLIF(r.metadata->>'order_ref', ''),"
        " s.subject) AS reference, r.empathy_understood, r.empathy_cared, r.empathy_emotional"
        " FROM response r LEFT JOIN experiment_subject s"
        " ON s.survey_id = r.survey_id AND s.token_nonce = r.token_nonce"
        " WHERE r.survey_id = ANY($1) AND r.created_at >= $2"
        " AND ($3::timestamptz IS NULL OR r.created_at < $3) AND r.redacted_at IS NULL"
        f" AND {_ABUSE_FLAGGED_R} = 0"
        " AND (r.metadata ?| array['customer_ref', 'order_ref'] OR s.subject IS NOT NULL)"
        " ORDER BY r.created_at",
        survey_ids,
        start,
        end,
    )
