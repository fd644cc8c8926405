"""The read side: KPI reports from the rollups, with validated filters and suppression."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import AsyncIterator, Sequence
from typing import Any

import msgspec

from survey_service.apikeys.service import Audience
from survey_service.db import Database
from survey_service.db.replica import ReadRouter
from survey_service.errors import BadParameter, NotFound
from survey_service.lib.stats import Moments
from survey_service.lib.structs import Backlog, Struct
from survey_service.reporting import queries
from survey_service.reporting.columns import AGGREGATE_NAMES, DIMENSIONS, TIME_GROUPS
from survey_service.reporting.exports import stream_csv
from survey_service.reporting.key_drivers import DriverReport, key_drivers
from survey_service.reporting.metrics import KpiMemo, Kpis, metric_moments
from survey_service.reporting.queries import AggregateQuery
from survey_service.reporting.row_queries import ExportedResponse, driver_sums, export_page
from survey_service.surveys.catalog import Catalog, SurveyVersionInfo

__all__ = [
    "FILTER_DIMENSIONS",
    "KpiGroup",
    "KpiParams",
    "KpiReport",
    "ReportingService",
    "ResponsePage",
    "parse_moment",
    "parse_window",
]

FILTER_DIMENSIONS = tuple(d.name for d in DIMENSIONS)
FIRST_YEAR, LAST_YEAR = 1970, 2200
"""Dates outside these years are refused (nothing was collected then; no overflow)."""
MAX_FILTER_VALUE = 200
MAX_ID = 2**63 - 1  # ids are PostgreSQL bigints
GROUP_DIMENSIONS = (*TIME_GROUPS, *FILTER_DIMENSIONS)


class KpiParams(Struct):
    """Query parameters as received (strings), validated by the service."""

    start: str | None = None
    end: str | None = None
    tz: str | None = None
    filters: dict[str, str] = {}
    include_flagged: bool | None = None
    """None: the endpoint's default (KPIs leave flagged responses out, exports keep them)."""
    group_by: str | None = None
    trust: str = "any"


class ResponsePage(Struct):
    """A page of exported responses; pass ``next_cursor`` back for the next (None: done)."""

    items: list[ExportedResponse]
    next_cursor: str | None


DRIVER_ITEMS = ("empathy_understood", "empathy_cared", "empathy_emotional", "empathy_influence")


class KpiGroup(Struct):
    """One breakdown row; a suppressed row carries its n only."""

    key: dict[str, str | int | None]
    n: int
    suppressed: bool
    kpis: Kpis | None


class KpiReport(Struct):
    """KPIs for the selected responses, and per group when asked."""

    surveys: list[str]
    time_zone: str
    start: dt.datetime | None = msgspec.field(name="from")
    end: dt.datetime | None = msgspec.field(name="to")
    filters: dict[str, str | int]
    include_flagged: bool
    min_n: int
    n: int
    suppressed: bool
    kpis: Kpis | None
    group_by: list[str]
    groups: list[KpiGroup]


_N = AGGREGATE_NAMES.index("n")  # responses, in an AggregateRow's values


def parse_moment(text: str, zone: zoneinfo.ZoneInfo, *, end: bool) -> dt.datetime:
    """An ISO date or date-time; dates and naive times are local to ``zone``.

    A date as ``to`` means the end of that day (the window includes it); any other ``to``
    is exclusive.
    """
    try:
        if len(text) == 10:
            day = dt.date.fromisoformat(text)
            moment = dt.datetime.combine(day, dt.time(), zone)
        else:
            moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError("not an ISO 8601 date or date-time") from None
    if not FIRST_YEAR <= moment.year <= LAST_YEAR:
        raise ValueError(f"must be between the years {FIRST_YEAR} and {LAST_YEAR}")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    if len(text) == 10 and end:
        moment = dt.datetime.combine(moment.date() + dt.timedelta(days=1), dt.time(), zone)
    return moment.astimezone(dt.UTC)


def parse_window(
    tz: str, start: str | None, end: str | None
) -> tuple[dt.datetime | None, dt.datetime | None]:
    """The ``from`` and ``to`` parameters as UTC moments (see :func:`parse_moment`), dates
    read in the IANA zone ``tz``; BadParameter naming the parameter that cannot be used."""
    try:
        zone = zoneinfo.ZoneInfo(tz)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise BadParameter("tz", f"'{tz}' is not an IANA time zone") from None
    bounds: dict[str, dt.datetime | None] = {}
    for name, text, is_end in (("from", start, False), ("to", end, True)):
        try:
            bounds[name] = parse_moment(text, zone, end=is_end) if text else None
        except ValueError as exc:
            raise BadParameter(name, str(exc)) from None
    if bounds["from"] and bounds["to"] and bounds["from"] > bounds["to"]:
        raise BadParameter("from", "is after to")
    return bounds["from"], bounds["to"]


class ReportingService:
    """KPI reports for one survey or several, as a given API key may see them."""

    def __init__(
        self,
        db: Database,
        catalog: Catalog,
        min_n: int,
        time_zone: str = "UTC",
        reads: ReadRouter | None = None,
    ) -> None:
        self.db = db
        self.reads = reads or ReadRouter(db, None, 0.0)  # the replica, when there is one
        self.catalog = catalog
        self.min_n = min_n
        self.time_zone = time_zone
        self.memo = KpiMemo()

    async def fold_lag(self) -> dict[str, Backlog]:
        """Rows waiting for the fold, per table (``response``, ``assignment``)."""
        return await queries.unfolded(self.db)

    def visible(self, key: Audience, slug: str) -> SurveyVersionInfo:
        """The survey if it exists and the key may see it; else NotFound (404)."""
        info = self.catalog.current(slug)
        if info is None or not key.sees(slug):
            raise NotFound("survey", slug)
        return info

    async def survey_kpis(self, key: Audience, slug: str, params: KpiParams) -> KpiReport:
        """KPIs of one survey."""
        return await self._report([self.visible(key, slug)], params, single=True)

    async def business_kpis(
        self, key: Audience, slugs: Sequence[str], params: KpiParams
    ) -> KpiReport:
        """KPIs over several surveys (default: every survey the key sees); each KPI counts
        only the surveys that ask its question."""
        chosen = slugs or [s for s in self.catalog.slugs() if key.sees(s)]
        return await self._report([self.visible(key, s) for s in chosen], params, single=False)

    async def moments(
        self, key: Audience, slugs: Sequence[str], params: KpiParams
    ) -> dict[str, Moments]:
        """Per metric of :data:`METRICS`, the moments of the whole selection (what a
        comparison of two periods needs; the KPI figures themselves come from the report)."""
        chosen = slugs or [s for s in self.catalog.slugs() if key.sees(s)]
        surveys = [self.visible(key, s) for s in chosen]
        query, _ = await self._query(surveys, params, single=len(surveys) == 1)
        overall = msgspec.structs.replace(query, group_by=[])
        [total] = await self.reads.read(lambda db: queries.aggregate(db, overall))
        return metric_moments(total.sums, total.assignments, total.answered)

    async def _report(
        self, surveys: list[SurveyVersionInfo], params: KpiParams, *, single: bool
    ) -> KpiReport:
        query, filters = await self._query(surveys, params, single=single)
        # A breakdown's whole is its groups added up (exact: see total_of); the read
        # router says in this task where the read ran.
        rows = await self.reads.read(lambda db: queries.aggregate(db, query))
        total = queries.total_of(rows) if query.group_by else rows[0]
        groups: list[KpiGroup] = []
        if query.group_by:
            names: dict[str, dict[Any, Any]] = {
                "version": await self.catalog.version_numbers(query.survey_ids)
                if "version" in query.group_by
                else {},
                "survey": {s.survey_id: s.slug for s in surveys},
            }
            renamed = any(g in names for g in query.group_by)  # versions, survey slugs
            for row in rows:
                key = row.key
                if renamed:
                    key = {g: names[g].get(v, v) if g in names else v for g, v in key.items()}
                groups.append(self._group(key, row))
            groups.sort(key=lambda g: [*map(str, g.key.values())])
        whole = self._group({}, total)
        return KpiReport(
            surveys=[s.slug for s in surveys],
            time_zone=query.time_zone,
            start=query.start,
            end=query.end,
            filters=filters,
            include_flagged=query.include_flagged,
            min_n=self.min_n,
            n=whole.n,
            suppressed=whole.suppressed,
            kpis=whole.kpis,
            group_by=query.group_by,
            groups=groups,
        )

    async def drivers(
        self, key: Audience, slug: str, params: KpiParams, outcome: str | None
    ) -> DriverReport:
        """Key drivers of NPS or CSAT among the survey's empathy items."""
        info = self.visible(key, slug)
        roles = {q.role.value for q in info.definition.questions}
        outcome = outcome or ("nps" if "nps" in roles else "csat")
        if outcome not in ("nps", "csat") or outcome not in roles:
            raise BadParameter("outcome", f"the survey has no '{outcome}' question (nps or csat)")
        items = [r for r in DRIVER_ITEMS if r in roles]
        if not items:
            raise BadParameter("outcome", "the survey has no empathy items to relate to it")
        query, _ = await self._query([info], params, single=True)
        columns = [outcome, *items]
        n, sums, cross = await self.reads.read(lambda db: driver_sums(db, query, columns))
        return key_drivers(outcome, items, n, sums, cross)

    async def export_page(
        self, key: Audience, slug: str, params: KpiParams, cursor: str | None, limit: int
    ) -> ResponsePage:
        """One page of responses after ``cursor`` (flagged ones included unless asked not)."""
        info = self.visible(key, slug)
        if cursor is not None and not (cursor.isdecimal() and int(cursor) <= MAX_ID):
            raise BadParameter("cursor", "not a cursor from a previous page")
        if not 1 <= limit <= 1000:
            raise BadParameter("limit", "must be from 1 to 1000")
        query, _ = await self._query([info], params, single=True, flagged=True)
        after = int(cursor or 0)
        items = await self.reads.read(lambda db: export_page(db, query, after, limit))
        next_cursor = str(items[-1].id) if len(items) == limit else None
        return ResponsePage(items=items, next_cursor=next_cursor)

    async def export_csv(
        self, key: Audience, slug: str, params: KpiParams, *, bom: bool
    ) -> AsyncIterator[bytes]:
        """The whole selection as CSV chunks (validated before the first byte is sent)."""
        info = self.visible(key, slug)
        query, _ = await self._query([info], params, single=True, flagged=True)
        return stream_csv(await self.reads.pick(), info.definition, query, bom=bom)

    def _group(self, key: dict[str, Any], row: queries.AggregateRow) -> KpiGroup:
        n = row.values[_N]
        if n < self.min_n:
            return KpiGroup(key=key, n=n, suppressed=True, kpis=None)
        kpis = self.memo.kpis(row.values, row.assignments, row.answered)
        return KpiGroup(key=key, n=n, suppressed=False, kpis=kpis)

    async def query_for(self, survey: SurveyVersionInfo, params: KpiParams) -> AggregateQuery:
        """The validated aggregate query of one survey for these parameters."""
        query, _ = await self._query([survey], params, single=True)
        return query

    async def _query(
        self,
        surveys: list[SurveyVersionInfo],
        params: KpiParams,
        *,
        single: bool,
        flagged: bool = False,
    ) -> tuple[AggregateQuery, dict[str, str | int]]:
        tz = params.tz or self.time_zone
        start, end = parse_window(tz, params.start, params.end)
        group_by = [g.strip() for g in (params.group_by or "").split(",") if g.strip()]
        allowed = (*GROUP_DIMENSIONS, "survey") if not single else GROUP_DIMENSIONS
        for g in group_by:
            if g not in allowed:
                raise BadParameter("group_by", f"unknown dimension '{g}'; use {', '.join(allowed)}")
        if len(group_by) > 2 or len(set(group_by)) != len(group_by):
            raise BadParameter("group_by", "one or two different dimensions")
        filters: dict[str, str | int] = {}
        for name, value in params.filters.items():
            filters[name] = await self._filter_value(surveys, name, value, single=single)
        if params.trust not in ("any", "high", "low"):
            raise BadParameter("trust", "any, high or low")
        query = AggregateQuery(
            survey_ids=[s.survey_id for s in surveys],
            time_zone=tz,
            rollup_zone=self.time_zone,
            start=start,
            end=end,
            filters=filters,
            include_flagged=flagged if params.include_flagged is None else params.include_flagged,
            group_by=group_by,
            trust=params.trust,  # type: ignore[arg-type]  # checked above
        )
        return query, dict(params.filters)

    async def _filter_value(
        self, surveys: list[SurveyVersionInfo], name: str, value: str, *, single: bool
    ) -> str | int:
        if name == "variant":
            known = {
                v.name
                for s in surveys
                if s.definition.experiment
                for v in s.definition.experiment.variants
            }
            if value not in known:
                raise BadParameter("variant", f"'{value}' is not a variant of the survey")
        if "\x00" in value or len(value) > MAX_FILTER_VALUE:
            message = f"at most {MAX_FILTER_VALUE} characters, no NUL"
            raise BadParameter(name, message)
        if name == "version":
            if not single:
                raise BadParameter("version", "only for one survey")
            if not value.isdecimal() or len(value) > 9:
                raise BadParameter("version", "must be a version number")
            found = await self.catalog.version_id(surveys[0].survey_id, int(value))
            if found is None:
                raise BadParameter("version", f"the survey has no version {value}")
            return found
        return value
