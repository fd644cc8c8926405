"""Email invitations: validated batches into an outbox, personal single-use links, the
suppression list, and the statuses that follow each invitation (sending is
:mod:`survey_service.invitations.sender`)."""

from __future__ import annotations

import datetime as dt
import hmac
import uuid
from collections.abc import Sequence
from typing import Any

import msgspec

from survey_service.apikeys.service import ApiKeyInfo
from survey_service.errors import BadParameter, FieldError, NotFound
from survey_service.experiments.assignment import NewAssignment, draw_variant
from survey_service.invitations import queries
from survey_service.invitations.batch import (
    MAX_BATCH,
    BatchResult,
    BounceIn,
    InvitationIn,
    InvitationOut,
    RowError,
    check_row,
    is_address,
    safe_name,
)
from survey_service.invitations.statuses import InvitationStatus as S
from survey_service.lib.keys import derive_key, mac
from survey_service.lib.structs import Backlog
from survey_service.lib.text import one_line
from survey_service.surveys.serving import SurveyService, clean_metadata
from survey_service.surveys.tokens import FormClaims, new_nonce

__all__ = ["InvitationService", "suppression_marker"]

MAX_ID = 2**63 - 1  # ids are PostgreSQL bigints
_LIVE = (S.QUEUED, S.SENT, S.OPENED_FORM)  # reported expired once their link lapses
_ANSWERABLE = (S.QUEUED, S.SENDING, S.SENT, S.OPENED_FORM, S.FAILED)


def suppression_marker(secret: str, email: str) -> str:
    """How an erased address stays on the suppression list: a keyed hash, not the address."""
    return "hash:" + mac(derive_key(secret, "suppression"), email.lower())[:16].hex()


class InvitationService:
    """Creates and reads invitations; follows them as their links are opened and answered
    (it listens to the form's events, :class:`survey_service.surveys.serving.FormEvents`)."""

    def __init__(self, surveys: SurveyService, secret: str) -> None:
        self.surveys = surveys
        self.db = surveys.db
        self._key = derive_key(secret, "unsubscribe")
        self._secret = secret

    async def outbox(self) -> Backlog:
        """Invitations due now and how long the oldest has waited (the sender's lag)."""
        return await queries.due(self.db)

    async def opened(self, survey_id: int, claims: FormClaims) -> None:
        """An invitation's personal link was opened: sent becomes opened-form."""
        if claims.channel == "email":
            nonce = uuid.UUID(bytes=claims.nonce)
            await queries.mark(self.db, survey_id, nonce, S.OPENED_FORM, [S.SENT])

    async def answered(self, survey_id: int, claims: FormClaims) -> None:
        """An invitation's personal link was answered."""
        if claims.channel == "email":
            nonce = uuid.UUID(bytes=claims.nonce)
            await queries.mark(self.db, survey_id, nonce, S.RESPONDED, _ANSWERABLE)

    async def bounced(self, key: ApiKeyInfo, reports: Sequence[BounceIn]) -> int:
        """Record bounce reports (a mail provider's webhook): the address's sent invitations
        become ``bounced`` with the reason and the address is suppressed. A key limited to
        some surveys touches only their invitations, suppresses only addresses it invited,
        and learns nothing of other surveys'. Returns how many invitations changed."""
        for index, report in enumerate(reports):
            if not is_address(report.email.strip()):
                raise BadParameter(f"[{index}].email", "not an email address")
        survey_ids = None
        if key.surveys:
            survey_ids = [i.survey_id for i in self.surveys.catalog.served() if key.sees(i.slug)]
        changed = 0
        for report in reports:
            changed += await queries.mark_bounced(
                self.db, report.email.strip().lower(), one_line(report.reason)[:500], survey_ids
            )
        return changed

    def unsubscribe_url(self, invitation_id: int) -> str:
        """The invitation's one-click unsubscribe link (RFC 8058), unforgeable."""
        return f"{self.surveys.base_url}/u/{invitation_id}.{self._mac(str(invitation_id))}"

    def _mac(self, number: str) -> str:
        return mac(self._key, number)[:12].hex()

    def _unsubscribe_id(self, token: str) -> int | None:
        number, _, given = token.partition(".")
        if not number.isdecimal() or len(number) > 18:
            return None
        return int(number) if hmac.compare_digest(given, self._mac(number)) else None

    async def language_of(self, token: str) -> str | None:
        """The language of the invitation an unsubscribe token names (None: a bad token)."""
        invitation_id = self._unsubscribe_id(token)
        return None if invitation_id is None else await queries.language(self.db, invitation_id)

    async def unsubscribe(self, token: str) -> bool:
        """Put the invitation's address on the suppression list; False for a bad token."""
        invitation_id = self._unsubscribe_id(token)
        if invitation_id is None:
            return False
        return await queries.unsubscribe(self.db, invitation_id) is not None

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
        emails = sorted({row.email.lower() for _, row in decoded if is_address(row.email)})
        markers = {suppression_marker(self._secret, e): e for e in emails}
        listed = await queries.suppressed(self.db, [*emails, *markers])
        suppressed = {markers.get(entry, entry) for entry in listed}
        now = dt.datetime.now(dt.UTC)
        records = []
        assignments = []
        for index, row in decoded:
            info = self.surveys.catalog.current(row.survey)
            if info is None or not key.sees(row.survey):
                error = FieldError(key="survey", message=f"no survey called '{row.survey}'")
                rejected.append(RowError(row=index, errors=[error]))
                continue
            definition = info.definition
            errors = check_row(row, definition.languages, row.email.lower() in suppressed, now)
            if errors:
                rejected.append(RowError(row=index, errors=errors))
                continue
            nonce = uuid.UUID(bytes=new_nonce())
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
                    send_at + dt.timedelta(seconds=self.surveys.token_ttl_seconds),
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
        created = await queries.insert_batch(self.db, records)
        await self.surveys.recorder.add(*assignments)
        return BatchResult(created=created, rejected=sorted(rejected, key=lambda r: r.row))

    async def get(self, key: ApiKeyInfo, invitation_id: int) -> InvitationOut:
        """One invitation (404 outside the key's surveys)."""
        if not 0 < invitation_id <= MAX_ID:
            raise NotFound("invitation", invitation_id)
        rows = await queries.select(self.db, invitation_id=invitation_id)
        found = [self._out(r) for r in rows if key.sees(self._slug(r["survey_id"]))]
        if not found:
            raise NotFound("invitation", invitation_id)
        return found[0]

    async def search(
        self, key: ApiKeyInfo, survey: str | None, status: str | None, after: int, limit: int
    ) -> list[InvitationOut]:
        """Invitations by id, filtered by survey and status."""
        if status is not None and status not in set(S):
            raise BadParameter("status", f"one of {', '.join(S)}")
        if not 1 <= limit <= 1000:
            raise BadParameter("limit", "from 1 to 1000")
        if not 0 <= after <= MAX_ID:
            raise BadParameter("cursor", "not a cursor from a previous page")
        survey_ids = None
        if survey is not None:
            info = self.surveys.catalog.current(survey)
            if info is None or not key.sees(survey):
                raise NotFound("survey", survey)
            survey_ids = [info.survey_id]
        rows = await queries.select(
            self.db, survey_ids=survey_ids, status=status, after=after, limit=limit
        )
        return [self._out(r) for r in rows if key.sees(self._slug(r["survey_id"]))]

    def _slug(self, survey_id: int) -> str:
        info = self.surveys.catalog.by_id(survey_id)
        return info.slug if info else ""

    def link(self, row: dict[str, Any]) -> str:
        """The invitation's personal link: its own token (nonce, variant, channel email)."""
        claims = self.surveys.claims(
            row["survey_version_id"],
            nonce=row["token_nonce"].bytes,
            variant=row["variant"],
            channel="email",
            language=row["language"],
            metadata=msgspec.json.decode(row["metadata"]),
            expires_at=int(row["expires_at"].timestamp()),
        )
        return self.surveys.link(self._slug(row["survey_id"]), claims)

    def _out(self, row: dict[str, Any]) -> InvitationOut:
        status = S(row["status"])
        if status in _LIVE and row["expires_at"] < dt.datetime.now(dt.UTC):
            status = S.EXPIRED  # its link no longer opens a form
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
