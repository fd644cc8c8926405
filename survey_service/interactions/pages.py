"""``/staff/log``: staff log an interaction on their phone in a few taps.

Behind the staff PIN (``SURVEY_KIOSK_PIN``; a signed, HttpOnly session cookie for
``/staff/``, as the kiosk screens have) or a staff account (a dashboard user; the log then
records who logged it). The device remembers its touchpoint, agent and
channel (a cookie for ``/staff/``), so the next log needs only the emotion, the actions
and the reaction. No JavaScript; CSRF-protected; rate-limited like every form post;
English and Spanish.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.di import NamedDependency
from litestar.response import Redirect, Template

from survey_service.accounts.service import AccountService
from survey_service.errors import AnswersRejected, FieldError, field_error
from survey_service.interactions.records import InteractionIn
from survey_service.interactions.service import InteractionService
from survey_service.interactions.vocabulary import ACTIONS, CHANNELS, EMOTIONS, REACTIONS, labels
from survey_service.lib.i18n import LANGUAGE_NAMES, browser_language, ui_text
from survey_service.lib.ratelimit import Limits
from survey_service.lib.text import one_line
from survey_service.qr import kiosk
from survey_service.settings import Settings
from survey_service.web.pages import NO_STORE, staff_unlocked, unlock_redirect
from survey_service.web.security import client_of

__all__ = ["StaffPages"]

SESSION_COOKIE = "ss_staff"
ACCOUNT_COOKIE = "ss_staff_user"
DEVICE_COOKIE = "ss_staff_device"
DEVICE_SECONDS = 365 * 86400
REMEMBERED = ("touchpoint", "agent", "channel")
CHOSEN = ("emotion", "reaction", "channel")
"""Fields picked from a closed list: an error there reads "please choose one"."""


def _language(request: Request[Any, Any, Any]) -> str:
    asked = request.query_params.get("lang")
    return (
        asked
        if asked in LANGUAGE_NAMES
        else browser_language(request.headers.get("accept-language"))
    )


def _device(request: Request[Any, Any, Any]) -> dict[str, str]:
    """What this phone remembers (its own cookie, still cleaned: it is client input)."""
    stored = dict(parse_qsl(request.cookies.get(DEVICE_COOKIE, ""))[:3])
    return {k: one_line(v)[:63] for k, v in stored.items() if k in REMEMBERED}


def _page(
    language: str,
    values: dict[str, Any],
    errors: dict[str, str],
    *,
    saved: bool = False,
    status: int = 200,
) -> Template:
    w = labels(language)
    return Template(
        template_name="staff_log.html",
        context={
            "lang": language,
            "title": w["title"],
            "w": w,
            "values": values,
            "errors": errors,
            "saved": saved,
            "emotions": EMOTIONS,
            "actions": ACTIONS,
            "reactions": REACTIONS,
            "channels": CHANNELS,
            "action_url": f"/staff/log?lang={language}",
            "lang_urls": {code: f"/staff/log?lang={code}" for code in LANGUAGE_NAMES},
            "language_names": LANGUAGE_NAMES,
        },
        status_code=status,
        headers=NO_STORE,
    )


def _interaction(form: Any) -> tuple[dict[str, Any], dict[str, Any], list[FieldError]]:
    """The form's values (to show again) and the interaction they describe, or errors."""
    values: dict[str, Any] = {
        name: form.get(name, "").strip()
        for name in (
            "emotion",
            "reaction",
            "channel",
            "touchpoint",
            "agent",
            "duration",
            "note",
            "reference",
        )
    }
    values["actions"] = form.getall("actions", [])
    body: dict[str, Any] = {
        k: v for k, v in values.items() if v and k not in ("duration", "actions")
    }
    body["actions"] = values["actions"]
    errors = []
    if values["duration"]:
        if values["duration"].isdecimal() and len(values["duration"]) <= 4:
            body["duration_seconds"] = int(values["duration"]) * 60
        else:
            errors.append(
                FieldError(key="duration", message="whole minutes, 0 to 1440", code="range")
            )
    for name in ("emotion", "reaction"):
        if not values[name]:
            errors.append(FieldError(key=name, message="required", code="required"))
    return values, body, errors


async def _signed_in(
    request: Request[Any, Any, Any], settings: Settings, accounts: AccountService
) -> str | None:
    """Who this phone logs as: "" for the shared PIN, a user's address for a staff
    account; None when it is not signed in."""
    if staff_unlocked(request, SESSION_COOKIE, settings.kiosk_pin):
        return ""
    user = await accounts.session_user(request.cookies.get(ACCOUNT_COOKIE, ""))
    return None if user is None else user.email


def _sign_in_page(
    language: str,
    settings: Settings,
    error: str | None = None,
    status: int = 200,
) -> Template:
    """The staff PIN form (when kiosks are on) and the staff-account form."""
    return Template(
        template_name="staff_sign_in.html",
        context={
            "lang": language,
            "title": labels(language)["title"],
            "w": labels(language),
            "t": ui_text(language),
            "action": f"/staff/log?lang={language}",
            "pin_enabled": settings.kiosk_pin is not None,
            "error": error,
        },
        status_code=status,
        headers=NO_STORE,
    )


async def _sign_in(
    request: Request[Any, Any, Any],
    form: Any,
    language: str,
    settings: Settings,
    accounts: AccountService,
    limits: Limits,
) -> Response[Any]:
    """The staff PIN, or a staff account's address and password (at most
    ``SURVEY_SIGN_IN_LIMIT`` tries a minute per client); then back to the form with a
    session for ``/staff/``."""
    w = labels(language)
    secure = settings.base_url.startswith("https:")
    email = str(form.get("email", ""))[:254].strip().lower()
    limited = await limits.hit("staff-sign-in", client_of(request), settings.sign_in_limit, 60)
    if limited:
        return _sign_in_page(language, settings, w["too_many"], 429)
    if "pin" in form:
        if not kiosk.check_pin(str(form.get("pin", "")), settings.kiosk_pin):
            wrong = f"{ui_text(language)['wrong_pin_title']}."
            return _sign_in_page(language, settings, wrong, 403)
        return unlock_redirect(
            request, str(form["pin"]), cookie=SESSION_COOKIE, path="/staff/", secure=secure
        )
    started = await accounts.sign_in(email, str(form.get("password", "")))
    if started is None:
        return _sign_in_page(language, settings, w["wrong_account"], 403)
    redirect = Redirect(f"/staff/log?lang={language}", status_code=303)
    redirect.set_cookie(
        Cookie(
            key=ACCOUNT_COOKIE,
            value=started[0],
            path="/staff/",
            max_age=12 * 3600,
            httponly=True,
            samesite="strict",
            secure=secure,
        )
    )
    return redirect


class StaffPages(Controller):
    """The staff interaction log on a phone."""

    path = "/staff"
    include_in_schema = False

    @get("/log")
    async def form(
        self,
        request: Request[Any, Any, Any],
        settings: NamedDependency[Settings],
        accounts: NamedDependency[AccountService],
    ) -> Template:
        """The log form, or the sign-in (staff PIN or staff account) when this phone is not
        signed in."""
        language = _language(request)
        if await _signed_in(request, settings, accounts) is None:
            return _sign_in_page(language, settings)
        values = {"channel": "in_person", **_device(request)}
        return _page(language, values, {}, saved=request.query_params.get("saved") == "1")

    @post("/log", status_code=303)
    async def save(
        self,
        request: Request[Any, Any, Any],
        settings: NamedDependency[Settings],
        interactions: NamedDependency[InteractionService],
        accounts: NamedDependency[AccountService],
        limits: NamedDependency[Limits],
    ) -> Response[Any]:
        """Sign in (PIN or account), or store the interaction and come back to a blank form."""
        language = _language(request)
        form = await request.form()
        secure = settings.base_url.startswith("https:")
        if "pin" in form or "email" in form:
            return await _sign_in(request, form, language, settings, accounts, limits)
        who = await _signed_in(request, settings, accounts)
        if who is None:
            return Redirect(f"/staff/log?lang={language}", status_code=303)
        values, body, errors = _interaction(form)
        try:
            if errors:
                raise AnswersRejected(errors)
            row = msgspec.convert(body, InteractionIn, strict=False)
            await interactions.record(row, f"staff page ({who or row.agent or 'no agent'})")
        except msgspec.ValidationError as exc:
            errors = [field_error(exc)]
        except AnswersRejected as exc:
            errors = exc.errors
        if errors:
            w = labels(language)
            shown = {e.key: w["choose_one"] if e.key in CHOSEN else e.message for e in errors}
            return _page(language, values, shown, status=400)
        redirect = Redirect(f"/staff/log?lang={language}&saved=1", status_code=303)
        remembered = {k: values[k] for k in REMEMBERED if values[k]}
        redirect.set_cookie(
            Cookie(
                key=DEVICE_COOKIE,
                value=urlencode(remembered),
                path="/staff/",
                max_age=DEVICE_SECONDS,
                httponly=True,
                samesite="strict",
                secure=secure,
            )
        )
        return redirect
