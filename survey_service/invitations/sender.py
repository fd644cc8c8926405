"""The outbox sender: claims due invitations and sends them over SMTP.

Delivery loses nothing: invitations are rows; a sender claims due rows with
``FOR UPDATE SKIP LOCKED`` (two senders never take the same row), marks them ``sending``,
sends over one reused SMTP connection and records the outcome. Temporary failures (4xx,
connection trouble) go back to the queue with exponential backoff and jitter up to
``MAX_ATTEMPTS``; permanent ones (5xx) are ``failed`` with the server's reason. A crash
between sending and recording leaves the row ``sending``; after ``LEASE`` it is queued again,
so such a crash can cause at most one duplicate email, never a lost one. A sender renews a
row's lease just before sending it and skips it when the row is no longer its own (a batch
that outlived its lease), so a slow batch never sends what another sender took over. A row
whose email cannot be composed fails on its own; the rest of the batch goes out.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from email.message import EmailMessage
from typing import Any

import aiosmtplib

from survey_service.invitations import queries
from survey_service.invitations.email import backoff, compose
from survey_service.invitations.service import InvitationService
from survey_service.invitations.statuses import InvitationStatus as S
from survey_service.lib.structs import Struct
from survey_service.settings import SmtpSettings

__all__ = ["LEASE", "MAX_ATTEMPTS", "SendReport", "connect", "send_due"]

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
LEASE = dt.timedelta(minutes=10)

_SENT, _FAILED, _DEFERRED = "sent", "failed", "deferred"


class SendReport(Struct):
    """What one pass of the sender did: emails sent, invitations failed for good, and
    invitations deferred (queued again for a retry, or taken over by another sender)."""

    sent: int = 0
    failed: int = 0
    deferred: int = 0

    @property
    def claimed(self) -> int:
        """Everything this pass took from the outbox."""
        return self.sent + self.failed + self.deferred


async def connect(smtp: SmtpSettings) -> aiosmtplib.SMTP:
    """A connected (and, with a username, logged-in) SMTP client; SMTPException or OSError
    when the server cannot be reached or refuses the login."""
    client = aiosmtplib.SMTP(
        hostname=smtp.host, port=smtp.port, use_tls=smtp.use_tls, start_tls=smtp.starttls
    )
    await client.connect()
    if smtp.username:
        await client.login(smtp.username, smtp.password or "")
    return client


async def send_due(
    invitations: InvitationService, smtp: SmtpSettings, batch: int = 200
) -> SendReport:
    """Send what is due now and say how it went. Safe to run in several processes."""
    db = invitations.db
    rows = await queries.claim_due(db, LEASE, batch)
    reminders = []
    for info in invitations.surveys.catalog.served():
        days = info.definition.reminder_days
        if days is not None:
            delay = dt.timedelta(days=days)
            reminders += await queries.claim_reminders(db, info.survey_id, delay, batch)
    if not rows and not reminders:
        return SendReport()
    outcomes: list[str] = []
    try:
        client = await connect(smtp)
    except (aiosmtplib.SMTPException, OSError) as exc:
        for row in rows:
            outcomes.append(await _requeue(invitations, row, f"cannot connect: {exc}"))
        return _report(outcomes)
    try:
        for row in rows:
            outcomes.append(await _send_one(invitations, client, smtp, row))
            await asyncio.sleep(1 / smtp.per_second)
        for row in reminders:
            outcomes.append(await _remind(invitations, client, smtp, row))
            await asyncio.sleep(1 / smtp.per_second)
    finally:
        if client.is_connected:
            await client.quit()
    return _report(outcomes)


def _report(outcomes: list[str]) -> SendReport:
    return SendReport(
        sent=outcomes.count(_SENT),
        failed=outcomes.count(_FAILED),
        deferred=outcomes.count(_DEFERRED),
    )


async def _message(
    invitations: InvitationService, smtp: SmtpSettings, row: dict[str, Any], *, reminder: bool
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
        link=invitations.link(row),
        unsubscribe=invitations.unsubscribe_url(row["id"]),
        sender=smtp.sender,
        reminder=reminder,
    )


async def _send_one(
    invitations: InvitationService,
    client: aiosmtplib.SMTP,
    smtp: SmtpSettings,
    row: dict[str, Any],
) -> str:
    db = invitations.db
    if await queries.renew(db, row["survey_id"], row["id"], row["sent_at"]) is None:
        log.warning("invitation %s was taken over by another sender; skipped", row["id"])
        return _DEFERRED
    try:
        message = await _message(invitations, smtp, row, reminder=False)
    except Exception as exc:  # one bad row must not stall the outbox
        log.exception("invitation %s cannot be composed", row["id"])
        await queries.finish(
            db, row["survey_id"], row["id"], S.FAILED, f"cannot compose the email: {exc}"
        )
        return _FAILED
    if message is None:
        await queries.finish(db, row["survey_id"], row["id"], S.FAILED, "survey version not found")
        return _FAILED
    try:
        await client.send_message(message)
    except aiosmtplib.SMTPRecipientsRefused as exc:
        reasons = "; ".join(f"{r.code} {r.message}" for r in exc.recipients)
        if exc.recipients and all(500 <= r.code < 600 for r in exc.recipients):
            await queries.finish(db, row["survey_id"], row["id"], S.FAILED, reasons)
            return _FAILED
        return await _requeue(invitations, row, reasons)
    except aiosmtplib.SMTPResponseException as exc:
        if 500 <= exc.code < 600:
            await queries.finish(
                db, row["survey_id"], row["id"], S.FAILED, f"{exc.code} {exc.message}"
            )
            return _FAILED
        return await _requeue(invitations, row, f"{exc.code} {exc.message}")
    except (aiosmtplib.SMTPNotSupported, ValueError) as exc:  # no retry can fix these
        await queries.finish(db, row["survey_id"], row["id"], S.FAILED, f"cannot be sent: {exc}")
        return _FAILED
    except (aiosmtplib.SMTPException, OSError) as exc:
        return await _requeue(invitations, row, str(exc))
    await queries.finish(db, row["survey_id"], row["id"], S.SENT, None)
    return _SENT


async def _remind(
    invitations: InvitationService,
    client: aiosmtplib.SMTP,
    smtp: SmtpSettings,
    row: dict[str, Any],
) -> str:
    try:
        message = await _message(invitations, smtp, row, reminder=True)
        if message is None:
            return _FAILED
        await client.send_message(message)
    except (aiosmtplib.SMTPException, OSError, ValueError) as exc:  # best effort, never twice
        log.warning("reminder for invitation %s not sent: %s", row["id"], exc)
        return _FAILED
    return _SENT


async def _requeue(invitations: InvitationService, row: dict[str, Any], error: str) -> str:
    attempts: int = row["attempts"]
    if attempts >= MAX_ATTEMPTS:
        message = f"gave up after {attempts} attempts: {error}"
        await queries.finish(invitations.db, row["survey_id"], row["id"], S.FAILED, message)
        return _FAILED
    await queries.requeue(invitations.db, row["survey_id"], row["id"], error, backoff(attempts))
    return _DEFERRED
