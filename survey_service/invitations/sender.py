"""Invitation emails: composing them (pure) and the outbox sender (SMTP).

Delivery loses nothing: invitations are rows; a sender claims due rows with
``FOR UPDATE SKIP LOCKED`` (two senders never take the same row), marks them ``sending``,
sends over one reused SMTP connection and records the outcome. Temporary failures (4xx,
connection trouble) go back to the queue with exponential backoff and jitter up to
``MAX_ATTEMPTS``; permanent ones (5xx) are ``failed`` with the server's reason. A crash
between sending and recording leaves the row ``sending``; after ``LEASE`` it is queued again,
so such a crash can cause at most one duplicate email, never a lost one.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiosmtplib
import jinja2

from survey_service.db.tables import Response
from survey_service.surveys.definitions import QuestionType, SurveyDefinition
from survey_service.invitations.service import InvitationService, safe_name
from survey_service.settings import SmtpSettings

__all__ = ["LEASE", "MAX_ATTEMPTS", "SmtpSettings", "backoff", "compose", "send_due"]

log = logging.getLogger(__name__)

_REMINDER = {"en": "Reminder: ", "es": "Recordatorio: "}
_TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).resolve().parents[1] / "templates"),
    autoescape=jinja2.select_autoescape(enabled_extensions=("html",), default=False),
    keep_trailing_newline=True,
)
MAX_ATTEMPTS = 8
LEASE = dt.timedelta(minutes=10)
_WORDS = {
    "en": ("Hello", "We'd love to hear how it went.", "Answer the survey", "Unsubscribe"),
    "es": ("Hola", "Nos encantaría saber qué tal fue.", "Responder la encuesta", "Darse de baja"),
}


def backoff(attempts: int, rng: random.Random | None = None) -> dt.timedelta:
    """Delay before the next try: 30 s doubling per attempt, capped at 1 h, with jitter."""
    base = min(3600.0, 30.0 * 2 ** max(0, attempts - 1))
    return dt.timedelta(seconds=base * (0.5 + (rng or random).random()))


def compose(
    *,
    definition: SurveyDefinition,
    language: str,
    email: str,
    name: str | None,
    link: str,
    unsubscribe: str,
    sender: str,
    reminder: bool = False,
) -> EmailMessage:
    """The invitation from templates/email/: text and HTML parts (HTML autoescaped),
    one-tap first answers, RFC 8058 unsubscribe.

    Headers come only from checked values: the address was validated at creation and the
    name has had every line break removed, so nothing can add a header.
    """
    hello, ask, cta, leave = _WORDS.get(language, _WORDS["en"])
    display = safe_name(name)
    first = definition.questions[0]
    taps: list[tuple[int, str]] = []
    if first.type in (QuestionType.NPS, QuestionType.RATING):
        low, high = (0, 10) if first.type is QuestionType.NPS else (1, 5)
        taps = [(n, f"{link}&{urlencode({first.id: n})}") for n in range(low, high + 1)]
    message = EmailMessage()
    prefix = _REMINDER.get(language, _REMINDER["en"]) if reminder else ""
    message["Subject"] = prefix + definition.title[language]
    message["From"] = sender
    message["To"] = formataddr((display or "", email))
    message["Message-ID"] = make_msgid(domain="survey-service")
    message["List-Unsubscribe"] = f"<{unsubscribe}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    context = {
        "language": language,
        "greeting": f"{hello} {display}," if display else f"{hello},",
        "ask": ask,
        "question": first.text[language],
        "taps": taps,
        "link": link,
        "cta": cta,
        "unsubscribe": unsubscribe,
        "leave": leave,
    }
    message.set_content(_TEMPLATES.get_template("email/invitation.txt").render(context))
    message.add_alternative(
        _TEMPLATES.get_template("email/invitation.html").render(context), subtype="html"
    )
    return message


_CLAIM = """
UPDATE invitation SET status = 'sending', attempts = attempts + 1, sent_at = now()
WHERE id IN (
    SELECT id FROM invitation
    WHERE (status = 'queued' AND send_at <= now())
       OR (status = 'sending' AND sent_at < now() - {}::interval)
    ORDER BY send_at LIMIT {} FOR UPDATE SKIP LOCKED
)
RETURNING id, survey_id, survey_version_id, email, name, language, metadata, variant,
    token_nonce, expires_at, attempts
"""


async def send_due(
    invitations: InvitationService, smtp: SmtpSettings, unsubscribe_url: Any, batch: int = 200
) -> int:
    """Send what is due now; return how many were sent. Safe to run in several processes."""
    rows = await Response.raw(_CLAIM, LEASE, batch)
    reminders = await _claim_reminders(invitations, batch)
    if not rows and not reminders:
        return 0
    sent = 0
    client = aiosmtplib.SMTP(
        hostname=smtp.host, port=smtp.port, use_tls=smtp.use_tls, start_tls=smtp.starttls
    )
    try:
        await client.connect()
        if smtp.username:
            await client.login(smtp.username, smtp.password or "")
    except (aiosmtplib.SMTPException, OSError) as exc:
        await _retry_all(rows, f"cannot connect: {exc}")
        return 0
    try:
        for row in rows:
            outcome = await _send_one(invitations, client, smtp, row, unsubscribe_url)
            sent += outcome
            await asyncio.sleep(1 / smtp.per_second)
        for row in reminders:
            sent += await _remind(invitations, client, smtp, row, unsubscribe_url)
            await asyncio.sleep(1 / smtp.per_second)
    finally:
        if client.is_connected:
            await client.quit()
    return sent


async def _message(
    invitations: InvitationService,
    smtp: SmtpSettings,
    row: Mapping[str, Any],
    unsubscribe_url: Any,
    *,
    reminder: bool = False,
) -> EmailMessage | None:
    """The email for a claimed invitation row; None when its survey version is gone."""
    info = await invitations.surveys.catalog.version(row["survey_version_id"])
    if info is None:
        return None
    return compose(
        definition=info.definition,
        language=row["language"],
        email=row["email"],
        name=row["name"],
        link=invitations.link(dict(row)),
        unsubscribe=unsubscribe_url(row["id"]),
        sender=smtp.sender,
        reminder=reminder,
    )


async def _send_one(
    invitations: InvitationService,
    client: aiosmtplib.SMTP,
    smtp: SmtpSettings,
    row: Mapping[str, Any],
    unsubscribe_url: Any,
) -> int:
    message = await _message(invitations, smtp, row, unsubscribe_url)
    if message is None:
        await _finish(row["id"], "failed", "survey version not found")
        return 0
    try:
        await client.send_message(message)
    except aiosmtplib.SMTPRecipientsRefused as exc:
        reasons = "; ".join(f"{r.code} {r.message}" for r in exc.recipients)
        if exc.recipients and all(500 <= r.code < 600 for r in exc.recipients):
            await _finish(row["id"], "failed", reasons)
        else:
            await _requeue(row["id"], row["attempts"], reasons)
        return 0
    except aiosmtplib.SMTPResponseException as exc:
        if 500 <= exc.code < 600:
            await _finish(row["id"], "failed", f"{exc.code} {exc.message}")
        else:
            await _requeue(row["id"], row["attempts"], f"{exc.code} {exc.message}")
        return 0
    except (aiosmtplib.SMTPException, OSError) as exc:
        await _requeue(row["id"], row["attempts"], str(exc))
        return 0
    await _finish(row["id"], "sent", None)
    return 1


_CLAIM_REMINDERS = """
UPDATE invitation SET reminder_sent_at = now()
WHERE id IN (
    SELECT i.id FROM invitation i
    WHERE i.survey_id = {} AND i.status IN ('sent', 'opened-form')
      AND i.reminder_sent_at IS NULL AND i.expires_at > now()
      AND i.sent_at <= now() - {}::interval
      AND NOT EXISTS (SELECT 1 FROM suppression s WHERE s.email = i.email)
    ORDER BY i.id LIMIT {} FOR UPDATE SKIP LOCKED
)
RETURNING id, survey_id, survey_version_id, email, name, language, metadata, variant,
    token_nonce, expires_at, attempts
"""


async def _claim_reminders(invitations: InvitationService, batch: int) -> list[dict[str, Any]]:
    """Invitations whose survey asks for reminders, sent that long ago, still unanswered,
    not unsubscribed and not expired; each is claimed once (reminders are at most once)."""
    claimed: list[dict[str, Any]] = []
    for slug in invitations.surveys.catalog.slugs():
        info = invitations.surveys.catalog.current(slug)
        if info is None or info.definition.reminder_days is None:
            continue
        delay = dt.timedelta(days=info.definition.reminder_days)
        claimed += await Response.raw(_CLAIM_REMINDERS, info.survey_id, delay, batch)
    return claimed


async def _remind(
    invitations: InvitationService,
    client: aiosmtplib.SMTP,
    smtp: SmtpSettings,
    row: Mapping[str, Any],
    unsubscribe_url: Any,
) -> int:
    message = await _message(invitations, smtp, row, unsubscribe_url, reminder=True)
    if message is None:
        return 0
    try:
        await client.send_message(message)
    except (aiosmtplib.SMTPException, OSError) as exc:  # best effort: never a second reminder
        log.warning("reminder for invitation %s not sent: %s", row["id"], exc)
        return 0
    return 1


async def _finish(invitation_id: int, status: str, error: str | None) -> None:
    await Response.raw(
        "UPDATE invitation SET status = {}, last_error = {}, sent_at = now() WHERE id = {}",
        status,
        error,
        invitation_id,
    )


async def _requeue(invitation_id: int, attempts: int, error: str) -> None:
    if attempts >= MAX_ATTEMPTS:
        await _finish(invitation_id, "failed", f"gave up after {attempts} attempts: {error}")
        return
    await Response.raw(
        "UPDATE invitation SET status = 'queued', last_error = {}, send_at = now() + {}::interval"
        " WHERE id = {}",
        error,
        backoff(attempts),
        invitation_id,
    )


async def _retry_all(rows: list[dict[str, Any]], error: str) -> None:
    for row in rows:
        await _requeue(row["id"], row["attempts"], error)
