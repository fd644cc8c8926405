"""Unsubscribing from invitation emails: the visible link and RFC 8058 one-click POST."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Template

from survey_service.invitations.service import InvitationService
from survey_service.web.pages import notice

__all__ = ["UnsubscribeController"]


class UnsubscribeController(Controller):
    """``/u/<token>``: GET asks (mail scanners open links), POST unsubscribes."""

    path = "/u/{token:str}"
    include_in_schema = False

    @get()
    async def ask(self, request: Request[Any, Any, Any], token: FromPath[str]) -> Template:
        """A one-button page; opening it changes nothing."""
        return Template(
            template_name="unsubscribe.html",
            context={"lang": "en", "title": "Unsubscribe", "action": f"/u/{token}"},
            headers={"Cache-Control": "no-store"},
        )

    @post(status_code=200)
    async def confirm(
        self, invitations: NamedDependency[InvitationService], token: FromPath[str]
    ) -> Template:
        """One-click unsubscribe (no CSRF token: mail clients post it themselves; the
        token in the URL is the authorisation)."""
        if not await invitations.unsubscribe(token):
            return notice("en", "invalid", 400)
        return notice("en", "unsubscribed", 200)
