"""The application factory: wiring only; everything with side effects runs in the lifespan."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from litestar import Litestar
from litestar.config.csrf import CSRFConfig
from litestar.datastructures import CacheControlHeader, State
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig

from survey_service import __version__
from survey_service.accounts.service import AccountService
from survey_service.alerts.cases import CaseService
from survey_service.alerts.controllers import AlertController, CaseController, WebhookController
from survey_service.alerts.delivery import deliver_webhooks
from survey_service.alerts.egress import webhook_client
from survey_service.alerts.endpoints import WebhookService
from survey_service.alerts.mail import send_alert_emails
from survey_service.alerts.service import AlertService
from survey_service.dashboard.alert_pages import DashboardAlertPages
from survey_service.dashboard.pages import DashboardPages
from survey_service.dashboard.report_pages import DashboardReportPages
from survey_service.dashboard.views import DashboardService
from survey_service.dashboard.weekly import send_if_due
from survey_service.db import Database, open_database
from survey_service.db.counters import PostgresCounter
from survey_service.db.engine import start_embedded, stop_embedded
from survey_service.db.replica import ReadRouter, open_replica
from survey_service.errors import StartupError
from survey_service.experiments.assignment import AssignmentRecorder
from survey_service.experiments.controllers import ExperimentController
from survey_service.experiments.service import ExperimentService
from survey_service.interactions.controllers import InteractionController
from survey_service.interactions.pages import StaffPages
from survey_service.interactions.service import InteractionService
from survey_service.invitations.controllers import InvitationController
from survey_service.invitations.pages import UnsubscribeController
from survey_service.invitations.sender import SendReport, send_due
from survey_service.invitations.service import InvitationService
from survey_service.lib.keys import derive_key
from survey_service.lib.logs import flush_buffered_logs
from survey_service.lib.periodic import Periodic
from survey_service.lib.ratelimit import Counter, Limits, MemoryCounter, RedisCounter
from survey_service.lib.references import CustomerKeys
from survey_service.lib.templates import DASHBOARD_CSS, PAGE_CSS, environment
from survey_service.outcomes.controllers import OutcomeController
from survey_service.outcomes.service import OutcomeService
from survey_service.privacy.controllers import PrivacyController
from survey_service.privacy.service import PrivacyService
from survey_service.qr.controllers import PAGE_SIZES, QrController, short_link
from survey_service.qr.links import LinkService
from survey_service.qr.pages import KioskPages
from survey_service.reporting.controllers import DriverController, KpiController
from survey_service.reporting.rollups import Upkeep, ensure_zone, fold_all
from survey_service.reporting.service import ReportingService
from survey_service.responses.controllers import ResponseController
from survey_service.responses.sentiment import warm_up
from survey_service.settings import Settings, load_secret_key
from survey_service.surveys.catalog import Catalog, sync_definitions
from survey_service.surveys.controllers import SurveyApiController
from survey_service.surveys.definitions import load_forms
from survey_service.surveys.pages import SurveyPages
from survey_service.surveys.serving import SurveyService
from survey_service.surveys.tokens import TokenSigner
from survey_service.web.auth import API_KEY_SCHEME
from survey_service.web.context import RequestContext
from survey_service.web.docs import RedocFromPackage, document_errors, document_webhooks
from survey_service.web.errors import EXCEPTION_HANDLERS
from survey_service.web.fastlane import FastLane
from survey_service.web.filters import provide_filters
from survey_service.web.health import HealthController
from survey_service.web.metrics import Metrics, MetricsController
from survey_service.web.security import ClientLimit, SecurityHeaders

__all__ = ["create_app"]

log = logging.getLogger("survey_service")

RETENTION_SECONDS = 3600.0
"""How often what is past its retention is redacted."""
SHUTDOWN_SECONDS = 10.0
"""Longest a shutdown waits for the last buffered writes."""

REPORT_CHECK_SECONDS = 600.0
"""How often the weekly report checks whether it is Monday morning (it goes out once)."""
KPI_ALERT_SECONDS = 900.0
"""How often KPI and sample-ratio alert rules are checked."""

PRUNE_SECONDS = 60.0
"""How often ended rate-limit windows are deleted from PostgreSQL (limit_store=postgres)."""

_SERVICES = (
    "db",
    "settings",
    "surveys",
    "reporting",
    "experiments",
    "links",
    "invitations",
    "privacy",
    "limits",
    "metrics",
    "reads",
    "interactions",
    "outcomes",
    "accounts",
    "dashboard",
    "alerts",
    "webhooks",
    "cases",
)
"""What the lifespan puts in ``app.state``; each is also a dependency of that name."""


def _counter(settings: Settings, db: Database) -> Counter:
    """The rate-limit store the settings name (see :mod:`survey_service.lib.ratelimit`)."""
    store = settings.counter_store
    if store == "redis":
        from redis.asyncio import Redis  # only deployments with Redis need the client

        assert settings.redis_url is not None  # Settings.from_env checked it
        return RedisCounter(Redis.from_url(settings.redis_url, socket_timeout=1.0))
    if store == "postgres":
        return PostgresCounter(db)
    return MemoryCounter()


SERVE_PID = "SURVEY_SERVE_PID"
"""Set by ``survey-service serve`` for its worker processes: the supervisor's pid."""


def _exit_if_orphaned(parent: int) -> None:
    """A worker whose supervisor died (SIGKILL, OOM) shuts itself down gracefully rather
    than serve on unsupervised, holding the port."""
    if os.getppid() != parent:
        log.warning("the serving process %d is gone; shutting down", parent)
        os.kill(os.getpid(), signal.SIGTERM)


@asynccontextmanager
async def _lifespan(app: Litestar) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    secret: str = app.state.secret_key
    forms, errors = load_forms(Path(settings.forms_dir))
    if errors:
        raise StartupError("invalid survey definitions:\n" + "\n".join(map(str, errors)))
    embedded = None
    if settings.database_url is None:
        dsn, embedded = await asyncio.to_thread(start_embedded, settings.data_dir)
    else:
        dsn = settings.database_url
    db = await open_database(
        dsn,
        pool_max=settings.db_pool_max,
        migrate_dsn=settings.database_direct_url,
        transaction_pooler=settings.db_transaction_pooler,
    )
    replica = None
    if settings.database_read_url is not None:
        replica = await open_replica(
            settings.database_read_url,
            pool_max=settings.db_pool_max,
            transaction_pooler=settings.db_transaction_pooler,
        )
    reads = app.state.reads = ReadRouter(db, replica, settings.replica_max_lag_seconds)
    recorder = AssignmentRecorder(db, interval=settings.assignment_flush_seconds)
    http = app.state.webhook_client = webhook_client(settings.webhook_networks)
    counter = _counter(settings, db)
    limits = app.state.limits = Limits(counter, secret)
    upkeep = Upkeep()
    jobs = [
        Periodic(
            lambda: fold_all(db, settings.time_zone, upkeep=upkeep),
            settings.rollup_interval_seconds,
            "rollup-fold",
        )
    ]
    if isinstance(counter, PostgresCounter):
        jobs.append(Periodic(counter.prune, PRUNE_SECONDS, "rate-window-prune"))
    if SERVE_PID in os.environ:
        supervisor = int(os.environ[SERVE_PID])

        async def watch() -> None:
            _exit_if_orphaned(supervisor)

        jobs.append(Periodic(watch, 1.0, "parent-watch"))
    try:
        synced, current = await sync_definitions(db, [form.definition for form in forms])
        for outcome in synced:
            state = "new version" if outcome.created else "unchanged"
            log.info("survey %s: version %d (%s)", outcome.slug, outcome.version, state)
        catalog = Catalog(db, current)
        jobs.append(Periodic(catalog.refresh, settings.catalog_refresh_seconds, "catalog"))
        surveys = SurveyService(
            db,
            catalog,
            TokenSigner(secret, settings.previous_secret_key),
            recorder,
            limits,
            token_ttl_seconds=settings.token_ttl_seconds,
            base_url=settings.base_url,
            client_secret=secret,
            min_fill_seconds=settings.min_fill_seconds,
            submit_limit_per_survey=settings.submit_limit_per_survey,
        )
        reporting = ReportingService(
            db, catalog, settings.kpi_min_n, settings.time_zone, reads=reads
        )
        invitations = InvitationService(surveys, secret)
        surveys.listeners += [invitations, app.state.metrics]
        app.state.db = db
        app.state.surveys = surveys
        app.state.reporting = reporting
        app.state.links = LinkService(surveys, secret)
        app.state.invitations = invitations
        customer_keys = CustomerKeys(secret)
        outcomes = app.state.outcomes = OutcomeService(db, reporting, customer_keys, reads=reads)
        experiments = app.state.experiments = ExperimentService(surveys, reporting, outcomes)
        app.state.accounts = AccountService(db, catalog.slugs())
        app.state.dashboard = DashboardService(reporting, experiments)
        alerts = app.state.alerts = AlertService(
            db, reporting, experiments, base_url=settings.base_url
        )
        app.state.webhooks = WebhookService(db, catalog, settings.webhook_networks)
        app.state.cases = CaseService(db, reporting)

        dashboard = app.state.dashboard

        async def weekly() -> None:
            await send_if_due(db, dashboard, settings.base_url)

        async def deliver() -> None:
            report = await deliver_webhooks(db, http, base_url=settings.base_url)
            app.state.metrics.record_deliveries(report.delivered, report.failed)

        jobs += [
            Periodic(alerts.drain_events, settings.alert_interval_seconds, "alerts"),
            Periodic(deliver, settings.alert_interval_seconds, "webhooks"),
            Periodic(alerts.check_kpis, KPI_ALERT_SECONDS, "kpi-alerts"),
            Periodic(weekly, REPORT_CHECK_SECONDS, "weekly-report"),
        ]
        app.state.interactions = InteractionService(
            db,
            catalog,
            customer_keys,
            min_n=settings.kpi_min_n,
            time_zone=settings.time_zone,
            reads=reads,
        )
        privacy = app.state.privacy = PrivacyService(db, catalog, secret)
        jobs.append(
            Periodic(
                lambda: privacy.apply_retention(settings.retention_days),
                RETENTION_SECONDS,
                "retention",
            )
        )
        await asyncio.to_thread(warm_up)  # not on the first customer's answer
        if await ensure_zone(db, settings.time_zone):
            log.info("daily rollups rebuilt in %s", settings.time_zone)
        smtp = settings.smtp
        if smtp is not None:
            metrics: Metrics = app.state.metrics

            async def send() -> SendReport:
                return metrics.record_send(await send_due(invitations, smtp))

            jobs.append(Periodic(send, 5.0, "sender"))
            jobs.append(Periodic(lambda: send_alert_emails(db, smtp), 5.0, "alert-mail"))
        await recorder.start()
        for job in jobs:
            await job.start()
        # What start-up made (forms, templates, the sentiment lexicons: most of the heap)
        # lives as long as the process: out of the collector's sight, so the full
        # collections that pause requests scan only what requests made.
        gc.collect()
        gc.freeze()
        yield
    finally:
        gc.unfreeze()  # an app run in-process (tests) leaves its heap collectable
        for job in reversed(jobs):
            await job.stop()
        try:  # the database may be away: write what can be written, never hang
            async with asyncio.timeout(SHUTDOWN_SECONDS):
                await recorder.stop()
        except Exception:
            log.exception("buffered assignments could not be written at shutdown")
        if isinstance(counter, RedisCounter):
            await counter.close()
        await http.aclose()
        await reads.close()
        await db.close()
        if embedded is not None:
            await asyncio.to_thread(stop_embedded, embedded)
        flush_buffered_logs()  # a worker may end by os._exit, which skips logging's own


def _from_state(name: str) -> Provide:
    """A dependency handing out the service the lifespan put in ``app.state``."""

    def provide(state: State) -> Any:
        return state[name]

    return Provide(provide, sync_to_thread=False)


def create_app(settings: Settings | None = None) -> Litestar:
    """Build the ASGI app; ``settings`` default to the environment's.

    Reads (or on first start creates) the signing key, which CSRF needs at build time.
    """
    settings = settings or Settings.from_env()
    secret = load_secret_key(settings)
    metrics = Metrics()
    context = RequestContext(metrics, settings.access_log)
    headers = SecurityHeaders(settings, [PAGE_CSS, DASHBOARD_CSS, *PAGE_SIZES.values()])
    app = Litestar(
        route_handlers=[
            SurveyApiController,
            KpiController,
            DriverController,
            ResponseController,
            ExperimentController,
            InvitationController,
            WebhookController,
            AlertController,
            CaseController,
            InteractionController,
            OutcomeController,
            PrivacyController,
            UnsubscribeController,
            SurveyPages,
            QrController,
            KioskPages,
            StaffPages,
            DashboardPages,
            DashboardAlertPages,
            DashboardReportPages,
            short_link,
            HealthController,
            MetricsController,
            create_static_files_router(
                path="/static",
                directories=[Path(__file__).resolve().parent / "static"],
                include_in_schema=False,
                cache_control=CacheControlHeader(max_age=86400, public=True),
            ),
        ],
        lifespan=[_lifespan],
        state=State({"settings": settings, "secret_key": secret, "metrics": metrics}),
        dependencies={
            **{name: _from_state(name) for name in _SERVICES},
            "filters": Provide(provide_filters),
        },
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        request_max_body_size=settings.max_body_bytes,
        template_config=TemplateConfig(
            instance=JinjaTemplateEngine.from_environment(environment())
        ),
        csrf_config=CSRFConfig(
            secret=derive_key(secret, "csrf").hex(),
            cookie_name="ss_csrf",
            cookie_path="/",
            cookie_secure=settings.base_url.startswith("https:"),
            cookie_httponly=True,
            cookie_samesite="lax",
            # The JSON API is authorised by tokens and keys, not cookies: no CSRF there.
            # QR images are cacheable GETs: no cookie on them either.
            # RFC 8058 one-click unsubscribe is posted by mail clients: the URL's HMAC
            # token is its authorisation.
            exclude=["/api/", "/health/", "/schema", r"/s/[^/]+/qr\.", "/u/"],
        ),
        # With the fast lane in front of the router, the lane adds them (see FastLane).
        before_send=[] if settings.fast_lane else [headers],
        middleware=[context, ClientLimit(settings)],
        openapi_config=OpenAPIConfig(
            title="survey_service",
            version=__version__,
            path="/schema",
            render_plugins=[RedocFromPackage()],
            components=Components(security_schemes={"apiKey": API_KEY_SCHEME}),
        ),
        on_startup=[
            lambda app: document_errors(app.openapi_schema),
            lambda app: document_webhooks(app.openapi_schema),
        ],
    )
    if settings.fast_lane:
        FastLane.install(app, context, headers)
    return app
