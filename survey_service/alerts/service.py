"""Alerts that close the loop: every stored response is looked at once (a trigger-filled
queue), its rules decide which webhook events and manager emails it causes, and a
detractor opens a follow-up case; a periodic job checks the KPI and SRM rules. Webhook
endpoints and cases are managed here too.

All of a response's consequences (case, messages, emails) are written in the transaction
that takes it off the queue: each happens exactly once, whichever process runs the job.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Sequence
from typing import Any, Literal

import msgspec

from survey_service.alerts import queries
from survey_service.alerts.events import EVENT_TYPES, ExperimentSrm, KpiThreshold, ResponseEvent
from survey_service.alerts.mail import alert_bodies
from survey_service.alerts.rules import AlertRules, KpiRule, response_alerts
from survey_service.alerts.webhooks import message_id, new_secret
from survey_service.apikeys.service import EVERYONE, Audience
from survey_service.db import Database
from survey_service.errors import BadParameter, NotFound, require_id
from survey_service.experiments.service import ExperimentService
from survey_service.experiments.statistics import compare
from survey_service.lib.stats import wilson_interval
from survey_service.lib.structs import Struct
from survey_service.lib.text import one_line
from survey_service.reporting.metrics import Estimate
from survey_service.reporting.service import KpiParams, ReportingService, parse_window
from survey_service.surveys.catalog import SurveyVersionInfo

__all__ = [
    "AlertService",
    "CaseOut",
    "CaseStats",
    "EndpointIn",
    "EndpointOut",
    "EndpointUpdate",
    "MessageOut",
]

EVENT_OF = {
    "detractor": "response.detractor",
    "mismatch": "response.mismatch",
    "low_empathy": "response.low_empathy",
    "negative_comment": "response.negative",
}
"""The webhook event each response rule adds to ``response.created``."""
ROTATION_OVERLAP = dt.timedelta(hours=24)
KPI_WINDOW = dt.timedelta(days=7)
CaseStatus = Literal["open", "contacted", "resolved"]


class EndpointIn(Struct):
    """A webhook endpoint to create: where, which events, which surveys (empty: all)."""

    url: str
    event_types: list[str]
    surveys: list[str] = []
    description: str = ""


class EndpointUpdate(Struct):
    """Changes to an endpoint (absent fields stay); ``enabled`` true re-enables it."""

    url: str | None = None
    event_types: list[str] | None = None
    surveys: list[str] | None = None
    description: str | None = None
    enabled: bool | None = None


class EndpointOut(Struct):
    """An endpoint as stored; ``secret`` only at creation and rotation."""

    id: int
    url: str
    description: str
    event_types: list[str]
    surveys: list[str]
    created_at: dt.datetime
    failing_since: dt.datetime | None
    disabled_at: dt.datetime | None
    disabled_reason: str | None
    previous_secret_valid_until: dt.datetime | None
    secret: str | None = None


class AttemptOut(Struct):
    """One delivery attempt."""

    attempt: int
    status_code: int | None
    latency_ms: float
    error: str | None
    at: dt.datetime


class MessageOut(Struct):
    """A message to an endpoint and every attempt to deliver it."""

    id: int
    message_id: str
    event_type: str
    status: str
    attempts: int
    next_attempt_at: dt.datetime
    created_at: dt.datetime
    delivered_at: dt.datetime | None
    log: list[AttemptOut]


class CaseOut(Struct):
    """A follow-up case."""

    id: int
    survey: str
    response_id: int
    reason: str
    status: CaseStatus
    note: str | None
    opened_at: dt.datetime
    contacted_at: dt.datetime | None
    resolved_at: dt.datetime | None
    updated_by: str | None
    nps: int | None = None
    csat: int | None = None
    comment: str | None = None
    touchpoint: str | None = None
    agent: str | None = None


class CaseStats(Struct):
    """Follow-up of cases opened in the window: the share resolved (Wilson interval) and
    the median hours from opening to resolution."""

    survey: str
    opened: int
    contacted: int
    resolved: int
    closed_share: Estimate
    median_hours_to_close: float | None


def _endpoint(row: Any, secret: str | None = None) -> EndpointOut:
    return EndpointOut(
        id=row["id"],
        url=row["url"],
        description=row["description"],
        event_types=list(row["event_types"]),
        surveys=list(row["surveys"]),
        created_at=row["created_at"],
        failing_since=row["failing_since"],
        disabled_at=row["disabled_at"],
        disabled_reason=row["disabled_reason"],
        previous_secret_valid_until=row["previous_until"],
        secret=secret,
    )


def _check_url(url: str) -> str:
    url = url.strip()
    if not url.startswith(("https://", "http://")) or len(url) > 2000 or one_line(url) != url:
        raise BadParameter("url", "an http(s) URL on one line, at most 2,000 characters")
    return url


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

    async def health(self) -> tuple[int, int, int]:
        """(webhook messages pending, endpoints disabled, responses waiting for alerts)."""
        row = await queries.health(self.db)
        return row["pending"], row["disabled"], row["queued"]

    # --- webhook endpoints ---------------------------------------------------------------

    def _check_endpoint(
        self, event_types: Sequence[str] | None, surveys: Sequence[str] | None
    ) -> None:
        if event_types is not None:
            unknown = [t for t in event_types if t not in EVENT_TYPES]
            if not event_types or unknown:
                raise BadParameter("event_types", f"one or more of {', '.join(EVENT_TYPES)}")
        for slug in surveys or []:
            if self.catalog.current(slug) is None:
                raise BadParameter("surveys", f"no survey called '{slug}'")

    async def create_endpoint(self, data: EndpointIn) -> EndpointOut:
        """A new endpoint and its secret (shown now and at rotation only)."""
        self._check_endpoint(data.event_types, data.surveys)
        secret = new_secret()
        row = await queries.create_endpoint(
            self.db,
            _check_url(data.url),
            one_line(data.description)[:200],
            sorted(set(data.event_types)),
            sorted(set(data.surveys)),
            secret,
        )
        return _endpoint(row, secret)

    async def endpoints(self) -> list[EndpointOut]:
        """Every endpoint."""
        return [_endpoint(row) for row in await queries.endpoints(self.db)]

    async def update_endpoint(self, endpoint_id: int, data: EndpointUpdate) -> EndpointOut:
        """Change an endpoint; ``enabled`` false disables it, true enables it again."""
        require_id("webhook endpoint", endpoint_id, bits=32)
        self._check_endpoint(data.event_types, data.surveys)
        changes: dict[str, Any] = {}
        if data.url is not None:
            changes["url"] = _check_url(data.url)
        if data.event_types is not None:
            changes["event_types"] = sorted(set(data.event_types))
        if data.surveys is not None:
            changes["surveys"] = sorted(set(data.surveys))
        if data.description is not None:
            changes["description"] = one_line(data.description)[:200]
        if data.enabled is not None:
            changes["disabled_at"] = None if data.enabled else dt.datetime.now(dt.UTC)
            changes["disabled_reason"] = None if data.enabled else "disabled by hand"
            changes["failing_since"] = None
        if not changes:
            raise BadParameter("body", "nothing to change")
        row = await queries.update_endpoint(self.db, endpoint_id, changes)
        if row is None:
            raise NotFound("webhook endpoint", endpoint_id)
        return _endpoint(row)

    async def rotate_secret(self, endpoint_id: int) -> EndpointOut:
        """A new secret; messages are signed with the old one too for 24 hours."""
        require_id("webhook endpoint", endpoint_id, bits=32)
        found = await queries.endpoint(self.db, endpoint_id)
        if found is None:
            raise NotFound("webhook endpoint", endpoint_id)
        secret = new_secret()
        row = await queries.update_endpoint(
            self.db,
            endpoint_id,
            {
                "secret": secret,
                "previous_secret": found["secret"],
                "previous_until": dt.datetime.now(dt.UTC) + ROTATION_OVERLAP,
            },
        )
        return _endpoint(row, secret)

    async def delete_endpoint(self, endpoint_id: int) -> None:
        """Remove an endpoint and its messages."""
        require_id("webhook endpoint", endpoint_id, bits=32)
        if not await queries.delete_endpoint(self.db, endpoint_id):
            raise NotFound("webhook endpoint", endpoint_id)

    async def messages(self, endpoint_id: int, limit: int = 50) -> list[MessageOut]:
        """The endpoint's newest messages with every attempt (the delivery log)."""
        require_id("webhook endpoint", endpoint_id, bits=32)
        if await queries.endpoint(self.db, endpoint_id) is None:
            raise NotFound("webhook endpoint", endpoint_id)
        rows = await queries.messages(self.db, endpoint_id, min(max(limit, 1), 500))
        log: dict[int, list[AttemptOut]] = {}
        for a in await queries.message_attempts(self.db, [r["id"] for r in rows]):
            log.setdefault(a["message_id"], []).append(
                AttemptOut(
                    attempt=a["attempt"],
                    status_code=a["status_code"],
                    latency_ms=a["latency_ms"],
                    error=a["error"],
                    at=a["created_at"],
                )
            )
        return [MessageOut(**{**dict(r), "log": log.get(r["id"], [])}) for r in rows]

    async def replay(self, message: int) -> None:
        """Send a message again now (same ``webhook-id``)."""
        require_id("webhook message", message, bits=64)
        if not await queries.replay(self.db, message):
            raise NotFound("webhook message", message)

    # --- follow-up cases ---------------------------------------------------------------------

    def _visible_ids(self, who: Audience) -> dict[int, str]:
        return {i.survey_id: i.slug for i in self.catalog.served() if who.sees(i.slug)}

    async def cases(self, who: Audience, status: str | None, limit: int = 200) -> list[CaseOut]:
        """Cases of the surveys ``who`` sees (open first, newest first)."""
        if status is not None and status not in ("open", "contacted", "resolved"):
            raise BadParameter("status", "open, contacted or resolved")
        names = self._visible_ids(who)
        rows = await queries.cases(self.db, list(names), status, limit)
        return [
            CaseOut(
                **{**dict(r), "survey": names[r["survey_id"]], "survey_id": None}
                if False
                else {
                    k: v
                    for k, v in {**dict(r), "survey": names[r["survey_id"]]}.items()
                    if k != "survey_id"
                }
            )
            for r in rows
        ]

    async def update_case(
        self, who: Audience, case_id: int, status: str, note: str | None, by: str
    ) -> CaseOut:
        """Mark a case contacted or resolved (or open again), with a note."""
        if status not in ("open", "contacted", "resolved"):
            raise BadParameter("status", "open, contacted or resolved")
        if note is not None and len(note) > 2000:
            raise BadParameter("note", "at most 2,000 characters")
        require_id("case", case_id)
        names = self._visible_ids(who)
        row = await queries.update_case(self.db, list(names), case_id, status, note, by)
        if row is None:
            raise NotFound("case", case_id)
        return _case(row, names)

    async def case_stats(self, who: Audience, slug: str, params: KpiParams) -> CaseStats:
        """Share of cases closed and the median time to close, for cases opened in the window."""
        info = self.reporting.visible(who, slug)
        start, end = parse_window(params.tz or self.reporting.time_zone, params.start, params.end)
        row = await queries.case_stats(self.db, info.survey_id, start, end)
        interval = wilson_interval(row["resolved"], row["opened"])
        share = Estimate(
            value=100 * row["resolved"] / row["opened"] if row["opened"] else None,
            ci_low=100 * interval[0] if interval else None,
            ci_high=100 * interval[1] if interval else None,
            n=row["opened"],
        )
        hours = row["median_hours"]
        return CaseStats(
            survey=slug,
            opened=row["opened"],
            contacted=row["contacted"],
            resolved=row["resolved"],
            closed_share=share,
            median_hours_to_close=float(hours) if hours is not None else None,
        )


def _case(row: Any, names: dict[int, str]) -> CaseOut:
    fields = {k: v for k, v in dict(row).items() if k != "survey_id"}
    return CaseOut(**fields, survey=names[row["survey_id"]])


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
