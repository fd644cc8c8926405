"""The schema the migrations build is the one the code declares (survey_service.db.schema),
rollup columns included: they are generated from one list of aggregates and dimensions."""

from __future__ import annotations

import secrets

import asyncpg
import pytest
from litestar import Litestar

from survey_service.db.schema import TABLES
from survey_service.reporting.columns import AGGREGATE_NAMES, DIMENSIONS

_COLUMNS = """
SELECT c.relname AS table_name, a.attname AS column_name,
       format_type(a.atttypid, a.atttypmod) AS type, NOT a.attnotnull AS null
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped
"""


async def test_migrated_schema_equals_the_declared_one(app: Litestar, database_url: str) -> None:
    connection = await asyncpg.connect(database_url)
    try:
        rows = await connection.fetch(_COLUMNS)
    finally:
        await connection.close()
    built: dict[str, dict[str, tuple[str, bool]]] = {}
    for row in rows:
        if row["table_name"] != "migration":  # Piccolo's own bookkeeping
            built.setdefault(row["table_name"], {})[row["column_name"]] = (row["type"], row["null"])
    declared = {t.name: {c.name: (c.type, c.null) for c in t.columns} for t in TABLES}
    assert sorted(built) == sorted(declared)
    for name, columns in declared.items():
        assert built[name] == columns, name


def test_rollup_tables_carry_every_aggregate_and_dimension() -> None:
    tables = {t.name: [c.name for c in t.columns] for t in TABLES}
    for grain in ("response_rollup", "response_rollup_daily"):
        assert tables[grain][-len(AGGREGATE_NAMES) :] == AGGREGATE_NAMES
        assert all(d.column in tables[grain] for d in DIMENSIONS)
    totals = tables["response_rollup_daily_totals"]
    assert [d.column for d in DIMENSIONS if d.column in totals] == [
        d.column for d in DIMENSIONS if d.in_totals
    ]


async def test_a_served_form_or_answer_names_a_version_of_its_own_survey(
    db: asyncpg.Connection,
) -> None:
    """One composite foreign key per row (one check, not two), and a stricter one: the
    version must belong to the row's survey."""
    keys = await db.fetch(
        "SELECT conrelid::regclass::text AS source, pg_get_constraintdef(oid) AS definition"
        " FROM pg_constraint WHERE contype = 'f'"
        " AND conrelid IN ('response'::regclass, 'assignment'::regclass)"
    )
    assert sorted((k["source"], k["definition"]) for k in keys) == [
        (
            table,
            "FOREIGN KEY (survey_id, survey_version_id) REFERENCES survey_version(survey_id, id)",
        )
        for table in ("assignment", "response")
    ]
    transaction = db.transaction()  # rolled back: other tests see no probe surveys
    await transaction.start()
    try:
        first, second = [
            await db.fetchval("INSERT INTO survey (slug) VALUES ($1) RETURNING id", slug)
            for slug in ("fk-probe-" + secrets.token_hex(4), "fk-probe-" + secrets.token_hex(4))
        ]
        version = await db.fetchval(
            "INSERT INTO survey_version (survey_id, version, content_hash, definition)"
            " VALUES ($1, 1, 'probe', '{}') RETURNING id",
            first,
        )
        insert = (
            "INSERT INTO assignment (survey_id, survey_version_id, token_nonce, channel, language)"
            " VALUES ($1, $2, gen_random_uuid(), 'link', 'en')"
        )
        await db.execute(insert, first, version)
        with pytest.raises(asyncpg.ForeignKeyViolationError):
            await db.execute(insert, second, version)  # another survey's version
    finally:
        await transaction.rollback()
