"""SQL of the invitations domain: the outbox, its statuses and the suppression list."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from survey_service.db import Database, Executor
from survey_service.invitations.statuses import InvitationStatus as S
from survey_service.lib.structs import Backlog

__all__ = [
    "ROW",
    "claim_due",
    "claim_reminders",
    "finish",
    "insert_batch",
    "mark",
    "mark_bounced",
    "renew",
    "requeue",
    "select",
    "suppress",
    "suppressed",
    "unsubscribe",
]

ROW = (
    "id, survey_id, survey_version_id, email, name, language, metadata, variant, token_nonce,"
    " status, send_at, expires_at, sent_at, attempts, last_error"
)
"""The columns every function here returns for an invitation."""


async def insert_batch(db: Database, records: Sequence[tuple[Any, ...]]) -> list[int]:
    """Store invitations (survey_id, survey_version_id, email, name, language, metadata,
    variant, token_nonce, send_at, expires_at) in one transaction; their ids in order."""
    if not records:
        return []
    async with db.transaction() as tx:
        statement = await tx.prepare(
            "INSERT INTO invitation (survey_id, survey_version_id, email, name, language,"
            " metadata, variant, token_nonce, send_at, expires_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id"
        )
        return [await statement.fetchval(*record) for record in records]


async def select(
    db: Executor,
    *,
    invitation_id: int | None = None,
    survey_ids: Sequence[int] | None = None,
    status: str | None = None,
    after: int = 0,
    limit: int = 1,
) -> list[dict[str, Any]]:
    """Invitations by id, optionally one, of some surveys or with a stored status."""
    rows = await db.fetch(
        f"SELECT {ROW} FROM invitation WHERE id > $1"
        " AND ($2::bigint IS NULL OR id = $2) AND ($3::int[] IS NULL OR survey_id = ANY($3))"
        " AND ($4::text IS NULL OR status = $4) ORDER BY id LIMIT $5",
        after,
        invitation_id,
        list(survey_ids) if survey_ids is not None else None,
        status,
        limit,
    )
    return [dict(r) for r in rows]


async def suppressed(db: Executor, emails: Sequence[str]) -> set[str]:
    """Which of these addresses are on the suppression list."""
    rows = await db.fetch("SELECT email FROM suppression WHERE email = ANY($1)", list(emails))
    return {r["email"] for r in rows}


async def suppress(db: Executor, email: str) -> None:
    """Put an address on the suppression list."""
    await db.execute("INSERT INTO suppression (email) VALUES ($1) ON CONFLICT DO NOTHING", email)


async def mark(
    db: Executor, survey_id: int, nonce: uuid.UUID, status: S, after: Sequence[S]
) -> None:
    """Move the invitation behind a token nonce to ``status`` if it is in one of ``after``."""
    await db.execute(
        "UPDATE invitation SET status = $1 WHERE survey_id = $2 AND token_nonce = $3"
        " AND status = ANY($4)",
        status,
        survey_id,
        nonce,
        list(after),
    )


async def mark_bounced(
    db: Database, email: str, reason: str, survey_ids: Sequence[int] | None
) -> int:
    """The address's sent invitations (of these surveys; None: all) become bounced, and the
    address is suppressed when it was ever invited to one of them. How many changed."""
    surveys = list(survey_ids) if survey_ids is not None else None
    async with db.transaction() as tx:
        rows = await tx.fetch(
            "UPDATE invitation SET status = $3, last_error = $2"
            " WHERE email = $1 AND status = ANY($4) AND ($5::int[] IS NULL OR survey_id = ANY($5))"
            " RETURNING id",
            email,
            reason,
            S.BOUNCED,
            [S.SENT, S.OPENED_FORM],
            surveys,
        )
        invited = await tx.fetchval(
            "SELECT EXISTS (SELECT 1 FROM invitation WHERE email = $1"
            " AND ($2::int[] IS NULL OR survey_id = ANY($2)))",
            email,
            surveys,
        )
        if surveys is None or invited:
            await suppress(tx, email)
    return len(rows)


async def unsubscribe(db: Database, invitation_id: int) -> str | None:
    """Suppress the invitation's address and stop its queued invitations; the address, or
    None when there is no such invitation."""
    async with db.transaction() as tx:
        email: str | None = await tx.fetchval(
            "UPDATE invitation SET status = CASE WHEN status = $2 THEN status ELSE $3 END"
            " WHERE id = $1 RETURNING email",
            invitation_id,
            S.RESPONDED,
            S.UNSUBSCRIBED,
        )
        if email is None:
            return None
        await suppress(tx, email)
        await tx.execute(
            "UPDATE invitation SET status = $2 WHERE email = $1 AND status = $3",
            email,
            S.UNSUBSCRIBED,
            S.QUEUED,
        )
    return email


async def language(db: Executor, invitation_id: int) -> str | None:
    """The invitation's language."""
    found: str | None = await db.fetchval(
        "SELECT language FROM invitation WHERE id = $1", invitation_id
    )
    return found


_CLAIMED = f"RETURNING {ROW}"


async def claim_due(db: Executor, lease: dt.timedelta, limit: int) -> list[dict[str, Any]]:
    """Claim due invitations for sending (and ones whose sender's lease lapsed)."""
    rows = await db.fetch(
        "UPDATE invitation SET status = $3, attempts = attempts + 1, sent_at = now()"
        " WHERE id IN (SELECT id FROM invitation"
        "   WHERE (status = $4 AND send_at <= now())"
        "      OR (status = $3 AND sent_at < now() - $1::interval)"
        "   ORDER BY send_at LIMIT $2 FOR UPDATE SKIP LOCKED) " + _CLAIMED,
        lease,
        limit,
        S.SENDING,
        S.QUEUED,
    )
    return [dict(r) for r in rows]


async def claim_reminders(
    db: Executor, survey_id: int, delay: dt.timedelta, limit: int
) -> list[dict[str, Any]]:
    """Claim, once each, the survey's invitations sent ``delay`` ago, still unanswered, not
    unsubscribed and not expired."""
    rows = await db.fetch(
        "UPDATE invitation SET reminder_sent_at = now()"
        " WHERE id IN (SELECT i.id FROM invitation i"
        "   WHERE i.survey_id = $1 AND i.status = ANY($4)"
        "   AND i.reminder_sent_at IS NULL AND i.expires_at > now()"
        "   AND i.sent_at <= now() - $2::interval"
        "   AND NOT EXISTS (SELECT 1 FROM suppression s WHERE s.email = i.email)"
        "   ORDER BY i.id LIMIT $3 FOR UPDATE SKIP LOCKED) " + _CLAIMED,
        survey_id,
        delay,
        limit,
        [S.SENT, S.OPENED_FORM],
    )
    return [dict(r) for r in rows]


async def renew(
    db: Executor, survey_id: int, invitation_id: int, lease: dt.datetime
) -> dt.datetime | None:
    """Renew a claimed row's lease just before sending it: the new lease, or None when the
    row is no longer ours (the lease lapsed and another sender claimed it)."""
    renewed: dt.datetime | None = await db.fetchval(
        "UPDATE invitation SET sent_at = clock_timestamp()"
        " WHERE survey_id = $4 AND id = $1 AND status = $2 AND sent_at = $3 RETURNING sent_at",
        invitation_id,
        S.SENDING,
        lease,
        survey_id,
    )
    return renewed


async def finish(
    db: Executor, survey_id: int, invitation_id: int, status: S, error: str | None
) -> None:
    """Record a send's outcome."""
    await db.execute(
        "UPDATE invitation SET status = $2, last_error = $3, sent_at = now()"
        " WHERE survey_id = $4 AND id = $1",
        invitation_id,
        status,
        error,
        survey_id,
    )


async def requeue(
    db: Executor, survey_id: int, invitation_id: int, error: str, delay: dt.timedelta
) -> None:
    """Back to the queue, to be tried again after ``delay``."""
    await db.execute(
        "UPDATE invitation SET status = $2, last_error = $3, send_at = now() + $4::interval"
        " WHERE survey_id = $5 AND id = $1",
        invitation_id,
        S.QUEUED,
        error,
        delay,
        survey_id,
    )


async def due(db: Executor) -> Backlog:
    """Invitations due to be sent now, and how long the oldest has been due."""
    row = await db.fetchrow(
        "SELECT count(*) AS n, coalesce(extract(epoch FROM now() - min(send_at)), 0) AS age"
        " FROM invitation WHERE status = $1 AND send_at <= now()",
        S.QUEUED,
    )
    assert row is not None  # an aggregate always has its row
    return Backlog(rows=row["n"], oldest_seconds=float(row["age"]))
