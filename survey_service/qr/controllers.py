"""QR code images for survey links: ``/s/{slug}/qr.svg`` and ``/s/{slug}/qr.png``."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.exceptions import ValidationException
from litestar.params import FromPath, QueryParameter
from litestar.response import Template

from survey_service.errors import NotFound
from survey_service.lib.i18n import ui_text
from survey_service.qr.images import QrOptions, check, draw, render
from survey_service.qr.links import LinkService
from survey_service.qr.pages import who
from survey_service.surveys.definitions import pick_language
from survey_service.surveys.pages import serve_form
from survey_service.surveys.serving import SurveyService, clean_metadata
from survey_service.web.pages import notice
from survey_service.web.security import client_of

__all__ = ["PAGE_SIZES", "QrController", "short_link"]

_OPTION_NAMES = frozenset(f for f in QrOptions.__struct_fields__)
_CACHE = "public, max-age=31536000, immutable"
PAGE_SIZES = {"a4": "@page{size:A4;margin:15mm}", "a6": "@page{size:105mm 148mm;margin:6mm}"}
"""The poster's paper, one small inline stylesheet each (their hashes are in the CSP)."""


def _options(request: Request[Any, Any, Any]) -> QrOptions:
    raw = {k: v for k, v in request.query_params.items() if k in _OPTION_NAMES}
    try:
        options = msgspec.convert(raw, QrOptions, strict=False)
    except msgspec.ValidationError as exc:
        message = str(exc)
        key = message.rsplit("$.", 1)[-1].rstrip("`") if "$." in message else "options"
        raise ValidationException(
            "bad QR option", extra=[{"key": key, "message": message.split(" - at ")[0]}]
        ) from None
    problem = check(options)
    if problem:
        raise ValidationException(
            "unreadable QR colours", extra=[{"key": "fg", "message": problem}]
        )
    return options


class QrController(Controller):
    """Codes for counters and posters: channel ``qr``, metadata from the query string."""

    path = "/s/{slug:str}"
    tags = ["qr"]

    async def _image(
        self,
        request: Request[Any, Any, Any],
        links: LinkService,
        slug: str,
        kind: Literal["svg", "png"],
    ) -> Response[bytes]:
        options = _options(request)
        client = client_of(request)
        url = await links.short_url(slug, dict(request.query_params.items()), client=client)
        image = await draw(url, options, kind)
        headers = {"ETag": image.etag, "Cache-Control": _CACHE, "X-QR-Version": str(image.version)}
        if request.headers.get("if-none-match") == image.etag:
            return Response(b"", status_code=304, headers=headers)
        return Response(image.body, media_type=image.media_type, headers=headers)

    @get("/poster", summary="Print-ready poster (A4 or A6 table tent)", include_in_schema=False)
    async def poster(
        self,
        request: Request[Any, Any, Any],
        links: NamedDependency[LinkService],
        surveys: NamedDependency[SurveyService],
        slug: FromPath[str],
        size: Annotated[Literal["a4", "a6"], QueryParameter(description="a4 or a6")] = "a4",
    ) -> Template:
        """Headline in the survey's language, the code inline, a typeable short URL and
        who or where it belongs to. Print it (or ``chromium --headless --print-to-pdf``)."""
        definition = surveys.survey(slug).definition
        params = dict(request.query_params.items())
        language = pick_language(
            definition, params.get("lang"), request.headers.get("accept-language")
        )
        client = client_of(request)
        url = await links.short_url(slug, params, client=client)
        svg = render(url, QrOptions(ec="Q", scale=10), "svg").body.decode()
        metadata = clean_metadata(definition.metadata_keys, params)
        return Template(
            template_name="poster.html",
            context={
                "lang": language,
                "title": definition.title[language],
                "lead": ui_text(language)["scan"],
                "qr_svg": svg,
                "short_url": url.split("://", 1)[-1],
                "who": who(metadata),
                "main_class": f"poster {size}",
                "page_size_css": PAGE_SIZES[size],
            },
        )

    @get("/qr.svg", summary="QR code (SVG)", media_type="image/svg+xml")
    async def svg(
        self,
        request: Request[Any, Any, Any],
        links: NamedDependency[LinkService],
        slug: FromPath[str],
    ) -> Response[bytes]:
        """Options: scale 2-40, ec L/M/Q/H, border 2-16, fg and bg as #rrggbb (dark on light,
        contrast at least 4.5:1); any of the survey's metadata keys (touchpoint, agent ...)."""
        return await self._image(request, links, slug, "svg")

    @get("/qr.png", summary="QR code (PNG)", media_type="image/png")
    async def png(
        self,
        request: Request[Any, Any, Any],
        links: NamedDependency[LinkService],
        slug: FromPath[str],
    ) -> Response[bytes]:
        """As the SVG."""
        return await self._image(request, links, slug, "png")


@get("/q/{code:str}", include_in_schema=False)
async def short_link(
    request: Request[Any, Any, Any],
    surveys: NamedDependency[SurveyService],
    links: NamedDependency[LinkService],
    code: FromPath[str],
) -> Template | Response[bytes]:
    """A QR code's short link: the form with the link's channel and signed metadata."""
    link = await links.resolve(code)
    if link is None:
        raise NotFound("link", code)
    params = {**link.metadata, "channel": link.channel}
    if request.query_params.get("lang"):
        params["lang"] = request.query_params["lang"]
    if link.nonce is not None:  # a kiosk's single-use code
        language = pick_language(
            surveys.survey(link.slug).definition,
            params.get("lang"),
            request.headers.get("accept-language"),
        )
        if await surveys.has_response(link.survey_id, link.nonce):
            return notice(language, "used", 200)
        if link.expired:
            return notice(language, "expired", 410)
    return await serve_form(request, surveys, link.slug, params, link.nonce)
