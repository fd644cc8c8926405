"""``/dashboard``: sign-in, the figures pages and the account page (the alert pages are
in :mod:`survey_service.dashboard.alert_pages`)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Redirect, Stream, Template

from survey_service.accounts.service import SESSION_DAYS, AccountService, UserInfo
from survey_service.dashboard.views import COMMENTS_PAGE, DashboardService, Window
from survey_service.dashboard.web import (
    SESSION_COOKIE,
    SIGN_IN,
    DashboardController,
    filters_of,
    render,
    session_cookie,
)
from survey_service.errors import BadParameter
from survey_service.lib.ratelimit import Limits
from survey_service.settings import Settings
from survey_service.web.security import client_of

__all__ = ["DashboardPages"]

FAILED = "Wrong email or password, or the account is disabled."
SESSION_MAX_AGE = SESSION_DAYS * 86400


def _next(request: Request[Any, Any, Any]) -> str:
    target = request.query_params.get("next")
    return f"?{urlencode({'next': target})}" if target else ""


class DashboardPages(DashboardController):
    """The dashboard."""

    @get("/sign-in")
    async def sign_in_form(self, request: Request[Any, Any, Any]) -> Template:
        """The sign-in form."""
        return render(
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
        started = None if limited else await accounts.sign_in(email, password)
        if started is None:
            return render(
                request,
                "sign_in.html",
                "",
                "Sign in",
                status=429 if limited else 403,
                failed="Too many tries. Wait a few minutes, then try again." if limited else FAILED,
                email=email,
                action=action,
            )
        token, _ = started
        target = request.query_params.get("next", "")
        # Only a dashboard path of ours: never an open redirect.
        safe = target.startswith("/dashboard") and "//" not in target and "\\" not in target
        redirect = Redirect(target if safe else "/dashboard", status_code=303)
        redirect.set_cookie(session_cookie(token, settings, SESSION_MAX_AGE))
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
        redirect.set_cookie(session_cookie("", settings, 0))
        return redirect

    @get()
    async def overview(
        self, request: Request[Any, Any, Any], dashboard: NamedDependency[DashboardService]
    ) -> Template:
        """Business-wide KPIs and one row per survey, against the previous period."""
        window, business, surveys = await dashboard.overview(
            request.state.user, filters_of(request)
        )
        return render(
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
        page = await dashboard.survey(request.state.user, slug, filters_of(request))
        return render(
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
        filters = filters_of(request)
        rows = await dashboard.comments(
            request.state.user, slug, filters, show, int(before) if before else None
        )
        window: Window = dashboard.window(filters)
        info = dashboard.reporting.visible(request.state.user, slug)
        return render(
            request,
            "comments.html",
            "Overview",
            f"Comments: {slug}",
            comments=rows,
            slug=slug,
            show=show,
            window=window,
            survey_title=info.definition.title[info.definition.default_language],
            older=str(rows[-1].id) if len(rows) == COMMENTS_PAGE else None,
        )

    @get("/surveys/{slug:str}/responses.csv")
    async def csv(
        self,
        request: Request[Any, Any, Any],
        dashboard: NamedDependency[DashboardService],
        slug: FromPath[str],
    ) -> Stream:
        """The CSV export of the filtered period (the API's export, for signed-in users)."""
        filters = filters_of(request)
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
        filters = filters_of(request)
        sequential = request.query_params.get("sequential") == "true"
        results, chart, lift_chart = await dashboard.experiment(
            request.state.user, key, filters, sequential=sequential
        )
        return render(
            request,
            "experiment.html",
            "Overview",
            f"Experiment {key}",
            results=results,
            chart=chart,
            lift_chart=lift_chart,
            window=dashboard.window(filters),
        )

    @get("/account")
    async def account(self, request: Request[Any, Any, Any]) -> Template:
        """The user's account: change the password."""
        return render(request, "account.html", "Account", "Account")

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
            return render(
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
            return render(
                request,
                "account.html",
                "Account",
                "Account",
                status=400,
                error=f"New password: {exc.message}.",
            )
        redirect = Redirect(SIGN_IN, status_code=303)
        redirect.set_cookie(session_cookie("", settings, 0))
        return redirect
