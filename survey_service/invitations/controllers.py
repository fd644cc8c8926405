"""Invitations over REST (scope ``invitations:write``)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody

from survey_service.invitations.batch import (
    MAX_BATCH,
    BatchResult,
    BounceIn,
    InvitationOut,
    parse_csv,
)
from survey_service.invitations.service import InvitationService
from survey_service.web.auth import API_KEY, api_key_of, requires
from survey_service.web.batches import read_rows

__all__ = ["InvitationController"]

BATCH_BODY_LIMIT = 8 * 1024 * 1024  # 10,000 rows with metadata fit comfortably


class InvitationController(Controller):
    """Create invitations one by one or in batches (JSON list or CSV); read them back."""

    path = "/api/v1/invitations"
    tags = ["invitations"]
    guards = [requires("invitations:write")]
    security = API_KEY

    @post(request_max_body_size=BATCH_BODY_LIMIT, summary="Create invitations", status_code=201)
    async def create(
        self, request: Request[Any, Any, Any], invitations: NamedDependency[InvitationService]
    ) -> Response[BatchResult]:
        """A JSON object or list (``survey``, ``email``, optional ``name``, ``language``,
        ``metadata``, ``send_at``), or ``text/csv`` with those columns (others are metadata).
        Valid rows are stored; invalid ones come back in ``rejected`` with their fields.
        201 when every row was stored, 207 when some were not, 400 when none was."""
        rows = await read_rows(request, parse_csv, MAX_BATCH)
        result = await invitations.create(api_key_of(request), rows)
        status = 201 if not result.rejected else 207 if result.created else 400
        return Response(result, status_code=status)

    @post("/bounces", summary="Report bounced addresses (provider webhook)", status_code=200)
    async def bounces(
        self,
        request: Request[Any, Any, Any],
        invitations: NamedDependency[InvitationService],
        data: JSONBody[list[BounceIn]],
    ) -> dict[str, int]:
        """Each address's sent invitations become ``bounced``; the address is suppressed."""
        return {"bounced": await invitations.bounced(api_key_of(request), data)}

    @get("/{invitation_id:int}", summary="One invitation")
    async def one(
        self,
        request: Request[Any, Any, Any],
        invitations: NamedDependency[InvitationService],
        invitation_id: FromPath[int],
    ) -> InvitationOut:
        """Status, attempts, last error and the personal link."""
        return await invitations.get(api_key_of(request), invitation_id)

    @get(summary="Invitations")
    async def many(
        self,
        request: Request[Any, Any, Any],
        invitations: NamedDependency[InvitationService],
        survey: FromQuery[str | None] = None,
        status: FromQuery[str | None] = None,
        cursor: FromQuery[int] = 0,
        limit: FromQuery[int] = 100,
    ) -> list[InvitationOut]:
        """By id; pass the last id as ``cursor`` for the next page."""
        return await invitations.search(api_key_of(request), survey, status, cursor, limit)
