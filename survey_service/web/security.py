"""Security headers on every answer, the client address, and the per-client limit (the
per-survey limit counts only genuine submissions, so the surveys service keeps it)."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from typing import Any, cast

from litestar import Request
from litestar.enums import ScopeType
from litestar.middleware import ASGIMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from survey_service.errors import TooBusy
from survey_service.lib.freshness import READ_SOURCE
from survey_service.lib.ratelimit import Limits
from survey_service.settings import Settings
from survey_service.surveys.abuse import client_address
from survey_service.web.context import request_id_of
from survey_service.web.docs import DOCS_POLICY

__all__ = [
    "API_POLICY",
    "LIVE_PAGE",
    "ClientLimit",
    "SecurityHeaders",
    "client_of",
    "count_client",
    "is_submission",
    "scope_client",
    "style_hash",
]

API_POLICY = "default-src 'none'; frame-ancestors 'none'"
"""The CSP of every ``/api/`` answer."""

LIVE_PAGE = "/dashboard/live"
"""The only page allowed a script (``static/live.js``, from this origin)."""


def style_hash(css: str) -> str:
    """CSP source for one inline stylesheet: the page CSS is inline (one round trip less on
    a weak signal) yet no other inline style or any script can run."""
    return "'sha256-" + base64.b64encode(hashlib.sha256(css.encode()).digest()).decode() + "'"


Headers = list[tuple[bytes, bytes]]


class SecurityHeaders:
    """CSP and friends on every response: pages, API answers and every error the router
    itself raises (404, 405, CSRF 403, 429). ``styles`` are the only inline stylesheets
    allowed (by hash).

    Called as a Litestar before-send hook, or wrapped around an ASGI ``send``
    (:meth:`wrap`); the fast lane, which knows its answers, adds :meth:`for_path`'s list
    itself and spares every answer two wrapper calls and a header scan."""

    def __init__(self, settings: Settings, styles: list[str]) -> None:
        policy = "; ".join(
            [
                "default-src 'none'",
                f"style-src {' '.join(style_hash(css) for css in styles)}",
                "img-src 'self' data:",
                "form-action 'self'",
                "base-uri 'none'",
                f"frame-ancestors {settings.frame_ancestors}",
            ]
        )
        headers = {
            "Content-Security-Policy": policy,
            "X-Content-Type-Options": "nosniff",
            # Form links can carry tokens: never leak them to other sites.
            "Referrer-Policy": "no-referrer",
            "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
        }
        if settings.frame_ancestors.strip() == "'none'":
            headers["X-Frame-Options"] = "DENY"
        self.page: Headers = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
        """Every page's (and every answer's not named below)."""
        self.docs = self._with_policy(DOCS_POLICY)
        # The live page is the one page with a script: its own file, and its event stream.
        self.live = self._with_policy(f"{policy}; script-src 'self'; connect-src 'self'")
        # JSON and CSV have nothing to style or show: the policy OWASP advises for APIs,
        # not the pages' style hashes.
        self.api = self._with_policy(API_POLICY)

    def _with_policy(self, other: str) -> Headers:
        return [(b"content-security-policy", other.encode())] + [
            h for h in self.page if h[0] != b"content-security-policy"
        ]

    def for_path(self, path: str) -> Headers:
        """The headers an answer to ``path`` gets."""
        if path.startswith("/schema") and not path.endswith((".json", ".yaml", ".yml")):
            return self.docs  # the API docs page
        if path == LIVE_PAGE:
            return self.live
        return self.api if path.startswith("/api/") else self.page

    async def __call__(self, message: Message, scope: Scope) -> None:
        """Add the headers to a response's start (headers the answer set itself stay)."""
        if message["type"] != "http.response.start":
            return
        headers = list(message.get("headers", ()))
        present = {name for name, _ in headers}
        headers.append((b"x-request-id", request_id_of(scope).encode()))
        read = READ_SOURCE.get()
        if read is not None:  # a replica is configured: say where this read ran
            headers.append((b"x-read-from", read.source.encode()))
            headers.append((b"x-replica-lag-seconds", f"{read.lag_seconds:.3f}".encode()))
        headers.extend(h for h in self.for_path(scope.get("path", "")) if h[0] not in present)
        message["headers"] = headers

    def wrap(self, send: Send, scope: Scope) -> Send:
        """``send`` with the headers added, as Litestar's before-send hook adds them."""

        async def sending(message: Message) -> None:
            await self(message, scope)
            await send(message)

        return sending


def is_submission(method: str, path: str) -> bool:
    """Form posts, kiosk and staff posts (PINs, the interaction log) and the JSON API's form
    serving and answers: what an anonymous client can do that costs a write (and all the
    per-client limit counts)."""
    if method == "POST":
        return path.startswith(("/s/", "/kiosk/", "/staff/")) or (
            path.startswith("/api/v1/surveys/") and path.endswith("/responses")
        )
    return method == "GET" and path.count("/") == 4 and path.startswith("/api/v1/surveys/")


_CLIENT = "survey_service.client"
_COUNTED = "survey_service.client_wait"


def scope_client(scope: Scope, proxies: Sequence[str]) -> str:
    """The client's address (see :func:`survey_service.surveys.abuse.client_address`) behind
    the ``proxies`` trusted; every X-Forwarded-For header line counts, so a client cannot
    slip its own first line in front of what the proxy appended. Worked out once per
    request (the client limit needs it before the handler)."""
    state = cast(dict[str, Any], scope)
    found: str | None = state.get(_CLIENT)
    if found is None:
        client = scope.get("client")
        lines = [value for name, value in scope["headers"] if name == b"x-forwarded-for"]
        forwarded = b",".join(lines).decode("latin-1")
        peer = client[0] if client else None
        found = state[_CLIENT] = client_address(peer, forwarded or None, proxies)
    return found


def client_of(request: Request[Any, Any, Any]) -> str:
    """:func:`scope_client` with ``trusted_proxies`` from the app's settings."""
    return scope_client(request.scope, request.app.state.settings.proxies)


async def count_client(
    scope: Scope, limits: Limits, limit: int, proxies: Sequence[str]
) -> float | None:
    """Count this request against its client's per-minute limit, once however many layers
    ask (the fast lane, then Litestar's :class:`ClientLimit` when it hands a request on):
    None within the limit, else the seconds until the window ends."""
    state = cast(dict[str, Any], scope)
    if _COUNTED not in state:
        client = scope_client(scope, proxies)
        state[_COUNTED] = await limits.hit("client", client, limit)
    wait: float | None = state[_COUNTED]
    return wait


class ClientLimit(ASGIMiddleware):
    """Submissions (and JSON form serving) per minute per client address, counted in the
    store every instance shares (:class:`survey_service.lib.ratelimit.Limits`, in
    ``app.state.limits``); past it, 429 with Retry-After. Page views are never counted.
    (The per-survey limit counts only submissions with a genuine token: the surveys
    service keeps it.)"""

    scopes = (ScopeType.HTTP,)

    def __init__(self, settings: Settings) -> None:
        self.limit = settings.submit_limit_per_ip
        self.proxies = settings.proxies

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        """Count a submission against its client; raise TooBusy past the limit."""
        if scope["type"] == ScopeType.HTTP and is_submission(scope["method"], scope["path"]):
            limits: Limits = scope["app"].state.limits
            wait = await count_client(scope, limits, self.limit, self.proxies)
            if wait is not None:
                raise TooBusy("too many submissions from this address", retry_after=wait)
        await next_app(scope, receive, send)
