"""Incremental rollups and the aggregate queries the KPI and experiment reads run.

Writes never touch a rollup (no hot row lock in the response path, DESIGN.md). A fold job
takes unfolded responses and assignments (``FOR UPDATE SKIP LOCKED``), marks them folded
and adds their sums to hourly (UTC) rollup rows, all in one transaction: each row is
counted exactly once. A read sums the rollup rows of the whole hours in its window and adds
the raw rows that are not folded yet or lie in the partial hours at the window's edges, in
one statement (one snapshot, so nothing is counted twice or missed).

Time zones whose offset is not a whole number of hours (India, Nepal, Newfoundland ...)
cannot be cut from hourly rows; for them the read aggregates raw rows only (exact, slower).
"""

from __future__ import annotations

import datetime as dt
import logging
import zoneinfo
from collections.abc import Sequence
from typing import Any, Literal

from survey_service.lib.structs import Struct
from survey_service.db.tables import Response
from survey_service.reporting.columns import DIMENSIONS, RESPONSE_AGGREGATES

__all__ = [
    "AGGREGATE_NAMES",
    "TIME_GROUPS",
    "AggregateQuery",
    "AggregateRow",
    "SqlBuilder",
    "aggregate",
    "driver_sums",
    "ensure_zone",
    "fold",
    "fold_all",
    "raw_conditions",
    "rebuild",
    "whole_hour_zone",
]

AGGREGATE_NAMES = [name for name, _ in RESPONSE_AGGREGATES]
TIME_GROUPS = {"day": "day", "week": "week", "month": "month"}
_FOLD_LOCK = 7_406_223
log = logging.getLogger(__name__)
_ROLLUP_COLUMN = {
    "version": "survey_version_id",
    "variant": "variant",
    "channel": "channel",
    "language": "language",
    "touchpoint": "touchpoint",
    "agent": "agent",
    "location": "location",
    "survey": "survey_id",
}
_RAW_EXPRESSION = {**DIMENSIONS, "survey": "survey_id"}
_KEY = "survey_id, hour, survey_version_id, variant, channel, language, touchpoint, agent, location"
_ROW_DIMENSIONS = (
    "survey_id, date_trunc('hour', created_at, 'UTC') AS hour, survey_version_id, variant,"
    " channel, language, metadata->>'touchpoint' AS touchpoint, metadata->>'agent' AS agent,"
    " metadata->>'location' AS location"
)


_ABUSE_FLAGGED = "cardinality(array_remove(flags, 'low_trust'))"
"""Abuse flags (honeypot, too_fast ...): low_trust marks a channel, not a suspect answer."""
_LOW_TRUST = "'low_trust' = ANY(flags)"

_DIMENSION_COLUMNS = "survey_version_id, variant, channel, language, touchpoint, agent, location"
_DIMENSION_VALUES = (
    "survey_version_id, variant, channel, language, metadata->>'touchpoint',"
    " metadata->>'agent', metadata->>'location'"
)


def _fold_sql(
    table: str, aggregates: Sequence[tuple[str, str]], *, flagged: bool, limit: bool
) -> str:
    """One statement: mark a batch of ``table`` rows folded and add them to the hourly, the
    daily and the daily totals rollups. Placeholders: the batch size (when ``limit``), then
    the daily zone twice."""
    names = [name for name, _ in aggregates]
    sums = ", ".join(f"coalesce(sum({expr}), 0)" for _, expr in aggregates)
    flag_column = ", flagged, low_trust" if flagged else ""
    flag_value = f", {_ABUSE_FLAGGED} > 0, {_LOW_TRUST}" if flagged else ""
    pick = "ORDER BY id LIMIT {} FOR UPDATE SKIP LOCKED" if limit else "FOR UPDATE"

    def upsert(rollup: str, bucket: str, bucket_value: str, columns: str, values: str) -> str:
        key = f"survey_id, {bucket}, {columns}{flag_column}"
        width = 2 + columns.count(",") + 1 + 2 * bool(flagged)
        positions = ", ".join(str(i) for i in range(1, width + 1))
        updates = ", ".join(f"{n} = {rollup}.{n} + EXCLUDED.{n}" for n in names)
        return f"""{rollup} AS (
    INSERT INTO {rollup} ({key}, {", ".join(names)})
    SELECT survey_id, {bucket_value}, {values}{flag_value}, {sums}
    FROM batch GROUP BY {positions} ORDER BY {positions}
    ON CONFLICT ({key}) DO UPDATE SET {updates}
    RETURNING 1
)"""

    local_day = "(created_at AT TIME ZONE {})::date"
    totals = "survey_version_id, variant, language"

    return f"""
WITH batch AS (
    UPDATE {table} SET folded = true
    WHERE id IN (SELECT id FROM {table} WHERE NOT folded {pick})
    RETURNING *
), {
        upsert(
            f"{table}_rollup",
            "hour",
            "date_trunc('hour', created_at, 'UTC')",
            _DIMENSION_COLUMNS,
            _DIMENSION_VALUES,
        )
    },
{upsert(f"{table}_rollup_daily", "day", local_day, _DIMENSION_COLUMNS, _DIMENSION_VALUES)},
{upsert(f"{table}_rollup_daily_totals", "day", local_day, totals, totals)}
SELECT count(*) AS n FROM batch
"""


_FOLDS = [
    (
        _fold_sql("response", RESPONSE_AGGREGATES, flagged=True, limit=True),
        _fold_sql("response", RESPONSE_AGGREGATES, flagged=True, limit=False),
    ),
    (
        _fold_sql("assignment", [("n", "1")], flagged=False, limit=True),
        _fold_sql("assignment", [("n", "1")], flagged=False, limit=False),
    ),
]


async def fold(zone: str, batch_size: int = 20_000) -> bool:
    """Fold one batch of responses and of assignments (daily rows in ``zone``); False when
    another process holds the fold (it will do the work), nothing was waiting, or the daily
    rollups are kept in another zone (a process with an older setting must not mix zones)."""
    async with Response._meta.db.transaction():
        locked = await Response.raw("SELECT pg_try_advisory_xact_lock({}) AS ok", _FOLD_LOCK)
        if not locked[0]["ok"]:
            return False
        kept = await Response.raw("SELECT value FROM rollup_state WHERE name = 'daily_zone'")
        if kept and kept[0]["value"] != zone:
            log.warning("rollups are kept in %s, not %s: not folding", kept[0]["value"], zone)
            return False
        folded = 0
        for batch_sql, _ in _FOLDS:
            folded += (await Response.raw(batch_sql, batch_size, zone, zone))[0]["n"]
    return folded > 0


async def fold_all(zone: str, batch_size: int = 20_000) -> None:
    """Fold until nothing is waiting (or another process is folding)."""
    while await fold(zone, batch_size):
        pass


async def rebuild(zone: str) -> None:
    """Recompute every rollup from the raw rows, daily ones in ``zone``, in one transaction."""
    async with Response._meta.db.transaction():
        await Response.raw("SELECT pg_advisory_xact_lock({})", _FOLD_LOCK)
        await Response.raw(
            "TRUNCATE response_rollup, assignment_rollup, response_rollup_daily,"
            " assignment_rollup_daily, response_rollup_daily_totals, assignment_rollup_daily_totals"
        )
        await Response.raw("UPDATE response SET folded = false WHERE folded")
        await Response.raw("UPDATE assignment SET folded = false WHERE folded")
        for _, everything_sql in _FOLDS:
            await Response.raw(everything_sql, zone, zone)
        await Response.raw(
            "INSERT INTO rollup_state (name, value) VALUES ('daily_zone', {})"
            " ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value",
            zone,
        )


async def ensure_zone(zone: str) -> bool:
    """Make the daily rollups be kept in ``zone``; rebuild them when they were kept in
    another (the business moved, or its setting changed). True when it rebuilt."""
    rows = await Response.raw("SELECT value FROM rollup_state WHERE name = 'daily_zone'")
    if rows and rows[0]["value"] == zone:
        return False
    await rebuild(zone)
    return True


def whole_hour_zone(
    zone: zoneinfo.ZoneInfo, start: dt.datetime | None, end: dt.datetime | None
) -> bool:
    """True when every UTC offset of ``zone`` in the window is a whole number of hours
    (sampled every 15 days and at both ends; unbounded windows span 2000 to next year)."""
    first = start or dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
    last = end or dt.datetime.now(dt.UTC) + dt.timedelta(days=366)
    moment = first
    while True:
        offset = moment.astimezone(zone).utcoffset()
        if offset is None or offset.total_seconds() % 3600:
            return False
        if moment >= last:
            return True
        moment = min(last, moment + dt.timedelta(days=15))


class AggregateQuery(Struct):
    """Which responses to aggregate and how to group them (already validated)."""

    survey_ids: list[int]
    time_zone: str = "UTC"
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    filters: dict[str, str | int] = {}
    include_flagged: bool = False
    group_by: list[str] = []
    trust: Literal["any", "high", "low"] = "any"
    """``low``: only responses from plain (multi-use) QR codes; ``high``: all others."""
    rollup_zone: str = "UTC"
    """The zone the daily rollups are kept in (the business's, ``SURVEY_TIME_ZONE``)."""


class AggregateRow(Struct):
    """One group's key (dimension -> value) and its sums, and its assignments."""

    key: dict[str, str | int | None]
    sums: dict[str, int]
    assignments: int


class SqlBuilder:
    """Builds one statement with Piccolo-style ``{}`` placeholders and its arguments."""

    def __init__(self) -> None:
        self.args: list[Any] = []

    def param(self, value: Any) -> str:
        self.args.append(value)
        return "{}"


def _group_expression(sql: SqlBuilder, group: str, grain: str, zone: str) -> str:
    """The expression grouping rows of ``grain`` (raw, hourly or daily) by ``group``."""
    if group in TIME_GROUPS:
        if grain in ("daily", "totals"):  # already local dates
            return f"to_char(date_trunc('{TIME_GROUPS[group]}', day::timestamp), 'YYYY-MM-DD')"
        column = "created_at" if grain == "raw" else "hour"
        local = f"date_trunc('{TIME_GROUPS[group]}', {column}, {sql.param(zone)})"
        return f"to_char({local} AT TIME ZONE {sql.param(zone)}, 'YYYY-MM-DD')"
    return (_RAW_EXPRESSION if grain == "raw" else _ROLLUP_COLUMN)[group]


def _ceil_hour(moment: dt.datetime) -> dt.datetime:
    floor = moment.replace(minute=0, second=0, microsecond=0)
    return floor if floor == moment else floor + dt.timedelta(hours=1)


def _floor_hour(moment: dt.datetime) -> dt.datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def _local_date(moment: dt.datetime | None, zone: zoneinfo.ZoneInfo) -> dt.date | None:
    """The local date when ``moment`` is a local midnight (or None), else raise ValueError."""
    if moment is None:
        return None
    local = moment.astimezone(zone)
    if local.time() != dt.time():
        raise ValueError("not a local midnight")
    return local.date()


_TOTALS_DIMENSIONS = {"version", "variant", "language", "survey"}


def _grain(q: AggregateQuery) -> str:
    """totals (or daily, when staff or channel dimensions are used) when the query is in the
    rollups' zone on whole local days, else hourly when the zone's offsets are whole hours,
    else raw rows only."""
    zone = zoneinfo.ZoneInfo(q.time_zone)
    if q.time_zone == q.rollup_zone:
        try:
            _local_date(q.start, zone), _local_date(q.end, zone)
        except ValueError:
            pass
        else:
            used = set(q.filters) | {g for g in q.group_by if g not in TIME_GROUPS}
            return "totals" if used <= _TOTALS_DIMENSIONS else "daily"
    return "hourly" if whole_hour_zone(zone, q.start, q.end) else "raw"


def _branches(
    sql: SqlBuilder,
    q: AggregateQuery,
    *,
    table: str,
    aggregates: Sequence[tuple[str, str]],
    flagged: bool,
) -> list[str]:
    """A rollup branch (whole days or hours in the window) and a raw branch (unfolded rows,
    and the partial hours at the window's edges)."""
    grain = _grain(q)
    branches = []
    zone = zoneinfo.ZoneInfo(q.time_zone)
    edges = ["NOT folded"]
    edge_hours: tuple[dt.datetime | None, dt.datetime | None] = (None, None)
    if grain != "raw":
        keys = [
            f"{_group_expression(sql, g, grain, q.time_zone)} AS g{i}"
            for i, g in enumerate(q.group_by)
        ]
        where = [f"survey_id = ANY({sql.param(q.survey_ids)})"]
        first: dt.date | dt.datetime | None
        last: dt.date | dt.datetime | None
        if grain in ("daily", "totals"):
            first, last = _local_date(q.start, zone), _local_date(q.end, zone)
            bucket = "day"
            rollup = f"{table}_rollup_daily" + ("_totals" if grain == "totals" else "")
        else:
            first = _ceil_hour(q.start) if q.start else None
            last = _floor_hour(q.end) if q.end else None
            bucket, rollup = "hour", f"{table}_rollup"
            edge_hours = (first, last)
        if first:
            where.append(f"{bucket} >= {sql.param(first)}")
        if last:
            where.append(f"{bucket} < {sql.param(last)}")
        if flagged and not q.include_flagged:
            where.append("NOT flagged")
        if flagged and q.trust != "any":
            where.append("low_trust" if q.trust == "low" else "NOT low_trust")
        where += [f"{_ROLLUP_COLUMN[d]} = {sql.param(v)}" for d, v in q.filters.items()]
        columns = ", ".join([*keys, *(name for name, _ in aggregates)])
        branches.append(f"SELECT {columns} FROM {rollup} WHERE {' AND '.join(where)}")
    keys = [
        f"{_group_expression(sql, g, 'raw', q.time_zone)} AS g{i}" for i, g in enumerate(q.group_by)
    ]
    where = raw_conditions(sql, q, flagged=flagged)
    if grain == "hourly":  # parameters in text order: the raw branch comes second
        if edge_hours[0]:
            edges.append(f"created_at < {sql.param(edge_hours[0])}")
        if edge_hours[1]:
            edges.append(f"created_at >= {sql.param(edge_hours[1])}")
    if grain != "raw":
        where.append(f"({' OR '.join(edges)})")
    columns = ", ".join([*keys, *(f"{expr} AS {name}" for name, expr in aggregates)])
    branches.append(f"SELECT {columns} FROM {table} WHERE {' AND '.join(where)}")
    return branches


def raw_conditions(sql: SqlBuilder, q: AggregateQuery, *, flagged: bool = True) -> list[str]:
    """WHERE conditions selecting the raw rows (responses, or assignments with
    ``flagged=False``) that ``q`` describes."""
    where = [f"survey_id = ANY({sql.param(q.survey_ids)})"]
    if q.start:
        where.append(f"created_at >= {sql.param(q.start)}")
    if q.end:
        where.append(f"created_at < {sql.param(q.end)}")
    if flagged and not q.include_flagged:
        where.append(f"{_ABUSE_FLAGGED} = 0")
    if flagged and q.trust != "any":
        where.append(_LOW_TRUST if q.trust == "low" else f"NOT ({_LOW_TRUST})")
    where += [f"({_RAW_EXPRESSION[d]}) = {sql.param(v)}" for d, v in q.filters.items()]
    return where


def _statement(
    q: AggregateQuery, *, table: str, aggregates: Sequence[tuple[str, str]], flagged: bool
) -> tuple[str, list[Any]]:
    sql = SqlBuilder()
    union = " UNION ALL ".join(
        _branches(sql, q, table=table, aggregates=aggregates, flagged=flagged)
    )
    groups = [f"g{i}" for i in range(len(q.group_by))]
    sums = ", ".join(f"coalesce(sum({name}), 0)::bigint AS {name}" for name, _ in aggregates)
    select = ", ".join([*groups, sums])
    group_clause = f" GROUP BY {', '.join(groups)}" if groups else ""
    return f"SELECT {select} FROM ({union}) AS rows{group_clause}", sql.args


async def aggregate(q: AggregateQuery) -> list[AggregateRow]:
    """Sums per group (one row when ``group_by`` is empty): every group that has responses
    or assignments (a variant served but never answered still shows its assignments)."""
    width = len(q.group_by)
    text, args = _statement(q, table="response", aggregates=RESPONSE_AGGREGATES, flagged=True)
    answered = {
        tuple(r[f"g{i}"] for i in range(width)): {n: int(r[n]) for n in AGGREGATE_NAMES}
        for r in await Response.raw(text, *args)
    }
    text, args = _statement(q, table="assignment", aggregates=[("n", "1")], flagged=False)
    served = {
        tuple(r[f"g{i}"] for i in range(width)): int(r["n"])
        for r in await Response.raw(text, *args)
    }
    keys = list(answered) + [k for k in served if k not in answered]
    if not q.group_by and not keys:
        keys = [()]  # the total exists even when nothing matched
    empty = dict.fromkeys(AGGREGATE_NAMES, 0)
    return [
        AggregateRow(
            key=dict(zip(q.group_by, key, strict=True)),
            sums=answered.get(key, empty),
            assignments=served.get(key, 0),
        )
        for key in keys
    ]


async def driver_sums(
    query: AggregateQuery, columns: list[str]
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
    row = (
        await Response.raw(f"SELECT {select} FROM response WHERE {' AND '.join(where)}", *sql.args)
    )[0]
    cross = [[0.0] * len(columns) for _ in columns]
    for i, j in pairs:
        cross[i][j] = cross[j][i] = float(row[f"c{i}_{j}"])
    return int(row["n"]), [float(row[f"s{i}"]) for i in range(len(columns))], cross
