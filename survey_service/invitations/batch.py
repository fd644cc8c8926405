"""Invitation batches: the rows a caller sends, checked one by one (pure functions).

A batch is checked row by row: valid rows are stored in one transaction, invalid ones are
reported back with their row number and field; nothing half-valid is stored.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Sequence
from typing import Annotated, Any

import msgspec

from survey_service.errors import FieldError, RowError
from survey_service.invitations.statuses import InvitationStatus
from survey_service.lib.structs import Struct
from survey_service.lib.text import one_line

__all__ = [
    "MAX_BATCH",
    "MAX_EMAIL",
    "MAX_SCHEDULE",
    "BatchResult",
    "BounceIn",
    "InvitationIn",
    "InvitationOut",
    "RowError",
    "check_row",
    "is_address",
    "parse_csv",
    "safe_name",
]

MAX_BATCH = 10_000
MAX_EMAIL = 254  # RFC 5321's limit on a forward path, and the column's width
MAX_SCHEDULE = dt.timedelta(days=366)
"""``send_at`` at most this far ahead (a year and a day: yearly surveys, nothing absurd)."""
_EMAIL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}$")
"""Printable ASCII without spaces, quotes or brackets before the @, a DNS name after it:
addresses every SMTP server accepts without SMTPUTF8 (international addresses are refused
with a clear error rather than failing at sending time)."""
_ENCODED_WORD = re.compile(r"=\?[^?]*\?[bqBQ]\?[^?]*(\?=|$)")


class InvitationIn(Struct):
    """One invitation to create. A CSV's extra columns become ``metadata``; in JSON, metadata
    goes under ``metadata`` and any other key is refused (never silently dropped)."""

    survey: str
    email: str
    name: str | None = None
    language: str | None = None
    metadata: dict[str, str] = {}
    send_at: dt.datetime | None = None


class BounceIn(Struct):
    """A bounce report for an address (from the mail provider)."""

    email: Annotated[str, msgspec.Meta(min_length=3, max_length=254)]
    reason: str = "bounced"


class InvitationOut(Struct):
    """An invitation as stored, with its personal link."""

    id: int
    survey: str
    email: str
    name: str | None
    language: str
    variant: str | None
    metadata: dict[str, str]
    status: InvitationStatus
    send_at: dt.datetime
    expires_at: dt.datetime
    sent_at: dt.datetime | None
    attempts: int
    last_error: str | None
    link: str


class BatchResult(Struct):
    """How a batch went: the stored invitations (ids) and the rejected rows."""

    created: list[int]
    rejected: list[RowError]


def is_address(email: str) -> bool:
    """Whether ``email`` is an address invitations can be sent to."""
    return len(email) <= MAX_EMAIL and _EMAIL.match(email) is not None


def check_row(
    row: InvitationIn, languages: Sequence[str], suppressed: bool, now: dt.datetime
) -> list[FieldError]:
    """Problems with one row, named by field (pure)."""
    errors = []
    if len(row.email) > MAX_EMAIL:
        message = f"at most {MAX_EMAIL} characters"
        errors.append(FieldError(key="email", message=message, code="too_long"))
    elif not _EMAIL.match(row.email):
        message = "not an email address (plain ASCII, one @, a domain with a dot)"
        errors.append(FieldError(key="email", message=message, code="invalid"))
    elif suppressed:
        errors.append(
            FieldError(
                key="email", message="unsubscribed: on the suppression list", code="suppressed"
            )
        )
    if row.name is not None and len(row.name) > 100:
        errors.append(FieldError(key="name", message="at most 100 characters", code="too_long"))
    if row.language is not None and row.language not in languages:
        errors.append(
            FieldError(key="language", message=f"one of {', '.join(languages)}", code="invalid")
        )
    if row.name is not None and _ENCODED_WORD.search(row.name):
        message = "MIME encoded words (=?charset?q?...?=) are not allowed; send the name as text"
        errors.append(FieldError(key="name", message=message, code="invalid"))
    if row.send_at is not None and row.send_at.tzinfo is None:
        errors.append(FieldError(key="send_at", message="needs a time zone offset", code="invalid"))
    elif row.send_at is not None and row.send_at > now + MAX_SCHEDULE:
        message = f"at most {MAX_SCHEDULE.days} days ahead"
        errors.append(FieldError(key="send_at", message=message, code="range"))
    return errors


def safe_name(name: str | None) -> str | None:
    """A display name on one line (line breaks, raw or URL-encoded, and control and format
    characters removed) and with no MIME encoded word left to decode into one, so it can
    never inject an email header."""
    if name is None:
        return None
    cleaned = _ENCODED_WORD.sub("", one_line(name)).strip()
    return cleaned or None


def parse_csv(text: str) -> list[dict[str, Any]]:
    """CSV rows (header: survey, email, name, language, send_at, and metadata columns)."""
    rows = []
    for record in csv.DictReader(io.StringIO(text)):
        fixed = {"survey", "email", "name", "language", "send_at"}
        row: dict[str, Any] = {
            k: v for k, v in record.items() if k in fixed and v not in (None, "")
        }
        row["metadata"] = {k: v for k, v in record.items() if k and k not in fixed and v}
        rows.append(row)
    return rows
