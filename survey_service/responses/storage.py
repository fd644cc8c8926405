"""Storing responses once, with their comment's sentiment; rescoring stored comments."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections.abc import Callable

import msgspec

from survey_service.db import Database
from survey_service.lib.structs import Struct
from survey_service.responses import queries
from survey_service.responses.answers import AnswerValue, role_columns
from survey_service.responses.sentiment import (
    ANALYSER_VERSION,
    Sentiment,
    analyse,
    score_text_mismatch,
)
from survey_service.surveys.catalog import SurveyVersionInfo
from survey_service.surveys.definitions import Role
from survey_service.surveys.tokens import FormClaims

__all__ = ["StoredResponse", "record_response", "rescore_comments", "score_comment"]


class StoredResponse(Struct):
    """A stored response's identity, the same for the first submission and any replay."""

    id: int
    survey: str
    variant: str | None
    created_at: dt.datetime


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


async def record_response(
    db: Database,
    version: SurveyVersionInfo,
    claims: FormClaims,
    answers: dict[str, AnswerValue],
    *,
    flags: list[str] | None = None,
    client_hash: str | None = None,
) -> tuple[StoredResponse, bool]:
    """Store the response unless this token already has one; return it and whether it is new.

    Concurrency-safe without a read-then-write: the (survey_id, token_nonce) unique key
    makes every racing insert but one do nothing, and those then read the winner. The
    token's assignment is written in the same statement when it is missing, so a response
    never exists without the assignment that served it.
    """
    nonce = uuid.UUID(bytes=claims.nonce)
    columns = role_columns(version.definition, answers)
    comment = columns[Role.COMMENT.value]
    sentiment = await score_comment(comment if isinstance(comment, str) else None, claims.language)
    nps, csat = columns[Role.NPS.value], columns[Role.CSAT.value]
    values = (
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
    inserted = await queries.insert_response(db, values, claims.issued_at)
    created = inserted is not None
    response_id, variant, created_at = inserted or await queries.existing(
        db, version.survey_id, nonce
    )
    stored = StoredResponse(
        id=response_id, survey=version.slug, variant=variant, created_at=created_at
    )
    return stored, created


async def rescore_comments(
    db: Database, batch_size: int = 500, progress: Callable[[int, int], None] | None = None
) -> int:
    """Re-analyse stored comments not scored by the current analyser; return how many.

    Resumable: each batch is committed, and a rerun only picks rows whose
    ``sentiment_version`` is still another one. ``progress(done, total)`` after each batch.
    """
    done, after = 0, 0
    total = await queries.count_pending(db, ANALYSER_VERSION)
    while True:
        rows = await queries.pending_comments(db, ANALYSER_VERSION, after, batch_size)
        if not rows:
            return done
        updates = []
        for row_id, comment, language, nps, csat in rows:
            result = await asyncio.to_thread(analyse, comment, language)
            mismatch = score_text_mismatch(result.polarity, nps=nps, csat=csat)
            updates.append(
                (
                    row_id,
                    result.polarity,
                    result.sentiment_class,
                    result.cues,
                    result.analyser,
                    mismatch,
                )
            )
        await queries.rescore(db, updates)
        done += len(rows)
        after = rows[-1][0]
        if progress:
            progress(done, total)
