"""KPI reports over REST (scope ``kpis:read``)."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, QueryParameter
from litestar.response import Stream

from survey_service.reporting.key_drivers import DriverReport
from survey_service.reporting.service import (
    FILTER_DIMENSIONS,
    KpiParams,
    KpiReport,
    ReportingService,
)
from survey_service.web.auth import api_key_of, requires

__all__ = [
    "DriverController",
    "ExportController",
    "From",
    "KpiController",
    "To",
    "Tz",
    "kpi_params",
]

From = Annotated[
    str | None, QueryParameter(name="from", description="ISO date or date-time (inclusive)")
]
To = Annotated[
    str | None,
    QueryParameter(name="to", description="ISO date (inclusive) or date-time (exclusive)"),
]
Tz = Annotated[
    str | None,
    QueryParameter(description="IANA time zone for dates and groups (default SURVEY_TIME_ZONE)"),
]
GroupBy = Annotated[
    str | None,
    QueryParameter(
        description="one or two of day, week, month, channel, touchpoint, agent, location,"
        " variant, language, version"
    ),
]


def kpi_params(
    request: Request[Any, Any, Any],
    start: str | None,
    end: str | None,
    tz: str | None,
    include_flagged: bool,
    group_by: str | None,
) -> KpiParams:
    filters = {d: request.query_params[d] for d in FILTER_DIMENSIONS if request.query_params.get(d)}
    trust = request.query_params.get("trust", "any")
    return KpiParams(
        start=start,
        end=end,
        tz=tz,
        filters=filters,
        include_flagged=include_flagged,
        group_by=group_by,
        trust=trust,
    )


class KpiController(Controller):
    """NPS, CSAT, empathy index, CSS, response rate and cue shares with 95% intervals."""

    path = "/api/v1"
    tags = ["kpis"]
    guards = [requires("kpis:read")]

    @get("/surveys/{slug:str}/kpis", summary="KPIs of one survey")
    async def survey_kpis(
        self,
        request: Request[Any, Any, Any],
        reporting: NamedDependency[ReportingService],
        slug: FromPath[str],
        start: From = None,
        end: To = None,
        tz: Tz = None,
        include_flagged: FromQuery[bool] = False,
        group_by: GroupBy = None,
    ) -> KpiReport:
        """Filters: channel, touchpoint, agent, location, variant, language, version."""
        params = kpi_params(request, start, end, tz, include_flagged, group_by)
        return await reporting.survey_kpis(api_key_of(request), slug, params)

    @get("/kpis", summary="KPIs over several surveys (business-wide)")
    async def business_kpis(
        self,
        request: Request[Any, Any, Any],
        reporting: NamedDependency[ReportingService],
        survey: Annotated[
            list[str] | None, QueryParameter(description="slugs; default all the key sees")
        ] = None,
        start: From = None,
        end: To = None,
        tz: Tz = None,
        include_flagged: FromQuery[bool] = False,
        group_by: GroupBy = None,
    ) -> KpiReport:
        """As for one survey; ``group_by`` may also be ``survey``."""
        params = kpi_params(request, start, end, tz, include_flagged, group_by)
        return await reporting.business_kpis(api_key_of(request), survey or [], params)


class DriverController(Controller):
    """Which empathy item moves NPS or CSAT most (scope ``kpis:read``)."""

    path = "/api/v1/surveys/{slug:str}/drivers"
    tags = ["kpis"]
    guards = [requires("kpis:read")]

    @get(summary="Key drivers of NPS or CSAT")
    async def drivers(
        self,
        request: Request[Any, Any, Any],
        reporting: NamedDependency[ReportingService],
        slug: FromPath[str],
        outcome: Annotated[str | None, QueryParameter(description="nps or csat")] = None,
        start: From = None,
        end: To = None,
        tz: Tz = None,
        include_flagged: FromQuery[bool] = False,
    ) -> DriverReport:
        """Correlations (95% intervals) and standardised regression coefficients."""
        params = kpi_params(request, start, end, tz, include_flagged, None)
        return await reporting.drivers(api_key_of(request), slug, params, outcome)


class ExportController(Controller):
    """Stored responses as one CSV (scope ``responses:read``); the JSON pages share their
    path with submission, so they live in ``web.api.SurveyApiController``."""

    path = "/api/v1/surveys/{slug:str}"
    tags = ["responses"]
    guards = [requires("responses:read")]

    @get("/responses.csv", summary="Responses as CSV (streamed)")
    async def csv(
        self,
        request: Request[Any, Any, Any],
        reporting: NamedDependency[ReportingService],
        slug: FromPath[str],
        bom: Annotated[bool, QueryParameter(description="UTF-8 BOM for spreadsheets")] = False,
        start: From = None,
        end: To = None,
        tz: Tz = None,
        include_flagged: FromQuery[bool] = True,
    ) -> Stream:
        """Formula-looking cells are prefixed with an apostrophe."""
        params = kpi_params(request, start, end, tz, include_flagged, None)
        chunks = await reporting.export_csv(api_key_of(request), slug, params, bom=bom)
        return Stream(
            chunks,
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{slug}-responses.csv"'},
        )
