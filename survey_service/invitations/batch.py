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

from survey_service.errors import FieldError
from survey_service.invitations.statuses import InvitationStatus
from survey_service.lib.structs import Struct

__all__ = [
    "MAX_BATCH",
    "BatchResult",
    "BounceIn",
    "InvitationIn",
    "InvitationOut",
    "RowError",
    "check_row",
    "parse_csv",
    "safe_name",
]

MAX_BATCH = 10_000
_EMAIL = re.compile(r"^[^@\s<>\"'(),;:\\\[\]]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}$")
_LINE_BREAKS = re.compile(r"[\r\n\u2028\u2029\x85\x0b\x0c]|%0[ad]", re.IGNORECASE)


class InvitationIn(Struct, forbid_unknown_fields=False):
    """One invitation to create; extra columns of a CSV are ignored."""

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


class RowError(Struct):
    """Why row ``row`` (0-based, in the order sent) was not stored."""

    row: int
    errors: list[FieldError]


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


def check_row(row: InvitationIn, languages: Sequence[str], suppressed: bool) -> list[FieldError]:
    """Problems with one row, named by field (pure)."""
    errors = []
    if not _EMAIL.match(row.email) or _LINE_BREAKS.search(row.email):
        errors.append(FieldError(key="email", message="not an email address", code="invalid"))
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
    if row.send_at is not None and row.send_at.tzinfo is None:
        errors.append(FieldError(key="send_at", message="needs a time zone offset", code="invalid"))
    return errors


def safe_name(name: str | None) -> str | None:
    """A display name with line breaks (raw or URL-encoded) and control characters removed,
    so it can never inject an email header."""
    if name is None:
        return None
    cleaned = re.sub(r"[\x00-\x1f\x7f]", "", _LINE_BREAKS.sub(" ", name)).strip()
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
