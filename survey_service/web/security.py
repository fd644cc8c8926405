"""Security headers on every answer, the client address, and the per-client limit (the
per-survey limit counts only genuine submissions, so the surveys service keeps it)."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from litestar import Request
from litestar.middleware.rate_limit import RateLimitConfig
from litestar.types import BeforeMessageSendHookHandler, Message, Scope

from survey_service.settings import Settings
from survey_service.surveys.abuse import client_address
from survey_service.web.docs import DOCS_POLICY

__all__ = ["client_limit", "client_of", "security_headers", "style_hash"]


def style_hash(css: str) -> str:
    """CSP source for one inline stylesheet: the page CSS is inline (one round trip less on
    a weak signal) yet no other inline style or any script can run."""
    return "'sha256-" + base64.b64encode(hashlib.sha256(css.encode()).digest()).decode() + "'"


def security_headers(settings: Settings, styles: list[str]) -> BeforeMessageSendHookHandler:
    """A before-send hook adding CSP and friends to every response: pages, API answers and
    every error the router itself raises (404, 405, CSRF 403, 429). ``styles`` are the only
    inline stylesheets allowed (by hash)."""
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
    raw = [(name.lower().encode(), value.encode()) for name, value in headers.items()]

    docs = [(b"content-security-policy", DOCS_POLICY.encode())]
    docs += [h for h in raw if h[0] != b"content-security-policy"]

    async def add_headers(message: Message, scope: Scope) -> None:
        if message["type"] == "http.response.start":
            present = {name for name, _ in message.get("headers", [])}
            path = scope.get("path", "")
            if path.startswith("/schema") and not path.endswith((".json", ".yaml", ".yml")):
                extra = [h for h in docs if h[0] not in present]  # the API docs page
                message["headers"] = [*message.get("headers", []), *extra]
                return
            message["headers"] = [
                *message.get("headers", []),
                *(h for h in raw if h[0] not in present),
            ]

    return add_headers


async def _is_submission(request: Request[Any, Any, Any]) -> bool:
    """Form posts, kiosk PIN posts and the JSON API's form serving and answers: what an
    anonymous client can do that costs a write. ``async``: Litestar runs a synchronous
    check in a worker thread on every request, GETs included."""
    path = request.url.path
    if request.method == "POST":
        return path.startswith(("/s/", "/kiosk/")) or (
            path.startswith("/api/v1/surveys/") and path.endswith("/responses")
        )
    return request.method == "GET" and path.count("/") == 4 and path.startswith("/api/v1/surveys/")


def client_of(request: Request[Any, Any, Any], proxies: list[str]) -> str:
    """The client's address (see :func:`survey_service.surveys.abuse.client_address`); every
    X-Forwarded-For header line counts, so a client cannot slip its own first line in front
    of what the proxy appended."""
    peer = request.client.host if request.client else None
    forwarded = ",".join(request.headers.getall("x-forwarded-for", []))
    return client_address(peer, forwarded or None, proxies)


def client_limit(settings: Settings) -> RateLimitConfig:
    """Submissions (and JSON form serving) per minute per client address. (The per-survey
    limit counts only submissions with a genuine token: the surveys service keeps it.)"""
    proxies = settings.proxies

    def by_client(request: Request[Any, Any, Any]) -> str:
        return client_of(request, proxies)

    return RateLimitConfig(
        rate_limit=("minute", settings.submit_limit_per_ip),
        identifier_for_request=by_client,
        check_throttle_handler=_is_submission,
        store="rate_limit_client",
    )
