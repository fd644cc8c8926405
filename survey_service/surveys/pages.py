"""Phone-first survey pages: server-rendered, no JavaScript needed, one response per visit."""

from __future__ import annotations

import time
from typing import Annotated, Any
from urllib.parse import urlencode

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, FromQuery
from litestar.response import Redirect, Template

from survey_service.errors import AnswersRejected
from survey_service.lib.i18n import ui_text
from survey_service.responses.answers import coerce_form_fields
from survey_service.surveys.abuse import HONEYPOT_FIELD
from survey_service.surveys.definitions import pick_language
from survey_service.surveys.serving import ServedForm, SurveyService
from survey_service.surveys.tokens import FormClaims
from survey_service.web.pages import blank_form_page, form_page, notice, thanks_page
from survey_service.web.security import client_of

__all__ = [
    "COOKIE_PATH",
    "FORM_BODY_LIMIT",
    "SurveyPages",
    "cookie_name",
    "done_location",
    "form_cookie",
    "gone_cookie",
    "serve_form",
]

FORM_BODY_LIMIT = 32 * 1024
COOKIE_PATH = "/"  # the form is reached at /s/<slug> and through /q/<code> short links


def cookie_name(slug: str) -> str:
    """The cookie keeping this browser's form (its token) for ``slug``."""
    return f"ss_{slug.replace('-', '_')}"


def form_cookie(slug: str, served: ServedForm, *, secure: bool) -> str:
    """The Set-Cookie line keeping ``served``'s token until it expires.

    A raw line: Litestar's Cookie object serialises through SimpleCookie and dataclasses, a
    tenth of a form page's CPU (profiled); the value is a token (base64url and dots) and the
    name a slug, so nothing needs quoting."""
    max_age = max(0, int(served.expires_at.timestamp() - time.time()))
    return (
        f"{cookie_name(slug)}={served.token}; Max-Age={max_age}; Path={COOKIE_PATH};"
        f" HttpOnly; SameSite=Lax{'; Secure' if secure else ''}"
    )


def gone_cookie(slug: str) -> str:
    """The Set-Cookie line that deletes the form's cookie once it is answered (as Litestar
    writes ``Cookie(expires=0, max_age=0)``, dated at the epoch rather than now: either is
    in the past, and this line is the same every time)."""
    return (
        f'{cookie_name(slug)}=""; expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0;'
        f" Path={COOKIE_PATH}; SameSite=lax"
    )


def done_location(slug: str, claims: FormClaims) -> str:
    """Where a stored answer goes (303): the thank-you page, or on the counter tablet the
    kiosk's, which thanks and then shows a blank form again."""
    if claims.channel == "kiosk":
        query = urlencode({**claims.metadata, "lang": claims.language})
        return f"/kiosk/{slug}/thanks?{query}"
    return f"/s/{slug}/thanks?lang={claims.language}"


async def serve_form(
    request: Request[Any, Any, Any],
    surveys: SurveyService,
    slug: str,
    params: dict[str, str],
    single_use_nonce: bytes | None = None,
) -> Template | Response[bytes]:
    """The form page for ``slug`` with link parameters ``params`` (from the query string or
    a short link). The browser keeps its form in a cookie so a reload keeps the variant."""
    accept = request.headers.get("accept-language")
    try:
        served = await surveys.open_form(
            slug,
            params=params,
            accept_language=accept,
            default_channel="link",
            carried=params.get("t"),
            sticky=request.cookies.get(cookie_name(slug)),
            single_use_nonce=single_use_nonce,
        )
    except AnswersRejected as exc:
        language = pick_language(surveys.survey(slug).definition, params.get("lang"), accept)
        kind = "expired" if exc.reason == "expired" else "invalid"
        status = 410 if kind == "expired" else 400
        return notice(language, kind, status, link=f"/s/{slug}?lang={language}")
    cookie = form_cookie(slug, served, secure=surveys.base_url.startswith("https:"))
    # One-tap answers from an email (``?recommend=9``) come pre-selected, still to be sent:
    # a mail scanner following the link answers nothing.
    chosen = {
        q.id: params[q.id]
        for q in served.survey.questions
        if q.min is not None
        and params.get(q.id, "").isdecimal()
        and q.min <= int(params[q.id]) <= (q.max or 0)
    }
    if not chosen:
        return blank_form_page(request, served.survey, served.token, cookie)
    return form_page(served.survey, served.token, values=chosen, cookie=cookie)


class SurveyPages(Controller):
    """``/s/{slug}``: the form, its submission and the thank-you page."""

    path = "/s"
    include_in_schema = False

    @get("/{slug:str}")
    async def form(
        self,
        request: Request[Any, Any, Any],
        surveys: NamedDependency[SurveyService],
        slug: FromPath[str],
    ) -> Template | Response[bytes]:
        """Render the form; a link's ``t=`` or this browser's cookie keeps its assignment.
        (One dependency only: Litestar resolves several in a task group, which costs more
        than the rest of this handler.)"""
        return await serve_form(request, surveys, slug, dict(request.query_params.items()))

    @post("/{slug:str}", request_max_body_size=FORM_BODY_LIMIT, status_code=303)
    async def submit(
        self,
        request: Request[Any, Any, Any],
        surveys: NamedDependency[SurveyService],
        slug: FromPath[str],
        data: Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> Response[Any]:
        """Store the answers once and go to the thank-you page; re-render on errors."""
        surveys.survey(slug)
        try:
            version, claims = await surveys.read_token(slug, data.get("token", ""))
        except AnswersRejected as exc:
            language = pick_language(
                surveys.survey(slug).definition, None, request.headers.get("accept-language")
            )
            kind = "expired" if exc.reason == "expired" else "invalid"
            return notice(language, kind, 410 if kind == "expired" else 400, f"/s/{slug}")
        flags = surveys.flags(claims, data.get(HONEYPOT_FIELD))
        address = client_of(request)
        answers = coerce_form_fields(version.definition, data)
        try:
            _, created = await surveys.store(
                version, claims, answers, flags=flags, client_address=address
            )
        except AnswersRejected as exc:
            t = ui_text(claims.language)
            view = surveys.view(version, claims)
            limits = {q.id: q.max_length for q in view.questions}
            errors = {}
            for error in exc.errors:
                field = error.key.removeprefix("answers.")
                errors[field] = t[error.code].format(limit=limits.get(field))
            return form_page(view, data["token"], errors=errors, values=data, status=400)
        if not created and claims.single_use:
            return notice(claims.language, "used", 200)
        redirect = Redirect(done_location(slug, claims), status_code=303)
        redirect.delete_cookie(cookie_name(slug), path=COOKIE_PATH)
        return redirect

    @get("/{slug:str}/thanks")
    async def thanks(
        self,
        request: Request[Any, Any, Any],
        surveys: NamedDependency[SurveyService],
        slug: FromPath[str],
        lang: FromQuery[str | None] = None,
    ) -> Template:
        """The thank-you page in the form's language."""
        definition = surveys.survey(slug).definition
        language = pick_language(definition, lang, request.headers.get("accept-language"))
        return thanks_page(definition, language)
