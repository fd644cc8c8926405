"""What every dashboard page shares: the session check, the filter bar read from the URL,
and rendering in the dashboard's layout.

``/dashboard`` holds the owner's and managers' pages, rendered on the server.

Signed in with an email and password (``survey-service user create``); the session is an
HttpOnly, SameSite=Lax cookie for ``/dashboard`` holding a random token the database knows
only by its hash. Sign-in is CSRF-protected, rate-limited per client and per address, and
answers every failure with the same words. Every page takes the filter bar's parameters
from the URL, so a view can be bookmarked and sent; every page prints.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from litestar import Controller, Request, Response
from litestar.datastructures import Cookie
from litestar.response import Redirect, Template

from survey_service.accounts.service import AccountService, UserInfo
from survey_service.dashboard.views import DashFilters
from survey_service.errors import BadParameter
from survey_service.settings import Settings
from survey_service.surveys.definitions import CHANNELS
from survey_service.web.pages import NO_STORE

__all__ = [
    "SESSION_COOKIE",
    "SIGN_IN",
    "DashboardController",
    "bad_parameter",
    "filters_of",
    "query_of",
    "render",
    "require_user",
    "session_cookie",
    "signed_in",
]

SESSION_COOKIE = "ss_session"
SIGN_IN = "/dashboard/sign-in"

FILTER_KEYS = ("from", "to", "tz", "channel", "touchpoint", "agent", "every")


def filters_of(request: Request[Any, Any, Any]) -> DashFilters:
    q = {k: request.query_params.get(k, "")[:200] for k in FILTER_KEYS}
    return DashFilters(
        start=q["from"] or None,
        end=q["to"] or None,
        tz=q["tz"] or None,
        channel=q["channel"] or None,
        touchpoint=q["touchpoint"] or None,
        agent=q["agent"] or None,
        every=q["every"] or "day",
    )


def query_of(request: Request[Any, Any, Any], **changes: str) -> str:
    """This page's filter parameters (and ``changes``) as a query string."""
    kept = {
        k: v for k in (*FILTER_KEYS, "show", "sequential") if (v := request.query_params.get(k))
    }
    kept.update(changes)
    given = {k: v for k, v in kept.items() if v}
    return "?" + urlencode(given) if given else ""


async def signed_in(request: Request[Any, Any, Any]) -> UserInfo | None:
    """The user of this browser's session, if it is live."""
    accounts: AccountService = request.app.state.accounts
    return await accounts.session_user(request.cookies.get(SESSION_COOKIE, ""))


async def require_user(request: Request[Any, Any, Any]) -> Response[Any] | None:
    """Before every dashboard page but sign-in: the session's user, or off to sign in."""
    if request.url.path == SIGN_IN:
        return None
    user = await signed_in(request)
    if user is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return Redirect(f"{SIGN_IN}?{urlencode({'next': target})}", status_code=303)
    request.state.user = user
    return None


def render(
    request: Request[Any, Any, Any],
    template: str,
    section: str,
    title: str,
    *,
    status: int = 200,
    **context: Any,
) -> Template:
    return Template(
        template_name=f"dashboard/{template}",
        context={
            "user": getattr(request.state, "user", None),
            "section": section,
            "title": title,
            "query": query_of(request),
            "query_with": lambda key, value: query_of(request, **{key: value}),
            "filters": filters_of(request),
            "channels": CHANNELS,
            "min_n": request.app.state.reporting.min_n,
            **context,
        },
        status_code=status,
        headers=NO_STORE,
    )


def bad_parameter(request: Request[Any, Any, Any], exc: BadParameter) -> Template:
    """A filter that cannot be used: the page with the reason, not an error code dump."""
    return render(
        request,
        "layout.html",
        "",
        "Check the filters",
        status=400,
        error=f"{exc.key}: {exc.message}",
    )


def session_cookie(value: str, settings: Settings, max_age: int) -> Cookie:
    return Cookie(
        key=SESSION_COOKIE,
        value=value,
        path="/dashboard",
        max_age=max_age,
        httponly=True,
        samesite="lax",
        secure=settings.base_url.startswith("https:"),
    )


class DashboardController(Controller):
    """Base of the dashboard's controllers: under ``/dashboard``, out of the OpenAPI
    document, signed-in users only, and a filter that cannot be used explained in the page."""

    path = "/dashboard"
    include_in_schema = False
    before_request = staticmethod(require_user)
    exception_handlers = {BadParameter: bad_parameter}  # Litestar's API
