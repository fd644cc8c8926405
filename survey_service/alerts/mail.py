"""Alert and report emails: composed from templates (pure), sent from the alert-email
outbox by the SMTP settings the invitations use.

Subjects and recipients come from checked values only (survey titles from the TOML on one
line, addresses of dashboard users validated at creation): nothing can add a header. The
bodies carry scores, places and links, never a customer's comment or reference.
"""

from __future__ import annotations

import datetime as dt
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from typing import Any

import aiosmtplib

from survey_service.alerts import queries
from survey_service.db import Database
from survey_service.invitations.email import backoff
from survey_service.invitations.sender import connect
from survey_service.lib.templates import environment
from survey_service.lib.text import one_line
from survey_service.settings import SmtpSettings

__all__ = ["LEASE", "MAX_ATTEMPTS", "alert_bodies", "send_alert_emails"]

LEASE = dt.timedelta(minutes=2)
MAX_ATTEMPTS = 8


def alert_bodies(heading: str, lines: list[str], link: str, survey: str) -> tuple[str, str]:
    """The text and HTML bodies of an alert (HTML autoescaped)."""
    context = {"heading": heading, "lines": lines, "link": link, "survey": survey}
    templates = environment()
    return (
        templates.get_template("email/alert.txt").render(context),
        templates.get_template("email/alert.html").render(context),
    )


def _message(sender: str, row: dict[str, str]) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = one_line(row["subject"])[:200]
    message["From"] = sender
    message["To"] = row["to_email"]
    message["Date"] = formatdate(localtime=False, usegmt=True)
    domain = parseaddr(sender)[1].rpartition("@")[2]
    message["Message-ID"] = make_msgid(domain=domain or "localhost")
    message.set_content(row["body_text"])
    message.add_alternative(row["body_html"], subtype="html")
    return message


async def send_alert_emails(db: Database, smtp: SmtpSettings, batch: int = 100) -> int:
    """Send the due alert emails; how many went out. Safe in several processes (leases)."""
    rows = await queries.claim_emails(db, batch, LEASE)
    if not rows:
        return 0
    sent = 0
    try:
        client = await connect(smtp)
    except (aiosmtplib.SMTPException, OSError) as exc:
        for row in rows:
            await _retry(db, row, f"cannot connect: {exc}")
        return 0
    try:
        for row in rows:
            try:
                await client.send_message(_message(smtp.sender, dict(row)))
            except (aiosmtplib.SMTPException, OSError, ValueError) as exc:
                await _retry(db, row, str(exc)[:500])
                continue
            await queries.email_result(db, row["id"], None, None)
            sent += 1
    finally:
        if client.is_connected:
            await client.quit()
    return sent


async def _retry(db: Database, row: Any, error: str) -> None:
    attempts = int(row["attempts"]) + 1
    retry_at = dt.datetime.now(dt.UTC) + backoff(attempts) if attempts < MAX_ATTEMPTS else None
    await queries.email_result(db, row["id"], error, retry_at)
