"""The responses resource over REST: submitted through a form's token, read back as
keyset pages or one streamed CSV."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from litestar.response import Stream

from survey_service.lib.structs import Struct
from survey_service.reporting.service import KpiParams, ReportingService, ResponsePage
from survey_service.responses.storage import StoredResponse
from survey_service.surveys.serving import SurveyService
from survey_service.surveys.tokens import MAX_TOKEN_LENGTH
from survey_service.web.auth import API_KEY, api_key_of, requires
from survey_service.web.security import client_of

__all__ = ["ResponseController", "ResponseIn"]


class ResponseIn(Struct):
    """A response: the token from the served form and the answers by question id."""

    token: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_TOKEN_LENGTH)]
    answers: dict[str, int | bool | str | None]


class ResponseController(Controller):
    """``/api/v1/surveys/{slug}/responses``: submit one (public: the form's token is the
    authorisation), or read them back (scope ``responses:read``; flagged ones included and
    marked in ``flags``)."""

    path = "/api/v1/surveys/{slug:str}"
    tags = ["responses"]

    @post("/responses", summary="Submit a response", status_code=201)
    async def submit(
        self,
        request: Request[Any, Any, Any],
        surveys: NamedDependency[SurveyService],
        slug: FromPath[str],
        data: JSONBody[ResponseIn],
    ) -> Response[StoredResponse]:
        """Store the response: 201 the first time, 200 with the same body for a replay.
        The same abuse controls as the form: rate limits, ``too_fast``, hashed client."""
        address = client_of(request)
        stored, created = await surveys.submit(
            slug, data.token, data.answers, client_address=address
        )
        return Response(stored, status_code=201 if created else 200)

    @get(
        "/responses",
        summary="Responses, cursor-paginated",
        guards=[requires("responses:read")],
        security=API_KEY,
    )
    async def page(
        self,
        request: Request[Any, Any, Any],
        reporting: NamedDependency[ReportingService],
        filters: NamedDependency[KpiParams],
        slug: FromPath[str],
        cursor: FromQuery[str | None] = None,
        limit: FromQuery[int] = 100,
    ) -> ResponsePage:
        """Same filters as the KPIs; pass ``next_cursor`` back until it is null."""
        return await reporting.export_page(api_key_of(request), slug, filters, cursor, limit)

    @get(
        "/responses.csv",
        summary="Responses as CSV (streamed)",
        guards=[requires("responses:read")],
        security=API_KEY,
    )
    async def csv(
        self,
        request: Request[Any, Any, Any],
        reporting: NamedDependency[ReportingService],
        filters: NamedDependency[KpiParams],
        slug: FromPath[str],
        bom: Annotated[bool, QueryParameter(description="UTF-8 BOM for spreadsheets")] = False,
    ) -> Stream:
        """Formula-looking cells are prefixed with an apostrophe."""
        chunks = await reporting.export_csv(api_key_of(request), slug, filters, bom=bom)
        return Stream(
            chunks,
            media_type="text/csv",  # Litestar adds "; charset=utf-8" to text types
            headers={"Content-Disposition": f'attachment; filename="{slug}-responses.csv"'},
        )
