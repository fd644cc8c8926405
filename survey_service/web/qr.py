"""QR code images for survey links: ``/s/{slug}/qr.svg`` and ``/s/{slug}/qr.png``."""

from __future__ import annotations

from typing import Any, Literal

import msgspec
from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.exceptions import ValidationException
from litestar.params import FromPath

from survey_service.links import LinkService
from survey_service.qr import QrOptions, check, render

__all__ = ["QrController"]

_OPTION_NAMES = frozenset(f for f in QrOptions.__struct_fields__)
_CACHE = "public, max-age=31536000, immutable"


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
        url = await links.short_url(slug, dict(request.query_params.items()))
        image = render(url, options, kind)
        headers = {"ETag": image.etag, "Cache-Control": _CACHE, "X-QR-Version": str(image.version)}
        if request.headers.get("if-none-match") == image.etag:
            return Response(b"", status_code=304, headers=headers)
        return Response(image.body, media_type=image.media_type, headers=headers)

    @get("/qr.svg", summary="QR code (SVG)")
    async def svg(
        self,
        request: Request[Any, Any, Any],
        links: NamedDependency[LinkService],
        slug: FromPath[str],
    ) -> Response[bytes]:
        """Options: scale 2-40, ec L/M/Q/H, border 2-16, fg and bg as #rrggbb (dark on light,
        contrast at least 4.5:1); any of the survey's metadata keys (touchpoint, agent ...)."""
        return await self._image(request, links, slug, "svg")

    @get("/qr.png", summary="QR code (PNG)")
    async def png(
        self,
        request: Request[Any, Any, Any],
        links: NamedDependency[LinkService],
        slug: FromPath[str],
    ) -> Response[bytes]:
        """As the SVG."""
        return await self._image(request, links, slug, "png")
