"""Storing responses once, with their comment's sentiment; rescoring stored comments."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable, Sequence
from typing import Any

from survey_service.db import Database
from survey_service.errors import database_unavailable
from survey_service.lib.grouping import GroupCommit, Pending
from survey_service.lib.structs import Struct
from survey_service.responses import queries
from survey_service.responses.answers import ROLE_COLUMNS, AnswerValue, role_columns
from survey_service.responses.queries import Inserted, Key
from survey_service.responses.sentiment import (
    ANALYSER_VERSION,
    Sentiment,
    analyse,
    score_text_mismatch,
)
from survey_service.surveys.catalog import SurveyVersionInfo
from survey_service.surveys.definitions import Role
from survey_service.surveys.tokens import FormClaims

__all__ = [
    "ResponseWriter",
    "StoredResponse",
    "record_response",
    "rescore_comments",
    "score_comment",
]

log = logging.getLogger(__name__)

_Pending = Pending[Sequence[Any], tuple[Inserted, bool]]
_NO_SENTIMENT = Sentiment(polarity=None, sentiment_class=None, cues=[])


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
        return _NO_SENTIMENT
    if len(comment) > THREAD_ABOVE_CHARS:
        return await asyncio.to_thread(analyse, comment, language)
    return analyse(comment, language)


class ResponseWriter:
    """Group commit: responses that arrive while a write is under way go into the next
    one, so many answers cost one statement and one commit instead of one each.

    No timer: a lone answer is written at once; only answers that would have waited
    anyway are gathered (at most ``max_batch``, ``max_writes`` statements at a time).
    One statement at a time by default: the batches grow (6.5 answers a statement with
    two at a time at 32 connections) and a statement's fixed cost (about 130 µs of
    PostgreSQL; the largest part is the version key's check, which locks the survey
    version's row: 0.10 ms of a one-answer statement's 0.30) is shared by more of them.
    Measured with ``benchmarks/bench_http.py``'s token-held ingestion scenario (8 s runs),
    six alternating pairs of runs: one at a time was faster in five (3,458 against 2,905
    answers/s, 3,144 / 2,898, 3,015 / 2,734 in the last three) and 2% slower in one, with
    about a fifth less PostgreSQL CPU per answer.
    Each caller hears back only when the statement that holds its row has committed.
    One row per token stays exact: the statement inserts with ON CONFLICT DO NOTHING on
    (survey_id, token_nonce), so a token twice in a batch, or already stored, is inserted
    once, and only its first caller is told it created the row.
    """

    def __init__(self, db: Database, *, max_batch: int = 256, max_writes: int = 1) -> None:
        self.db = db
        self.statements = 0
        """How many statements stored answers so far (each holds one or more)."""
        self._group: GroupCommit[Sequence[Any], tuple[Inserted, bool]] = GroupCommit(
            self._write_batch, max_batch=max_batch, max_running=max_writes
        )

    async def write(self, values: Sequence[Any]) -> tuple[Inserted, bool]:
        """Store one response (values as :func:`queries.insert_responses` takes a row)
        unless its token has one; the stored row and whether this call created it."""
        return await self._group.submit(values)

    async def _write_batch(self, batch: list[_Pending]) -> None:
        try:
            await self._write(batch)
        except Exception as exc:
            if len(batch) == 1 or database_unavailable(exc):
                raise  # the group fails the batch's callers
            # One bad row must not fail the others: write them one by one.
            log.warning("a batch of %d answers failed (%s); retrying singly", len(batch), exc)
            for item in batch:
                try:
                    await self._write([item])
                except Exception as single:
                    if not item[1].done():
                        item[1].set_exception(single)

    async def _write(self, batch: list[_Pending]) -> None:
        self.statements += 1
        inserted = await queries.insert_responses(self.db, [values for values, _ in batch])
        keys = [(values[0], values[2]) for values, _ in batch]
        found = {}
        if missing := [key for key in keys if key not in inserted]:
            found = await queries.existing_many(self.db, missing)
        created: set[Key] = set()
        for key, (_, future) in zip(keys, batch, strict=True):
            if future.done():  # the caller went away; its row is stored all the same
                continue
            if key in inserted and key not in created:
                created.add(key)
                future.set_result((inserted[key], True))
            else:
                future.set_result((inserted.get(key) or found[key], False))


async def record_response(
    writer: ResponseWriter,
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
    columns = role_columns(version.definition, answers)
    comment = columns[Role.COMMENT.value]
    sentiment = await score_comment(comment if isinstance(comment, str) else None, claims.language)
    nps, csat = columns[Role.NPS.value], columns[Role.CSAT.value]
    values = (
        version.survey_id,
        version.version_id,
        claims.nonce.hex(),
        claims.variant,
        claims.channel,
        claims.language,
        claims.metadata,
        answers,
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
        *[columns[role] for role in ROLE_COLUMNS],
        claims.issued_at,  # when the form was served: its assignment's time, if missing
    )
    (response_id, variant, created_at), created = await writer.write(values)
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
