"""SQL of the dashboard: the comments list (newest first). Every figure comes from the
reporting services; only the list of comments reads raw responses, through the same
conditions (``raw_conditions``) as the exports, so its filters mean the same."""

from __future__ import annotations

from typing import Any

from survey_service.db import Executor
from survey_service.reporting.queries import AggregateQuery, SqlBuilder, raw_conditions

__all__ = ["COMMENT_KINDS", "comments", "latest"]

COMMENT_KINDS = {
    "all": "TRUE",
    "negative": "sentiment_class = -1",
    "mismatch": "score_text_mismatch",
    "unheard": "(empathy_understood <= 2 OR NOT empathy_cared"
    " OR 'not_heard' = ANY(sentiment_cues))",
}
"""The comment filters: every comment, negative ones, a score that contradicts the text,
and customers who did not feel heard (understood 1-2, cared "no", or the not_heard cue)."""


async def comments(
    db: Executor, q: AggregateQuery, kind: str, before_id: int | None, limit: int
) -> list[Any]:
    """Up to ``limit`` responses with a comment, newest first, below ``before_id``."""
    sql = SqlBuilder()
    where = raw_conditions(sql, q)
    where += ["comment <> ''", COMMENT_KINDS[kind]]
    if before_id is not None:
        where.append(f"id < {sql.param(before_id)}")
    return await db.fetch(
        "SELECT id, created_at, channel, variant, metadata->>'touchpoint' AS touchpoint,"
        " metadata->>'agent' AS agent, comment, sentiment_class, sentiment_cues,"
        " score_text_mismatch, nps, csat, empathy_understood, empathy_cared"
        f" FROM response WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT {sql.param(limit)}",
        *sql.args,
    )


async def latest(db: Executor, survey_ids: list[int], after_id: int, limit: int) -> list[Any]:
    """The newest responses of these surveys with ids above ``after_id``, newest first
    (the live page; scores and places, no free text)."""
    return await db.fetch(
        "SELECT id, survey_id, created_at, channel, metadata->>'touchpoint' AS touchpoint,"
        " metadata->>'agent' AS agent, nps, csat, empathy_understood, empathy_cared,"
        " sentiment_class FROM response WHERE survey_id = ANY($1) AND id > $2"
        " ORDER BY id DESC LIMIT $3",
        survey_ids,
        after_id,
        limit,
    )
