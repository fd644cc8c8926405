"""Webhook endpoints: create (the secret shown once), change, rotate, delete; the delivery
log and replay; and the health figures the metrics page reads."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from survey_service.alerts import queries
from survey_service.alerts.egress import ALLOW_HINT, Network, literal_refusal
from survey_service.alerts.events import EVENT_TYPES
from survey_service.alerts.webhooks import new_secret
from survey_service.db import Database
from survey_service.errors import BadParameter, NotFound, require_id
from survey_service.lib.structs import Struct
from survey_service.lib.text import one_line
from survey_service.surveys.catalog import Catalog

__all__ = [
    "AttemptOut",
    "EndpointIn",
    "EndpointOut",
    "EndpointUpdate",
    "MessageOut",
    "WebhookService",
]

ROTATION_OVERLAP = dt.timedelta(hours=24)


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


def _check_url(url: str, allowed: Sequence[Network]) -> str:
    url = url.strip()
    if not url.startswith(("https://", "http://")) or len(url) > 2000 or one_line(url) != url:
        raise BadParameter("url", "an http(s) URL on one line, at most 2,000 characters")
    try:
        host = urlsplit(url).hostname
    except ValueError:  # a bracketed host that is no IPv6 address, a bad port
        host = None
    if not host:
        raise BadParameter("url", "an http(s) URL with a host name")
    if reason := literal_refusal(host, allowed):
        raise BadParameter("url", f"{reason}; {ALLOW_HINT}")
    return url


class WebhookService:
    """Webhook endpoints and their messages."""

    def __init__(
        self, db: Database, catalog: Catalog, allowed_networks: Sequence[Network] = ()
    ) -> None:
        self.db = db
        self.catalog = catalog
        self.allowed_networks = list(allowed_networks)
        """Non-public networks endpoints may be in (``SURVEY_WEBHOOK_ALLOWED_NETWORKS``)."""

    async def health(self) -> tuple[int, int, int]:
        """(webhook messages pending, endpoints disabled, responses waiting for alerts)."""
        row = await queries.health(self.db)
        return row["pending"], row["disabled"], row["queued"]

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
            _check_url(data.url, self.allowed_networks),
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
            changes["url"] = _check_url(data.url, self.allowed_networks)
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
