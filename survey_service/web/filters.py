"""The KPI filter parameters, declared once: a dependency every report, export and
experiment-results endpoint takes as ``filters``."""

from __future__ import annotations

from typing import Annotated

from litestar.params import QueryParameter

from survey_service.reporting.service import KpiParams

__all__ = ["From", "To", "Zone", "provide_filters"]

_Text = Annotated[str | None, QueryParameter(description="only responses with this value")]
From = Annotated[
    str | None, QueryParameter(name="from", description="ISO date or date-time (inclusive)")
]
"""The window's start, as every report reads it (see ``reporting.service.parse_window``)."""
To = Annotated[
    str | None,
    QueryParameter(name="to", description="ISO date (inclusive) or date-time (exclusive)"),
]
"""The window's end."""
Zone = Annotated[
    str | None,
    QueryParameter(
        description="IANA time zone for dates, groups and hours (default SURVEY_TIME_ZONE)"
    ),
]
"""The zone dates and groups are read in."""


async def provide_filters(
    start: From = None,
    end: To = None,
    tz: Zone = None,
    include_flagged: Annotated[
        bool | None,
        QueryParameter(
            description="include responses flagged as abuse (default: false for KPIs and"
            " experiments, true for exports)"
        ),
    ] = None,
    group_by: Annotated[
        list[str] | None,
        QueryParameter(
            description="KPI reports: one or two of day, week, month, channel, touchpoint,"
            " agent, location, variant, language, version (and survey business-wide); comma"
            " separated or repeated"
        ),
    ] = None,
    trust: Annotated[
        str,
        QueryParameter(description="any; high: not through plain QR codes; low: only those"),
    ] = "any",
    channel: _Text = None,
    touchpoint: _Text = None,
    agent: _Text = None,
    location: _Text = None,
    variant: _Text = None,
    language: _Text = None,
    version: Annotated[str | None, QueryParameter(description="a version number")] = None,
) -> KpiParams:
    """The filters as received; the reporting service validates them (400 naming any)."""
    dimensions = {
        "channel": channel,
        "touchpoint": touchpoint,
        "agent": agent,
        "location": location,
        "variant": variant,
        "language": language,
        "version": version,
    }
    return KpiParams(
        start=start,
        end=end,
        tz=tz,
        filters={name: value for name, value in dimensions.items() if value},
        include_flagged=include_flagged,
        group_by=",".join(group_by) if group_by else None,
        trust=trust,
    )
