"""What each dashboard page shows, built from the KPI, experiment and export services (the
same calls the REST API makes, so every number equals the API's for the same filters).

A *change* against the previous period of the same length is flagged as real only when
the 95% Welch interval of the difference (as experiments compute it) excludes zero and
both periods reach the minimum n; otherwise the page says "no clear change".
"""

from __future__ import annotations

import contextlib
import datetime as dt
import zoneinfo
from typing import Any

from survey_service.apikeys.service import Audience
from survey_service.dashboard import queries
from survey_service.dashboard.cards import CARDS, Card, cards, estimate, high_of, low_of, value_of
from survey_service.dashboard.charts import Bar, Point, interval_chart, line_chart
from survey_service.errors import BadParameter
from survey_service.experiments.service import ExperimentResults, ExperimentService
from survey_service.lib.structs import Struct
from survey_service.reporting.service import KpiParams, KpiReport, ReportingService

__all__ = [
    "BREAKDOWNS",
    "COMMENTS_PAGE",
    "CommentRow",
    "DashFilters",
    "DashboardService",
    "LiveRow",
    "Window",
]

BREAKDOWNS = ("touchpoint", "agent", "channel", "language", "variant")
DEFAULT_DAYS = 28
COMMENTS_PAGE = 50


class DashFilters(Struct):
    """The filter bar, as the URL carries it (so a view can be bookmarked and sent)."""

    start: str | None = None
    end: str | None = None
    tz: str | None = None
    channel: str | None = None
    touchpoint: str | None = None
    agent: str | None = None
    every: str = "day"


class Window(Struct):
    """The period shown and the one before it (same length), as dates in ``tz``."""

    start: dt.date
    end: dt.date
    previous_start: dt.date
    previous_end: dt.date
    tz: str

    def params(self, filters: DashFilters, *, previous: bool = False, **extra: Any) -> KpiParams:
        """The KPI API's parameters for this window (or the previous one)."""
        start, end = (
            (self.previous_start, self.previous_end) if previous else (self.start, self.end)
        )
        dims = {k: v for k in ("channel", "touchpoint", "agent") if (v := getattr(filters, k))}
        return KpiParams(
            start=start.isoformat(), end=end.isoformat(), tz=self.tz, filters=dims, **extra
        )


class LiveRow(Struct):
    """A response as the live page shows it (scores and places, no free text)."""

    id: int
    survey: str
    created_at: dt.datetime
    channel: str
    touchpoint: str | None
    agent: str | None
    nps: int | None
    csat: int | None
    empathy_understood: int | None
    empathy_cared: bool | None
    sentiment_class: int | None


class CommentRow(Struct):
    """A comment as the comments page lists it."""

    id: int
    created_at: dt.datetime
    channel: str
    variant: str | None
    touchpoint: str | None
    agent: str | None
    comment: str
    sentiment_class: int | None
    sentiment_cues: list[str]
    score_text_mismatch: bool
    nps: int | None
    csat: int | None
    empathy_understood: int | None
    empathy_cared: bool | None


def _periods(window: Window, every: str) -> list[str]:
    """Every day (or week, by its Monday) of the window, as the API's group keys."""
    step = dt.timedelta(days=1 if every == "day" else 7)
    first = window.start if every == "day" else window.start - dt.timedelta(window.start.weekday())
    keys = []
    moment = first
    while moment <= window.end:
        keys.append(moment.isoformat())
        moment += step
    return keys


class DashboardService:
    """Page models for a signed-in user (an :class:`Audience`)."""

    def __init__(self, reporting: ReportingService, experiments: ExperimentService) -> None:
        self.reporting = reporting
        self.experiments = experiments

    def window(self, filters: DashFilters) -> Window:
        """The period the filter bar asks for (default: the last 28 days, today included)."""
        tz = filters.tz or self.reporting.time_zone
        try:
            zone = zoneinfo.ZoneInfo(tz)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise BadParameter("tz", f"'{tz}' is not an IANA time zone") from None
        if filters.every not in ("day", "week"):
            raise BadParameter("every", "day or week")
        try:
            end = (
                dt.date.fromisoformat(filters.end) if filters.end else dt.datetime.now(zone).date()
            )
            start = (
                dt.date.fromisoformat(filters.start)
                if filters.start
                else end - dt.timedelta(days=DEFAULT_DAYS - 1)
            )
        except ValueError:
            raise BadParameter("from", "dates as YYYY-MM-DD") from None
        if start > end:
            raise BadParameter("from", "is after to")
        if (end - start).days > 3 * 366:
            raise BadParameter("from", "at most three years at a time")
        days = (end - start).days + 1
        return Window(
            start=start,
            end=end,
            previous_start=start - dt.timedelta(days=days),
            previous_end=start - dt.timedelta(days=1),
            tz=tz,
        )

    async def overview(
        self, who: Audience, filters: DashFilters
    ) -> tuple[Window, list[Card], list[tuple[str, str, KpiReport, list[Card]]]]:
        """Business-wide cards and one row of cards per survey the user sees."""
        window = self.window(filters)
        now, before = window.params(filters), window.params(filters, previous=True)
        slugs = [s for s in self.reporting.catalog.slugs() if who.sees(s)]
        business = await self.reporting.business_kpis(who, slugs, now)
        current = await self.reporting.moments(who, slugs, now)
        previous = await self.reporting.moments(who, slugs, before)
        rows = []
        for slug in slugs:
            report = await self.reporting.survey_kpis(who, slug, now)
            mine = await self.reporting.moments(who, [slug], now)
            theirs = await self.reporting.moments(who, [slug], before)
            info = self.reporting.visible(who, slug)
            title = info.definition.title[info.definition.default_language]
            rows.append((slug, title, report, cards(report, mine, theirs, self.reporting.min_n)))
        return window, cards(business, current, previous, self.reporting.min_n), rows

    async def survey(self, who: Audience, slug: str, filters: DashFilters) -> dict[str, Any]:
        """Cards, trends, breakdowns and key drivers of one survey."""
        window = self.window(filters)
        info = self.reporting.visible(who, slug)
        now = window.params(filters)
        report = await self.reporting.survey_kpis(who, slug, now)
        current = await self.reporting.moments(who, [slug], now)
        previous = await self.reporting.moments(who, [slug], window.params(filters, previous=True))
        trend = await self.reporting.survey_kpis(
            who, slug, window.params(filters, group_by=filters.every)
        )
        by_period = {str(g.key[filters.every]): g for g in trend.groups}
        periods = _periods(window, filters.every)
        trends = []
        for metric, label, unit, low, high in CARDS:
            points = []
            for key in periods:
                group = by_period.get(key)
                e = estimate(group.kpis if group else None, metric)
                points.append(
                    Point(
                        label=key[5:],
                        value=e.value if e else None,
                        low=e.ci_low if e else None,
                        high=e.ci_high if e else None,
                    )
                )
            svg = line_chart(
                points,
                chart_id=f"trend-{metric}",
                title=f"{label} by {filters.every}, with its 95% interval",
                lower=low,
                upper=high,
                unit=unit,
            )
            trends.append({"metric": metric, "label": label, "svg": svg, "points": points})
        breakdowns = []
        for dimension in BREAKDOWNS:
            grouped = await self.reporting.survey_kpis(
                who, slug, window.params(filters, group_by=dimension)
            )
            rows = sorted(
                grouped.groups,
                key=lambda g: (g.suppressed, -(value_of(g.kpis, "empathy_index") or -1e9)),
            )
            bars = [
                Bar(
                    label=str(g.key[dimension]),
                    value=value_of(g.kpis, "empathy_index"),
                    low=low_of(g.kpis, "empathy_index"),
                    high=high_of(g.kpis, "empathy_index"),
                    n=g.n,
                    suppressed=g.suppressed,
                )
                for g in rows
            ]
            svg = interval_chart(
                bars,
                chart_id=f"by-{dimension}",
                title=f"Empathy index by {dimension}, with 95% intervals",
                lower=0,
                upper=100,
            )
            breakdowns.append({"dimension": dimension, "groups": rows, "svg": svg})
        drivers = None
        # No NPS or CSAT question, or no empathy items: nothing to relate.
        with contextlib.suppress(BadParameter):
            drivers = await self.reporting.drivers(who, slug, now, None)
        drivers_svg = None
        if drivers is not None:
            drivers_svg = interval_chart(
                [
                    Bar(
                        label=d.item, value=d.correlation, low=d.ci_low, high=d.ci_high, n=drivers.n
                    )
                    for d in drivers.drivers
                ],
                chart_id="drivers",
                title=f"How strongly each empathy item moves {drivers.outcome.upper()}"
                " (correlation, 95% interval)",
                lower=-1,
                upper=1,
                reference=0,
            )
        experiments = [e for e in self.experiments.visible(who) if e.survey == slug]
        return {
            "window": window,
            "title": info.definition.title[info.definition.default_language],
            "report": report,
            "cards": cards(report, current, previous, self.reporting.min_n),
            "trends": trends,
            "breakdowns": breakdowns,
            "drivers": drivers,
            "drivers_svg": drivers_svg,
            "experiments": experiments,
        }

    async def experiment(
        self, who: Audience, key: str, filters: DashFilters, *, sequential: bool
    ) -> tuple[ExperimentResults, str, str]:
        """An experiment's results (as the API gives them), the chart of its primary metric
        per variant, and the chart of each treatment's lift over the control."""
        window = self.window(filters)
        results = await self.experiments.results(
            who,
            key,
            window.params(filters),
            sequential=sequential,
            mde=0.05,
            metric=None,
        )
        metric = results.experiment.primary_metric
        bars = [
            Bar(
                label=v.variant,
                value=v.metrics[metric].mean,
                low=v.metrics[metric].ci_low,
                high=v.metrics[metric].ci_high,
                n=v.metrics[metric].n,
            )
            for v in results.variants
        ]
        bounds = next(((low, high) for m, _, _, low, high in CARDS if m == metric), None)
        if bounds is None:  # csat_mean and outcome metrics: scale to the data
            ends = [x for b in bars for x in (b.low, b.high, b.value) if x is not None]
            bounds = (min([0.0, *ends]), max([1.0, *ends]))
        svg = interval_chart(
            bars,
            chart_id="variants",
            title=f"{metric} per variant, with 95% intervals",
            lower=bounds[0],
            upper=bounds[1],
        )
        lifts = []
        for treatment in results.treatments:
            c = treatment.metrics[metric].comparison
            low, high = c.absolute_ci if c.absolute_ci else (None, None)
            lifts.append(Bar(label=treatment.variant, value=c.absolute, low=low, high=high))
        ends = [abs(x) for b in lifts for x in (b.low, b.high, b.value) if x is not None]
        reach = max([1.0, *ends]) * 1.1
        lift_svg = interval_chart(
            lifts,
            chart_id="lifts",
            title=f"Lift in {metric} over {results.experiment.control}, with 95% intervals",
            lower=-reach,
            upper=reach,
            reference=0,
        )
        return results, svg, lift_svg

    async def comments(
        self, who: Audience, slug: str, filters: DashFilters, kind: str, before: int | None
    ) -> list[CommentRow]:
        """Newest comments first (``kind``: all, negative, mismatch, unheard)."""
        if kind not in queries.COMMENT_KINDS:
            raise BadParameter("show", ", ".join(queries.COMMENT_KINDS))
        window = self.window(filters)
        info = self.reporting.visible(who, slug)
        query = await self.reporting.query_for(info, window.params(filters))
        rows = await self.reporting.reads.read(
            lambda db: queries.comments(db, query, kind, before, COMMENTS_PAGE)
        )
        return [
            CommentRow(**{**row, "sentiment_cues": list(row["sentiment_cues"])}) for row in rows
        ]

    async def live(self, who: Audience, after: int, limit: int = 20) -> list[LiveRow]:
        """The newest responses of the surveys ``who`` sees, above id ``after``."""
        names = {i.survey_id: i.slug for i in self.reporting.catalog.served() if who.sees(i.slug)}
        rows = await self.reporting.reads.read(
            lambda db: queries.latest(db, list(names), after, limit)
        )
        return [
            LiveRow(
                **{k: v for k, v in dict(r).items() if k != "survey_id"},
                survey=names[r["survey_id"]],
            )
            for r in rows
        ]
