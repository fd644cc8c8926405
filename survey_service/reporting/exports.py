"""Responses export: keyset pages as JSON and streamed CSV safe for spreadsheets."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any

from survey_service.db import Executor
from survey_service.reporting.queries import AggregateQuery
from survey_service.reporting.row_queries import ExportedResponse, export_page
from survey_service.surveys.definitions import SurveyDefinition

__all__ = ["csv_header", "csv_line", "neutralise", "stream_csv"]

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: str) -> str:
    """Text a spreadsheet shows as text: a leading = + - @ tab or CR would start a formula,
    so such cells get a leading apostrophe (OWASP's CSV injection advice)."""
    return "'" + value if value.startswith(_FORMULA_START) else value


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
    db: Executor, definition: SurveyDefinition, q: AggregateQuery, *, bom: bool, chunk: int = 2000
) -> AsyncIterator[bytes]:
    """The CSV in chunks of ``chunk`` rows: memory stays flat however many rows there are."""
    yield (b"\xef\xbb\xbf" if bom else b"") + _encode([csv_header(definition)])
    after = 0
    while True:
        page = await export_page(db, q, after, chunk)
        if not page:
            return
        yield _encode(csv_line(definition, r) for r in page)
        after = page[-1].id
