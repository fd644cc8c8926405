"""Reads of raw response rows that are not grouped sums: export pages, and the sums and
cross products the key-driver analysis needs. They select with the KPI reads'
:func:`.queries.raw_conditions`, so a filter means the same everywhere."""

from __future__ import annotations

import datetime as dt

import msgspec

from survey_service.db import Executor
from survey_service.lib.structs import Struct
from survey_service.reporting.queries import AggregateQuery, SqlBuilder, raw_conditions

__all__ = ["ExportedResponse", "driver_sums", "export_page"]


async def driver_sums(
    db: Executor, query: AggregateQuery, columns: list[str]
) -> tuple[int, list[float], list[list[float]]]:
    """Count, sums and cross-product sums of ``columns`` over complete cases."""
    sql = SqlBuilder()
    where = raw_conditions(sql, query)
    values = [f"({c})::int::double precision" for c in columns]  # booleans count 1 / 0
    where += [f"{c} IS NOT NULL" for c in columns]
    pairs = [(i, j) for i in range(len(columns)) for j in range(i, len(columns))]
    select = ", ".join(
        ["count(*) AS n"]
        + [f"coalesce(sum({v}), 0) AS s{i}" for i, v in enumerate(values)]
        + [f"coalesce(sum({values[i]} * {values[j]}), 0) AS c{i}_{j}" for i, j in pairs]
    )
    row = await db.fetchrow(f"SELECT {select} FROM response WHERE {' AND '.join(where)}", *sql.args)
    assert row is not None  # an aggregate without GROUP BY always returns a row
    cross = [[0.0] * len(columns) for _ in columns]
    for i, j in pairs:
        cross[i][j] = cross[j][i] = float(row[f"c{i}_{j}"])
    return int(row["n"]), [float(row[f"s{i}"]) for i in range(len(columns))], cross


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


async def export_page(
    db: Executor, q: AggregateQuery, after_id: int, limit: int
) -> list[ExportedResponse]:
    """Up to ``limit`` stored responses matching ``q`` with ids above ``after_id``, by id."""
    sql = SqlBuilder()
    where = raw_conditions(sql, q)
    where.append(f"id > {sql.param(after_id)}")
    rows = await db.fetch(
        "SELECT id, (SELECT version FROM survey_version v WHERE v.id = survey_version_id)"
        " AS survey_version, created_at, variant, channel, language, metadata, answers, flags,"
        " sentiment_polarity, sentiment_class, sentiment_cues, sentiment_version,"
        f" score_text_mismatch FROM response WHERE {' AND '.join(where)}"
        f" ORDER BY id LIMIT {sql.param(limit)}",
        *sql.args,
    )
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
