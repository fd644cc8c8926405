"""The form over JSON (``GET /api/v1/surveys/{slug}``), for apps that draw their own UI: the
definition in a language and variant, with its signed token. Public."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter

from survey_service.surveys.serving import ServedForm, SurveyService

__all__ = ["SurveyApiController"]


class SurveyApiController(Controller):
    """Forms and responses for apps that render their own UI."""

    path = "/api/v1/surveys"
    tags = ["surveys"]

    @get("/{slug:str}", summary="Serve a survey with a signed form token")
    async def serve(
        self,
        request: Request[Any, Any, Any],
        surveys: NamedDependency[SurveyService],
        slug: FromPath[str],
        lang: Annotated[str | None, QueryParameter(description="preferred language")] = None,
        channel: Annotated[
            str | None, QueryParameter(description="link, qr, email, kiosk or api (default)")
        ] = None,
    ) -> ServedForm:
        """The current definition in the chosen language and variant, and its token.

        Other query parameters named in the survey's ``metadata_keys`` are signed into the
        token; any other parameter is ignored.
        """
        return await surveys.open_form(
            slug,
            params=dict(request.query_params.items()),
            accept_language=request.headers.get("accept-language"),
            default_channel="api",
        )
