"""Privacy: erasing a person (by email address), a response or an invitation; exporting one
person's data; removing what is kept past a survey's retention.

Erasure deletes the responses (and takes them out of every rollup in the same statement,
so KPIs stay exactly equal to a rebuild), deletes the invitations (address, name, personal
link), keeps only the staff-and-place dimensions (touchpoint, agent, location) of the
served forms' metadata, and keeps a suppressed address suppressed as a keyed hash rather
than in clear. Each erasure leaves an audit row: what kind, a keyed hash of the subject,
counts and who asked; never the personal data itself.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

import msgspec

from survey_service.db import Database
from survey_service.errors import BadParameter, NotFound
from survey_service.invitations.batch import is_address
from survey_service.invitations.service import suppression_marker
from survey_service.lib.keys import derive_key, mac
from survey_service.lib.references import MAX_REFERENCE, CustomerKeys
from survey_service.lib.structs import Struct
from survey_service.lib.text import one_line
from survey_service.privacy import queries
from survey_service.reporting.columns import DIMENSIONS
from survey_service.surveys.catalog import Catalog
from survey_service.surveys.definitions import QuestionType

__all__ = ["ErasureReport", "PersonExport", "PrivacyService", "RetentionReport"]

DIMENSION_KEYS = tuple(d.name for d in DIMENSIONS if d.expression.startswith("metadata->>"))
"""Metadata kept by erasure and retention: where and by whom, never who the customer was."""
RETENTION_BATCH = 1000

ErasureKind = Literal["email", "response", "invitation", "customer"]


class ErasureReport(Struct):
    """What one erasure removed (its audit row has the same counts)."""

    erasure_id: int
    kind: ErasureKind
    responses: int
    invitations: int
    interactions: int = 0
    outcomes: int = 0


class PersonExport(Struct):
    """Everything stored about one email address (GDPR access and portability)."""

    email: str
    suppressed: bool
    invitations: list[dict[str, Any]]
    responses: list[dict[str, Any]]


class RetentionReport(Struct):
    """What one retention pass redacted."""

    responses: int
    invitations: int
    interactions: int = 0
    outcomes: int = 0
    served_forms: int = 0
    """Served forms (answered or not) whose customer metadata went."""


class PrivacyService:
    """Erasure, access and retention."""

    def __init__(self, db: Database, catalog: Catalog, secret: str) -> None:
        self.db = db
        self.catalog = catalog
        self._audit_key = derive_key(secret, "erasure-audit")
        self._secret = secret
        self._customer_keys = CustomerKeys(secret)

    def _subject_hash(self, kind: str, subject: str) -> str:
        return mac(self._audit_key, f"{kind}:{subject}")[:32].hex()

    async def erase(
        self,
        *,
        email: str | None = None,
        response_id: int | None = None,
        invitation_id: int | None = None,
        customer: str | None = None,
        requested_by: str,
    ) -> ErasureReport:
        """Erase exactly one of: a person by email address, a response, an invitation, or
        a customer reference (their responses and invitations, staff-log interactions and
        outcome events, wherever the reference names them)."""
        given = [v is not None for v in (email, response_id, invitation_id, customer)]
        if sum(given) != 1:
            message = "exactly one of email, response_id, invitation_id, customer"
            raise BadParameter("subject", message)
        logged = (0, 0)
        async with self.db.transaction() as tx:
            zone = await queries.lock_rollups(tx)
            if customer is not None:
                kind: ErasureKind = "customer"
                subject = one_line(customer)
                if not subject or len(subject) > MAX_REFERENCE:
                    raise BadParameter("customer", f"1 to {MAX_REFERENCE} characters")
                invitations = await queries.invitations_of(tx, customer=subject)
                forms = await queries.customer_forms(tx, subject)
                forms += [(s, n) for _, s, n in invitations if (s, n) not in forms]
                responses = await queries.erase_responses(tx, zone, nonces=forms)
                marker = "erased:" + self._subject_hash(kind, subject)
                logged = await queries.erase_customer_records(
                    tx, subject, self._customer_keys(subject), marker
                )
            elif email is not None:
                address = email.strip().lower()
                if not is_address(address):
                    raise BadParameter("email", "not an email address")
                kind = "email"
                subject = address
                invitations = await queries.invitations_of(tx, email=address)
                await queries.hash_suppression(
                    tx, address, suppression_marker(self._secret, address)
                )
                forms = [(survey_id, nonce) for _, survey_id, nonce in invitations]
                responses = await queries.erase_responses(tx, zone, nonces=forms)
            elif invitation_id is not None:
                kind, subject = "invitation", str(invitation_id)
                invitations = await queries.invitations_of(tx, invitation_id=invitation_id)
                if not invitations:
                    raise NotFound("invitation", invitation_id)
                forms = [(survey_id, nonce) for _, survey_id, nonce in invitations]
                responses = await queries.erase_responses(tx, zone, nonces=forms)
            else:
                assert response_id is not None
                kind, subject = "response", str(response_id)
                form = await queries.response_form(tx, response_id)
                if form is None:
                    raise NotFound("response", response_id)
                invitations, forms = [], [form]
                responses = await queries.erase_responses(tx, zone, response_id=response_id)
            await queries.scrub_assignments(tx, forms, DIMENSION_KEYS)
            await queries.remove_invitations(tx, [i for i, _, _ in invitations])
            erasure_id = await queries.record_erasure(
                tx,
                kind,
                self._subject_hash(kind, subject),
                (responses, len(invitations), *logged),
                requested_by,
            )
        return ErasureReport(
            erasure_id=erasure_id,
            kind=kind,
            responses=responses,
            invitations=len(invitations),
            interactions=logged[0],
            outcomes=logged[1],
        )

    async def export(self, email: str) -> PersonExport:
        """Every invitation to the address and every response to them."""
        address = email.strip().lower()
        if not is_address(address):
            raise BadParameter("email", "not an email address")
        async with self.db.transaction() as tx:
            invitations, responses = await queries.person(tx, address)
            marker = suppression_marker(self._secret, address)
            suppressed = await queries.is_suppressed(tx, [address, marker])
        for row in invitations + responses:
            for key in ("metadata", "answers"):
                if key in row:
                    row[key] = msgspec.json.decode(row[key])
            if "sentiment_cues" in row:
                row["sentiment_cues"] = list(row["sentiment_cues"])
        return PersonExport(
            email=address, suppressed=bool(suppressed), invitations=invitations, responses=responses
        )

    async def apply_retention(
        self, default_days: int | None, now: dt.datetime | None = None
    ) -> RetentionReport:
        """Redact what is older than each survey's ``retention_days`` (or the default): free
        text, customer metadata (of answers and of every served form), client hashes,
        invitation addresses and personal links; and
        past the default, staff-log notes and plain customer references on interactions and
        outcome events (their keyed customer key stays, so the value report still links),
        and the notes on follow-up cases."""
        moment = now or dt.datetime.now(dt.UTC)
        responses = invitations = served = 0
        for info in self.catalog.served():
            days = info.definition.retention_days or default_days
            if days is None:
                continue
            before = moment - dt.timedelta(days=days)
            texts = [q.id for q in info.definition.questions if q.type is QuestionType.TEXT]
            while True:
                done = await queries.redact_responses(
                    self.db, info.survey_id, before, texts, DIMENSION_KEYS, RETENTION_BATCH
                )
                responses += done
                if done < RETENTION_BATCH:
                    break
            while True:
                done = await queries.redact_invitations(
                    self.db, info.survey_id, before, DIMENSION_KEYS, RETENTION_BATCH
                )
                invitations += done
                if done < RETENTION_BATCH:
                    break
            served += await self._redact_served_forms(info.survey_id, before)
        logged = (0, 0)
        if default_days is not None:
            before = moment - dt.timedelta(days=default_days)
            logged = await queries.redact_customer_records(self.db, before)
        return RetentionReport(
            responses=responses,
            invitations=invitations,
            interactions=logged[0],
            outcomes=logged[1],
            served_forms=served,
        )

    async def _redact_served_forms(self, survey_id: int, before: dt.datetime) -> int:
        """Served forms created before ``before`` keep only their dimension keys. A form
        never answered has no response to be redacted with, yet its link may have carried
        a customer reference. Each pass starts where the last one stopped (kept in
        ``rollup_state``), so old forms are not read again every time. That is sound for
        what the service writes: the recorder's forms are dated when written, and a form
        written later with its serving time is an answered one, redacted with its
        response."""
        reached = await queries.retention_reached(self.db, survey_id)
        if reached is not None and reached >= before:
            return 0
        position = (reached or dt.datetime.min.replace(tzinfo=dt.UTC), 0)
        redacted = 0
        while True:
            done, last = await queries.redact_served_forms(
                self.db, survey_id, position, before, DIMENSION_KEYS, RETENTION_BATCH
            )
            redacted += done
            if last is None:
                break
            position = last
        await queries.set_retention_reached(self.db, survey_id, before)
        return redacted
