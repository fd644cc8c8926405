"""Serving forms and accepting answers: the service behind the JSON API and the pages."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Mapping

from survey_service.assignment import AssignmentRecorder, NewAssignment, draw_variant
from survey_service.base import Struct
from survey_service.definitions import (
    CHANNELS,
    Question,
    QuestionType,
    Role,
    SurveyDefinition,
    pick_language,
)
from survey_service.responses import (
    FieldError,
    StoredResponse,
    clean_text,
    record_response,
    validate_answers,
)
from survey_service.surveys import Catalog, SurveyVersionInfo
from survey_service.tokens import FormClaims, TokenError, TokenSigner, new_nonce

__all__ = [
    "MAX_METADATA_VALUE",
    "AnswersRejected",
    "QuestionView",
    "ServedForm",
    "SurveyNotFound",
    "SurveyService",
    "SurveyView",
    "clean_metadata",
    "localize",
]

MAX_METADATA_VALUE = 100
"""Longest metadata value kept; longer ones are dropped, not truncated (a cut id lies)."""


class SurveyNotFound(Exception):
    """No served survey has this slug."""


class AnswersRejected(Exception):
    """Answers or token failed validation; ``errors`` names each field."""

    def __init__(self, errors: list[FieldError], *, reason: str = "invalid") -> None:
        super().__init__("; ".join(f"{e.key}: {e.message}" for e in errors))
        self.errors = errors
        self.reason = reason  # invalid | malformed | signature | expired | mismatch


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
        value = clean_text(value)
        if value and len(value) <= MAX_METADATA_VALUE and "\n" not in value:
            kept[key] = value
    return kept


class SurveyService:
    """Serves forms (drawing and recording variants) and records answers."""

    def __init__(
        self,
        catalog: Catalog,
        signer: TokenSigner,
        recorder: AssignmentRecorder,
        token_ttl_seconds: int,
    ) -> None:
        self.catalog = catalog
        self.signer = signer
        self.recorder = recorder
        self.token_ttl_seconds = token_ttl_seconds

    def survey(self, slug: str) -> SurveyVersionInfo:
        """The current version of a served survey; raise SurveyNotFound."""
        info = self.catalog.current(slug)
        if info is None:
            raise SurveyNotFound(slug)
        return info

    def open_form(
        self,
        slug: str,
        *,
        params: Mapping[str, str],
        accept_language: str | None,
        default_channel: str,
    ) -> ServedForm:
        """Serve a form: choose language, draw the variant, sign the claims, record it."""
        info = self.survey(slug)
        definition = info.definition
        language = pick_language(definition, params.get("lang"), accept_language)
        channel = params.get("channel", default_channel)
        if channel not in CHANNELS:
            channel = default_channel
        variant = draw_variant(definition.experiment) if definition.experiment else None
        now = int(time.time())
        claims = FormClaims(
            survey_version_id=info.version_id,
            nonce=new_nonce(),
            variant=variant,
            channel=channel,
            language=language,
            metadata=clean_metadata(definition.metadata_keys, params),
            issued_at=now,
            expires_at=now + self.token_ttl_seconds,
        )
        self.recorder.record(
            NewAssignment(
                survey_id=info.survey_id,
                survey_version_id=info.version_id,
                nonce=claims.nonce,
                variant=variant,
                channel=channel,
                language=language,
                metadata=claims.metadata,
            )
        )
        return ServedForm(
            survey=localize(definition, info.version, language, variant),
            token=self.signer.sign(claims),
            expires_at=dt.datetime.fromtimestamp(claims.expires_at, dt.UTC),
        )

    async def read_token(self, slug: str, token: str) -> tuple[SurveyVersionInfo, FormClaims]:
        """Verify a token and the version it names; raise AnswersRejected."""
        try:
            claims = self.signer.verify(token)
        except TokenError as exc:
            raise AnswersRejected(
                [FieldError(key="token", message=str(exc))], reason=exc.reason
            ) from None
        version = await self.catalog.version(claims.survey_version_id)
        if version is None or version.slug != slug:
            raise AnswersRejected(
                [FieldError(key="token", message="token belongs to another survey")],
                reason="mismatch",
            )
        return version, claims

    async def submit(
        self, slug: str, token: str, answers: Mapping[str, object]
    ) -> tuple[StoredResponse, bool]:
        """Validate answers against the token's version; store them once (record_response)."""
        if self.catalog.current(slug) is None:
            raise SurveyNotFound(slug)
        version, claims = await self.read_token(slug, token)
        clean, errors = validate_answers(version.definition, answers)
        if errors:
            raise AnswersRejected(errors)
        return await record_response(version, claims, clean)
