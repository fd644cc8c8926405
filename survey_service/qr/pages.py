"""Counter kiosk: a screen facing the customer shows a single-use QR code that changes as
soon as it has been answered (or after ``SURVEY_KIOSK_ROTATE_SECONDS``), so each scan is one
real visit and a photo of the code cannot be used to answer again and again.

Staff unlock the page once with ``SURVEY_KIOSK_PIN`` (a signed, HttpOnly cookie for 12
hours). The page refreshes itself every few seconds with a ``<meta http-equiv="refresh">``:
no JavaScript, nothing that can leak memory over a day on a cheap tablet.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath
from litestar.response import Redirect, Template

from survey_service.lib.i18n import ui_text
from survey_service.qr import kiosk
from survey_service.qr.images import QrOptions, render
from survey_service.qr.links import LinkService
from survey_service.settings import Settings
from survey_service.surveys.definitions import pick_language
from survey_service.surveys.serving import SurveyService, clean_metadata
from survey_service.web.pages import (
    NO_STORE,
    form_page,
    notice,
    pin_page,
    staff_unlocked,
    thanks_page,
    unlock_redirect,
)

__all__ = ["KioskPages", "who"]

_COOKIE = "ss_kiosk"
REFRESH_SECONDS = 3
THANKS_SECONDS = 5


def who(metadata: dict[str, str]) -> str:
    """Who or where a code belongs to, as printed under it."""
    return " · ".join(metadata[k] for k in ("touchpoint", "agent", "location") if k in metadata)


class KioskPages(Controller):
    """``/kiosk/{slug}``: the rotating single-use code, behind the staff PIN."""

    path = "/kiosk/{slug:str}"
    include_in_schema = False

    @get()
    async def screen(
        self,
        request: Request[Any, Any, Any],
        surveys: NamedDependency[SurveyService],
        links: NamedDependency[LinkService],
        settings: NamedDependency[Settings],
        slug: FromPath[str],
    ) -> Template:
        """The current code, or the PIN form when this screen is not unlocked."""
        definition = surveys.survey(slug).definition
        params = dict(request.query_params.items())
        language = pick_language(
            definition, params.get("lang"), request.headers.get("accept-language")
        )
        t = ui_text(language)
        if settings.kiosk_pin is None:
            return notice(language, "kiosk_off", 404)
        if not staff_unlocked(request, _COOKIE, settings.kiosk_pin):
            return pin_page(request, language)
        url = await links.kiosk_url(slug, params, settings.kiosk_rotate_seconds)
        metadata = clean_metadata(definition.metadata_keys, params)
        return Template(
            template_name="kiosk.html",
            context={
                "lang": language,
                "title": definition.title[language],
                "lead": t["scan"],
                "qr_svg": render(url, QrOptions(ec="M", scale=10), "svg").body.decode(),
                "short_url": url.split("://", 1)[-1],
                "who": who(metadata),
                "refresh": REFRESH_SECONDS,
                "main_class": "poster",
                "t": t,
                "form_url": f"/kiosk/{slug}/form?{urlencode(params)}",
            },
            headers=NO_STORE,
        )

    @get("/form")
    async def tablet_form(
        self,
        request: Request[Any, Any, Any],
        surveys: NamedDependency[SurveyService],
        settings: NamedDependency[Settings],
        slug: FromPath[str],
    ) -> Response[Any]:
        """The form on the counter tablet itself (channel ``kiosk``), blank every time."""
        if not staff_unlocked(request, _COOKIE, settings.kiosk_pin):
            return Redirect(f"/kiosk/{slug}?{urlencode(dict(request.query_params.items()))}")
        served = await surveys.open_form(
            slug,
            params={**dict(request.query_params.items()), "channel": "kiosk"},
            accept_language=request.headers.get("accept-language"),
            default_channel="kiosk",
        )
        return form_page(served.survey, served.token)

    @get("/thanks")
    async def tablet_thanks(
        self,
        request: Request[Any, Any, Any],
        surveys: NamedDependency[SurveyService],
        slug: FromPath[str],
    ) -> Template:
        """Thank the customer, then show a blank form for the next one after a few seconds."""
        definition = surveys.survey(slug).definition
        params = dict(request.query_params.items())
        language = pick_language(definition, params.get("lang"), None)
        query = {**clean_metadata(definition.metadata_keys, params), "lang": language}
        return thanks_page(
            definition, language, f"{THANKS_SECONDS};url=/kiosk/{slug}/form?{urlencode(query)}"
        )

    @post(status_code=303)
    async def unlock(
        self,
        request: Request[Any, Any, Any],
        settings: NamedDependency[Settings],
        surveys: NamedDependency[SurveyService],
        slug: FromPath[str],
        data: Annotated[dict[str, str], Body(media_type=RequestEncodingType.URL_ENCODED)],
    ) -> Response[Any]:
        """Check the PIN (rate-limited like form posts) and unlock this browser."""
        definition = surveys.survey(slug).definition
        if not kiosk.check_pin(data.get("pin", ""), settings.kiosk_pin):
            language = pick_language(definition, None, request.headers.get("accept-language"))
            return pin_page(request, language, wrong=True)
        return unlock_redirect(
            request,
            data.get("pin", ""),
            cookie=_COOKIE,
            path="/kiosk/",
            secure=settings.base_url.startswith("https:"),
        )
