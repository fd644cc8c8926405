"""SQL of the outcomes domain: storing events once by their id, and what each customer
did within a horizon after a moment of their own (a first response, an assignment).

The events are business-wide (keyed by customer, not survey) and stay on the coordinator
under Citus."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from survey_service.db import Executor

__all__ = ["Behaviour", "behaviour_after", "insert_outcomes", "main_currency"]

Behaviour = tuple[bool, int, float]
"""(made a purchase, referrals, net revenue in the currency) of one customer."""


async def insert_outcomes(db: Executor, rows: Sequence[tuple[Any, ...]]) -> set[str]:
    """Store events (event_id, kind, customer_key, customer_ref, occurred_at, amount,
    currency, recorded_by); the event ids stored now (an id already stored, or twice in
    ``rows``, is stored once)."""
    if not rows:
        return set()
    columns = list(zip(*rows, strict=True))
    stored = await db.fetch(
        "INSERT INTO outcome (event_id, kind, customer_key, customer_ref, occurred_at, amount,"
        " currency, recorded_by) SELECT * FROM unnest($1::text[], $2::text[], $3::text[],"
        " $4::text[], $5::timestamptz[], $6::numeric[], $7::text[], $8::text[])"
        " ON CONFLICT (event_id) DO NOTHING RETURNING event_id",
        *(list(column) for column in columns),
    )
    return {row["event_id"] for row in stored}


async def main_currency(db: Executor, keys: Sequence[str]) -> str | None:
    """The currency most money events of these customers are in."""
    currency: str | None = await db.fetchval(
        "SELECT currency FROM outcome WHERE customer_key = ANY($1) AND currency IS NOT NULL"
        " GROUP BY currency ORDER BY count(*) DESC, currency LIMIT 1",
        list(keys),
    )
    return currency


async def behaviour_after(
    db: Executor,
    anchors: Sequence[tuple[str, dt.datetime]],
    horizon: dt.timedelta,
    currency: str | None,
) -> dict[str, Behaviour]:
    """Per (customer key, moment): what the customer did in (moment, moment + horizon]:
    whether they bought again (``purchase`` or ``repeat_purchase``), how many referrals,
    and net revenue (purchases minus refunds) in ``currency``."""
    rows = await db.fetch(
        "SELECT c.key, coalesce(bool_or(o.kind IN ('purchase', 'repeat_purchase')), false)"
        " AS bought, count(o.id) FILTER (WHERE o.kind = 'referral') AS referrals,"
        " coalesce(sum(CASE WHEN o.kind = 'refund' THEN -o.amount ELSE o.amount END)"
        " FILTER (WHERE o.currency = $4 AND o.kind IN ('purchase', 'repeat_purchase', 'refund')),"
        " 0)::float8 AS revenue"
        " FROM unnest($1::text[], $2::timestamptz[]) AS c(key, anchor)"
        " LEFT JOIN outcome o ON o.customer_key = c.key AND o.occurred_at > c.anchor"
        " AND o.occurred_at <= c.anchor + $3::interval GROUP BY c.key",
        [key for key, _ in anchors],
        [moment for _, moment in anchors],
        horizon,
        currency,
    )
    return {row["key"]: (row["bought"], row["referrals"], row["revenue"]) for row in rows}
