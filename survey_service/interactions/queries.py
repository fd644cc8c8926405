"""SQL of the interactions domain: the staff log, and the survey answers the reports set
beside it.

The log is business-wide (not per survey) and stays on the coordinator under Citus; the
statements on ``response`` name the surveys they read (``survey_id = ANY``)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from survey_service.db import Executor
from survey_service.interactions.records import InteractionIn, InteractionOut
from survey_service.reporting.rollups import ABUSE_FLAGGED

__all__ = [
    "insert_interaction",
    "interaction",
    "interaction_groups",
    "interactions_between",
    "unheard_groups",
]

_COLUMNS = (
    "id, occurred_at, emotion, actions, reaction, channel, touchpoint, agent,"
    " duration_seconds, note, customer_ref, customer_key, recorded_by, created_at"
)

_GROUPS = {
    "touchpoint": "touchpoint",
    "channel": "channel",
    "hour": "extract(hour FROM {time} AT TIME ZONE $3)::int",
}
"""How the need report groups each table (``{time}``: the table's moment column)."""


def _out(row: Any) -> InteractionOut:
    return InteractionOut(
        id=row["id"],
        occurred_at=row["occurred_at"],
        emotion=row["emotion"],
        actions=list(row["actions"]),
        reaction=row["reaction"],
        channel=row["channel"],
        touchpoint=row["touchpoint"],
        agent=row["agent"],
        duration_seconds=row["duration_seconds"],
        note=row["note"],
        reference=row["customer_ref"],
        linked=row["customer_key"] is not None,
        recorded_by=row["recorded_by"],
        created_at=row["created_at"],
    )


async def insert_interaction(
    db: Executor, row: InteractionIn, customer_key: str | None, recorded_by: str
) -> InteractionOut:
    """Store one interaction (its fields already checked and cleaned)."""
    stored = await db.fetchrow(
        "INSERT INTO interaction (occurred_at, emotion, actions, reaction, channel, touchpoint,"
        " agent, duration_seconds, note, customer_key, customer_ref, recorded_by)"
        f" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING {_COLUMNS}",
        row.occurred_at,
        row.emotion,
        list(row.actions),
        row.reaction,
        row.channel,
        row.touchpoint,
        row.agent,
        row.duration_seconds,
        row.note,
        customer_key,
        None if row.hash_reference else row.reference,
        recorded_by,
    )
    return _out(stored)


async def interaction(
    db: Executor, interaction_id: int
) -> tuple[InteractionOut, str | None] | None:
    """One interaction and its customer key."""
    row = await db.fetchrow(f"SELECT {_COLUMNS} FROM interaction WHERE id = $1", interaction_id)
    return None if row is None else (_out(row), row["customer_key"])


def _where(filters: dict[str, str], first: int) -> tuple[str, list[Any]]:
    conditions, values = [], []
    for number, (name, value) in enumerate(sorted(filters.items()), start=first):
        assert name in ("touchpoint", "agent", "channel")  # the service checked the names
        conditions.append(f" AND {name} = ${number}")
        values.append(value)
    return "".join(conditions), values


async def interactions_between(
    db: Executor,
    start: dt.datetime | None,
    end: dt.datetime | None,
    filters: dict[str, str],
    *,
    after_id: int = 0,
    limit: int | None = None,
) -> tuple[list[InteractionOut], dict[int, str]]:
    """Interactions that occurred in [start, end) with the given touchpoint, agent or
    channel, by id; and the customer key of each one that has one."""
    extra, values = _where(filters, 5)
    rows = await db.fetch(
        f"SELECT {_COLUMNS} FROM interaction"
        " WHERE ($1::timestamptz IS NULL OR occurred_at >= $1)"
        " AND ($2::timestamptz IS NULL OR occurred_at < $2) AND id > $3"
        f"{extra} ORDER BY id LIMIT $4",
        start,
        end,
        after_id,
        limit,
        *values,
    )
    keys = {row["id"]: row["customer_key"] for row in rows if row["customer_key"]}
    return [_out(row) for row in rows], keys


async def interaction_groups(
    db: Executor, by: str, start: dt.datetime | None, end: dt.datetime | None, zone: str
) -> list[Any]:
    """Per group: ``n`` interactions and ``upset`` (started frustrated or angry)."""
    group = _GROUPS[by].format(time="occurred_at")
    return await db.fetch(
        f"SELECT {group} AS key, count(*) AS n,"
        " count(*) FILTER (WHERE emotion IN ('frustrated', 'angry')) AS upset FROM interaction"
        " WHERE ($1::timestamptz IS NULL OR occurred_at >= $1)"
        " AND ($2::timestamptz IS NULL OR occurred_at < $2) AND $3::text IS NOT NULL"
        " GROUP BY 1",
        start,
        end,
        zone,
    )


async def unheard_groups(
    db: Executor,
    survey_ids: list[int],
    by: str,
    start: dt.datetime | None,
    end: dt.datetime | None,
    zone: str,
) -> list[Any]:
    """Per group: ``n`` responses answering an understood or cared item, and ``unheard``:
    understood 1-2 or cared "no"."""
    group = _GROUPS[by].format(time="created_at")
    if by == "touchpoint":
        group = "metadata->>'touchpoint'"
    return await db.fetch(
        f"SELECT {group} AS key,"
        " count(*) FILTER (WHERE empathy_understood IS NOT NULL OR empathy_cared IS NOT NULL)"
        " AS n, count(*) FILTER (WHERE empathy_understood <= 2 OR NOT empathy_cared) AS unheard"
        " FROM response WHERE survey_id = ANY($4)"
        " AND ($1::timestamptz IS NULL OR created_at >= $1)"
        " AND ($2::timestamptz IS NULL OR created_at < $2) AND $3::text IS NOT NULL"
        f" AND redacted_at IS NULL AND {ABUSE_FLAGGED} = 0 GROUP BY 1",
        start,
        end,
        zone,
        survey_ids,
    )
