"""``/dashboard/report`` (the weekly report, printable) and ``/dashboard/live`` (new
responses as they arrive: server-sent events with a small script, and without JavaScript
the page refreshes itself every 15 seconds)."""

from __future__ import annotations

import asyncio
import datetime as dt
import zoneinfo
from collections.abc import AsyncIterator
from typing import Any

import msgspec
from litestar import Request, get
from litestar.di import NamedDependency
from litestar.response import ServerSentEvent, Template
from litestar.response.sse import ServerSentEventMessage

from survey_service.dashboard.views import DashboardService
from survey_service.dashboard.web import DashboardController, render
from survey_service.dashboard.weekly import build_report, last_week
from survey_service.errors import BadParameter

__all__ = ["DashboardReportPages"]

POLL_SECONDS = 2.0
STREAM_SECONDS = 60.0
"""A stream ends after a minute (so a shutting-down server is never held long); the
browser's EventSource reconnects by itself, from the last id it saw (``Last-Event-ID``)."""


class DashboardReportPages(DashboardController):
    """The weekly report and the live page."""

    @get("/report")
    async def report(
        self, request: Request[Any, Any, Any], dashboard: NamedDependency[DashboardService]
    ) -> Template:
        """The week starting ``week`` (a Monday; default the last full week)."""
        zone = zoneinfo.ZoneInfo(dashboard.reporting.time_zone)
        asked = request.query_params.get("week")
        try:
            monday = (
                dt.date.fromisoformat(asked) if asked else last_week(dt.datetime.now(zone).date())
            )
        except ValueError:
            raise BadParameter("week", "a date as YYYY-MM-DD") from None
        monday -= dt.timedelta(days=monday.weekday())
        report = await build_report(dashboard, monday, request.state.user)
        return render(
            request,
            "report.html",
            "Weekly report",
            f"Weekly report {monday}",
            report=report,
            previous_week=(monday - dt.timedelta(days=7)).isoformat(),
        )

    @get("/live")
    async def live(
        self, request: Request[Any, Any, Any], dashboard: NamedDependency[DashboardService]
    ) -> Template:
        """The newest responses; the stream (or the refresh) brings the next ones."""
        rows = await dashboard.live(request.state.user, 0)
        return render(
            request,
            "live.html",
            "Live",
            "Live",
            rows=rows,
            last=rows[0].id if rows else 0,
        )

    @get("/live/events")
    async def events(
        self, request: Request[Any, Any, Any], dashboard: NamedDependency[DashboardService]
    ) -> ServerSentEvent:
        """``response`` events (JSON) for every new response of the user's surveys."""
        start = str(
            request.headers.get("last-event-id") or request.query_params.get("after") or "0"
        )
        after = int(start) if start.isdecimal() and len(start) <= 18 else 0
        user = request.state.user

        async def stream() -> AsyncIterator[ServerSentEventMessage]:
            nonlocal after
            loop = asyncio.get_running_loop()
            ends = loop.time() + STREAM_SECONDS
            while loop.time() < ends:
                rows = await dashboard.live(user, after, 50)
                for row in reversed(rows):
                    after = max(after, row.id)
                    yield ServerSentEventMessage(
                        data=msgspec.json.encode(row).decode(), event="response", id=str(row.id)
                    )
                if not rows:  # a comment line: a closed connection shows at once, not in a minute
                    yield ServerSentEventMessage(comment="waiting")
                await asyncio.sleep(POLL_SECONDS)

        return ServerSentEvent(stream(), headers={"Cache-Control": "no-store"})
