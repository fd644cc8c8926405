"""Prometheus metrics at ``GET /metrics`` (text format 0.0.4).

Per process, in a registry of the app's own (one per app, so tests can build several):

- ``survey_http_request_duration_seconds{method,route,status}``: latency histogram by
  route template (``/s/{slug}``), never by raw path;
- ``survey_responses_stored_total{survey_id}``: responses stored (not replays);
- ``survey_fold_backlog_rows{table}`` / ``survey_fold_lag_seconds{table}``: rows the fold
  has not reached yet and the age of the oldest (read at scrape time);
- ``survey_outbox_depth`` / ``survey_outbox_age_seconds``: invitations due and how long the
  oldest has been due (read at scrape time);
- ``survey_invitations_sent_total`` / ``survey_invitation_failures_total{kind}``: the
  sender's passes (``failed``: for good; ``deferred``: queued again for a retry);
- ``survey_webhook_deliveries_total{result}``: webhook attempts (``delivered``, ``failed``);
  ``survey_webhook_pending`` / ``survey_webhook_endpoints_disabled`` /
  ``survey_alert_queue_rows``: messages waiting, endpoints switched off after a day of
  failures, responses the alert job has not looked at yet (read at scrape time).

The endpoint carries no personal data and no key is needed: publish it only where
Prometheus scrapes (the reverse proxy should not route ``/metrics`` from the internet).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator
from itertools import accumulate
from typing import Any

from litestar import Controller, Response, get
from litestar.di import NamedDependency
from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.metrics_core import HistogramMetricFamily

from survey_service.alerts.endpoints import WebhookService
from survey_service.invitations.sender import SendReport
from survey_service.invitations.service import InvitationService
from survey_service.reporting.service import ReportingService
from survey_service.surveys.tokens import FormClaims

__all__ = ["Metrics", "MetricsController", "RequestDurations"]

_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class RequestDurations:
    """``survey_http_request_duration_seconds{method,route,status}``, a Prometheus
    histogram kept in plain lists: prometheus_client's ``Histogram`` takes two locks and
    walks its buckets in Python on every observation (0.8 µs a request on the event loop,
    which serialises the service). Only the event loop observes, so nothing is locked.

    Series are bounded: routes are templates, statuses three digits, and a method outside
    the standard ones is counted as ``other``."""

    name = "survey_http_request_duration_seconds"

    def __init__(self, registry: CollectorRegistry) -> None:
        # Per series: a count per bucket (the last one past every bound), then the sum.
        self._series: dict[tuple[str, str, int], list[float]] = {}
        registry.register(self)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Record one request."""
        series = self._series.get((method, route, status))
        if series is None:
            label = method if method in _METHODS else "other"
            series = self._series.setdefault((label, route, status), [0.0] * (len(_BUCKETS) + 2))
            if label == method:
                self._series[method, route, status] = series
        series[bisect_left(_BUCKETS, seconds)] += 1  # the first bound at or above it
        series[-1] += seconds

    def collect(self) -> Iterator[HistogramMetricFamily]:
        """The histogram as ``generate_latest`` reads collectors."""
        family = HistogramMetricFamily(
            self.name, "Request latency by route template", labels=["method", "route", "status"]
        )
        bounds = [*map(repr, _BUCKETS), "+Inf"]  # as prometheus_client spells them
        for (method, route, status), series in list(self._series.items()):
            cumulative = accumulate(series[:-1])
            family.add_metric(
                [method, route, str(status)],
                list(zip(bounds, cumulative, strict=True)),
                series[-1],
            )
        yield family


class Metrics:
    """The app's metrics; also a form-events listener counting stored responses."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self._by_survey: dict[int, Counter] = {}
        self.requests = RequestDurations(r)
        self.stored = Counter(
            "survey_responses_stored", "Responses stored", ["survey_id"], registry=r
        )
        self.fold_rows = Gauge(
            "survey_fold_backlog_rows", "Rows not folded yet", ["table"], registry=r
        )
        self.fold_lag = Gauge(
            "survey_fold_lag_seconds", "Age of the oldest unfolded row", ["table"], registry=r
        )
        self.outbox_depth = Gauge("survey_outbox_depth", "Invitations due now", registry=r)
        self.outbox_age = Gauge(
            "survey_outbox_age_seconds", "How long the oldest due invitation waited", registry=r
        )
        self.sent = Counter("survey_invitations_sent", "Invitation emails sent", registry=r)
        self.failures = Counter(
            "survey_invitation_failures",
            "Invitation sends that failed (failed: for good; deferred: retried later)",
            ["kind"],
            registry=r,
        )

        self.webhooks = Counter(
            "survey_webhook_deliveries", "Webhook delivery attempts", ["result"], registry=r
        )
        self.webhook_pending = Gauge(
            "survey_webhook_pending", "Webhook messages not delivered yet", registry=r
        )
        self.webhook_disabled = Gauge(
            "survey_webhook_endpoints_disabled", "Webhook endpoints disabled", registry=r
        )
        self.alert_queue = Gauge(
            "survey_alert_queue_rows", "Responses the alert job has not looked at", registry=r
        )

    def record_deliveries(self, delivered: int, failed: int) -> None:
        """Count one webhook sender pass."""
        self.webhooks.labels("delivered").inc(delivered)
        self.webhooks.labels("failed").inc(failed)

    def record_send(self, report: SendReport) -> SendReport:
        """Count one sender pass; return it unchanged."""
        self.sent.inc(report.sent)
        self.failures.labels("failed").inc(report.failed)
        self.failures.labels("deferred").inc(report.deferred)
        return report

    async def opened(self, survey_id: int, claims: FormClaims) -> None:
        """Form events: an opened form is not counted."""

    async def answered(self, survey_id: int, claims: FormClaims) -> None:
        """Form events: one response stored."""
        child = self._by_survey.get(survey_id)
        if child is None:  # one per survey in the catalog
            child = self._by_survey[survey_id] = self.stored.labels(str(survey_id))
        child.inc()


class MetricsController(Controller):
    """``GET /metrics`` for Prometheus."""

    path = "/metrics"
    include_in_schema = False

    @get(media_type=CONTENT_TYPE_LATEST, cache_control=None)
    async def scrape(
        self,
        metrics: NamedDependency[Metrics],
        reporting: NamedDependency[ReportingService],
        invitations: NamedDependency[InvitationService],
        webhooks: NamedDependency[WebhookService],
    ) -> Response[Any]:
        """The current figures; the queue gauges are read from the database now."""
        for table, backlog in (await reporting.fold_lag()).items():
            metrics.fold_rows.labels(table).set(backlog.rows)
            metrics.fold_lag.labels(table).set(backlog.oldest_seconds)
        outbox = await invitations.outbox()
        metrics.outbox_depth.set(outbox.rows)
        metrics.outbox_age.set(outbox.oldest_seconds)
        pending, disabled, queued = await webhooks.health()
        metrics.webhook_pending.set(pending)
        metrics.webhook_disabled.set(disabled)
        metrics.alert_queue.set(queued)
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)
