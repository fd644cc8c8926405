"""SQL of the privacy domain: erasure (rollups corrected in the same statement), the
erasure audit, one person's data, and retention."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from survey_service.db import Executor
from survey_service.reporting.rollups import FOLD_LOCK, erase_sql, kept_zone, prune_empty

__all__ = [
    "customer_forms",
    "erase_customer_records",
    "erase_responses",
    "invitations_of",
    "is_suppressed",
    "lock_rollups",
    "person",
    "record_erasure",
    "redact_customer_records",
    "redact_invitations",
    "redact_responses",
    "redact_served_forms",
    "remove_invitations",
    "response_form",
    "retention_reached",
    "scrub_assignments",
    "set_retention_reached",
]

_ERASE_BY_ID = erase_sql("id = $2")
_ERASE_BY_NONCES = erase_sql(
    "(survey_id, token_nonce) IN (SELECT * FROM unnest($2::int[], $3::uuid[]))"
)


async def lock_rollups(tx: Executor) -> str:
    """Hold the fold's lock for the transaction (no fold runs meanwhile); the daily zone."""
    await tx.execute("SELECT pg_advisory_xact_lock($1)", FOLD_LOCK)
    return await kept_zone(tx) or "UTC"


async def erase_responses(
    tx: Executor,
    zone: str,
    *,
    response_id: int | None = None,
    nonces: Sequence[tuple[int, uuid.UUID]] = (),
) -> int:
    """Delete one response by id, or the responses to these (survey id, token nonce) forms,
    taking what the rollups held of them out again; how many were deleted."""
    if response_id is not None:
        surveys: list[int] = (
            await tx.fetchval(
                "SELECT array_agg(survey_id) FROM response WHERE id = $1", response_id
            )
            or []
        )
        erased: int = await tx.fetchval(_ERASE_BY_ID, zone, response_id)
    elif nonces:
        surveys = [survey_id for survey_id, _ in nonces]
        tokens = [nonce for _, nonce in nonces]
        erased = await tx.fetchval(_ERASE_BY_NONCES, zone, surveys, tokens)
    else:
        return 0
    await prune_empty(tx, sorted(set(surveys)))
    return erased


async def response_form(tx: Executor, response_id: int) -> tuple[int, uuid.UUID] | None:
    """The (survey id, token nonce) a response answered."""
    row = await tx.fetchrow(
        "SELECT survey_id, token_nonce FROM response WHERE id = $1", response_id
    )
    return None if row is None else (row["survey_id"], row["token_nonce"])


_NAMES_CUSTOMER = "(btrim(metadata->>'customer_ref') = $1 OR btrim(metadata->>'order_ref') = $1)"
"""Metadata naming the customer reference $1 (see lib.references.REFERENCE_KEYS)."""


async def invitations_of(
    tx: Executor,
    *,
    email: str | None = None,
    invitation_id: int | None = None,
    customer: str | None = None,
) -> list[tuple[int, int, uuid.UUID]]:
    """(id, survey id, token nonce) of the invitations to an address, of one, or of those
    whose metadata names a customer reference."""
    if customer is not None:
        rows = await tx.fetch(
            f"SELECT id, survey_id, token_nonce FROM invitation WHERE {_NAMES_CUSTOMER}",
            customer,
        )
        return [(r["id"], r["survey_id"], r["token_nonce"]) for r in rows]
    rows = await tx.fetch(
        "SELECT id, survey_id, token_nonce FROM invitation"
        " WHERE ($1::text IS NULL OR email = $1) AND ($2::bigint IS NULL OR id = $2)",
        email,
        invitation_id,
    )
    return [(r["id"], r["survey_id"], r["token_nonce"]) for r in rows]


async def customer_forms(tx: Executor, customer: str) -> list[tuple[int, uuid.UUID]]:
    """(survey id, token nonce) of every form that names a customer reference: served or
    answered with it in the metadata, or assigned to it as an experiment subject."""
    rows = await tx.fetch(
        f"SELECT survey_id, token_nonce FROM assignment WHERE {_NAMES_CUSTOMER}"
        f" UNION SELECT survey_id, token_nonce FROM response WHERE {_NAMES_CUSTOMER}"
        " UNION SELECT survey_id, token_nonce FROM experiment_subject WHERE subject = $1",
        customer,
    )
    return [(r["survey_id"], r["token_nonce"]) for r in rows]


async def erase_customer_records(
    tx: Executor, customer: str, customer_key: str, marker: str
) -> tuple[int, int]:
    """Delete the customer's staff-log interactions and outcome events (by customer key:
    hashed-only ones too); experiment subjects keep their variant (the sample-ratio check
    counts them) under ``marker`` instead of the reference. (interactions, outcomes)."""
    interactions = await tx.fetch(
        "DELETE FROM interaction WHERE customer_key = $1 RETURNING id", customer_key
    )
    outcomes = await tx.fetch(
        "DELETE FROM outcome WHERE customer_key = $1 RETURNING id", customer_key
    )
    await tx.execute(
        "UPDATE experiment_subject SET subject = $2 WHERE subject = $1", customer, marker
    )
    return len(interactions), len(outcomes)


async def remove_invitations(tx: Executor, ids: Sequence[int]) -> None:
    """Delete invitations (their address, name, metadata and personal links)."""
    await tx.execute("DELETE FROM invitation WHERE id = ANY($1)", list(ids))


async def scrub_assignments(
    tx: Executor, nonces: Sequence[tuple[int, uuid.UUID]], keep: Sequence[str]
) -> None:
    """Keep only the ``keep`` metadata keys (the rollup dimensions: staff and places, not
    customers) of these served forms."""
    await tx.execute(
        "UPDATE assignment SET metadata = coalesce((SELECT jsonb_object_agg(key, value)"
        " FROM jsonb_each(metadata) WHERE key = ANY($3)), jsonb_build_object())"
        " WHERE (survey_id, token_nonce) IN (SELECT * FROM unnest($1::int[], $2::uuid[]))",
        [survey_id for survey_id, _ in nonces],
        [nonce for _, nonce in nonces],
        list(keep),
    )


async def hash_suppression(tx: Executor, email: str, marker: str) -> bool:
    """Replace a suppressed address by its keyed hash (it stays suppressed); whether it was."""
    row = await tx.fetchrow(
        "UPDATE suppression SET email = $2 WHERE email = $1 RETURNING 1", email, marker
    )
    return row is not None


async def is_suppressed(tx: Executor, keys: Sequence[str]) -> bool:
    """Whether any of these addresses or address hashes is on the suppression list."""
    found: bool = await tx.fetchval(
        "SELECT EXISTS (SELECT 1 FROM suppression WHERE email = ANY($1))", list(keys)
    )
    return found


async def record_erasure(
    tx: Executor,
    kind: str,
    subject_hash: str,
    counts: tuple[int, int, int, int],
    by: str,
) -> int:
    """Write the audit row (counts: responses, invitations, interactions, outcomes); its
    id."""
    erasure_id: int = await tx.fetchval(
        "INSERT INTO erasure (kind, subject_hash, responses, invitations, interactions,"
        " outcomes, requested_by) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        kind,
        subject_hash,
        *counts,
        by[:100],
    )
    return erasure_id


async def person(tx: Executor, email: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Everything stored about an address: its invitations and the responses to them."""
    invitations = await tx.fetch(
        "SELECT i.id, s.slug AS survey, i.email, i.name, i.language, i.metadata, i.variant,"
        " i.status, i.send_at, i.sent_at, i.expires_at, i.created_at FROM invitation i"
        " JOIN survey s ON s.id = i.survey_id WHERE i.email = $1 ORDER BY i.id",
        email,
    )
    responses = await tx.fetch(
        "SELECT r.id, s.slug AS survey, r.created_at, r.variant, r.channel, r.language,"
        " r.metadata, r.answers, r.sentiment_class, r.sentiment_cues FROM response r"
        " JOIN survey s ON s.id = r.survey_id JOIN invitation i"
        " ON i.survey_id = r.survey_id AND i.token_nonce = r.token_nonce"
        " WHERE i.email = $1 ORDER BY r.id",
        email,
    )
    return [dict(r) for r in invitations], [dict(r) for r in responses]


async def redact_responses(
    db: Executor,
    survey_id: int,
    before: dt.datetime,
    text_questions: Sequence[str],
    keep: Sequence[str],
    limit: int,
) -> int:
    """Past retention: remove responses' free text (the comment keeps its place as an empty
    text, so every KPI and rollup stays the same), the non-dimension metadata and the client
    hash; how many responses were redacted (at most ``limit``)."""
    redacted: int = await db.fetchval(
        "WITH done AS (UPDATE response SET"
        " comment = CASE WHEN comment IS NULL THEN NULL ELSE '' END,"
        " answers = answers - $3::text[],"
        " metadata = coalesce((SELECT jsonb_object_agg(key, value) FROM jsonb_each(metadata)"
        "   WHERE key = ANY($4)), jsonb_build_object()),"
        " client_hash = NULL, redacted_at = now()"
        " WHERE id IN (SELECT id FROM response WHERE survey_id = $1 AND created_at < $2"
        "   AND redacted_at IS NULL ORDER BY created_at LIMIT $5)"
        " RETURNING survey_id, token_nonce),"
        " forms AS (UPDATE assignment a SET metadata = coalesce((SELECT jsonb_object_agg(key,"
        "   value) FROM jsonb_each(a.metadata) WHERE key = ANY($4)), jsonb_build_object())"
        "   FROM done WHERE a.survey_id = done.survey_id AND a.token_nonce = done.token_nonce"
        "   RETURNING 1)"
        " SELECT count(*) FROM done",
        survey_id,
        before,
        list(text_questions),
        list(keep),
        limit,
    )
    return redacted


async def redact_served_forms(
    db: Executor,
    survey_id: int,
    after: tuple[dt.datetime, int],
    before: dt.datetime,
    keep: Sequence[str],
    limit: int,
) -> tuple[int, tuple[dt.datetime, int] | None]:
    """Past retention: served forms, answered or not, keep only the ``keep`` keys of their
    metadata (the rollup dimensions). Looks at up to ``limit`` forms created before
    ``before`` and after ``after`` (a (created_at, id) position), in that order; returns
    how many changed and the position reached (None: nothing left)."""
    row = await db.fetchrow(
        "WITH chosen AS (SELECT id, created_at FROM assignment WHERE survey_id = $1"
        "   AND created_at >= $2 AND (created_at, id) > ($2, $3) AND created_at < $4"
        "   ORDER BY created_at, id LIMIT $6),"
        " done AS (UPDATE assignment a SET metadata = coalesce((SELECT jsonb_object_agg(key,"
        "   value) FROM jsonb_each(a.metadata) WHERE key = ANY($5)), jsonb_build_object())"
        "   FROM chosen c WHERE a.survey_id = $1 AND a.id = c.id"
        "   AND a.metadata - $5::text[] <> jsonb_build_object() RETURNING 1),"
        " last AS (SELECT created_at, id FROM chosen ORDER BY created_at DESC, id DESC LIMIT 1)"
        " SELECT (SELECT count(*) FROM done) AS redacted, last.created_at, last.id"
        " FROM (SELECT 1) AS one LEFT JOIN last ON TRUE",
        survey_id,
        after[0],
        after[1],
        before,
        list(keep),
        limit,
    )
    assert row is not None
    reached = None if row["id"] is None else (row["created_at"], row["id"])
    return row["redacted"], reached


def _reached_name(survey_id: int) -> str:
    return f"retention_served_forms:{survey_id}"


async def retention_reached(db: Executor, survey_id: int) -> dt.datetime | None:
    """Up to when the survey's served forms were redacted (None: never)."""
    value: str | None = await db.fetchval(
        "SELECT value FROM rollup_state WHERE name = $1", _reached_name(survey_id)
    )
    return None if value is None else dt.datetime.fromisoformat(value)


async def set_retention_reached(db: Executor, survey_id: int, moment: dt.datetime) -> None:
    """Record that the survey's served forms before ``moment`` are redacted."""
    await db.execute(
        "INSERT INTO rollup_state (name, value) VALUES ($1, $2)"
        " ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value",
        _reached_name(survey_id),
        moment.isoformat(),
    )


async def redact_invitations(
    db: Executor, survey_id: int, before: dt.datetime, keep: Sequence[str], limit: int
) -> int:
    """Past retention: an invitation loses its address, name and customer metadata, and its
    personal link stops working; how many were redacted."""
    redacted: int = await db.fetchval(
        "WITH done AS (UPDATE invitation SET email = 'redacted-' || id || '@invalid',"
        " name = NULL, metadata = coalesce((SELECT jsonb_object_agg(key, value)"
        "   FROM jsonb_each(metadata) WHERE key = ANY($3)), jsonb_build_object()),"
        " expires_at = least(expires_at, now()), redacted_at = now()"
        " WHERE id IN (SELECT id FROM invitation WHERE survey_id = $1 AND created_at < $2"
        "   AND redacted_at IS NULL ORDER BY created_at LIMIT $4) RETURNING 1)"
        " SELECT count(*) FROM done",
        survey_id,
        before,
        list(keep),
        limit,
    )
    return redacted


async def redact_customer_records(db: Executor, before: dt.datetime) -> tuple[int, int]:
    """Past retention: interactions lose their note and plain reference, outcome events
    their plain reference, follow-up cases their note; (interactions, outcomes) redacted."""
    await db.execute(
        "UPDATE follow_up_case SET note = NULL WHERE opened_at < $1 AND note IS NOT NULL",
        before,
    )
    interactions = await db.fetch(
        "UPDATE interaction SET note = NULL, customer_ref = NULL WHERE occurred_at < $1"
        " AND (note IS NOT NULL OR customer_ref IS NOT NULL) RETURNING 1",
        before,
    )
    outcomes = await db.fetch(
        "UPDATE outcome SET customer_ref = NULL WHERE occurred_at < $1"
        " AND customer_ref IS NOT NULL RETURNING 1",
        before,
    )
    return len(interactions), len(outcomes)
