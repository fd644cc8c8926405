"""Alerts that close the loop: every stored response is looked at once (a trigger-filled
queue), its rules decide which webhook events and manager emails it causes, and a
detractor opens a follow-up case; a periodic job checks the KPI and SRM rules (webhook
endpoints: :mod:`.endpoints`; cases: :mod:`.cases`).

All of a response's consequences (case, messages, emails) are written in the transaction
that takes it off the queue: each happens exactly once, whichever process runs the job.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Sequence
from typing import Any

import msgspec

from survey_service.alerts import queries
from survey_service.alerts.events import ExperimentSrm, KpiThreshold, ResponseEvent
from survey_service.alerts.mail import alert_bodies
from survey_service.alerts.rules import AlertRules, KpiRule, response_alerts
from survey_service.alerts.webhooks import message_id
from survey_service.apikeys.service import EVERYONE
from survey_service.db import Database
from survey_service.errors import BadParameter
from survey_service.experiments.service import ExperimentService
from survey_service.experiments.statistics import compare
from survey_service.lib.structs import Struct
from survey_service.lib.text import one_line
from survey_service.reporting.rollups import vacuum_taken
from survey_service.reporting.service import KpiParams, ReportingService
from survey_service.surveys.catalog import SurveyVersionInfo

__all__ = ["AlertService"]

EVENT_OF = {
    "detractor": "response.detractor",
    "mismatch": "response.mismatch",
    "low_empathy": "response.low_empathy",
    "negative_comment": "response.negative",
}
"""The webhook event each response rule adds to ``response.created``."""
KPI_WINDOW = dt.timedelta(days=7)


class AlertService:
    """Alert rules, the event job, KPI checks, webhook endpoints and cases."""

    def __init__(
        self,
        db: Database,
        reporting: ReportingService,
        experiments: ExperimentService,
        *,
        base_url: str,
    ) -> None:
        self.db = db
        self.reporting = reporting
        self.experiments = experiments
        self.catalog = reporting.catalog
        self.base_url = base_url
        self._taken = 0  # queued responses taken since the queue was last vacuumed

    # --- rules -----------------------------------------------------------------------

    def _rules(self, info: SurveyVersionInfo, overrides: dict[int, str]) -> AlertRules:
        if info.survey_id in overrides:
            return msgspec.json.decode(overrides[info.survey_id], type=AlertRules)
        return info.definition.alerts or AlertRules()

    async def rules(self, slug: str) -> AlertRules:
        """A survey's effective rules."""
        info = self.reporting.visible(EVERYONE, slug)
        return self._rules(info, await queries.alert_settings(self.db))

    async def set_rules(self, slug: str, rules: AlertRules | None) -> AlertRules:
        """Replace a survey's rules (None: back to its TOML's)."""
        info = self.reporting.visible(EVERYONE, slug)
        for rule in rules.kpi if rules else []:
            if (rule.below is None) == (not rule.drop):
                raise BadParameter("kpi", "each KPI rule needs either below or drop: true")
        encoded = msgspec.json.encode(rules).decode() if rules is not None else None
        await queries.set_alert_settings(self.db, info.survey_id, encoded)
        return await self.rules(slug)

    # --- the event job ------------------------------------------------------------------

    async def drain_events(self, batch: int = 1000) -> int:
        """:meth:`process_events` while batches come back full (the rest may be claimed by
        another process): what the periodic job runs, so the alerts and webhooks keep up
        with answers at any rate, not one batch per period. How many. A batch that was
        not full took all there was; what arrived meanwhile waits for the next period
        (as the fold does: under load it would otherwise claim a few rows back to back)."""
        total, more = 0, True
        while more:
            done = await self.process_events(batch)
            total += done
            more = done >= batch
        # The fold's upkeep for its queues, for this one: without autovacuum (off or slow
        # on some servers) every claim would scan all the dead rows ever taken off it.
        self._taken = await vacuum_taken(self.db, ["response_event_queue"], self._taken + total)
        return total

    async def process_events(self, batch: int = 500) -> int:
        """Take queued responses off the queue and write what they cause; how many."""
        async with self.db.transaction() as tx:
            rows = await queries.claim_events(tx, batch)
            if not rows:
                return 0
            overrides = await queries.alert_settings(tx)
            live = [e for e in await queries.endpoints(tx) if e["disabled_at"] is None]
            messages: list[tuple[int, str, str, str]] = []
            mail: dict[str, list[str]] = {}
            by_id = {info.survey_id: info for info in self.catalog.served()}
            for row in rows:
                info = by_id.get(row["survey_id"])
                flagged = [f for f in row["flags"] if f != "low_trust"]
                if info is None or flagged:  # abuse-flagged answers alert nobody
                    continue
                rules = self._rules(info, overrides)
                hits = response_alerts(rules, row)
                if not hits and not live:  # nothing to write: no event built (the common case)
                    continue
                case_id = None
                if "detractor" in hits:
                    case_id = await queries.open_case(tx, row["survey_id"], row["id"], "detractor")
                event = ResponseEvent(
                    survey=info.slug,
                    response_id=row["id"],
                    created_at=row["created_at"],
                    channel=row["channel"],
                    variant=row["variant"],
                    language=row["language"],
                    touchpoint=row["touchpoint"],
                    agent=row["agent"],
                    nps=row["nps"],
                    csat=row["csat"],
                    empathy_understood=row["empathy_understood"],
                    empathy_cared=row["empathy_cared"],
                    sentiment_class=row["sentiment_class"],
                    score_text_mismatch=row["score_text_mismatch"],
                    alerts=list(hits),
                    case_id=case_id,
                )
                types = ["response.created", *(EVENT_OF[h] for h in hits if h in EVENT_OF)]
                messages += _messages(live, info.slug, types, event)
                if hits and rules.email:
                    mail.setdefault(info.slug, []).append(_line(event))
            await queries.enqueue_messages(tx, messages)
            for slug, lines in mail.items():
                await self._email(tx, slug, f"{len(lines)} alert(s)", lines, "cases")
        return len(rows)

    async def _email(self, db: Any, slug: str, what: str, lines: list[str], page: str) -> None:
        to = await queries.recipients(db, slug)
        info = self.catalog.current(slug)
        title = info.definition.title[info.definition.default_language] if info else slug
        heading = one_line(f"{title}: {what}")
        text, html = alert_bodies(heading, lines, f"{self.base_url}/dashboard/{page}", slug)
        if to:
            await queries.enqueue_email(db, to, heading, text, html)

    # --- KPI and SRM rules --------------------------------------------------------------

    async def check_kpis(self, now: dt.datetime | None = None) -> int:
        """Check every survey's KPI rules over the last 7 days (and SRM of running
        experiments); fire each at most once a day; how many fired."""
        moment = now or dt.datetime.now(dt.UTC)
        overrides = await queries.alert_settings(self.db)
        zone = zoneinfo.ZoneInfo(self.reporting.time_zone)
        today = moment.astimezone(zone).date()
        fired = 0
        for info in self.catalog.served():
            rules = self._rules(info, overrides)
            for rule in rules.kpi:
                event = await self._kpi_event(info, rule, moment)
                if event is not None and await queries.kpi_alert_once(
                    self.db, info.survey_id, rule.name(), today
                ):
                    fired += 1
                    await self._fire(
                        info.slug, "kpi.threshold", event, rules.email, _kpi_line(event)
                    )
            experiment = info.definition.experiment
            if rules.srm and experiment is not None and _running(experiment, today):
                results = await self.experiments.results(
                    EVERYONE, experiment.key, KpiParams(), sequential=False, mde=None, metric=None
                )
                ratio = results.sample_ratio
                if ratio.mismatch and await queries.kpi_alert_once(
                    self.db, info.survey_id, f"srm:{experiment.key}", today
                ):
                    fired += 1
                    srm = ExperimentSrm(
                        experiment=experiment.key,
                        survey=info.slug,
                        assignments=ratio.assignments,
                        expected_share=ratio.expected_share,
                        chi_square=ratio.chi_square,
                        p_value=ratio.p_value,
                    )
                    line = (
                        f"Experiment {experiment.key}: assignments do not follow the"
                        f" weights (p = {ratio.p_value:.2g})"
                    )
                    await self._fire(info.slug, "experiment.srm", srm, rules.email, line)
        return fired

    async def _kpi_event(
        self, info: SurveyVersionInfo, rule: KpiRule, moment: dt.datetime
    ) -> KpiThreshold | None:
        start, previous = moment - KPI_WINDOW, moment - 2 * KPI_WINDOW
        now = KpiParams(start=start.isoformat(), end=moment.isoformat())
        before = KpiParams(start=previous.isoformat(), end=start.isoformat())
        report = await self.reporting.survey_kpis(EVERYONE, info.slug, now)
        estimate = getattr(report.kpis, rule.metric) if report.kpis else None
        if estimate is None or estimate.value is None:
            return None
        prior = None
        interval = None
        if rule.drop:
            current = (await self.reporting.moments(EVERYONE, [info.slug], now))[rule.metric]
            earlier = (await self.reporting.moments(EVERYONE, [info.slug], before))[rule.metric]
            c = compare(earlier, current)
            if (
                c.absolute_ci is None
                or c.absolute_ci[1] >= 0
                or min(current.n, earlier.n) < self.reporting.min_n
            ):
                return None
            prior, interval = earlier.mean, c.absolute_ci
        elif rule.below is None or estimate.value >= rule.below:
            return None
        return KpiThreshold(
            survey=info.slug,
            metric=rule.metric,
            rule=rule.name(),
            window_start=start,
            window_end=moment,
            value=estimate.value,
            ci_low=estimate.ci_low,
            ci_high=estimate.ci_high,
            n=estimate.n,
            threshold=rule.below,
            previous=prior,
            difference_ci=interval,
        )

    async def _fire(self, slug: str, kind: str, data: Struct, email: bool, line: str) -> None:
        async with self.db.transaction() as tx:
            live = [e for e in await queries.endpoints(tx) if e["disabled_at"] is None]
            await queries.enqueue_messages(tx, _messages(live, slug, [kind], data))
            if email:
                await self._email(tx, slug, line, [line], f"surveys/{slug}")


def _messages(
    endpoints: Sequence[Any], slug: str, types: Sequence[str], data: Struct
) -> list[tuple[int, str, str, str]]:
    """One message per event type and subscribed endpoint; one id per event, shared by its
    endpoints (a receiver behind two endpoints can de-duplicate)."""
    found = []
    stamp = dt.datetime.now(dt.UTC)
    for kind in types:
        wanted = [
            e
            for e in endpoints
            if kind in e["event_types"] and (not e["surveys"] or slug in e["surveys"])
        ]
        if not wanted:
            continue
        body = msgspec.json.encode({"type": kind, "timestamp": stamp, "data": data}).decode()
        msg = message_id()
        found += [(e["id"], msg, kind, body) for e in wanted]
    return found


def _line(event: ResponseEvent) -> str:
    scores = [
        f"{name} {value}"
        for name, value in (
            ("NPS", event.nps),
            ("CSAT", event.csat),
            ("understood", event.empathy_understood),
        )
        if value is not None
    ]
    where = " · ".join(x for x in (event.touchpoint, event.agent) if x)
    case = f" · case {event.case_id}" if event.case_id else ""
    place = f" · {where}" if where else ""
    return f"{', '.join(event.alerts)}: {', '.join(scores) or 'no scores'}{place}{case}"


def _kpi_line(event: KpiThreshold) -> str:
    if event.threshold is not None:
        return (
            f"{event.metric} over the last 7 days is {event.value:.1f},"
            f" under {event.threshold:g} (n = {event.n})"
        )
    return (
        f"{event.metric} over the last 7 days dropped to {event.value:.1f} from"
        f" {event.previous or 0:.1f}, a real drop (n = {event.n})"
    )


def _running(experiment: Any, today: dt.date) -> bool:
    return (experiment.start is None or experiment.start <= today) and (
        experiment.end is None or today <= experiment.end
    )
