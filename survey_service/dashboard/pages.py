"""``/dashboard``: the owner's and managers' pages, rendered on the server.

Signed in with an email and password (``survey-service user create``); the session is an
HttpOnly, SameSite=Lax cookie for ``/dashboard`` holding a random token the database knows
only by its hash. Sign-in is CSRF-protected, rate-limited per client and per address, and
answers every failure with the same words. Every page takes the filter bar's parameters
from the URL, so a view can be bookmarked and sent; every page prints.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Redirect, Stream, Template

from survey_service.accounts.service import AccountService, UserInfo
from survey_service.dashboard.views import DashboardService, DashFilters, Window
from survey_service.errors import BadParameter
from survey_service.lib.ratelimit import Limits
from survey_service.settings import Settings
from survey_service.surveys.definitions import CHANNELS
from survey_service.web.pages import NO_STORE
from survey_service.web.security import client_of

__all__ = ["SESSION_COOKIE", "DashboardPages", "signed_in"]

SESSION_COOKIE = "ss_session"
SIGN_IN = "/dashboard/sign-in"
FAILED = "Wrong email or password, or the account is disabled."
FILTER_KEYS = ("from", "to", "tz", "channel", "touchpoint", "agent", "every")


def _filters(request: Request[Any, Any, Any]) -> DashFilters:
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


def _query(request: Request[Any, Any, Any], **changes: str) -> str:
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


async def _require_user(request: Request[Any, Any, Any]) -> Response[Any] | None:
    """Before every dashboard page but sign-in: the session's user, or off to sign in."""
    if request.url.path == SIGN_IN:
        return None
    user = await signed_in(request)
    if user is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return Redirect(f"{SIGN_IN}?{urlencode({'next': target})}", status_code=303)
    request.state.user = user
    return None


def _page(
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
            "query": _query(request),
            "query_with": lambda key, value: _query(request, **{key: value}),
            "filters": _filters(request),
            "channels": CHANNELS,
            "min_n": request.app.state.reporting.min_n,
            **context,
        },
        status_code=status,
        headers=NO_STORE,
    )


def _bad_parameter(request: Request[Any, Any, Any], exc: BadParameter) -> Template:
    """A filter that cannot be used: the page with the reason, not an error code dump."""
    return _page(
        request,
        "layout.html",
        "",
        "Check the filters",
        status=400,
        error=f"{exc.key}: {exc.message}",
    )


def _session_cookie(value: str, settings: Settings, max_age: int) -> Cookie:
    return Cookie(
        key=SESSION_COOKIE,
        value=value,
        path="/dashboard",
        max_age=max_age,
        httponly=True,
        samesite="lax",
        secure=settings.base_url.startswith("https:"),
    )


class DashboardPages(Controller):
    """The dashboard."""

    path = "/dashboard"
    include_in_schema = False
    before_request = staticmethod(_require_user)
    exception_handlers = {BadParameter: _bad_parameter}  # Litestar's API

    @get("/sign-in")
    async def sign_in_form(self, request: Request[Any, Any, Any]) -> Template:
        """The sign-in form."""
        return _page(
            request, "sign_in.html", "", "Sign in", action=request.url.path + _next(request)
        )

    @post("/sign-in", status_code=303)
    async def sign_in(
        self,
        request: Request[Any, Any, Any],
        accounts: NamedDependency[AccountService],
        limits: NamedDependency[Limits],
        settings: NamedDependency[Settings],
    ) -> Response[Any]:
        """Check the address and password (at most ``sign_in_limit`` tries a minute per
        client and per 15 minutes per address), then start a session."""
        form = await request.form()
        email = str(form.get("email", ""))[:254].strip().lower()
        password = str(form.get("password", ""))
        action = request.url.path + _next(request)
        most = settings.sign_in_limit
        limited = await limits.hit("sign-in", client_of(request), most, 60)
        limited = limited or await limits.hit("sign-in-address", email, most, 900)
        if limited:
            message = "Too many tries. Wait a few minutes, then try again."
            return _page(
                request,
                "sign_in.html",
                "",
                "Sign in",
                status=429,
                failed=message,
                email=email,
                action=action,
            )
        started = await accounts.sign_in(email, password)
        if started is None:
            return _page(
                request,
                "sign_in.html",
                "",
                "Sign in",
                status=403,
                failed=FAILED,
                email=email,
                action=action,
            )
        token, _ = started
        target = request.query_params.get("next", "")
        # Only a dashboard path of ours: never an open redirect.
        safe = target.startswith("/dashboard") and "//" not in target and "\\" not in target
        redirect = Redirect(target if safe else "/dashboard", status_code=303)
        redirect.set_cookie(_session_cookie(token, settings, SESSION_MAX_AGE))
        return redirect

    @post("/sign-out", status_code=303)
    async def sign_out(
        self,
        request: Request[Any, Any, Any],
        accounts: NamedDependency[AccountService],
        settings: NamedDependency[Settings],
    ) -> Redirect:
        """End this session."""
        await accounts.sign_out(request.cookies.get(SESSION_COOKIE, ""))
        redirect = Redirect(SIGN_IN, status_code=303)
        redirect.set_cookie(_session_cookie("", settings, 0))
        return redirect

    @get()
    async def overview(
        self, request: Request[Any, Any, Any], dashboard: NamedDependency[DashboardService]
    ) -> Template:
        """Business-wide KPIs and one row per survey, against the previous period."""
        window, business, surveys = await dashboard.overview(request.state.user, _filters(request))
        return _page(
            request,
            "overview.html",
            "Overview",
            "Overview",
            window=window,
            business=business,
            surveys=surveys,
        )

    @get("/surveys/{slug:str}")
    async def survey(
        self,
        request: Request[Any, Any, Any],
        dashboard: NamedDependency[DashboardService],
        slug: FromPath[str],
    ) -> Template:
        """One survey: KPIs, trends with bands, breakdowns and key drivers."""
        page = await dashboard.survey(request.state.user, slug, _filters(request))
        return _page(
            request,
            "survey.html",
            "Overview",
            page["title"],
            page=page,
            slug=slug,
            window=page["window"],
            show_every=True,
        )

    @get("/surveys/{slug:str}/comments")
    async def comments(
        self,
        request: Request[Any, Any, Any],
        dashboard: NamedDependency[DashboardService],
        slug: FromPath[str],
    ) -> Template:
        """Comments newest first, with their sentiment and cues."""
        show = request.query_params.get("show", "all")
        before = request.query_params.get("before", "")
        if before and not (before.isdecimal() and len(before) <= 18):
            raise BadParameter("before", "a comment id from the page")
        filters = _filters(request)
        rows = await dashboard.comments(
            request.state.user, slug, filters, show, int(before) if before else None
        )
        window: Window = dashboard.window(filters)
        info = dashboard.reporting.visible(request.state.user, slug)
        return _page(
            request,
            "comments.html",
            "Overview",
            f"Comments: {slug}",
            comments=rows,
            slug=slug,
            show=show,
            window=window,
            survey_title=info.definition.title[info.definition.default_language],
            older=str(rows[-1].id) if len(rows) == 50 else None,
        )

    @get("/surveys/{slug:str}/responses.csv")
    async def csv(
        self,
        request: Request[Any, Any, Any],
        dashboard: NamedDependency[DashboardService],
        slug: FromPath[str],
    ) -> Stream:
        """The CSV export of the filtered period (the API's export, for signed-in users)."""
        filters = _filters(request)
        params = dashboard.window(filters).params(filters)
        chunks: AsyncIterator[bytes] = await dashboard.reporting.export_csv(
            request.state.user, slug, params, bom=True
        )
        return Stream(
            chunks,
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{slug}-responses.csv"'},
        )

    @get("/experiments/{key:str}")
    async def experiment(
        self,
        request: Request[Any, Any, Any],
        dashboard: NamedDependency[DashboardService],
        key: FromPath[str],
    ) -> Template:
        """An experiment: per-variant intervals, lifts, verdicts, warnings and power."""
        filters = _filters(request)
        sequential = request.query_params.get("sequential") == "true"
        results, chart = await dashboard.experiment(
            request.state.user, key, filters, sequential=sequential
        )
        return _page(
            request,
            "experiment.html",
            "Overview",
            f"Experiment {key}",
            results=results,
            chart=chart,
            window=dashboard.window(filters),
        )

    @get("/account")
    async def account(self, request: Request[Any, Any, Any]) -> Template:
        """The user's account: change the password."""
        return _page(request, "account.html", "Account", "Account")

    @post("/account", status_code=303)
    async def change_password(
        self,
        request: Request[Any, Any, Any],
        accounts: NamedDependency[AccountService],
        settings: NamedDependency[Settings],
    ) -> Response[Any]:
        """A new password (after the current one), then sign out everywhere."""
        form = await request.form()
        user: UserInfo = request.state.user
        if await accounts.sign_in(user.email, str(form.get("current", ""))) is None:
            return _page(
                request,
                "account.html",
                "Account",
                "Account",
                status=403,
                error="The current password is not right.",
            )
        try:
            await accounts.set_password(user.email, str(form.get("new", "")))
        except BadParameter as exc:
            return _page(
                request,
                "account.html",
                "Account",
                "Account",
                status=400,
                error=f"New password: {exc.message}.",
            )
        redirect = Redirect(SIGN_IN, status_code=303)
        redirect.set_cookie(_session_cookie("", settings, 0))
        return redirect


SESSION_MAX_AGE = 14 * 86400


def _next(request: Request[Any, Any, Any]) -> str:
    target = request.query_params.get("next")
    return f"?{urlencode({'next': target})}" if target else ""
