"""KPI reports over REST (scope ``kpis:read``)."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, QueryParameter

from survey_service.reporting import FILTER_DIMENSIONS, KpiParams, KpiReport, ReportingService
from survey_service.web.auth import api_key_of, requires

__all__ = ["KpiController"]

From = Annotated[
    str | None, QueryParameter(name="from", description="ISO date or date-time (inclusive)")
]
To = Annotated[
    str | None,
    QueryParameter(name="to", description="ISO date (inclusive) or date-time (exclusive)"),
]
Tz = Annotated[
    str, QueryParameter(description="IANA time zone for dates and day/week/month groups")
]
GroupBy = Annotated[
    str | None,
    QueryParameter(
        description="one or two of day, week, month, channel, touchpoint, agent, location,"
        " variant, language, version"
    ),
]


def _params(
    request: Request[Any, Any, Any],
    start: str | None,
    end: str | None,
    tz: str,
    include_flagged: bool,
    group_by: str | None,
) -> KpiParams:
    filters = {d: request.query_params[d] for d in FILTER_DIMENSIONS if request.query_params.get(d)}
    return KpiParams(
        start=start,
        end=end,
        tz=tz,
        filters=filters,
        include_flagged=include_flagged,
        group_by=group_by,
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
        tz: Tz = "UTC",
        include_flagged: FromQuery[bool] = False,
        group_by: GroupBy = None,
    ) -> KpiReport:
        """Filters: channel, touchpoint, agent, location, variant, language, version."""
        params = _params(request, start, end, tz, include_flagged, group_by)
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
        tz: Tz = "UTC",
        include_flagged: FromQuery[bool] = False,
        group_by: GroupBy = None,
    ) -> KpiReport:
        """As for one survey; ``group_by`` may also be ``survey``."""
        params = _params(request, start, end, tz, include_flagged, group_by)
        return await reporting.business_kpis(api_key_of(request), survey or [], params)
