"""Invitation emails, composed from templates in the invitation's language (pure)."""

from __future__ import annotations

import datetime as dt
import random
from email.message import EmailMessage
from email.utils import formataddr, formatdate, make_msgid, parseaddr
from urllib.parse import urlencode

from survey_service.invitations.batch import safe_name
from survey_service.lib.i18n import ui_text
from survey_service.lib.templates import environment
from survey_service.surveys.definitions import QuestionType, SurveyDefinition

__all__ = ["backoff", "compose"]


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
    words = ui_text(language)
    display = safe_name(name)
    first = definition.questions[0]
    taps: list[tuple[int, str]] = []
    if first.type in (QuestionType.NPS, QuestionType.RATING):
        low, high = (0, 10) if first.type is QuestionType.NPS else (1, 5)
        taps = [(n, f"{link}&{urlencode({first.id: n})}") for n in range(low, high + 1)]
    message = EmailMessage()
    prefix = words["email_reminder"] if reminder else ""
    message["Subject"] = prefix + definition.title[language]
    message["From"] = sender
    message["To"] = formataddr((display or "", email))
    message["Date"] = formatdate(localtime=False, usegmt=True)
    # The sender's own domain: receivers and spam filters expect Message-IDs to match it.
    domain = parseaddr(sender)[1].rpartition("@")[2]
    message["Message-ID"] = make_msgid(domain=domain or "localhost")
    message["List-Unsubscribe"] = f"<{unsubscribe}>"
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    context = {
        "language": language,
        "greeting": f"{words['email_hello']} {display}," if display else f"{words['email_hello']},",
        "ask": words["email_ask"],
        "question": first.text[language],
        "taps": taps,
        "link": link,
        "cta": words["email_cta"],
        "unsubscribe": unsubscribe,
        "leave": words["email_leave"],
    }
    templates = environment()
    message.set_content(templates.get_template("email/invitation.txt").render(context))
    message.add_alternative(
        templates.get_template("email/invitation.html").render(context), subtype="html"
    )
    return message
