"""Per request: an id (taken from ``X-Request-ID`` when a proxy sent a sane one, else made
here) that the logs, the ``X-Request-ID`` answer header and every error body carry; the
request's latency in the metrics; one access-log line."""

from __future__ import annotations

import logging
import re
import time
from typing import Any, cast

from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from survey_service.lib import randomness
from survey_service.lib.freshness import READ_SOURCE
from survey_service.lib.logs import REQUEST_ID, direct_handler
from survey_service.web.metrics import Metrics

__all__ = ["RequestContext", "request_id_of"]

log = logging.getLogger("survey_service.access")

_KEY = "survey_service.request_id"
_TIMED = "survey_service.timed"
_SANE = re.compile(rb"[A-Za-z0-9._:-]{8,64}")  # never a header or log injection


def request_id_of(scope: Scope) -> str:
    """This request's id, made on first use."""
    state = cast(dict[str, Any], scope)
    found: str | None = state.get(_KEY)
    if found is None:
        given = next((v for k, v in scope.get("headers", []) if k == b"x-request-id"), b"")
        # 128 random bits as hex, like a uuid4's, without building a UUID object per request.
        found = given.decode() if _SANE.fullmatch(given) else randomness.token_hex(16)
        state[_KEY] = found
    return found


def _access_line(method: str, route: str, status: int, seconds: float) -> None:
    """One access-log line: straight to the log's handler when nothing else would see the
    record (see :func:`.lib.logs.direct_handler`), else through ``logging``."""
    message = f"{method} {route} {status} {seconds * 1000:.1f} ms"
    extra = {"status": status, "route": route, "ms": round(seconds * 1000, 2)}
    direct = direct_handler(log, logging.INFO)
    if direct is None:
        log.info("%s", message, extra=extra)
        return
    handler, formatter = direct
    line = formatter.line(time.time(), "INFO", log.name, message, extra)
    handler.add_line(line + handler.terminator)


class RequestContext(ASGIMiddleware):
    """Sets the request id for the logs, times the request by route and logs it."""

    scopes = (ScopeType.HTTP,)

    def __init__(self, metrics: Metrics, access_log: bool) -> None:
        self.observe = metrics.requests.observe
        self.access_log = access_log

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        """Run the request with its id set; record its latency and status (once: the fast
        lane runs a request in its context before it may hand it on to Litestar's)."""
        state = cast(dict[str, Any], scope)
        if _TIMED in state:
            await next_app(scope, receive, send)
            return
        state[_TIMED] = True
        token = REQUEST_ID.set(request_id_of(scope))
        read_token = READ_SOURCE.set(None)  # the read router sets it for this request
        started = time.perf_counter()
        status = 500  # if nothing was sent at all

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await next_app(scope, receive, sending)
        finally:
            seconds = time.perf_counter() - started
            route = scope.get("path_template") or "unmatched"
            method = str(scope.get("method", ""))
            self.observe(method, route, status, seconds)
            if self.access_log:
                _access_line(method, route, status, seconds)
            REQUEST_ID.reset(token)
            READ_SOURCE.reset(read_token)
