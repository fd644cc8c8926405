"""Privacy over REST (scope ``admin``): erase a person, a response or an invitation; export
one person's data."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, post
from litestar.di import NamedDependency
from litestar.params import JSONBody

from survey_service.lib.structs import Struct
from survey_service.privacy.service import ErasureReport, PersonExport, PrivacyService
from survey_service.web.auth import API_KEY, api_key_of, requires

__all__ = ["ErasureIn", "PersonIn", "PrivacyController"]

Id = Annotated[int, msgspec.Meta(ge=1, le=2**63 - 1)]


class ErasureIn(Struct):
    """Exactly one of the four: whom or what to erase (``customer``: a customer or order
    reference, as links, invitations, subjects, interactions and outcomes carry it)."""

    email: Annotated[str, msgspec.Meta(min_length=3, max_length=254)] | None = None
    response_id: Id | None = None
    invitation_id: Id | None = None
    customer: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | None = None


class PersonIn(Struct):
    """Whose data to export."""

    email: Annotated[str, msgspec.Meta(min_length=3, max_length=254)]


class PrivacyController(Controller):
    """GDPR requests: erasure (audited, rollups corrected exactly) and access."""

    path = "/api/v1/privacy"
    tags = ["privacy"]
    guards = [requires("admin")]
    security = API_KEY

    @post(
        "/erasures",
        summary="Erase a person, a response, an invitation or a customer reference",
        status_code=200,
    )
    async def erase(
        self,
        request: Request[Any, Any, Any],
        privacy: NamedDependency[PrivacyService],
        data: JSONBody[ErasureIn],
    ) -> ErasureReport:
        """Deletes the responses and invitations; the audit keeps counts and a keyed hash."""
        key = api_key_of(request)
        return await privacy.erase(
            email=data.email,
            response_id=data.response_id,
            invitation_id=data.invitation_id,
            customer=data.customer,
            requested_by=f"api key {key.id} ({key.name})",
        )

    @post("/exports", summary="Everything stored about one email address", status_code=200)
    async def export(
        self, privacy: NamedDependency[PrivacyService], data: JSONBody[PersonIn]
    ) -> PersonExport:
        """Invitations, responses to them and whether the address is suppressed (POST: an
        address never appears in a URL, so it stays out of access logs)."""
        return await privacy.export(data.email)
