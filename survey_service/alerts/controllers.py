"""Alerts over REST: webhook endpoints and their delivery log (scope ``admin``), a
survey's alert rules (``admin``), follow-up cases (read ``kpis:read``, update ``admin``)
and how fast cases are closed (``kpis:read``)."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, delete, get, patch, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody

from survey_service.alerts.cases import CaseOut, CaseService, CaseStats
from survey_service.alerts.endpoints import (
    EndpointIn,
    EndpointOut,
    EndpointUpdate,
    MessageOut,
    WebhookService,
)
from survey_service.alerts.rules import AlertRules
from survey_service.alerts.service import AlertService
from survey_service.lib.structs import Struct
from survey_service.reporting.service import KpiParams
from survey_service.web.auth import API_KEY, api_key_of, requires

__all__ = ["AlertController", "CaseController", "WebhookController"]


class CaseUpdate(Struct):
    """A case's new status and an optional note."""

    status: str
    note: Annotated[str, msgspec.Meta(max_length=2000)] | None = None


class WebhookController(Controller):
    """Standard Webhooks endpoints: create (the secret is shown once), change, rotate the
    secret, delete, read the delivery log and replay a message."""

    path = "/api/v1/webhooks"
    tags = ["webhooks"]
    guards = [requires("admin")]
    security = API_KEY

    @get("/endpoints", summary="Webhook endpoints")
    async def many(self, webhooks: NamedDependency[WebhookService]) -> list[EndpointOut]:
        """Every endpoint, without secrets."""
        return await webhooks.endpoints()

    @post("/endpoints", summary="Create a webhook endpoint", status_code=201)
    async def create(
        self, webhooks: NamedDependency[WebhookService], data: JSONBody[EndpointIn]
    ) -> EndpointOut:
        """``url``, ``event_types`` (see the OpenAPI ``webhooks``), ``surveys`` (empty:
        all) and a ``description``; the answer holds the ``whsec_`` secret, once."""
        return await webhooks.create_endpoint(data)

    @patch("/endpoints/{endpoint_id:int}", summary="Change a webhook endpoint")
    async def change(
        self,
        webhooks: NamedDependency[WebhookService],
        endpoint_id: FromPath[int],
        data: JSONBody[EndpointUpdate],
    ) -> EndpointOut:
        """Absent fields stay; ``enabled: true`` re-enables a disabled endpoint."""
        return await webhooks.update_endpoint(endpoint_id, data)

    @post(
        "/endpoints/{endpoint_id:int}/rotate", summary="Rotate the signing secret", status_code=200
    )
    async def rotate(
        self, webhooks: NamedDependency[WebhookService], endpoint_id: FromPath[int]
    ) -> EndpointOut:
        """A new secret (shown once); for 24 hours messages carry both signatures."""
        return await webhooks.rotate_secret(endpoint_id)

    @delete("/endpoints/{endpoint_id:int}", summary="Remove a webhook endpoint", status_code=204)
    async def remove(
        self, webhooks: NamedDependency[WebhookService], endpoint_id: FromPath[int]
    ) -> None:
        """The endpoint and its messages."""
        await webhooks.delete_endpoint(endpoint_id)

    @get("/endpoints/{endpoint_id:int}/messages", summary="Delivery log")
    async def log(
        self,
        webhooks: NamedDependency[WebhookService],
        endpoint_id: FromPath[int],
        limit: FromQuery[int] = 50,
    ) -> list[MessageOut]:
        """Newest messages first, each with every attempt: status code, latency, error."""
        return await webhooks.messages(endpoint_id, limit)

    @post("/messages/{message:int}/replay", summary="Send a message again", status_code=202)
    async def replay(
        self, webhooks: NamedDependency[WebhookService], message: FromPath[int]
    ) -> None:
        """Queued now, with the same ``webhook-id`` (receivers de-duplicate by it)."""
        await webhooks.replay(message)


class AlertController(Controller):
    """A survey's alert rules: the TOML's ``[alerts]``, or those set here (which replace it)."""

    path = "/api/v1/surveys/{slug:str}/alerts"
    tags = ["alerts"]
    guards = [requires("admin")]
    security = API_KEY

    @get(summary="Alert rules of a survey")
    async def rules(self, alerts: NamedDependency[AlertService], slug: FromPath[str]) -> AlertRules:
        """The rules in force."""
        return await alerts.rules(slug)

    @put(summary="Set alert rules")
    async def set_rules(
        self, alerts: NamedDependency[AlertService], slug: FromPath[str], data: JSONBody[AlertRules]
    ) -> AlertRules:
        """Replace the survey's rules."""
        return await alerts.set_rules(slug, data)

    @delete(summary="Back to the TOML's rules", status_code=200)
    async def reset(self, alerts: NamedDependency[AlertService], slug: FromPath[str]) -> AlertRules:
        """Forget the rules set here."""
        return await alerts.set_rules(slug, None)


class CaseController(Controller):
    """Follow-up cases opened by detractor alerts."""

    path = "/api/v1"
    tags = ["alerts"]
    security = API_KEY

    @get("/cases", guards=[requires("kpis:read")], summary="Follow-up cases")
    async def many(
        self,
        request: Request[Any, Any, Any],
        cases: NamedDependency[CaseService],
        status: FromQuery[str | None] = None,
    ) -> list[CaseOut]:
        """Open and contacted cases first, newest first (surveys the key sees)."""
        return await cases.cases(api_key_of(request), status)

    @patch("/cases/{case_id:int}", guards=[requires("admin")], summary="Move a case on")
    async def update(
        self,
        request: Request[Any, Any, Any],
        cases: NamedDependency[CaseService],
        case_id: FromPath[int],
        data: JSONBody[CaseUpdate],
    ) -> CaseOut:
        """``contacted`` or ``resolved`` (or ``open`` again), with a note."""
        key = api_key_of(request)
        return await cases.update_case(
            key, case_id, data.status, data.note, f"api key {key.id} ({key.name})"
        )

    @get("/surveys/{slug:str}/follow-up", guards=[requires("kpis:read")], summary="Case follow-up")
    async def stats(
        self,
        request: Request[Any, Any, Any],
        cases: NamedDependency[CaseService],
        filters: NamedDependency[KpiParams],
        slug: FromPath[str],
    ) -> CaseStats:
        """Of the cases opened in the window: the share resolved (Wilson interval) and the
        median hours from opening to resolution."""
        return await cases.case_stats(api_key_of(request), slug, filters)
