"""Security headers on every answer, and the per-client / per-survey submission limits."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from typing import Any

from litestar import Request
from litestar.enums import ScopeType
from litestar.middleware.rate_limit import RateLimitConfig
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from survey_service.settings import Settings
from survey_service.surveys.abuse import client_address

__all__ = ["rate_limits", "security_headers", "style_hash"]


def style_hash(css: str) -> str:
    """CSP source for one inline stylesheet: the page CSS is inline (one round trip less on
    a weak signal) yet no other inline style or any script can run."""
    return "'sha256-" + base64.b64encode(hashlib.sha256(css.encode()).digest()).decode() + "'"


def security_headers(settings: Settings, styles: list[str]) -> Callable[[ASGIApp], ASGIApp]:
    """Middleware adding CSP and friends to every response, error pages included.
    ``styles`` are the only inline stylesheets allowed (by hash)."""
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

    def wrap(app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != ScopeType.HTTP:
                await app(scope, receive, send)
                return

            async def send_with_headers(message: Message) -> None:
                if message["type"] == "http.response.start":
                    present = {name for name, _ in message.get("headers", [])}
                    extra = [h for h in raw if h[0] not in present]
                    message["headers"] = [*message.get("headers", []), *extra]
                await send(message)

            await app(scope, receive, send_with_headers)

        return middleware

    return wrap


def _is_form_post(request: Request[Any, Any, Any]) -> bool:
    return request.method == "POST" and request.url.path.startswith(("/s/", "/kiosk/"))


def rate_limits(settings: Settings) -> list[RateLimitConfig]:
    """Two limits on form submissions: per client address and per survey."""
    proxies = settings.proxies

    def by_client(request: Request[Any, Any, Any]) -> str:
        peer = request.client.host if request.client else None
        return client_address(peer, request.headers.get("x-forwarded-for"), proxies)

    def by_survey(request: Request[Any, Any, Any]) -> str:
        return request.url.path.split("/")[2]  # /s/<slug> and /kiosk/<slug>

    return [
        RateLimitConfig(
            rate_limit=("minute", settings.submit_limit_per_ip),
            identifier_for_request=by_client,
            check_throttle_handler=_is_form_post,
            store="rate_limit_client",
        ),
        RateLimitConfig(
            rate_limit=("minute", settings.submit_limit_per_survey),
            identifier_for_request=by_survey,
            check_throttle_handler=_is_form_post,
            store="rate_limit_survey",
        ),
    ]
