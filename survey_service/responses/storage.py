"""Responses: checking answers against a version's questions, and storing them once."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import cast

import msgspec
from piccolo.engine.postgres import PostgresEngine

from survey_service.lib.structs import Struct
from survey_service.db.tables import Response
from survey_service.surveys.definitions import QuestionType, Role, SurveyDefinition
from survey_service.responses.sentiment import ANALYSER_VERSION, Sentiment, analyse, score_text_mismatch
from survey_service.surveys.catalog import SurveyVersionInfo
from survey_service.surveys.tokens import FormClaims

__all__ = [
    "AnswerValue",
    "FieldError",
    "StoredResponse",
    "clean_text",
    "coerce_form_fields",
    "mark_invitation",
    "record_response",
    "rescore_comments",
    "role_columns",
    "score_comment",
    "validate_answers",
]

AnswerValue = int | bool | str
"""An answer as stored: int for nps and rating, bool for yes_no, str for text."""

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class FieldError(Struct):
    """One rejected input, named the way the client sent it.

    ``code`` is stable for clients and page translations: required, range, type,
    too_long, unknown, token.
    """

    key: str
    message: str
    code: str = "invalid"


class StoredResponse(Struct):
    """A stored response's identity, the same for the first submission and any replay."""

    id: int
    survey: str
    variant: str | None
    created_at: dt.datetime


def clean_text(value: str) -> str:
    """Normalised free text: control characters removed, line ends unified, trimmed."""
    return _CONTROL.sub("", value.replace("\r\n", "\n").replace("\r", "\n")).strip()


def validate_answers(
    definition: SurveyDefinition, answers: Mapping[str, object], prefix: str = "answers."
) -> tuple[dict[str, AnswerValue], list[FieldError]]:
    """Check every answer against its question; return the clean answers or the errors."""
    clean: dict[str, AnswerValue] = {}
    errors: list[FieldError] = []
    for key in answers:
        if definition.question(key) is None:
            message = "no such question in this survey"
            errors.append(FieldError(key=prefix + key, message=message, code="unknown"))
    for q in definition.questions:
        value = answers.get(q.id)
        if isinstance(value, str) and q.type is QuestionType.TEXT:
            value = clean_text(value) or None
        if value is None:
            if q.required:
                errors.append(
                    FieldError(key=prefix + q.id, message="an answer is required", code="required")
                )
            continue
        problem = _check(q.type, value, q.limit)
        if problem:
            code, message = problem
            errors.append(FieldError(key=prefix + q.id, message=message, code=code))
        else:
            clean[q.id] = value  # type: ignore[assignment]  # checked by _check
    return clean, errors


def _check(kind: QuestionType, value: object, limit: int) -> tuple[str, str] | None:
    if kind is QuestionType.NPS or kind is QuestionType.RATING:
        low, high = (0, 10) if kind is QuestionType.NPS else (1, 5)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            return "range", f"must be a whole number from {low} to {high}"
    elif kind is QuestionType.YES_NO:
        if not isinstance(value, bool):
            return "type", "must be true or false"
    elif not isinstance(value, str):
        return "type", "must be text"
    elif len(value) > limit:
        return "too_long", f"must be at most {limit} characters"
    return None


def coerce_form_fields(
    definition: SurveyDefinition, fields: Mapping[str, str]
) -> dict[str, object]:
    """Typed answers from an HTML form post (all strings); blank fields are unanswered.

    Values that do not convert stay strings, so :func:`validate_answers` names the problem.
    Fields that are not questions (token, CSRF, honeypot) are ignored here.
    """
    answers: dict[str, object] = {}
    for q in definition.questions:
        raw = fields.get(q.id)
        if raw is None or not raw.strip():
            continue
        if q.type in (QuestionType.NPS, QuestionType.RATING):
            answers[q.id] = int(raw) if raw.strip().isdecimal() and len(raw) < 4 else raw
        elif q.type is QuestionType.YES_NO:
            answers[q.id] = {"yes": True, "no": False}.get(raw, raw)
        else:
            answers[q.id] = raw
    return answers


def role_columns(
    definition: SurveyDefinition, answers: Mapping[str, AnswerValue]
) -> dict[str, AnswerValue | None]:
    """The typed response columns (named after roles) filled from the answers."""
    columns: dict[str, AnswerValue | None] = {role.value: None for role in Role}
    for q in definition.questions:
        columns[q.role.value] = answers.get(q.id)
    return columns


THREAD_ABOVE_CHARS = 400
"""Comments longer than this are analysed in a worker thread (about 1 ms of CPU at 400
characters, 3.6 ms at 2,000: benchmarks/bench_sentiment.py), shorter ones inline."""


async def score_comment(comment: str | None, language: str) -> Sentiment:
    """:func:`~survey_service.sentiment.analyse` without holding the event loop for long."""
    if not comment:
        return analyse("", language)
    if len(comment) > THREAD_ABOVE_CHARS:
        return await asyncio.to_thread(analyse, comment, language)
    return analyse(comment, language)


# Raw SQL on the hottest write: Piccolo's insert builder cost more than the insert itself
# (benchmarks/bench_responses.py), and created_at comes from the database clock.
_INSERT = f"""
INSERT INTO response (survey_id, survey_version_id, token_nonce, variant, channel, language,
    metadata, answers, flags, client_hash, sentiment_polarity, sentiment_class,
    sentiment_cues, sentiment_version, score_text_mismatch,
    {", ".join(role.value for role in Role)})
VALUES ({", ".join("{}" for _ in range(15 + len(Role)))})
ON CONFLICT (survey_id, token_nonce) DO NOTHING
RETURNING id, variant, created_at
"""  # noqa: S608 (the interpolated column names are constants)
_EXISTING = "SELECT id, variant, created_at FROM response WHERE survey_id = {} AND token_nonce = {}"


async def record_response(
    version: SurveyVersionInfo,
    claims: FormClaims,
    answers: dict[str, AnswerValue],
    *,
    flags: list[str] | None = None,
    client_hash: str | None = None,
) -> tuple[StoredResponse, bool]:
    """Store the response unless this token already has one; return it and whether it is new.

    Concurrency-safe without a read-then-write: the (survey_id, token_nonce) unique key
    makes every racing insert but one do nothing, and those then read the winner.
    """
    nonce = uuid.UUID(bytes=claims.nonce)
    columns = role_columns(version.definition, answers)
    comment = columns[Role.COMMENT.value]
    sentiment = await score_comment(comment if isinstance(comment, str) else None, claims.language)
    nps, csat = columns[Role.NPS.value], columns[Role.CSAT.value]
    inserted = await Response.raw(
        _INSERT,
        version.survey_id,
        version.version_id,
        nonce,
        claims.variant,
        claims.channel,
        claims.language,
        msgspec.json.encode(claims.metadata).decode(),
        msgspec.json.encode(answers).decode(),
        flags or [],
        client_hash,
        sentiment.polarity,
        sentiment.sentiment_class,
        sentiment.cues,
        sentiment.analyser,
        score_text_mismatch(
            sentiment.polarity,
            nps=nps if isinstance(nps, int) else None,
            csat=csat if isinstance(csat, int) else None,
        ),
        *(columns[role.value] for role in Role),
    )
    created = bool(inserted)
    if not created:
        inserted = await Response.raw(_EXISTING, version.survey_id, nonce)
    first = inserted[0]
    stored = StoredResponse(
        id=first["id"],
        survey=version.slug,
        variant=first["variant"],
        created_at=first["created_at"],
    )
    return stored, created


async def mark_invitation(survey_id: int, nonce: bytes, status: str, after: Sequence[str]) -> None:
    """Move the invitation behind a token nonce to ``status`` if it is in one of ``after``
    (opened-form after sent; responded after anything but itself)."""
    await Response.raw(
        "UPDATE invitation SET status = {} WHERE survey_id = {} AND token_nonce = {}"
        " AND status = ANY({})",
        status,
        survey_id,
        uuid.UUID(bytes=nonce),
        list(after),
    )


async def rescore_comments(
    batch_size: int = 500, progress: Callable[[int, int], None] | None = None
) -> int:
    """Re-analyse stored comments not scored by the current analyser; return how many.

    Resumable: each batch is committed, and a rerun only picks rows whose
    ``sentiment_version`` is still another one. ``progress(done, total)`` after each batch.
    """
    counted = await Response.raw(_PENDING_COUNT, ANALYSER_VERSION)
    total: int = counted[0]["n"]
    done, after = 0, 0
    while True:
        rows = await Response.raw(_PENDING_BATCH, ANALYSER_VERSION, after, batch_size)
        if not rows:
            return done
        updates = []
        for row in rows:
            result = await asyncio.to_thread(analyse, row["comment"], row["language"])
            mismatch = score_text_mismatch(result.polarity, nps=row["nps"], csat=row["csat"])
            updates.append(
                (
                    row["id"],
                    result.polarity,
                    result.sentiment_class,
                    result.cues,
                    result.analyser,
                    mismatch,
                )
            )
        engine = cast(PostgresEngine, Response._meta.db)
        assert engine.pool is not None, "rescoring needs the connection pool"
        async with engine.pool.acquire() as connection:
            await connection.executemany(_RESCORE, updates)
        done += len(rows)
        after = rows[-1]["id"]
        if progress:
            progress(done, total)


# Rows scored by another analyser version (or never): the rescore's resumable work list.
_PENDING_COUNT = (
    "SELECT count(*) AS n FROM response"
    " WHERE comment IS NOT NULL AND sentiment_version IS DISTINCT FROM {}"
)
_PENDING_BATCH = (
    "SELECT id, comment, language, nps, csat FROM response"
    " WHERE comment IS NOT NULL AND sentiment_version IS DISTINCT FROM {}"
    " AND id > {} ORDER BY id LIMIT {}"
)
_RESCORE = """
UPDATE response SET sentiment_polarity = $2, sentiment_class = $3, sentiment_cues = $4,
    sentiment_version = $5, score_text_mismatch = $6
WHERE id = $1
"""
