"""KPI reports and key drivers over REST (scope ``kpis:read``)."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter

from survey_service.reporting.key_drivers import DriverReport
from survey_service.reporting.service import KpiParams, KpiReport, ReportingService
from survey_service.web.auth import API_KEY, api_key_of, requires

__all__ = ["DriverController", "KpiController"]


class KpiController(Controller):
    """NPS, CSAT, empathy index, CSS, response rate and cue shares with 95% intervals."""

    path = "/api/v1"
    tags = ["kpis"]
    guards = [requires("kpis:read")]
    security = API_KEY

    @get("/surveys/{slug:str}/kpis", summary="KPIs of one survey")
    async def survey_kpis(
        self,
        request: Request[Any, Any, Any],
        reporting: NamedDependency[ReportingService],
        filters: NamedDependency[KpiParams],
        slug: FromPath[str],
    ) -> KpiReport:
        """Filters: channel, touchpoint, agent, location, variant, language, version."""
        return await reporting.survey_kpis(api_key_of(request), slug, filters)

    @get("/kpis", summary="KPIs over several surveys (business-wide)")
    async def business_kpis(
        self,
        request: Request[Any, Any, Any],
        reporting: NamedDependency[ReportingService],
        filters: NamedDependency[KpiParams],
        survey: Annotated[
            list[str] | None, QueryParameter(description="slugs; default all the key sees")
        ] = None,
    ) -> KpiReport:
        """As for one survey; ``group_by`` may also be ``survey``."""
        return await reporting.business_kpis(api_key_of(request), survey or [], filters)


class DriverController(Controller):
    """Which empathy item moves NPS or CSAT most (scope ``kpis:read``)."""

    path = "/api/v1/surveys/{slug:str}/drivers"
    tags = ["kpis"]
    guards = [requires("kpis:read")]
    security = API_KEY

    @get(summary="Key drivers of NPS or CSAT")
    async def drivers(
        self,
        request: Request[Any, Any, Any],
        reporting: NamedDependency[ReportingService],
        filters: NamedDependency[KpiParams],
        slug: FromPath[str],
        outcome: Annotated[str | None, QueryParameter(description="nps or csat")] = None,
    ) -> DriverReport:
        """Correlations (95% intervals) and standardised regression coefficients."""
        return await reporting.drivers(api_key_of(request), slug, filters, outcome)
