"""The weekly report: every Monday morning in the business time zone (and on demand), the
past week's KPIs against the week before (with the dashboard's "real change" rule), the
biggest movers by touchpoint and agent, experiments that reached a verdict, and three
representative comments; as an email to the owners (text and HTML) and as a printable
dashboard page. Built from the same services as every page."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

from survey_service.alerts import queries as alert_queries
from survey_service.apikeys.service import EVERYONE, Audience
from survey_service.dashboard.cards import Card, cards
from survey_service.dashboard.views import DashboardService, DashFilters
from survey_service.db import Database
from survey_service.lib.structs import Struct
from survey_service.lib.templates import environment
from survey_service.reporting.service import KpiParams

__all__ = ["SEND_HOUR", "Mover", "WeeklyReport", "build_report", "last_week", "send_if_due"]

SEND_HOUR = 7
"""Monday, from this hour in the business time zone."""


class Mover(Struct):
    """A touchpoint or agent whose empathy index moved most against the week before."""

    dimension: str
    key: str
    n: int
    before: float
    now: float
    change: float


class Verdict(Struct):
    """An experiment's treatment that reached a verdict (sequential test, safe to read weekly)."""

    experiment: str
    variant: str
    metric: str
    verdict: str
    difference: float | None


class Quote(Struct):
    """A representative comment."""

    survey: str
    kind: str
    comment: str
    created_at: dt.datetime


class WeeklyReport(Struct):
    """One week, Monday to Sunday in ``tz``."""

    start: dt.date
    end: dt.date
    tz: str
    n: int
    cards: list[Card]
    movers: list[Mover]
    verdicts: list[Verdict]
    quotes: list[Quote]


def last_week(today: dt.date) -> dt.date:
    """The Monday of the last full week before ``today``."""
    return today - dt.timedelta(days=today.weekday() + 7)


async def build_report(
    dashboard: DashboardService, monday: dt.date, who: Audience = EVERYONE
) -> WeeklyReport:
    """The report of the week starting ``monday``, over the surveys ``who`` sees (the
    email: every survey, for the owners)."""
    reporting = dashboard.reporting
    filters = DashFilters(start=monday.isoformat(), end=(monday + dt.timedelta(days=6)).isoformat())
    window = dashboard.window(filters)
    now, before = window.params(filters), window.params(filters, previous=True)
    business = await reporting.business_kpis(who, [], now)
    figures = cards(
        business,
        await reporting.moments(who, [], now),
        await reporting.moments(who, [], before),
        reporting.min_n,
    )
    movers: list[Mover] = []
    for dimension in ("touchpoint", "agent"):
        this = await reporting.business_kpis(who, [], _grouped(now, dimension))
        that = await reporting.business_kpis(who, [], _grouped(before, dimension))
        previous = {str(g.key[dimension]): g for g in that.groups if not g.suppressed}
        found = []
        for group in this.groups:
            key = str(group.key[dimension])
            old = previous.get(key)
            if group.suppressed or old is None or group.kpis is None or old.kpis is None:
                continue
            a, b = old.kpis.empathy_index.value, group.kpis.empathy_index.value
            if a is None or b is None:
                continue
            found.append(
                Mover(dimension=dimension, key=key, n=group.n, before=a, now=b, change=b - a)
            )
        movers += sorted(found, key=lambda m: -abs(m.change))[:3]
    verdicts = []
    for view in dashboard.experiments.visible(who):
        results = await dashboard.experiments.results(
            who, view.key, KpiParams(), sequential=True, mde=None, metric=None
        )
        for treatment in results.treatments:
            result = treatment.metrics[view.primary_metric]
            if result.verdict in ("better", "worse"):
                verdicts.append(
                    Verdict(
                        experiment=view.key,
                        variant=treatment.variant,
                        metric=view.primary_metric,
                        verdict=result.verdict,
                        difference=result.comparison.absolute,
                    )
                )
    quotes = await _quotes(dashboard, filters, who)
    return WeeklyReport(
        start=window.start,
        end=window.end,
        tz=window.tz,
        n=business.n,
        cards=figures,
        movers=movers,
        verdicts=verdicts,
        quotes=quotes,
    )


def _grouped(params: KpiParams, dimension: str) -> KpiParams:
    return KpiParams(
        start=params.start, end=params.end, tz=params.tz, filters=params.filters, group_by=dimension
    )


async def _quotes(dashboard: DashboardService, filters: DashFilters, who: Audience) -> list[Quote]:
    """The newest negative, score-text-mismatch and any comment of the week."""
    newest: dict[str, Quote] = {}
    for slug in (s for s in dashboard.reporting.catalog.slugs() if who.sees(s)):
        for kind, label in (("negative", "negative"), ("mismatch", "mismatch"), ("all", "recent")):
            rows = await dashboard.comments(who, slug, filters, kind, None)
            if not rows:
                continue
            quote = Quote(
                survey=slug, kind=label, comment=rows[0].comment, created_at=rows[0].created_at
            )
            if label not in newest or quote.created_at > newest[label].created_at:
                newest[label] = quote
    return [newest[k] for k in ("negative", "mismatch", "recent") if k in newest]


def render_email(report: WeeklyReport, base_url: str) -> tuple[str, str, str]:
    """(subject, text, HTML) of the report email."""
    context: dict[str, Any] = {
        "report": report,
        "link": f"{base_url}/dashboard/report?week={report.start}",
    }
    templates = environment()
    subject = f"Empathy this week: {report.start} to {report.end}"
    return (
        subject,
        templates.get_template("email/weekly.txt").render(context),
        templates.get_template("email/weekly.html").render(context),
    )


async def send_if_due(
    db: Database,
    dashboard: DashboardService,
    base_url: str,
    now: dt.datetime | None = None,
    *,
    force: bool = False,
) -> WeeklyReport | None:
    """On Monday from 7 o'clock in the business time zone, queue last week's report for
    every owner, once per week whichever process gets there first (``force``: now, for
    the command line; still once per week unless already queued)."""
    zone = zoneinfo.ZoneInfo(dashboard.reporting.time_zone)
    local = (now or dt.datetime.now(dt.UTC)).astimezone(zone)
    if not force and (local.weekday() != 0 or local.hour < SEND_HOUR):
        return None
    monday = last_week(local.date())
    if not await alert_queries.report_once(db, monday) and not force:
        return None
    report = await build_report(dashboard, monday)
    owners = await alert_queries.owners(db)
    if owners:
        subject, text, html = render_email(report, base_url)
        await alert_queries.enqueue_email(db, owners, subject, text, html)
    return report
