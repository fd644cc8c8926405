"""SQL of the responses domain: storing a response once, rescoring comments, and the
responses that name a customer."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Sequence
from typing import Any

from survey_service.db import Database, Executor
from survey_service.reporting.rollups import ABUSE_FLAGGED
from survey_service.surveys.definitions import Role

__all__ = [
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
# before the batch lands must not leave a response without one. Array columns (flags,
# sentiment cues) travel as JSON text: unnest would flatten a 2-D array.
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
    ("metadata", "text"),
    ("answers", "text"),
    ("flags", "text"),
    ("client_hash", "text"),
    ("sentiment_polarity", "real"),
    ("sentiment_class", "smallint"),
    ("sentiment_cues", "text"),
    ("sentiment_version", "text"),
    ("score_text_mismatch", "boolean"),
    *((role.value, _ROLE_TYPES[role]) for role in Role),
    ("served_at", "bigint"),
]
_COLUMNS = ", ".join(name for name, _ in _INPUT[:-1])
_JSON_ARRAYS = {"flags", "sentiment_cues"}
_JSON = {"metadata", "answers"}


def _select(name: str) -> str:
    if name in _JSON_ARRAYS:
        return f"ARRAY(SELECT jsonb_array_elements_text({name}::jsonb))"
    return f"{name}::jsonb" if name in _JSON else name


# Both inserts go in (survey, nonce) order, as the assignment recorder's do: statements
# inserting overlapping keys in different orders would each wait for the other's commit
# (a deadlock PostgreSQL breaks only after a second).
_INSERT_MANY = (
    "WITH input AS (SELECT * FROM unnest("
    + ", ".join(f"${i}::{kind}[]" for i, (_, kind) in enumerate(_INPUT, start=1))
    + ") AS i("
    + ", ".join(name for name, _ in _INPUT)
    + ")),"
    " served AS (INSERT INTO assignment"
    " (survey_id, survey_version_id, token_nonce, variant, channel, language, metadata,"
    " created_at) SELECT survey_id, survey_version_id, token_nonce, variant, channel,"
    " language, metadata::jsonb, to_timestamp(served_at) FROM input"
    " ORDER BY survey_id, token_nonce"
    " ON CONFLICT (survey_id, token_nonce) DO NOTHING)"
    f" INSERT INTO response ({_COLUMNS}) SELECT "
    + ", ".join(_select(name) for name, _ in _INPUT[:-1])
    + " FROM input ORDER BY survey_id, token_nonce"
    " ON CONFLICT (survey_id, token_nonce) DO NOTHING"
    " RETURNING survey_id, token_nonce, id, variant, created_at"
)


async def insert_responses(
    db: Executor, rows: Sequence[Sequence[Any]], served_at: Sequence[int]
) -> dict[tuple[int, uuid.UUID], tuple[int, str | None, Any]]:
    """Insert responses (values in the order of ``_INPUT``; created_at from the database
    clock) and, where missing, the assignments their tokens describe (served at
    ``served_at``, Unix time), in one statement: the rows inserted, by (survey_id,
    token_nonce). A token already stored, or twice in ``rows``, is inserted once."""
    columns: list[list[Any]] = [list(column) for column in zip(*rows, strict=True)]
    for name in _JSON_ARRAYS:
        index = [n for n, _ in _INPUT].index(name)
        columns[index] = [json.dumps(value) for value in columns[index]]
    inserted = await db.fetch(_INSERT_MANY, *columns, list(served_at))
    return {
        (r["survey_id"], r["token_nonce"]): (r["id"], r["variant"], r["created_at"])
        for r in inserted
    }


async def existing_many(
    db: Executor, keys: Sequence[tuple[int, uuid.UUID]]
) -> dict[tuple[int, uuid.UUID], tuple[int, str | None, Any]]:
    """The responses already stored for these (survey_id, token_nonce) pairs."""
    rows = await db.fetch(
        "SELECT r.survey_id, r.token_nonce, r.id, r.variant, r.created_at FROM response r"
        " JOIN unnest($1::integer[], $2::uuid[]) AS k(survey_id, token_nonce)"
        " ON r.survey_id = k.survey_id AND r.token_nonce = k.token_nonce",
        [k[0] for k in keys],
        [k[1] for k in keys],
    )
    return {
        (r["survey_id"], r["token_nonce"]): (r["id"], r["variant"], r["created_at"]) for r in rows
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
