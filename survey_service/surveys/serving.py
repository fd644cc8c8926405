"""Serving forms and accepting answers: the service behind the JSON API and the pages."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Mapping
from typing import Protocol
from urllib.parse import urlencode

import msgspec

from survey_service.db import Database
from survey_service.errors import AnswersRejected, FieldError, TokenError, TooBusy
from survey_service.experiments.assignment import AssignmentRecorder, NewAssignment, draw_variant
from survey_service.lib.ratelimit import Limits
from survey_service.lib.structs import Struct
from survey_service.lib.text import has_line_break, one_line
from survey_service.responses import queries as response_queries
from survey_service.responses.answers import validate_answers
from survey_service.responses.storage import ResponseWriter, StoredResponse, record_response
from survey_service.surveys.abuse import client_hash, submission_flags
from survey_service.surveys.catalog import Catalog, SurveyVersionInfo
from survey_service.surveys.definitions import (
    CHANNELS,
    Question,
    QuestionType,
    Role,
    SurveyDefinition,
    pick_language,
)
from survey_service.surveys.tokens import FormClaims, TokenSigner, new_nonce

__all__ = [
    "MAX_METADATA_VALUE",
    "FormEvents",
    "QuestionView",
    "ServedForm",
    "SurveyService",
    "SurveyView",
    "clean_metadata",
    "localize",
]

MAX_METADATA_VALUE = 100
"""Longest metadata value kept; longer ones are dropped, not truncated (a cut id lies)."""
MAX_VIEWS = 1024
"""Localized forms kept (versions x languages x variants); the cache is cleared when full."""


class FormEvents(Protocol):
    """Told when a form that was handed out earlier (an invitation's link) is opened or
    answered; the invitations domain listens, so serving needs to know nothing of it."""

    async def opened(self, survey_id: int, claims: FormClaims) -> None:
        """A carried token's form was opened again."""

    async def answered(self, survey_id: int, claims: FormClaims) -> None:
        """A token's first response was stored."""


class QuestionView(Struct):
    """A question in one language and variant, ready to render."""

    id: str
    type: QuestionType
    role: Role
    text: str
    required: bool
    min: int | None = None
    max: int | None = None
    max_length: int | None = None
    low_label: str | None = None
    high_label: str | None = None


class SurveyView(Struct):
    """A survey version in one language and variant."""

    slug: str
    version: int
    language: str
    languages: list[str]
    title: str
    intro: str | None
    thanks: str | None
    variant: str | None
    questions: list[QuestionView]


class ServedForm(Struct):
    """A form to show and the token its answers must come back with."""

    survey: SurveyView
    token: str
    expires_at: dt.datetime


def localize(
    definition: SurveyDefinition, version: int, language: str, variant: str | None
) -> SurveyView:
    """The survey's texts in ``language``, with ``variant``'s wording overrides applied."""
    overrides = {}
    if definition.experiment is not None and variant is not None:
        chosen = definition.experiment.variant(variant)
        overrides = chosen.overrides if chosen else {}

    def text(texts: Mapping[str, str] | None) -> str | None:
        return None if texts is None else texts[language]

    def view(q: Question) -> QuestionView:
        bounds = {QuestionType.NPS: (0, 10), QuestionType.RATING: (1, 5)}.get(q.type)
        return QuestionView(
            id=q.id,
            type=q.type,
            role=q.role,
            text=overrides.get(q.id, q.text)[language],
            required=q.required,
            min=bounds[0] if bounds else None,
            max=bounds[1] if bounds else None,
            max_length=q.limit if q.type is QuestionType.TEXT else None,
            low_label=text(q.low_label),
            high_label=text(q.high_label),
        )

    return SurveyView(
        slug=definition.slug,
        version=version,
        language=language,
        languages=list(definition.languages),
        title=definition.title[language],
        intro=text(definition.intro),
        thanks=text(definition.thanks),
        variant=variant,
        questions=[view(q) for q in definition.questions],
    )


def clean_metadata(allowed: list[str], params: Mapping[str, str]) -> dict[str, str]:
    """Allow-listed metadata from link parameters; unknown keys and bad values are dropped."""
    kept: dict[str, str] = {}
    for key in allowed:
        value = params.get(key)
        if value is None:
            continue
        if has_line_break(value):
            continue
        value = one_line(value)
        if value and len(value) <= MAX_METADATA_VALUE:
            kept[key] = value
    return kept


class SurveyService:
    """Serves forms (drawing and recording variants) and records answers."""

    def __init__(
        self,
        db: Database,
        catalog: Catalog,
        signer: TokenSigner,
        recorder: AssignmentRecorder,
        limits: Limits,
        *,
        token_ttl_seconds: int,
        base_url: str,
        client_secret: str,
        min_fill_seconds: float = 2.0,
        submit_limit_per_survey: int = 600,
    ) -> None:
        self.db = db
        self.catalog = catalog
        self.signer = signer
        self.recorder = recorder
        self.token_ttl_seconds = token_ttl_seconds
        self.base_url = base_url
        self._client_secret = client_secret
        self._min_fill_seconds = min_fill_seconds
        self.limits = limits
        self.writer = ResponseWriter(db)
        self._submit_limit = submit_limit_per_survey
        self.listeners: list[FormEvents] = []
        self._views: dict[tuple[int, str, str | None], SurveyView] = {}

    def survey(self, slug: str) -> SurveyVersionInfo:
        """The current version of a served survey; raise NotFound."""
        return self.catalog.get(slug)

    def claims(
        self,
        version_id: int,
        *,
        nonce: bytes,
        variant: str | None,
        channel: str,
        language: str,
        metadata: dict[str, str],
        expires_at: int | None = None,
    ) -> FormClaims:
        """The claims of a form served now (the one place they are built); expiring after
        the token lifetime unless ``expires_at`` says otherwise."""
        now = int(time.time())
        return FormClaims(
            survey_version_id=version_id,
            nonce=nonce,
            variant=variant,
            channel=channel,
            language=language,
            metadata=metadata,
            issued_at=now,
            expires_at=expires_at if expires_at is not None else now + self.token_ttl_seconds,
        )

    def link(self, slug: str, claims: FormClaims) -> str:
        """The personal form link carrying these claims (``/s/<slug>?t=<token>``)."""
        return f"{self.base_url}/s/{slug}?{urlencode({'t': self.signer.sign(claims)})}"

    async def open_form(
        self,
        slug: str,
        *,
        params: Mapping[str, str],
        accept_language: str | None,
        default_channel: str,
        carried: str | None = None,
        sticky: str | None = None,
        single_use_nonce: bytes | None = None,
    ) -> ServedForm:
        """Serve a form: choose language, draw the variant, sign the claims, record it.

        ``carried`` is a token the link brings (``t=``: an invitation, an assignment made
        through the API): its assignment (nonce, variant, channel, metadata, version) is
        kept and only the language and issue time are renewed. Raises AnswersRejected
        when it is expired or forged. ``sticky`` is the token this browser was given for
        this survey before (the page's cookie): it is reused the same way when it is
        still valid and the link's channel and metadata are the same, so a reload never
        flips the wording or counts twice; otherwise it is ignored. ``single_use_nonce`` (a
        kiosk code) fixes the nonce, so every form opened from that code shares one answer.
        """
        info = self.survey(slug)
        if carried:
            return await self._renew(slug, carried, params.get("lang"))
        definition = info.definition
        channel = params.get("channel", default_channel)
        claims = self.claims(
            info.version_id,
            nonce=new_nonce() if single_use_nonce is None else single_use_nonce,
            variant=draw_variant(definition.experiment) if definition.experiment else None,
            channel=channel if channel in CHANNELS else default_channel,
            language=pick_language(definition, params.get("lang"), accept_language),
            metadata=clean_metadata(definition.metadata_keys, params),
        )
        if single_use_nonce is not None:
            claims = msgspec.structs.replace(claims, single_use=True)
        elif sticky:
            try:
                _, previous = await self.read_token(slug, sticky)
            except AnswersRejected:
                previous = None
            same_link = previous is not None and (previous.channel, previous.metadata) == (
                claims.channel,
                claims.metadata,
            )
            if same_link:
                return await self._renew(slug, sticky, params.get("lang"))
        await self.recorder.add(NewAssignment.from_claims(info.survey_id, claims))
        return self._served(info, claims)

    async def _renew(self, slug: str, token: str, lang: str | None) -> ServedForm:
        version, previous = await self.read_token(slug, token)
        for listener in self.listeners:
            await listener.opened(version.survey_id, previous)
        language = pick_language(version.definition, lang or previous.language, None)
        claims = msgspec.structs.replace(previous, language=language, issued_at=int(time.time()))
        return self._served(version, claims)

    def _served(self, version: SurveyVersionInfo, claims: FormClaims) -> ServedForm:
        return ServedForm(
            survey=self.view(version, claims),
            token=self.signer.sign(claims),
            expires_at=dt.datetime.fromtimestamp(claims.expires_at, dt.UTC),
        )

    def view(self, version: SurveyVersionInfo, claims: FormClaims) -> SurveyView:
        """The form exactly as the token's holder saw it: localized once per version,
        language and variant (versions are immutable; views are never modified)."""
        key = (version.version_id, claims.language, claims.variant)
        view = self._views.get(key)
        if view is None:
            view = localize(version.definition, version.version, claims.language, claims.variant)
            if len(self._views) >= MAX_VIEWS:
                self._views.clear()
            self._views[key] = view
        return view

    async def read_token(self, slug: str, token: str) -> tuple[SurveyVersionInfo, FormClaims]:
        """Verify a token and the version it names; raise AnswersRejected."""
        try:
            claims = self.signer.verify(token)
        except TokenError as exc:
            error = FieldError(key="token", message=str(exc), code="token")
            raise AnswersRejected([error], reason=exc.reason) from None
        version = await self.catalog.version(claims.survey_version_id)
        if version is None or version.slug != slug:
            error = FieldError(key="token", message="token belongs to another survey", code="token")
            raise AnswersRejected([error], reason="mismatch")
        return version, claims

    async def has_response(self, survey_id: int, nonce: bytes) -> bool:
        """Whether the token nonce already has its response (a used kiosk code)."""
        return await response_queries.answered(self.db, survey_id, uuid.UUID(bytes=nonce))

    def flags(self, claims: FormClaims, honeypot: str | None = None) -> list[str]:
        """Why a submission with these claims looks automated (``too_fast``, ``honeypot``),
        or comes through a plain QR code (``low_trust``); see :mod:`.abuse`."""
        return submission_flags(
            honeypot=honeypot,
            issued_at=claims.issued_at,
            now=time.time(),
            min_fill_seconds=self._min_fill_seconds,
            plain_qr=claims.channel == "qr" and not claims.single_use,
        )

    async def submit(
        self,
        slug: str,
        token: str,
        answers: Mapping[str, object],
        *,
        client_address: str | None = None,
    ) -> tuple[StoredResponse, bool]:
        """Verify the token, then :meth:`store` the answers with the same abuse controls
        as the form pages (flags, the survey's limit, the hashed client address)."""
        self.survey(slug)
        version, claims = await self.read_token(slug, token)
        return await self.store(
            version, claims, answers, flags=self.flags(claims), client_address=client_address
        )

    async def store(
        self,
        version: SurveyVersionInfo,
        claims: FormClaims,
        answers: Mapping[str, object],
        *,
        flags: list[str] | None = None,
        client_address: str | None = None,
    ) -> tuple[StoredResponse, bool]:
        """Validate answers against the token's version and store them once.

        Raises AnswersRejected naming each bad answer (before any side effect), TooBusy
        over the survey's limit (it counts only genuine tokens with valid answers). The
        client address, when given, is kept only as a keyed hash with a daily salt (see
        :mod:`survey_service.surveys.abuse`).
        """
        clean, errors = validate_answers(version.definition, answers)
        if errors:  # before any side effect: the fast lane hands such answers on
            raise AnswersRejected(errors)
        wait = await self.limits.hit("survey", version.slug, self._submit_limit)
        if wait is not None:
            raise TooBusy("too many answers to this survey right now", retry_after=wait)
        hashed = None
        if client_address is not None:
            hashed = client_hash(
                self._client_secret, client_address, dt.datetime.now(dt.UTC).date()
            )
        served = self.recorder.take(version.survey_id, claims.nonce)  # written with the answer
        try:
            stored, created = await record_response(
                self.writer, version, claims, clean, flags=flags, client_hash=hashed
            )
        except BaseException:
            if served is not None:  # still to be counted as served
                self.recorder.record(served)
            raise
        if created:
            for listener in self.listeners:
                await listener.answered(version.survey_id, claims)
        return stored, created
