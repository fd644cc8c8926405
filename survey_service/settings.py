"""Settings: one frozen Struct, built once from the environment.

Every field is read from ``SURVEY_<FIELD NAME IN CAPITALS>`` except ``database_url``,
``database_direct_url`` and ``database_read_url``, read from the conventional
``DATABASE_URL``, ``DATABASE_DIRECT_URL`` and ``DATABASE_READ_URL``. A bad value stops
start-up with one line naming the variable (:class:`SettingsError`).
"""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
import zoneinfo
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal

import msgspec

from survey_service.errors import SettingsError

__all__ = ["ENV_PREFIX", "Settings", "SettingsError", "SmtpSettings", "load_secret_key"]

ENV_PREFIX = "SURVEY_"

Port = Annotated[int, msgspec.Meta(ge=1, le=65535)]
PositiveInt = Annotated[int, msgspec.Meta(ge=1)]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]
LimitStore = Literal["memory", "redis", "postgres"]
_DSN_FIELDS = ("database_url", "database_direct_url", "database_read_url")


class SmtpSettings(msgspec.Struct, frozen=True, kw_only=True):
    """Where and how invitation emails are sent."""

    host: str
    port: int
    sender: str
    username: str | None = None
    password: str | None = None
    starttls: bool = False
    use_tls: bool = False
    per_second: float = 20.0


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    """Service configuration. Field documentation doubles as the README's reference."""

    database_url: str | None = None
    """PostgreSQL DSN (``DATABASE_URL``). Unset: start the embedded server under ``data_dir``."""

    database_direct_url: str | None = None
    """A direct connection to the primary (``DATABASE_DIRECT_URL``) for migrations, which
    hold a session-level lock: set it when ``DATABASE_URL`` points at a pooler in
    transaction mode. Unset: ``DATABASE_URL``."""

    db_transaction_pooler: bool = False
    """``DATABASE_URL`` is PgBouncer (or another pooler) in transaction mode: no prepared
    statement is kept across transactions. Nothing else in the service relies on session
    state (locks are transaction-scoped; no LISTEN/NOTIFY, no SET)."""

    database_read_url: str | None = None
    """A streaming replica (``DATABASE_READ_URL``) for KPI, experiment and export reads;
    writes, the fold and everything a customer does stay on the primary. Unset: the
    primary serves reads too."""

    replica_max_lag_seconds: Annotated[float, msgspec.Meta(gt=0, le=3600)] = 30.0
    """Reads go back to the primary while the replica's replay lag exceeds this (or while
    it does not answer)."""

    redis_url: str | None = None
    """Redis or Valkey (``redis://host:6379/0``) for the rate-limit counters shared by every
    instance."""

    limit_store: LimitStore | None = None
    """Where rate-limit counters live: ``memory`` (this process only), ``redis`` (needs
    ``redis_url``) or ``postgres`` (an UNLOGGED table in the service's database). Unset:
    ``redis`` when ``redis_url`` is set, else ``memory`` for one process and ``postgres``
    for several (``workers``). Several instances need one of the shared two, or each
    allows the full limit."""

    catalog_refresh_seconds: Annotated[float, msgspec.Meta(gt=0, le=3600)] = 10.0
    """How often an instance checks whether another one made a new survey version
    current (after a deploy), and starts serving it."""

    data_dir: str = "var"
    """Folder for the embedded database (``pgdata/``) and the generated signing key."""

    forms_dir: str = "forms"
    """Folder holding one ``*.toml`` survey definition per survey."""

    host: str = "127.0.0.1"
    """Interface that ``survey-service serve`` binds."""

    port: Port = 8000
    """TCP port that ``survey-service serve`` binds."""

    workers: PositiveInt | None = None
    """Processes ``survey-service serve`` runs (each with its own pool of ``db_pool_max``
    connections). Unset: one per CPU. Periodic jobs are safe in every process; with more
    than one, rate limits need a shared ``limit_store`` (the default becomes
    ``postgres`` when no Redis is configured)."""

    public_url: str | None = None
    """Base URL customers reach (e.g. ``https://survey.example.com``); default http://host:port."""

    secret_key: str | None = None
    """Token signing key (at least 32 characters). Unset: generated once into data_dir."""

    previous_secret_key: str | None = None
    """The key before the last rotation; tokens it signed still verify until they expire."""

    token_ttl_seconds: PositiveInt = 7 * 24 * 3600
    """How long a served form's token stays valid."""

    max_body_bytes: PositiveInt = 64 * 1024
    """Largest request body accepted; larger ones get 413."""

    db_pool_max: PositiveInt = 10
    """Largest number of pooled PostgreSQL connections per process."""

    assignment_flush_seconds: Annotated[float, msgspec.Meta(gt=0, le=60)] = 0.25
    """How long the writer of buffered assignments (served forms) rests between writes.
    At 23,000 pages/s a write then took 11,000 rows in 0.24 s (median; at most 18,400),
    far under the 50,000 where serving waits for the writer. After 0.5 s it took 12,000-
    20,000 rows in 0.1-0.55 s, too near the 20,000 mark first tried: pages waited about
    every three seconds, their p99 from 8 to 170 ms."""

    min_fill_seconds: Annotated[float, msgspec.Meta(ge=0, le=60)] = 2.0
    """Form submissions faster than this after the page was served are flagged ``too_fast``."""

    submit_limit_per_ip: PositiveInt = 20
    """Form submissions per minute from one client address (more get a friendly 429 page)."""

    submit_limit_per_survey: PositiveInt = 600
    """Form submissions per minute to one survey, from everyone together."""

    sign_in_limit: PositiveInt = 10
    """Dashboard sign-in attempts per minute from one client address, and per 15 minutes
    for one email address (whoever tries it); more get a 429 page, right password or not."""

    trusted_proxies: str = ""
    """Comma-separated proxy addresses/CIDRs whose X-Forwarded-For is believed; else ignored."""

    webhook_allowed_networks: str = ""
    """Comma-separated addresses/CIDRs that webhooks may be sent to although they are not
    public (loopback, private, link-local), e.g. ``10.20.0.0/16`` for a CRM on the office
    network. Unset: public addresses only (:mod:`survey_service.alerts.egress`)."""

    frame_ancestors: str = "'none'"
    """CSP frame-ancestors: who may embed the form pages (e.g. ``https://shop.example``)."""

    time_zone: str = "UTC"
    """The business's IANA time zone: the default for KPI dates and day/week/month groups,
    and the zone daily rollups are kept in (changing it rebuilds them at the next start)."""

    kiosk_pin: Annotated[str, msgspec.Meta(pattern=r"^[0-9]{6,12}$")] | None = None
    """Staff PIN (6-12 digits) that unlocks /kiosk pages; unset: kiosks are off."""

    kiosk_rotate_seconds: Annotated[int, msgspec.Meta(ge=10, le=3600)] = 120
    """A kiosk's single-use code is replaced after this long even if nobody answered."""

    smtp_host: str | None = None
    """SMTP server for invitation emails; unset: invitations queue up but are not sent."""

    smtp_port: Port = 25
    """Its port (587 with ``smtp_starttls``, 465 with ``smtp_tls``)."""

    smtp_sender: str = "survey@localhost"
    """The From address of invitation emails."""

    smtp_username: str | None = None
    """SMTP login, when the server asks for one."""

    smtp_password: str | None = None
    """SMTP password."""

    smtp_starttls: bool = False
    """Upgrade the connection with STARTTLS."""

    smtp_tls: bool = False
    """Connect over TLS from the start (port 465)."""

    smtp_per_second: Annotated[float, msgspec.Meta(gt=0, le=1000)] = 20.0
    """At most this many invitation emails a second (providers' rate limits)."""

    kpi_min_n: PositiveInt = 5
    """KPI groups (and totals) with fewer responses are reported as suppressed, n only."""

    rollup_interval_seconds: Annotated[float, msgspec.Meta(gt=0, le=3600)] = 2.0
    """How often new responses and assignments are folded into the KPI rollups."""

    alert_interval_seconds: Annotated[float, msgspec.Meta(gt=0, le=3600)] = 2.0
    """How often new responses are checked against alert rules and due webhooks are sent
    (KPI and sample-ratio rules are checked every 15 minutes)."""

    retention_days: Annotated[int, msgspec.Meta(ge=1, le=3650)] | None = None
    """Days responses keep their free text, customer metadata and client hash, and
    invitations their address, name and link (then redacted; scores and KPIs stay), for
    surveys whose definition sets no ``retention_days``; unset: kept until erased."""

    log_level: LogLevel = "INFO"
    """Python logging level for the service's own loggers."""

    log_format: Literal["json", "text"] = "json"
    """``json``: one JSON object per line (time, level, logger, message, request_id), for
    log shippers; ``text``: plain lines for a terminal."""

    access_log: bool = True
    """One log line per request (method, route template, status, milliseconds)."""

    fast_lane: bool = True
    """Answer the common case of the form page, its submission, the JSON form and its
    answers in plain ASGI in front of Litestar (same answers, a fraction of the CPU; see
    :mod:`survey_service.web.fastlane`). ``false``: everything through Litestar."""

    @property
    def worker_count(self) -> int:
        """``workers``, its default resolved."""
        return self.workers or os.cpu_count() or 1

    @property
    def counter_store(self) -> LimitStore:
        """``limit_store``, its default resolved: Redis when configured; else this
        process's memory for one process, PostgreSQL (shared) for several."""
        if self.limit_store is not None:
            return self.limit_store
        if self.redis_url:
            return "redis"
        # ``serve`` sets ``workers`` for the processes it starts; an app built in-process
        # (tests, another ASGI server) is one process unless told otherwise.
        return "memory" if (self.workers or 1) == 1 else "postgres"

    @property
    def smtp(self) -> SmtpSettings | None:
        """The SMTP connection settings, or None when sending is off."""
        if self.smtp_host is None:
            return None
        return SmtpSettings(
            host=self.smtp_host,
            port=self.smtp_port,
            sender=self.smtp_sender,
            username=self.smtp_username,
            password=self.smtp_password,
            starttls=self.smtp_starttls,
            use_tls=self.smtp_tls,
            per_second=self.smtp_per_second,
        )

    @property
    def proxies(self) -> list[str]:
        """``trusted_proxies`` as a list."""
        return _items(self.trusted_proxies)

    @property
    def webhook_networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        """``webhook_allowed_networks`` as networks (an address is a network of one)."""
        items = _items(self.webhook_allowed_networks)
        return [ipaddress.ip_network(item, strict=False) for item in items]

    @property
    def base_url(self) -> str:
        """The public URL without a trailing slash."""
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from ``environ`` (default ``os.environ``); raise SettingsError."""
        env = os.environ if environ is None else environ
        raw: dict[str, str] = {}
        for field in msgspec.structs.fields(cls):
            value = env.get(env_name(field.name))
            if value is not None and value != "":
                raw[field.name] = value
        try:
            settings = msgspec.convert(raw, cls, strict=False)
        except msgspec.ValidationError as exc:
            raise SettingsError(_explain(str(exc))) from None
        if settings.secret_key is not None and len(settings.secret_key) < 32:
            raise SettingsError(f"{env_name('secret_key')}: must be at least 32 characters")
        try:
            zoneinfo.ZoneInfo(settings.time_zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise SettingsError(
                f"{env_name('time_zone')}: '{settings.time_zone}' is not an IANA time zone"
            ) from None
        if settings.counter_store == "redis" and not settings.redis_url:
            raise SettingsError(f"{env_name('limit_store')}: 'redis' needs {env_name('redis_url')}")
        for name in ("trusted_proxies", "webhook_allowed_networks"):
            for item in _items(getattr(settings, name)):
                try:
                    ipaddress.ip_network(item, strict=False)
                except ValueError:
                    raise SettingsError(
                        f"{env_name(name)}: '{item}' is not an address or network"
                    ) from None
        return settings


def _items(text: str) -> list[str]:
    """A comma-separated setting's items."""
    return [item.strip() for item in text.split(",") if item.strip()]


def env_name(field: str) -> str:
    """The environment variable that sets ``field``."""
    if field in _DSN_FIELDS:
        return field.upper()
    return ENV_PREFIX + field.upper()


def _explain(message: str) -> str:
    match = re.search(r"at `\$\.(\w+)`", message)
    if match is None:
        return message
    reason = message[: match.start()].rstrip(" -")
    return f"{env_name(match.group(1))}: {reason}"


def load_secret_key(settings: Settings) -> str:
    """The signing key: from settings, else read or create ``<data_dir>/secret_key`` (0600)."""
    if settings.secret_key:
        return settings.secret_key
    path = Path(settings.data_dir) / "secret_key"
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    # O_EXCL: two processes starting at once must not overwrite each other's key.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key
