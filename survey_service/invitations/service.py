"""Email invitations: validated batches into an outbox, personal single-use links, the
suppression list. (Sending, reminders and unsubscribe pages build on this.)

A batch is checked row by row: valid rows are stored in one transaction, invalid ones are
reported back with their row number and field; nothing half-valid is stored.
"""

from __future__ import annotations

import csv
import datetime as dt
import hmac
import io
import re
import time
import uuid
from collections.abc import Iterable, Sequence
from typing import Annotated, Any, cast
from urllib.parse import urlencode

import msgspec
from piccolo.engine.postgres import PostgresEngine

from survey_service.apikeys.service import ApiKeyInfo
from survey_service.experiments.assignment import NewAssignment, draw_variant
from survey_service.lib.structs import Struct
from survey_service.db.tables import Response
from survey_service.reporting.service import BadParameter
from survey_service.responses.storage import FieldError
from survey_service.surveys.serving import SurveyNotFound, SurveyService, clean_metadata
from survey_service.surveys.tokens import FormClaims

__all__ = [
    "MAX_BATCH",
    "STATUSES",
    "BatchResult",
    "BounceIn",
    "InvitationIn",
    "InvitationOut",
    "InvitationService",
    "RowError",
    "check_row",
    "parse_csv",
]

MAX_BATCH = 10_000
STATUSES = (
    "queued",
    "sent",
    "failed",
    "bounced",
    "opened-form",
    "responded",
    "expired",
    "unsubscribed",
)
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
    status: str
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


class InvitationService:
    """Creates and reads invitations."""

    def __init__(
        self, surveys: SurveyService, base_url: str, ttl_seconds: int, secret: str = ""
    ) -> None:
        self.surveys = surveys
        self.base_url = base_url
        self.ttl_seconds = ttl_seconds
        self._key = hmac.digest(secret.encode(), b"unsubscribe", "sha256")

    async def bounced(self, reports: Sequence[BounceIn]) -> int:
        """Record bounce reports (a mail provider's webhook): the address's sent invitations
        become ``bounced`` with the reason and the address is suppressed. Returns how many
        invitations changed."""
        changed = 0
        for report in reports:
            address = report.email.strip().lower()
            rows = await Response.raw(
                "UPDATE invitation SET status = 'bounced', last_error = {}"
                " WHERE email = {} AND status IN ('sent', 'opened-form') RETURNING id",
                report.reason[:500],
                address,
            )
            await Response.raw(
                "INSERT INTO suppression (email) VALUES ({}) ON CONFLICT DO NOTHING", address
            )
            changed += len(rows)
        return changed

    def unsubscribe_url(self, invitation_id: int) -> str:
        """The invitation's one-click unsubscribe link (RFC 8058), unforgeable."""
        mac = hmac.digest(self._key, str(invitation_id).encode(), "sha256")[:12].hex()
        return f"{self.base_url}/u/{invitation_id}.{mac}"

    async def unsubscribe(self, token: str) -> bool:
        """Put the invitation's address on the suppression list; False for a bad token."""
        number, _, mac = token.partition(".")
        if not number.isdecimal() or len(number) > 18:
            return False
        expected = hmac.digest(self._key, number.encode(), "sha256")[:12].hex()
        if not hmac.compare_digest(mac, expected):
            return False
        rows = await Response.raw(
            "UPDATE invitation SET status = CASE WHEN status = 'responded' THEN status"
            " ELSE 'unsubscribed' END WHERE id = {} RETURNING email",
            int(number),
        )
        if rows:
            await Response.raw(
                "INSERT INTO suppression (email) VALUES ({}) ON CONFLICT DO NOTHING",
                rows[0]["email"],
            )
            await Response.raw(
                "UPDATE invitation SET status = 'unsubscribed'"
                " WHERE email = {} AND status = 'queued'",
                rows[0]["email"],
            )
        return bool(rows)

    async def create(self, key: ApiKeyInfo, raw_rows: Sequence[Any]) -> BatchResult:
        """Validate every row; store the valid ones in one transaction."""
        if len(raw_rows) > MAX_BATCH:
            raise BadParameter("rows", f"at most {MAX_BATCH} rows a request")
        decoded: list[tuple[int, InvitationIn]] = []
        rejected: list[RowError] = []
        for index, raw in enumerate(raw_rows):
            try:
                decoded.append((index, msgspec.convert(raw, InvitationIn, strict=False)))
            except msgspec.ValidationError as exc:
                rejected.append(
                    RowError(row=index, errors=[FieldError(key="row", message=str(exc))])
                )
        emails = sorted({row.email.lower() for _, row in decoded})
        suppressed = {
            r["email"]
            for r in await Response.raw(
                "SELECT email FROM suppression WHERE email = ANY({})", emails
            )
        }
        now = dt.datetime.now(dt.UTC)
        records = []
        assignments = []
        for index, row in decoded:
            info = self.surveys.catalog.current(row.survey)
            if info is None or not key.sees(row.survey):
                rejected.append(
                    RowError(row=index, errors=[FieldError(key="survey", message="no such survey")])
                )
                continue
            definition = info.definition
            errors = check_row(row, definition.languages, row.email.lower() in suppressed)
            if errors:
                rejected.append(RowError(row=index, errors=errors))
                continue
            nonce = uuid.uuid4()
            variant = draw_variant(definition.experiment) if definition.experiment else None
            language = row.language or definition.default_language
            metadata = clean_metadata(definition.metadata_keys, row.metadata)
            send_at = row.send_at or now
            records.append(
                (
                    info.survey_id,
                    info.version_id,
                    row.email.lower(),
                    safe_name(row.name),
                    language,
                    msgspec.json.encode(metadata).decode(),
                    variant,
                    nonce,
                    send_at,
                    send_at + dt.timedelta(seconds=self.ttl_seconds),
                )
            )
            assignments.append(
                NewAssignment(
                    survey_id=info.survey_id,
                    survey_version_id=info.version_id,
                    nonce=nonce.bytes,
                    variant=variant,
                    channel="email",
                    language=language,
                    metadata=metadata,
                )
            )
        created = await _insert(records)
        for assignment in assignments:
            self.surveys.recorder.record(assignment)
        return BatchResult(created=created, rejected=sorted(rejected, key=lambda r: r.row))

    async def get(self, key: ApiKeyInfo, invitation_id: int) -> InvitationOut:
        """One invitation (404 outside the key's surveys)."""
        rows = await Response.raw(_SELECT + " WHERE i.id = {}", invitation_id)
        found = [self._out(r) for r in rows if key.sees(self._slug(r["survey_id"]))]
        if not found:
            raise SurveyNotFound(str(invitation_id))
        return found[0]

    async def search(
        self, key: ApiKeyInfo, survey: str | None, status: str | None, after: int, limit: int
    ) -> list[InvitationOut]:
        """Invitations by id, filtered by survey and status."""
        if status is not None and status not in STATUSES:
            raise BadParameter("status", f"one of {', '.join(STATUSES)}")
        if not 1 <= limit <= 1000:
            raise BadParameter("limit", "from 1 to 1000")
        conditions, args = ["i.id > {}"], [after]
        if survey is not None:
            info = self.surveys.catalog.current(survey)
            if info is None or not key.sees(survey):
                raise SurveyNotFound(survey)
            conditions.append("i.survey_id = {}")
            args.append(info.survey_id)
        if status is not None:
            conditions.append("i.status = {}")
            args.append(status)  # type: ignore[arg-type]
        rows = await Response.raw(
            _SELECT + " WHERE " + " AND ".join(conditions) + " ORDER BY i.id LIMIT {}", *args, limit
        )
        return [self._out(r) for r in rows if key.sees(self._slug(r["survey_id"]))]

    def _slug(self, survey_id: int) -> str:
        for slug in self.surveys.catalog.slugs():
            info = self.surveys.catalog.current(slug)
            if info is not None and info.survey_id == survey_id:
                return slug
        return ""

    def link(self, row: dict[str, Any]) -> str:
        """The invitation's personal link: its own token (nonce, variant, channel email)."""
        claims = FormClaims(
            survey_version_id=row["survey_version_id"],
            nonce=row["token_nonce"].bytes,
            variant=row["variant"],
            channel="email",
            language=row["language"],
            metadata=msgspec.json.decode(row["metadata"]),
            issued_at=int(time.time()),
            expires_at=int(row["expires_at"].timestamp()),
        )
        token = self.surveys.signer.sign(claims)
        return f"{self.base_url}/s/{self._slug(row['survey_id'])}?{urlencode({'t': token})}"

    def _out(self, row: dict[str, Any]) -> InvitationOut:
        status = row["status"]
        if status in ("queued", "sent", "opened-form") and row["expires_at"] < dt.datetime.now(
            dt.UTC
        ):
            status = "expired"  # its link no longer opens a form
        return InvitationOut(
            id=row["id"],
            survey=self._slug(row["survey_id"]),
            email=row["email"],
            name=row["name"],
            language=row["language"],
            variant=row["variant"],
            metadata=msgspec.json.decode(row["metadata"]),
            status=status,
            send_at=row["send_at"],
            expires_at=row["expires_at"],
            sent_at=row["sent_at"],
            attempts=row["attempts"],
            last_error=row["last_error"],
            link=self.link(row),
        )


_SELECT = (
    "SELECT i.id, i.survey_id, i.survey_version_id, i.email, i.name, i.language, i.metadata,"
    " i.variant, i.token_nonce, i.status, i.send_at, i.expires_at, i.sent_at, i.attempts,"
    " i.last_error FROM invitation i"
)
_INSERT = (
    "INSERT INTO invitation (survey_id, survey_version_id, email, name, language, metadata,"
    " variant, token_nonce, send_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
    " RETURNING id"
)


async def _insert(records: Iterable[tuple[Any, ...]]) -> list[int]:
    rows = list(records)
    if not rows:
        return []
    engine = cast(PostgresEngine, Response._meta.db)
    assert engine.pool is not None
    async with engine.pool.acquire() as connection, connection.transaction():
        statement = await connection.prepare(_INSERT)
        return [await statement.fetchval(*row) for row in rows]
