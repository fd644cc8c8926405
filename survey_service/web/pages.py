"""What every customer page shares: the form page, the thank-you page and friendly notices
(expired, invalid, busy ...), in the customer's language."""

from __future__ import annotations

import html
import time
from typing import Any
from urllib.parse import urlencode

from litestar import Request, Response
from litestar.datastructures import Cookie
from litestar.enums import MediaType
from litestar.response import Redirect, Template
from litestar.utils.scope.state import ScopeState

from survey_service.lib.i18n import LANGUAGE_NAMES, ui_text
from survey_service.lib.templates import environment
from survey_service.qr import kiosk
from survey_service.surveys.definitions import SurveyDefinition
from survey_service.surveys.serving import SurveyView

__all__ = [
    "NO_STORE",
    "blank_form_body",
    "blank_form_page",
    "form_page",
    "notice",
    "pin_page",
    "staff_unlocked",
    "thanks_page",
    "unlock_redirect",
]

NO_STORE = {"Cache-Control": "no-store"}


def notice(
    language: str,
    kind: str,
    status: int,
    link: str | None = None,
    headers: dict[str, str] | None = None,
) -> Template:
    """A friendly full page (expired, invalid, busy ...) in the customer's language."""
    t = ui_text(language)
    return Template(
        template_name="notice.html",
        context={
            "lang": language,
            "title": t[f"{kind}_title"],
            "heading": t[f"{kind}_title"],
            "message": t[kind],
            "link": link,
            "link_text": t["fresh"],
        },
        status_code=status,
        headers={**NO_STORE, **(headers or {})},
    )


def thanks_page(
    definition: SurveyDefinition, language: str, refresh: str | None = None
) -> Template:
    """The survey's thank-you text (or the page words') in ``language``; ``refresh`` is a
    meta-refresh value for screens that move on by themselves."""
    t = ui_text(language)
    return Template(
        template_name="notice.html",
        context={
            "lang": language,
            "title": t["thanks_title"],
            "heading": t["thanks_title"],
            "message": definition.thanks[language] if definition.thanks else t["thanks"],
            "refresh": refresh,
        },
        headers=NO_STORE,
    )


def _form_context(
    survey: SurveyView, token: str, errors: dict[str, str], values: dict[str, str]
) -> dict[str, Any]:
    base = f"/s/{survey.slug}"
    return {
        "lang": survey.language,
        "title": survey.title,
        "survey": survey,
        "token": token,
        "action": base,
        "errors": errors,
        "values": values,
        "t": ui_text(survey.language),
        "language_names": LANGUAGE_NAMES,
        "lang_urls": {
            code: f"{base}?{urlencode({'lang': code, 't': token})}" for code in survey.languages
        },
    }


def form_page(
    survey: SurveyView,
    token: str,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
    cookie: str | None = None,
) -> Template:
    """The form as ``survey`` describes it, carrying ``token``; ``errors`` by question id
    and the ``values`` to keep when it is shown again (``cookie``: a Set-Cookie line)."""
    return Template(
        template_name="form.html",
        context=_form_context(survey, token, errors or {}, values or {}),
        status_code=status,
        headers={**NO_STORE, "Set-Cookie": cookie} if cookie else NO_STORE,
    )


# Placeholders that HTML escaping and URL encoding leave as they are, as they do tokens
# (base64url and dots) and CSRF tokens (hex).
_TOKEN, _CSRF = "tokenSLOTq7x", "csrfSLOTq7x"
_BLANK_PAGES: dict[tuple[str, int, str, str | None], bytes] = {}
_MAX_PAGES = 1024  # surveys x versions x languages x variants; cleared when full


def _blank_page_template(survey: SurveyView) -> bytes:
    """The page as a ``bytes %`` template, rendered and encoded once: ``%(t)b`` where the
    form token goes, ``%(c)b`` the CSRF token (0.7 µs a visit, against 1.4 for joining
    the parts between them)."""
    key = (survey.slug, survey.version, survey.language, survey.variant)
    template = _BLANK_PAGES.get(key)
    if template is None:
        csrf_input = f'<input type="hidden" name="_csrf_token" value="{_CSRF}" />'
        context = {**_form_context(survey, _TOKEN, {}, {}), "csrf_input": csrf_input}
        page = environment().get_template("form.html").render(context).replace("%", "%%")
        template = page.replace(_TOKEN, "%(t)b").replace(_CSRF, "%(c)b").encode()
        if len(_BLANK_PAGES) >= _MAX_PAGES:
            _BLANK_PAGES.clear()
        _BLANK_PAGES[key] = template
    return template


def blank_form_body(survey: SurveyView, token: str, csrf: str) -> bytes:
    """The HTML of :func:`form_page` with nothing chosen and no errors (every first visit),
    rendered once per survey version, language and variant; only the form token and the
    CSRF token differ per visit."""
    return _blank_page_template(survey) % {b"t": token.encode(), b"c": html.escape(csrf).encode()}


def blank_form_page(
    request: Request[Any, Any, Any], survey: SurveyView, token: str, cookie: str | None
) -> Response[bytes]:
    """:func:`blank_form_body` as a response, with the CSRF token Litestar's CSRF middleware
    put in the request's scope."""
    csrf = ScopeState.from_scope(request.scope).csrf_token
    return Response(
        blank_form_body(survey, token, csrf if isinstance(csrf, str) else ""),
        media_type=MediaType.HTML,
        headers={**NO_STORE, "Set-Cookie": cookie} if cookie else NO_STORE,
    )


def pin_page(request: Request[Any, Any, Any], language: str, *, wrong: bool = False) -> Template:
    """The staff PIN form posting back to this URL (again, with the reason, after a wrong
    PIN)."""
    t = ui_text(language)
    query = request.url.query
    return Template(
        template_name="pin.html",
        context={
            "lang": language,
            "title": t["pin"],
            "t": t,
            "action": request.url.path + (f"?{query}" if query else ""),
            "error": f"{t['wrong_pin_title']}. {t['wrong_pin']}" if wrong else None,
        },
        status_code=403 if wrong else 200,
        headers=NO_STORE,
    )


def staff_unlocked(request: Request[Any, Any, Any], cookie: str, pin: str | None) -> bool:
    """Whether this browser holds a live staff session (cookie ``cookie``) for ``pin``."""
    return kiosk.unlocked(request.app.state.secret_key, pin, request.cookies.get(cookie, ""))


def unlock_redirect(
    request: Request[Any, Any, Any], pin: str, *, cookie: str, path: str, secure: bool
) -> Redirect:
    """Back to this URL (303) holding a staff session (an HttpOnly cookie for ``path``,
    valid for :data:`kiosk.SESSION_SECONDS`); the caller checked the PIN."""
    expires = int(time.time()) + kiosk.SESSION_SECONDS
    # A relative Location: the Host header is the client's to choose.
    query = request.url.query
    redirect = Redirect(request.url.path + (f"?{query}" if query else ""), status_code=303)
    redirect.set_cookie(
        Cookie(
            key=cookie,
            value=kiosk.session(request.app.state.secret_key, pin, expires),
            path=path,
            max_age=kiosk.SESSION_SECONDS,
            httponly=True,
            samesite="strict",
            secure=secure,
        )
    )
    return redirect
