"""SQL of the experiments domain: served forms (assignments) and sticky subjects."""

from __future__ import annotations

import operator
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import asyncpg
import msgspec
from asyncpg.pgproto.pgproto import UUID as PgUUID

from survey_service.db import Database, Executor

if TYPE_CHECKING:
    from survey_service.experiments.assignment import NewAssignment

__all__ = [
    "SERVED_COLUMNS",
    "clustered",
    "insert_assignments",
    "insert_assignments_skipping",
    "outcome_subjects",
    "subject_variant",
]


SERVED_COLUMNS = (
    "survey_id",
    "survey_version_id",
    "token_nonce",
    "variant",
    "channel",
    "language",
    "metadata",
)
"""The columns a served form is written with (the rest take their defaults)."""
_SERVED_KEY = operator.itemgetter(0, 2)  # (survey, nonce) of a SERVED_COLUMNS row


async def insert_assignments(db: Database, batch: Sequence[NewAssignment]) -> None:
    """Write served forms; a nonce already written is skipped.

    COPY first: a row costs PostgreSQL about a fifth less than through INSERT (14.8
    against 18.3 µs in batches of 1,000, timed alone), and a served form is written once
    per page. COPY cannot skip a key already there (an answer stored with its assignment
    before the buffer was written, or a retry after a commit that was not acknowledged):
    then the batch goes through :func:`insert_assignments_skipping`. Rows go in (survey,
    nonce) order, as answers write theirs: two statements inserting overlapping keys in
    different orders would each wait for the other (a deadlock, found only after a
    second)."""
    rows = [
        (
            a.survey_id,
            a.survey_version_id,
            # asyncpg's own UUID: made from the bytes in C (0.07 against 0.7 µs for
            # uuid.UUID) and copied as they are. With the C sort key: 2.2 µs less of the
            # event loop a form page, +4.5% pages/s in three alternating runs.
            PgUUID(a.nonce),
            a.variant,
            a.channel,
            a.language,
            msgspec.json.encode(a.metadata).decode() if a.metadata else "{}",
        )
        for a in batch
    ]
    rows.sort(key=_SERVED_KEY)  # a UUID sorts as its bytes
    try:
        await db.copy_records("assignment", SERVED_COLUMNS, rows)
    except asyncpg.UniqueViolationError:
        await insert_assignments_skipping(db, batch)


async def insert_assignments_skipping(db: Executor, batch: Sequence[NewAssignment]) -> None:
    """Write served forms in one statement, skipping nonces already written. The batch is
    one JSON parameter, as msgspec encodes the structs (nonces in base64); keys in
    (survey, nonce) order (see :func:`insert_assignments`)."""
    await db.execute(
        "INSERT INTO assignment"
        " (survey_id, survey_version_id, token_nonce, variant, channel, language, metadata)"
        " SELECT survey_id, survey_version_id, encode(decode(nonce, 'base64'), 'hex')::uuid,"
        " variant, channel, language, metadata FROM jsonb_to_recordset($1::jsonb)"
        " AS i(survey_id integer, survey_version_id integer, nonce text, variant text,"
        " channel text, language text, metadata jsonb) ORDER BY 1, 3"
        " ON CONFLICT (survey_id, token_nonce) DO NOTHING",
        msgspec.json.encode(batch).decode(),
    )


async def subject_variant(
    db: Executor,
    survey_id: int,
    experiment: str,
    subject: str,
    drawn: tuple[str, bytes],
    cluster: str | None,
) -> tuple[str, uuid.UUID, str | None, bool]:
    """The subject's (variant, token nonce, cluster, created): ``drawn`` (a variant and a
    nonce) on the first call; the stored ones on every later or concurrent call (a unique
    key, not a read-then-write)."""
    row = await db.fetchrow(
        "INSERT INTO experiment_subject"
        " (survey_id, experiment_key, subject, variant, cluster, token_nonce)"
        " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING"
        " RETURNING variant, token_nonce, cluster",
        survey_id,
        experiment,
        subject,
        drawn[0],
        cluster,
        uuid.UUID(bytes=drawn[1]),
    )
    created = row is not None
    if row is None:
        row = await db.fetchrow(
            "SELECT variant, token_nonce, cluster FROM experiment_subject"
            " WHERE survey_id = $1 AND experiment_key = $2 AND subject = $3",
            survey_id,
            experiment,
            subject,
        )
    assert row is not None
    return row["variant"], row["token_nonce"], row["cluster"], created


async def clustered(db: Executor, survey_id: int, experiment: str) -> bool:
    """Whether any subject of the experiment was assigned with a cluster."""
    found: bool = await db.fetchval(
        "SELECT EXISTS (SELECT 1 FROM experiment_subject WHERE survey_id = $1"
        " AND experiment_key = $2 AND cluster IS NOT NULL)",
        survey_id,
        experiment,
    )
    return found


async def outcome_subjects(db: Executor, survey_id: int, experiment: str) -> list[Any]:
    """Every subject of the experiment that names a customer, with its variant and when it
    was assigned: subjects assigned over the API, and invitations carrying a variant and a
    customer reference in their metadata. Columns: ``reference``, ``variant``,
    ``assigned_at``, in assignment order."""
    return await db.fetch(
        "SELECT subject AS reference, variant, created_at AS assigned_at"
        " FROM experiment_subject WHERE survey_id = $1 AND experiment_key = $2"
        " UNION ALL SELECT COALESCE(NULLIF(metadata->>'customer_ref', ''),"
        " NULLIF(metadata->>'order_ref', '')), variant, created_at FROM invitation"
        " WHERE survey_id = $1 AND variant IS NOT NULL AND redacted_at IS NULL"
        " AND COALESCE(NULLIF(metadata->>'customer_ref', ''), NULLIF(metadata->>'order_ref', ''))"
        " IS NOT NULL ORDER BY 3",
        survey_id,
        experiment,
    )
