"""The read side of the KPIs: one statement per question, over the rollups plus the raw
rows they do not hold yet.

A read sums the rollup rows inside its window and adds the raw rows not folded yet (and,
on the hourly path, those in the partial hours at the window's edges) in one statement,
hence one snapshot: nothing is counted twice or missed. Daily rows serve queries in the
business zone on whole days; other whole-hour zones use the hourly rows; zones whose
offset is not a whole number of hours (India, Nepal, Newfoundland ...) read raw rows only
(exact, slower). Reads of raw rows that sum nothing by group (export pages, the
key-driver sums) are in :mod:`.row_queries`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import zoneinfo
from collections.abc import Sequence
from typing import Any, Literal

from survey_service.db import Database, Executor
from survey_service.lib.structs import Backlog, Struct
from survey_service.reporting.columns import (
    AGGREGATE_NAMES,
    BY_NAME,
    GRAINS,
    RESPONSE_AGGREGATES,
    SERVED_AGGREGATES,
    TIME_GROUPS,
)
from survey_service.reporting.rollups import ABUSE_FLAGGED, LOW_TRUST, by_key

__all__ = [
    "AggregateQuery",
    "AggregateRow",
    "SqlBuilder",
    "aggregate",
    "raw_conditions",
    "total_of",
    "whole_hour_zone",
]

_SURVEY = "survey_id"  # the business-wide "survey" group: a column on every table


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
    """One group's key (dimension -> value), its responses' sums (``values``, in
    :data:`AGGREGATE_NAMES` order, as the statement returns them), the forms served in the
    window (``assignments``) and how many of those have been answered (``answered``)."""

    key: dict[str, str | int | None]
    values: tuple[int, ...]
    assignments: int
    answered: int

    @property
    def sums(self) -> dict[str, int]:
        """The sums by name (made on demand: a breakdown's thousands of groups mostly go to
        :class:`.metrics.KpiMemo`, which keys on ``values``)."""
        return dict(zip(AGGREGATE_NAMES, self.values, strict=True))


class SqlBuilder:
    """Builds one statement with ``$n`` placeholders and its arguments."""

    def __init__(self) -> None:
        self.args: list[Any] = []

    def param(self, value: Any) -> str:
        """The placeholder for ``value``."""
        self.args.append(value)
        return f"${len(self.args)}"


def _group_expression(sql: SqlBuilder, group: str, grain: str, zone: str) -> str:
    """The expression grouping rows of ``grain`` (raw, hourly or daily) by ``group``."""
    if group in TIME_GROUPS:
        # Dates, not their text: grouping compares dates; the outer statement formats
        # each group's once (:func:`_statement`).
        if grain in _DAILY:  # already local dates
            return "day" if group == "day" else f"date_trunc('{group}', day::timestamp)::date"
        column = "created_at" if grain == "raw" else "hour"
        place = sql.param(zone)
        local = f"date_trunc('{group}', {column}, {place}::text)"
        return f"({local} AT TIME ZONE {place}::text)::date"
    if group == "survey":
        return _SURVEY
    return BY_NAME[group].expression if grain == "raw" else BY_NAME[group].column


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


_DAILY = {"totals": "_daily_totals", "staff": "_daily_staff", "daily": "_daily"}
"""The daily grains' rollup table suffixes, in the order a read prefers them: the totals
have a handful of rows a day, the staff rollup one per agent and place, the daily rollup
every combination of all dimensions."""
_KEPT = {g.suffix: set(g.dimensions) for g in GRAINS}


def _grain(q: AggregateQuery) -> str:
    """The first daily rollup of :data:`_DAILY` that holds every dimension the query groups
    or filters by, when the query is in the rollups' zone on whole local days; else
    ``hourly`` when the zone's offsets are whole hours; else ``raw`` (raw rows only)."""
    zone = zoneinfo.ZoneInfo(q.time_zone)
    if q.time_zone == q.rollup_zone:
        try:
            _local_date(q.start, zone), _local_date(q.end, zone)
        except ValueError:
            pass
        else:
            used = {BY_NAME[g] for g in [*q.filters, *q.group_by] if g in BY_NAME}
            return next(name for name, suffix in _DAILY.items() if used <= _KEPT[suffix])
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
    edge_hours: tuple[dt.datetime | None, dt.datetime | None] = (None, None)
    if grain != "raw":
        keys = [
            f"{_group_expression(sql, g, grain, q.time_zone)} AS g{i}"
            for i, g in enumerate(q.group_by)
        ]
        where = [f"survey_id = ANY({sql.param(q.survey_ids)})"]
        first: dt.date | dt.datetime | None
        last: dt.date | dt.datetime | None
        if grain in _DAILY:
            first, last = _local_date(q.start, zone), _local_date(q.end, zone)
            bucket, rollup = "day", f"{table}_rollup{_DAILY[grain]}"
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
        where += [f"{BY_NAME[d].column} = {sql.param(v)}" for d, v in q.filters.items()]
        columns = ", ".join([*keys, *(name for name, _ in aggregates)])
        branches.append(f"SELECT {columns} FROM {rollup} WHERE {' AND '.join(where)}")
    keys = [
        f"{_group_expression(sql, g, 'raw', q.time_zone)} AS g{i}" for i, g in enumerate(q.group_by)
    ]
    raw = " AND ".join(raw_conditions(sql, q, flagged=flagged))
    columns = ", ".join([*keys, *(f"{expr} AS {name}" for name, expr in aggregates)])
    if grain == "raw":
        branches.append(f"SELECT {columns} FROM {table} WHERE {raw}")
    else:
        branches.append(f"SELECT {columns} FROM {unfolded_rows(table)} WHERE {raw}")
        edges = _edges(sql, "created_at", edge_hours)
        if edges:  # folded rows in the partial hours at the window's edges
            branches.append(
                f"SELECT {columns} FROM {table} WHERE {raw} AND ({edges})"
                f" AND NOT {_queued(table, table)}"
            )
    if table == "assignment":
        branches += _answered_branches(sql, q, keys, grain, edge_hours)
    return branches


def unfolded_rows(table: str, alias: str | None = None) -> str:
    """The rows of ``table`` the rollups do not hold yet (listed in ``<table>_unfolded``),
    as a subquery named ``alias`` (default: the table's name): driven by the small queue,
    never a scan of the table."""
    lookup = by_key(table)
    return f"(SELECT t.* FROM {table}_unfolded u CROSS JOIN LATERAL {lookup}) AS {alias or table}"


def _queued(table: str, alias: str) -> str:
    """Whether the ``alias`` row of ``table`` is still waiting for the fold."""
    return (
        f"EXISTS (SELECT 1 FROM {table}_unfolded u"
        f" WHERE u.survey_id = {alias}.survey_id AND u.id = {alias}.id)"
    )


def _edges(
    sql: SqlBuilder, column: str, edge_hours: tuple[dt.datetime | None, dt.datetime | None]
) -> str:
    """``column`` in a partial hour before or after the hourly rollup branch's hours."""
    edges = []
    if edge_hours[0]:
        edges.append(f"{column} < {sql.param(edge_hours[0])}")
    if edge_hours[1]:
        edges.append(f"{column} >= {sql.param(edge_hours[1])}")
    return " OR ".join(edges)


def _answered_branches(
    sql: SqlBuilder,
    q: AggregateQuery,
    keys: list[str],
    grain: str,
    edge_hours: tuple[dt.datetime | None, dt.datetime | None],
) -> list[str]:
    """Answers the rollups do not hold yet, as rows of the assignments they answer (``keys``:
    the raw branch's group expressions; n 0, answered 1): responses not folded, and those
    whose form was served in a partial hour at the window's edges (their fold went to an
    hour the rollup branch does not read). The response rate is a cohort by serving time:
    of the forms served in the window, the share answered, whenever the answer came."""
    surveys = sql.param(q.survey_ids)
    answered = (
        "JOIN assignment a ON a.survey_id = r.survey_id AND a.token_nonce = r.token_nonce"
        f" WHERE a.survey_id = ANY({surveys})"
    )
    if grain == "raw":
        inners = [f"SELECT a.* FROM response r {answered}"]
    else:
        inners = [f"SELECT a.* FROM {unfolded_rows('response', 'r')} {answered}"]
        edges = _edges(sql, "a.created_at", edge_hours)
        if edges:
            inners.append(
                f"SELECT a.* FROM response r {answered} AND ({edges})"
                f" AND NOT {_queued('response', 'r')}"
            )
    where = " AND ".join(raw_conditions(sql, q, flagged=False))
    columns = ", ".join([*keys, "0 AS n", "1 AS answered"])
    return [f"SELECT {columns} FROM ({inner}) AS assignment WHERE {where}" for inner in inners]


def raw_conditions(sql: SqlBuilder, q: AggregateQuery, *, flagged: bool = True) -> list[str]:
    """WHERE conditions selecting the raw rows (responses, or assignments with
    ``flagged=False``) that ``q`` describes."""
    where = [f"survey_id = ANY({sql.param(q.survey_ids)})"]
    if q.start:
        where.append(f"created_at >= {sql.param(q.start)}")
    if q.end:
        where.append(f"created_at < {sql.param(q.end)}")
    if flagged and not q.include_flagged:
        where.append(f"{ABUSE_FLAGGED} = 0")
    if flagged and q.trust != "any":
        where.append(LOW_TRUST if q.trust == "low" else f"NOT ({LOW_TRUST})")
    where += [f"({BY_NAME[d].expression}) = {sql.param(v)}" for d, v in q.filters.items()]
    return where


def _statement(
    q: AggregateQuery, *, table: str, aggregates: Sequence[tuple[str, str]], flagged: bool
) -> tuple[str, list[Any]]:
    sql = SqlBuilder()
    union = " UNION ALL ".join(
        _branches(sql, q, table=table, aggregates=aggregates, flagged=flagged)
    )
    groups = [f"g{i}" for i in range(len(q.group_by))]
    # A day (week, month) as the API gives it, YYYY-MM-DD, formatted once per group (the
    # GROUP BY below names the input column, the date).
    keys = [
        f"to_char({g}, 'YYYY-MM-DD') AS {g}" if name in TIME_GROUPS else g
        for g, name in zip(groups, q.group_by, strict=True)
    ]
    sums = ", ".join(f"coalesce(sum({name}), 0)::bigint AS {name}" for name, _ in aggregates)
    select = ", ".join([*keys, sums])
    group_clause = f" GROUP BY {', '.join(groups)}" if groups else ""
    return f"SELECT {select} FROM ({union}) AS rows{group_clause}", sql.args


async def aggregate(db: Database, q: AggregateQuery) -> list[AggregateRow]:
    """Sums per group (one row when ``group_by`` is empty): every group that has responses
    or assignments (a variant served but never answered still shows its assignments). The
    responses' and the assignments' statements run at once, on two pooled connections."""
    width = len(q.group_by)  # each row: the group's key, then the sums in statement order
    answers, answers_args = _statement(
        q, table="response", aggregates=RESPONSE_AGGREGATES, flagged=True
    )
    forms, forms_args = _statement(
        q, table="assignment", aggregates=SERVED_AGGREGATES, flagged=False
    )
    response_rows, served_rows = await asyncio.gather(
        db.fetch(answers, *answers_args), db.fetch(forms, *forms_args)
    )
    # By position, not by name: a breakdown has thousands of rows of thirty sums.
    responses = {r[:width]: r[width:] for r in response_rows}
    served = {r[:width]: (r[width], r[width + 1]) for r in served_rows}
    keys = list(responses) + [k for k in served if k not in responses]
    if not q.group_by and not keys:
        keys = [()]  # the total exists even when nothing matched
    empty = (0,) * len(AGGREGATE_NAMES)
    rows = []
    for key in keys:
        assignments, answered = served.get(key, (0, 0))
        values = responses.get(key, empty)
        rows.append(
            AggregateRow(
                key=dict(zip(q.group_by, key, strict=True)),
                values=values,
                assignments=assignments,
                answered=answered,
            )
        )
    return rows


def total_of(rows: Sequence[AggregateRow]) -> AggregateRow:
    """The whole of a breakdown (:func:`aggregate`'s groups): their sums added up, equal to
    the query without ``group_by`` and one statement pair cheaper. Exact: every value is a
    sum or a count, and the groups partition the rows (a time bucket or a dimension value
    each; a missing value is a group of its own)."""
    columns = zip(*(row.values for row in rows), strict=True)
    values = tuple(sum(column) for column in columns) or (0,) * len(AGGREGATE_NAMES)
    return AggregateRow(
        key={},
        values=values,
        assignments=sum(row.assignments for row in rows),
        answered=sum(row.answered for row in rows),
    )


async def unfolded(db: Executor) -> dict[str, Backlog]:
    """Rows not yet folded into the rollups, per table (the fold's lag)."""
    age = "coalesce(extract(epoch FROM now() - min(created_at)), 0)"
    rows = await db.fetch(
        f"SELECT 'response' AS source, count(*) AS n, {age} AS age"
        f" FROM {unfolded_rows('response')}"
        f" UNION ALL SELECT 'assignment', count(*), {age} FROM {unfolded_rows('assignment')}"
    )
    return {r["source"]: Backlog(rows=r["n"], oldest_seconds=float(r["age"])) for r in rows}
