"""Responses export: keyset pages as JSON and streamed CSV safe for spreadsheets."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any

import msgspec

from survey_service.lib.structs import Struct
from survey_service.db.tables import Response
from survey_service.surveys.definitions import SurveyDefinition
from survey_service.reporting.rollups import AggregateQuery, SqlBuilder, raw_conditions

__all__ = ["ExportedResponse", "csv_header", "csv_line", "fetch_page", "neutralise", "stream_csv"]

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class ExportedResponse(Struct):
    """One stored response as exported (no client hash, no token)."""

    id: int
    survey_version: int
    created_at: dt.datetime
    variant: str | None
    channel: str
    language: str
    metadata: dict[str, str]
    answers: dict[str, int | bool | str]
    flags: list[str]
    sentiment_polarity: float | None
    sentiment_class: int | None
    sentiment_cues: list[str]
    sentiment_version: str | None
    score_text_mismatch: bool


def neutralise(value: str) -> str:
    """Text a spreadsheet shows as text: a leading = + - @ tab or CR would start a formula,
    so such cells get a leading apostrophe (OWASP's CSV injection advice)."""
    return "'" + value if value.startswith(_FORMULA_START) else value


async def fetch_page(q: AggregateQuery, after_id: int, limit: int) -> list[ExportedResponse]:
    """Up to ``limit`` responses matching ``q`` with ids above ``after_id``, by id."""
    sql = SqlBuilder()
    where = raw_conditions(sql, q)
    where.append(f"id > {sql.param(after_id)}")
    text = (
        "SELECT id, (SELECT version FROM survey_version v WHERE v.id = survey_version_id)"
        " AS survey_version, created_at, variant, channel, language, metadata, answers, flags,"
        " sentiment_polarity, sentiment_class, sentiment_cues, sentiment_version,"
        f" score_text_mismatch FROM response WHERE {' AND '.join(where)}"
        f" ORDER BY id LIMIT {sql.param(limit)}"
    )
    rows = await Response.raw(text, *sql.args)
    return [
        ExportedResponse(
            **{
                **row,
                "metadata": msgspec.json.decode(row["metadata"]),
                "answers": msgspec.json.decode(row["answers"]),
            }
        )
        for row in rows
    ]


def csv_header(definition: SurveyDefinition) -> list[str]:
    """Columns: identity, attribution, one per metadata key and question, sentiment, flags."""
    return [
        "id",
        "created_at",
        "survey_version",
        "variant",
        "channel",
        "language",
        *definition.metadata_keys,
        *(q.id for q in definition.questions),
        "sentiment_polarity",
        "sentiment_class",
        "sentiment_cues",
        "score_text_mismatch",
        "flags",
    ]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return neutralise(value)
    return str(value)


def csv_line(definition: SurveyDefinition, r: ExportedResponse) -> list[str]:
    """One response as CSV cells; user-supplied text is neutralised."""
    values: Sequence[Any] = [
        r.id,
        r.created_at.isoformat(),
        r.survey_version,
        r.variant,
        r.channel,
        r.language,
        *(r.metadata.get(k) for k in definition.metadata_keys),
        *(r.answers.get(q.id) for q in definition.questions),
        r.sentiment_polarity,
        r.sentiment_class,
        ";".join(r.sentiment_cues),
        r.score_text_mismatch,
        ";".join(r.flags),
    ]
    return [_cell(v) for v in values]


def _encode(rows: Iterable[list[str]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue().encode("utf-8")


async def stream_csv(
    definition: SurveyDefinition, q: AggregateQuery, *, bom: bool, chunk: int = 2000
) -> AsyncIterator[bytes]:
    """The CSV in chunks of ``chunk`` rows: memory stays flat however many rows there are."""
    yield (b"\xef\xbb\xbf" if bom else b"") + _encode([csv_header(definition)])
    after = 0
    while True:
        page = await fetch_page(q, after, chunk)
        if not page:
            return
        yield _encode(csv_line(definition, r) for r in page)
        after = page[-1].id
