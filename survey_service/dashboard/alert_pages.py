"""``/dashboard/cases`` (owners and managers: the follow-up cases of their surveys) and
``/dashboard/webhooks`` (owners only: endpoints, secrets, the delivery log, replay)."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect, Template

from survey_service.accounts.service import UserInfo
from survey_service.alerts.cases import CaseService
from survey_service.alerts.endpoints import EndpointIn, EndpointOut, EndpointUpdate, WebhookService
from survey_service.alerts.events import EVENT_TYPES
from survey_service.dashboard.web import DashboardController, render

__all__ = ["DashboardAlertPages"]


def _owner(request: Request[Any, Any, Any]) -> UserInfo:
    user: UserInfo = request.state.user
    if user.role != "owner":  # managers never learn these pages exist
        raise NotFoundException("no such page")
    return user


async def _webhooks_page(
    request: Request[Any, Any, Any], webhooks: WebhookService, shown: EndpointOut | None = None
) -> Template:
    """The webhooks page, with a secret shown once after creation or rotation."""
    return render(
        request,
        "webhooks.html",
        "Webhooks",
        "Webhooks",
        endpoints=await webhooks.endpoints(),
        event_types=EVENT_TYPES,
        surveys=webhooks.catalog.slugs(),
        secret=shown.secret if shown else None,
        secret_for=shown.id if shown else None,
    )


class DashboardAlertPages(DashboardController):
    """Cases and webhooks."""

    @get("/cases")
    async def case_list(
        self, request: Request[Any, Any, Any], cases: NamedDependency[CaseService]
    ) -> Template:
        """Open and contacted cases first (or one status), newest first."""
        status = request.query_params.get("status") or None
        found = await cases.cases(request.state.user, status)
        return render(
            request, "cases.html", "Follow-up", "Follow-up", cases=found, shown_status=status
        )

    @post("/cases/{case_id:int}", status_code=303)
    async def update_case(
        self,
        request: Request[Any, Any, Any],
        cases: NamedDependency[CaseService],
        case_id: FromPath[int],
    ) -> Redirect:
        """Mark a case contacted or resolved, with a note."""
        form = await request.form()
        user: UserInfo = request.state.user
        note = str(form.get("note", "")).strip() or None
        await cases.update_case(user, case_id, str(form.get("status", "")), note, user.email)
        return Redirect("/dashboard/cases", status_code=303)

    @get("/webhooks")
    async def webhooks(
        self, request: Request[Any, Any, Any], webhooks: NamedDependency[WebhookService]
    ) -> Template:
        """Every endpoint, and the form to add one."""
        _owner(request)
        return await _webhooks_page(request, webhooks)

    @post("/webhooks", status_code=200)
    async def add_webhook(
        self, request: Request[Any, Any, Any], webhooks: NamedDependency[WebhookService]
    ) -> Template:
        """Create an endpoint; the page shows its secret this once."""
        _owner(request)
        form = await request.form()
        created = await webhooks.create_endpoint(
            EndpointIn(
                url=str(form.get("url", "")),
                event_types=[str(t) for t in form.getall("event_types", [])],
                surveys=[str(s) for s in form.getall("surveys", [])],
                description=str(form.get("description", "")),
            )
        )
        return await _webhooks_page(request, webhooks, created)

    @post("/webhooks/{endpoint_id:int}/{action:str}", status_code=200)
    async def change_webhook(
        self,
        request: Request[Any, Any, Any],
        webhooks: NamedDependency[WebhookService],
        endpoint_id: FromPath[int],
        action: FromPath[str],
    ) -> Response[Any]:
        """Rotate the secret (shown once), enable, disable or delete an endpoint."""
        _owner(request)
        if action == "rotate":
            return await _webhooks_page(
                request, webhooks, await webhooks.rotate_secret(endpoint_id)
            )
        if action in ("enable", "disable"):
            await webhooks.update_endpoint(endpoint_id, EndpointUpdate(enabled=action == "enable"))
        elif action == "delete":
            await webhooks.delete_endpoint(endpoint_id)
        else:
            raise NotFoundException("no such action")
        return Redirect("/dashboard/webhooks", status_code=303)

    @get("/webhooks/{endpoint_id:int}")
    async def webhook_log(
        self,
        request: Request[Any, Any, Any],
        webhooks: NamedDependency[WebhookService],
        endpoint_id: FromPath[int],
    ) -> Template:
        """The delivery log: every message and attempt."""
        _owner(request)
        messages = await webhooks.messages(endpoint_id)
        return render(
            request,
            "webhook_log.html",
            "Webhooks",
            f"Deliveries to endpoint {endpoint_id}",
            messages=messages,
            endpoint_id=endpoint_id,
        )

    @post("/webhooks/messages/{message:int}/replay", status_code=303)
    async def replay(
        self,
        request: Request[Any, Any, Any],
        webhooks: NamedDependency[WebhookService],
        message: FromPath[int],
    ) -> Redirect:
        """Send a message again."""
        _owner(request)
        await webhooks.replay(message)
        return Redirect("/dashboard/webhooks", status_code=303)
