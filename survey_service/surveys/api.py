"""JSON API under /api/v1: serve a form with its token, accept a response."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from survey_service.lib.structs import Struct
from survey_service.reporting.service import ReportingService, ResponsePage
from survey_service.responses.storage import StoredResponse
from survey_service.surveys.serving import ServedForm, SurveyService
from survey_service.surveys.tokens import MAX_TOKEN_LENGTH
from survey_service.web.auth import api_key_of, requires
from survey_service.reporting.controllers import From, To, Tz, kpi_params

__all__ = ["ResponseIn", "SurveyApiController"]


class ResponseIn(Struct):
    """A response: the token from the served form and the answers by question id."""

    token: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_TOKEN_LENGTH)]
    answers: dict[str, int | bool | str | None]


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

    @post("/{slug:str}/responses", summary="Submit a response", status_code=201)
    async def submit(
        self,
        surveys: NamedDependency[SurveyService],
        slug: FromPath[str],
        data: JSONBody[ResponseIn],
    ) -> Response[StoredResponse]:
        """Store the response: 201 the first time, 200 with the same body for a replay."""
        stored, created = await surveys.submit(slug, data.token, data.answers)
        return Response(stored, status_code=201 if created else 200)

    @get(
        "/{slug:str}/responses",
        summary="Responses, cursor-paginated",
        guards=[requires("responses:read")],
    )
    async def page(
        self,
        request: Request[Any, Any, Any],
        reporting: NamedDependency[ReportingService],
        slug: FromPath[str],
        cursor: FromQuery[str | None] = None,
        limit: FromQuery[int] = 100,
        start: From = None,
        end: To = None,
        tz: Tz = None,
        include_flagged: FromQuery[bool] = True,
    ) -> ResponsePage:
        """Same filters as the KPIs; flagged responses are included (see ``flags``)."""
        params = kpi_params(request, start, end, tz, include_flagged, None)
        return await reporting.export_page(api_key_of(request), slug, params, cursor, limit)
