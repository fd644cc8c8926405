"""Phone-first survey pages: server-rendered, no JavaScript needed, one response per visit."""

from __future__ import annotations

import time
from typing import Annotated, Any
from urllib.parse import urlencode

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.exceptions import NotFoundException
from litestar.params import Body, FromPath, FromQuery
from litestar.response import Redirect, Template

from survey_service.surveys.abuse import HONEYPOT_FIELD, client_address, submission_flags
from survey_service.surveys.definitions import SurveyDefinition, pick_language
from survey_service.qr.links import LinkService, answered
from survey_service.responses.storage import coerce_form_fields
from survey_service.surveys.serving import AnswersRejected, SurveyService, SurveyView
from survey_service.settings import Settings
from survey_service.lib.i18n import LANGUAGE_NAMES, ui_text

__all__ = ["SurveyPages", "form_page", "notice", "serve_form", "short_link", "thanks_page"]

FORM_BODY_LIMIT = 32 * 1024
COOKIE_PATH = "/"  # the form is reached at /s/<slug> and through /q/<code> short links
NO_STORE = {"Cache-Control": "no-store"}


def _cookie_name(slug: str) -> str:
    return f"ss_{slug.replace('-', '_')}"


def notice(language: str, kind: str, status: int, link: str | None = None) -> Template:
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
        headers=NO_STORE,
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


def form_page(
    survey: SurveyView,
    token: str,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
    cookie: Cookie | None = None,
) -> Template:
    base = f"/s/{survey.slug}"
    return Template(
        template_name="form.html",
        context={
            "lang": survey.language,
            "title": survey.title,
            "survey": survey,
            "token": token,
            "action": base,
            "errors": errors or {},
            "values": values or {},
            "t": ui_text(survey.language),
            "language_names": LANGUAGE_NAMES,
            "lang_urls": {
                code: f"{base}?{urlencode({'lang': code, 't': token})}" for code in survey.languages
            },
        },
        status_code=status,
        headers=NO_STORE,
        cookies=[cookie] if cookie else None,
    )


async def serve_form(
    request: Request[Any, Any, Any],
    surveys: SurveyService,
    settings: Settings,
    slug: str,
    params: dict[str, str],
    single_use_nonce: bytes | None = None,
) -> Template:
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
            sticky=request.cookies.get(_cookie_name(slug)),
            single_use_nonce=single_use_nonce,
        )
    except AnswersRejected as exc:
        language = pick_language(surveys.survey(slug).definition, params.get("lang"), accept)
        kind = "expired" if exc.reason == "expired" else "invalid"
        status = 410 if kind == "expired" else 400
        return notice(language, kind, status, link=f"/s/{slug}?lang={language}")
    cookie = Cookie(
        key=_cookie_name(slug),
        value=served.token,
        path=COOKIE_PATH,
        max_age=max(0, int(served.expires_at.timestamp() - time.time())),
        httponly=True,
        secure=settings.base_url.startswith("https:"),
        samesite="lax",
    )
    # One-tap answers from an email (``?recommend=9``) come pre-selected, still to be sent:
    # a mail scanner following the link answers nothing.
    chosen = {
        q.id: params[q.id]
        for q in served.survey.questions
        if q.min is not None
        and params.get(q.id, "").isdecimal()
        and q.min <= int(params[q.id]) <= (q.max or 0)
    }
    return form_page(served.survey, served.token, values=chosen, cookie=cookie)


@get("/q/{code:str}", include_in_schema=False)
async def short_link(
    request: Request[Any, Any, Any],
    surveys: NamedDependency[SurveyService],
    settings: NamedDependency[Settings],
    links: NamedDependency[LinkService],
    code: FromPath[str],
) -> Template:
    """A QR code's short link: the form with the link's channel and signed metadata."""
    link = await links.resolve(code)
    if link is None:
        raise NotFoundException("no such link")
    params = {**link.metadata, "channel": link.channel}
    if request.query_params.get("lang"):
        params["lang"] = request.query_params["lang"]
    if link.nonce is not None:  # a kiosk's single-use code
        language = pick_language(
            surveys.survey(link.slug).definition,
            params.get("lang"),
            request.headers.get("accept-language"),
        )
        if await answered(link.survey_id, link.nonce):
            return notice(language, "used", 200)
        if link.expired:
            return notice(language, "expired", 410)
    return await serve_form(request, surveys, settings, link.slug, params, link.nonce)


class SurveyPages(Controller):
    """``/s/{slug}``: the form, its submission and the thank-you page."""

    path = "/s"
    include_in_schema = False

    @get("/{slug:str}")
    async def form(
        self,
        request: Request[Any, Any, Any],
        surveys: NamedDependency[SurveyService],
        settings: NamedDependency[Settings],
        slug: FromPath[str],
    ) -> Template:
        """Render the form; a link's ``t=`` or this browser's cookie keeps its assignment."""
        return await serve_form(
            request, surveys, settings, slug, dict(request.query_params.items())
        )

    @post("/{slug:str}", request_max_body_size=FORM_BODY_LIMIT, status_code=303)
    async def submit(
        self,
        request: Request[Any, Any, Any],
        surveys: NamedDependency[SurveyService],
        settings: NamedDependency[Settings],
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
        flags = submission_flags(
            honeypot=data.get(HONEYPOT_FIELD),
            issued_at=claims.issued_at,
            now=time.time(),
            min_fill_seconds=settings.min_fill_seconds,
            plain_qr=claims.channel == "qr" and not claims.single_use,
        )
        peer = request.client.host if request.client else None
        address = client_address(peer, request.headers.get("x-forwarded-for"), settings.proxies)
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
        done = f"/s/{slug}/thanks?lang={claims.language}"
        if claims.channel == "kiosk":  # the counter tablet: thank, then a blank form again
            done = f"/kiosk/{slug}/thanks?{urlencode({**claims.metadata, 'lang': claims.language})}"
        redirect = Redirect(done, status_code=303)
        redirect.delete_cookie(_cookie_name(slug), path=COOKIE_PATH)
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
