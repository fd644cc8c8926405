"""SQL of the alerts domain: the response event queue, alert settings, the webhook outbox
and its log, alert emails, follow-up cases, fired KPI alerts and report runs."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from survey_service.db import Executor
from survey_service.reporting.rollups import by_key, plan_for_now, queue_claim

__all__ = [
    "CLAIM_EVENTS",
    "alert_settings",
    "case_stats",
    "cases",
    "claim_emails",
    "claim_events",
    "claim_messages",
    "create_endpoint",
    "delete_endpoint",
    "disable_failing",
    "email_result",
    "endpoint",
    "endpoints",
    "enqueue_email",
    "enqueue_messages",
    "health",
    "kpi_alert_once",
    "message_attempts",
    "message_result",
    "messages",
    "open_case",
    "owners",
    "recipients",
    "replay",
    "report_once",
    "set_alert_settings",
    "update_case",
    "update_endpoint",
]

_ENDPOINT = (
    "id, url, description, event_types, surveys, created_at, failing_since, disabled_at,"
    " disabled_reason, previous_until"
)


CLAIM_EVENTS = (
    f"WITH taken AS ({queue_claim('response_event_queue', '$1')})"
    " SELECT t.survey_id, t.id, t.created_at, t.channel, t.variant, t.language,"
    " t.metadata->>'touchpoint' AS touchpoint, t.metadata->>'agent' AS agent, t.nps,"
    " t.csat, t.empathy_understood, t.empathy_cared, t.sentiment_class,"
    f" t.score_text_mismatch, t.flags FROM taken u CROSS JOIN LATERAL {by_key('response')}"
    " ORDER BY t.id"
)
"""Take up to $1 responses off the event queue, with what their alerts need. Each is read
by its key (:func:`by_key`): a plain join made the planner hash a scan of every response
for each batch (550 ms a batch at a million)."""


async def claim_events(db: Executor, limit: int) -> list[Any]:
    """Take up to ``limit`` queued responses off the queue (concurrent claimers skip each
    other's rows; the caller's transaction keeps them claimed until it commits)."""
    await plan_for_now(db)
    return await db.fetch(CLAIM_EVENTS, limit)


async def alert_settings(db: Executor) -> dict[int, str]:
    """Alert rules set over the API, by survey id (JSON text)."""
    rows = await db.fetch("SELECT survey_id, rules::text AS rules FROM alert_settings")
    return {r["survey_id"]: r["rules"] for r in rows}


async def set_alert_settings(db: Executor, survey_id: int, rules: str | None) -> None:
    """Store a survey's rules (None: back to its TOML's)."""
    if rules is None:
        await db.execute("DELETE FROM alert_settings WHERE survey_id = $1", survey_id)
        return
    await db.execute(
        "INSERT INTO alert_settings (survey_id, rules) VALUES ($1, $2::jsonb)"
        " ON CONFLICT (survey_id) DO UPDATE SET rules = excluded.rules, updated_at = now()",
        survey_id,
        rules,
    )


async def endpoints(db: Executor) -> list[Any]:
    """Every webhook endpoint (without secrets)."""
    return await db.fetch(f"SELECT {_ENDPOINT} FROM webhook_endpoint ORDER BY id")


async def endpoint(db: Executor, endpoint_id: int) -> Any:
    """One endpoint with its secrets."""
    return await db.fetchrow(
        f"SELECT {_ENDPOINT}, secret, previous_secret FROM webhook_endpoint WHERE id = $1",
        endpoint_id,
    )


async def create_endpoint(
    db: Executor,
    url: str,
    description: str,
    event_types: Sequence[str],
    surveys: Sequence[str],
    secret: str,
) -> Any:
    """A new endpoint."""
    return await db.fetchrow(
        "INSERT INTO webhook_endpoint (url, description, event_types, surveys, secret)"
        f" VALUES ($1, $2, $3, $4, $5) RETURNING {_ENDPOINT}",
        url,
        description,
        list(event_types),
        list(surveys),
        secret,
    )


async def update_endpoint(db: Executor, endpoint_id: int, changes: dict[str, Any]) -> Any:
    """Change the given columns (names checked by the caller); the endpoint after."""
    sets = ", ".join(f"{name} = ${n}" for n, name in enumerate(changes, start=2))
    return await db.fetchrow(
        f"UPDATE webhook_endpoint SET {sets} WHERE id = $1 RETURNING {_ENDPOINT}",
        endpoint_id,
        *changes.values(),
    )


async def delete_endpoint(db: Executor, endpoint_id: int) -> bool:
    """Delete an endpoint and its messages; whether it existed."""
    row = await db.fetchrow("DELETE FROM webhook_endpoint WHERE id = $1 RETURNING 1", endpoint_id)
    return row is not None


async def enqueue_messages(db: Executor, rows: Sequence[tuple[int, str, str, str]]) -> None:
    """Queue messages: (endpoint id, message id, event type, body)."""
    if rows:
        await db.execute(
            "INSERT INTO webhook_message (endpoint_id, message_id, event_type, payload)"
            " SELECT * FROM unnest($1::int[], $2::text[], $3::text[], $4::text[])"
            " ON CONFLICT DO NOTHING",
            *(list(column) for column in zip(*rows, strict=True)),
        )


async def claim_messages(db: Executor, limit: int, lease: dt.timedelta) -> list[Any]:
    """Due messages of enabled endpoints, leased for ``lease`` (another sender skips them
    until then), with their endpoint's URL and secrets."""
    return await db.fetch(
        "WITH due AS (SELECT m.id FROM webhook_message m JOIN webhook_endpoint e"
        " ON e.id = m.endpoint_id WHERE m.status = 'pending' AND m.next_attempt_at <= now()"
        " AND e.disabled_at IS NULL ORDER BY m.next_attempt_at LIMIT $1"
        " FOR UPDATE OF m SKIP LOCKED),"
        " leased AS (UPDATE webhook_message m SET next_attempt_at = now() + $2::interval"
        " FROM due WHERE m.id = due.id RETURNING m.*)"
        " SELECT l.id, l.endpoint_id, l.message_id, l.event_type, l.payload, l.attempts,"
        " e.url, e.secret, CASE WHEN e.previous_until > now() THEN e.previous_secret END"
        " AS previous_secret FROM leased l JOIN webhook_endpoint e ON e.id = l.endpoint_id",
        limit,
        lease,
    )


async def message_result(
    db: Executor,
    message: int,
    attempt: int,
    status_code: int | None,
    latency_ms: float,
    error: str | None,
    retry_at: dt.datetime | None,
    delivered: bool,
) -> None:
    """Log an attempt and move the message on: delivered, retried at ``retry_at``, or
    given up (``retry_at`` None); the endpoint's failing streak starts or ends."""
    await db.execute(
        "INSERT INTO webhook_attempt (message_id, attempt, status_code, latency_ms, error)"
        " VALUES ($1, $2, $3, $4, $5)",
        message,
        attempt,
        status_code,
        latency_ms,
        error,
    )
    status = "delivered" if delivered else ("pending" if retry_at else "failed")
    endpoint_id = await db.fetchval(
        "UPDATE webhook_message SET attempts = $2, status = $3::text,"
        " next_attempt_at = coalesce($4, next_attempt_at),"
        " delivered_at = CASE WHEN $3::text = 'delivered' THEN now() END WHERE id = $1"
        " RETURNING endpoint_id",
        message,
        attempt,
        status,
        retry_at,
    )
    await db.execute(
        "UPDATE webhook_endpoint SET failing_since = CASE WHEN $2 THEN NULL"
        " ELSE coalesce(failing_since, now()) END WHERE id = $1",
        endpoint_id,
        delivered,
    )


async def disable_failing(db: Executor, failing_for: dt.timedelta) -> list[Any]:
    """Disable endpoints failing for longer than ``failing_for``; the ones disabled now."""
    return await db.fetch(
        "UPDATE webhook_endpoint SET disabled_at = now(), disabled_reason ="
        " 'every delivery failed for ' || $1::interval::text WHERE disabled_at IS NULL"
        f" AND failing_since < now() - $1::interval RETURNING {_ENDPOINT}",
        failing_for,
    )


async def messages(db: Executor, endpoint_id: int, limit: int) -> list[Any]:
    """The endpoint's newest messages."""
    return await db.fetch(
        "SELECT id, message_id, event_type, status, attempts, next_attempt_at, created_at,"
        " delivered_at FROM webhook_message WHERE endpoint_id = $1 ORDER BY id DESC LIMIT $2",
        endpoint_id,
        limit,
    )


async def message_attempts(db: Executor, message_ids: Sequence[int]) -> list[Any]:
    """Every attempt of these messages, oldest first."""
    return await db.fetch(
        "SELECT message_id, attempt, status_code, latency_ms, error, created_at"
        " FROM webhook_attempt WHERE message_id = ANY($1) ORDER BY id",
        list(message_ids),
    )


async def replay(db: Executor, message: int) -> bool:
    """Send a message again now (same id, so receivers can de-duplicate); whether it exists."""
    row = await db.fetchrow(
        "UPDATE webhook_message SET status = 'pending', next_attempt_at = now()"
        " WHERE id = $1 RETURNING 1",
        message,
    )
    return row is not None


async def recipients(db: Executor, slug: str) -> list[str]:
    """Who hears about a survey: its managers, else the owners (enabled users)."""
    rows = await db.fetch(
        "SELECT email FROM app_user WHERE disabled_at IS NULL AND ((role = 'manager' AND"
        " $1 = ANY(surveys)) OR (role = 'owner' AND NOT EXISTS (SELECT 1 FROM app_user"
        " WHERE disabled_at IS NULL AND role = 'manager' AND $1 = ANY(surveys))))"
        " ORDER BY email",
        slug,
    )
    return [r["email"] for r in rows]


async def owners(db: Executor) -> list[str]:
    """The enabled owners' addresses."""
    rows = await db.fetch(
        "SELECT email FROM app_user WHERE role = 'owner' AND disabled_at IS NULL ORDER BY email"
    )
    return [r["email"] for r in rows]


async def enqueue_email(
    db: Executor, to: Sequence[str], subject: str, text: str, html: str
) -> None:
    """Queue one email per recipient."""
    await db.execute(
        "INSERT INTO alert_email (to_email, subject, body_text, body_html)"
        " SELECT address, $2, $3, $4 FROM unnest($1::text[]) AS address",
        list(to),
        subject,
        text,
        html,
    )


async def claim_emails(db: Executor, limit: int, lease: dt.timedelta) -> list[Any]:
    """Due alert emails, leased for ``lease``."""
    return await db.fetch(
        "UPDATE alert_email SET next_attempt_at = now() + $2::interval WHERE id IN"
        " (SELECT id FROM alert_email WHERE status = 'pending' AND next_attempt_at <= now()"
        " ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED)"
        " RETURNING id, to_email, subject, body_text, body_html, attempts",
        limit,
        lease,
    )


async def email_result(
    db: Executor, email_id: int, error: str | None, retry_at: dt.datetime | None
) -> None:
    """Sent (no error), retried at ``retry_at``, or given up."""
    await db.execute(
        "UPDATE alert_email SET attempts = attempts + 1, last_error = $2,"
        " status = CASE WHEN $2::text IS NULL THEN 'sent' WHEN $3::timestamptz IS NULL"
        " THEN 'failed' ELSE 'pending' END, sent_at = CASE WHEN $2::text IS NULL THEN now() END,"
        " next_attempt_at = coalesce($3, next_attempt_at) WHERE id = $1",
        email_id,
        error,
        retry_at,
    )


async def open_case(db: Executor, survey_id: int, response_id: int, reason: str) -> int | None:
    """A follow-up case for a response (once); its id."""
    case_id: int | None = await db.fetchval(
        "INSERT INTO follow_up_case (survey_id, response_id, reason) VALUES ($1, $2, $3)"
        " ON CONFLICT (survey_id, response_id) DO NOTHING RETURNING id",
        survey_id,
        response_id,
        reason,
    )
    return case_id


async def cases(
    db: Executor, survey_ids: Sequence[int], status: str | None, limit: int
) -> list[Any]:
    """Cases of these surveys (open and contacted first, newest first), with the response's
    scores and comment."""
    return await db.fetch(
        "SELECT c.id, c.survey_id, c.response_id, c.reason, c.status, c.note, c.opened_at,"
        " c.contacted_at, c.resolved_at, c.updated_by, r.nps, r.csat, r.comment,"
        " r.metadata->>'touchpoint' AS touchpoint, r.metadata->>'agent' AS agent"
        " FROM follow_up_case c JOIN response r ON r.survey_id = c.survey_id"
        " AND r.id = c.response_id WHERE c.survey_id = ANY($1)"
        " AND ($2::text IS NULL OR c.status = $2)"
        " ORDER BY c.status = 'resolved', c.id DESC LIMIT $3",
        list(survey_ids),
        status,
        limit,
    )


async def update_case(
    db: Executor, survey_ids: Sequence[int], case_id: int, status: str, note: str | None, by: str
) -> Any:
    """Move a case on (contacted, resolved, or open again) with a note; the case after."""
    return await db.fetchrow(
        "UPDATE follow_up_case SET status = $3::text, note = coalesce($4, note),"
        " updated_by = $5, contacted_at = CASE WHEN $3::text IN ('contacted', 'resolved')"
        " THEN coalesce(contacted_at, now()) END,"
        " resolved_at = CASE WHEN $3::text = 'resolved' THEN coalesce(resolved_at, now()) END"
        " WHERE survey_id = ANY($1) AND id = $2 RETURNING id, survey_id, response_id, reason,"
        " status, note, opened_at, contacted_at, resolved_at, updated_by",
        list(survey_ids),
        case_id,
        status,
        note,
        by,
    )


async def case_stats(
    db: Executor, survey_id: int, start: dt.datetime | None, end: dt.datetime | None
) -> Any:
    """Cases opened in the window: how many, how many resolved, and the median hours from
    opening to resolution of those."""
    return await db.fetchrow(
        "SELECT count(*) AS opened, count(*) FILTER (WHERE status = 'resolved') AS resolved,"
        " count(*) FILTER (WHERE status = 'contacted') AS contacted,"
        " percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM resolved_at -"
        " opened_at) / 3600) FILTER (WHERE resolved_at IS NOT NULL) AS median_hours"
        " FROM follow_up_case WHERE survey_id = $1"
        " AND ($2::timestamptz IS NULL OR opened_at >= $2)"
        " AND ($3::timestamptz IS NULL OR opened_at < $3)",
        survey_id,
        start,
        end,
    )


async def kpi_alert_once(db: Executor, survey_id: int, rule: str, day: dt.date) -> bool:
    """Whether this rule has not fired for the survey today yet (and now has)."""
    row = await db.fetchrow(
        "INSERT INTO kpi_alert (survey_id, rule, period) VALUES ($1, $2, $3)"
        " ON CONFLICT DO NOTHING RETURNING 1",
        survey_id,
        rule,
        day,
    )
    return row is not None


async def report_once(db: Executor, week: dt.date) -> bool:
    """Whether the report of the week starting ``week`` was not sent yet (and now is)."""
    row = await db.fetchrow(
        "INSERT INTO report_run (week) VALUES ($1) ON CONFLICT DO NOTHING RETURNING 1", week
    )
    return row is not None


async def health(db: Executor) -> Any:
    """Webhook messages pending, endpoints disabled, responses waiting for the alert job."""
    return await db.fetchrow(
        "SELECT (SELECT count(*) FROM webhook_message WHERE status = 'pending') AS pending,"
        " (SELECT count(*) FROM webhook_endpoint WHERE disabled_at IS NOT NULL) AS disabled,"
        " (SELECT count(*) FROM response_event_queue) AS queued"
    )
