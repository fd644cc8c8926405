"""The webhook sender: due messages out of the outbox, signed per Standard Webhooks, with
retries and a delivery log; endpoints failing for a day are disabled and their owners told.

At least once: a message stays pending until an endpoint answers 2xx, and a sender that
dies mid-send leaves it leased for a minute, after which another sender tries again (the
receiver de-duplicates by ``webhook-id``). Redirects are not followed and the answer's body
is never read, so a receiver cannot send the service elsewhere or fill its memory.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from typing import Any

import httpx

from survey_service.alerts import queries
from survey_service.alerts.mail import alert_bodies
from survey_service.alerts.webhooks import DISABLE_AFTER, headers, retry_delay
from survey_service.db import Database
from survey_service.lib.structs import Struct

__all__ = ["LEASE", "TIMEOUT", "DeliveryReport", "deliver_webhooks"]

LEASE = dt.timedelta(minutes=1)
TIMEOUT = httpx.Timeout(10.0, connect=5.0)


class DeliveryReport(Struct):
    """What one pass of the sender did."""

    delivered: int = 0
    failed: int = 0
    disabled: list[int] = []


async def _send(db: Database, client: httpx.AsyncClient, row: Any) -> bool:
    attempt = row["attempts"] + 1
    body = row["payload"].encode()
    secrets = [row["secret"], *([row["previous_secret"]] if row["previous_secret"] else [])]
    signed = headers(secrets, row["message_id"], int(time.time()), body)
    started = time.perf_counter()
    code: int | None = None
    error: str | None = None
    try:
        async with client.stream(
            "POST", row["url"], content=body, headers=signed, timeout=TIMEOUT
        ) as answer:
            code = answer.status_code
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"[:500]
    latency = (time.perf_counter() - started) * 1000
    delivered = code is not None and 200 <= code < 300
    if code is not None and not delivered:
        error = f"HTTP {code}"
    delay = None if delivered else retry_delay(attempt)
    retry_at = dt.datetime.now(dt.UTC) + delay if delay else None
    await queries.message_result(db, row["id"], attempt, code, latency, error, retry_at, delivered)
    return delivered


async def deliver_webhooks(
    db: Database, client: httpx.AsyncClient, *, base_url: str, batch: int = 100, parallel: int = 10
) -> DeliveryReport:
    """Send what is due (``parallel`` at a time); disable endpoints failing for a day."""
    rows = await queries.claim_messages(db, batch, LEASE)
    gate = asyncio.Semaphore(parallel)

    async def one(row: Any) -> bool:
        async with gate:
            return await _send(db, client, row)

    results = await asyncio.gather(*(one(row) for row in rows))
    disabled = await queries.disable_failing(db, DISABLE_AFTER)
    if disabled:
        to = await queries.owners(db)
        for endpoint in disabled:
            heading = f"Webhook endpoint {endpoint['id']} disabled"
            lines = [
                f"{endpoint['url']} answered no delivery with 2xx for a day.",
                "Fix the receiver, then enable the endpoint again and replay what it missed.",
            ]
            text, html = alert_bodies(heading, lines, f"{base_url}/dashboard/webhooks", "webhooks")
            if to:
                await queries.enqueue_email(db, to, heading, text, html)
    return DeliveryReport(
        delivered=sum(results),
        failed=len(results) - sum(results),
        disabled=[e["id"] for e in disabled],
    )
