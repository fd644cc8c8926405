"""Unsubscribing from invitation emails: the visible link and RFC 8058 one-click POST."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Template

from survey_service.invitations.service import InvitationService
from survey_service.lib.i18n import browser_language, ui_text
from survey_service.web.pages import NO_STORE, notice

__all__ = ["UnsubscribeController"]


class UnsubscribeController(Controller):
    """``/u/<token>``: GET asks (mail scanners open links), POST unsubscribes."""

    path = "/u/{token:str}"
    include_in_schema = False

    @get()
    async def ask(
        self,
        request: Request[Any, Any, Any],
        invitations: NamedDependency[InvitationService],
        token: FromPath[str],
    ) -> Template:
        """A one-button page in the invitation's language; opening it changes nothing."""
        language = await _language(request, invitations, token)
        t = ui_text(language)
        return Template(
            template_name="unsubscribe.html",
            context={
                "lang": language,
                "title": t["unsubscribe_title"],
                "t": t,
                "action": f"/u/{token}",
            },
            headers=NO_STORE,
        )

    @post(status_code=200)
    async def confirm(
        self,
        request: Request[Any, Any, Any],
        invitations: NamedDependency[InvitationService],
        token: FromPath[str],
    ) -> Template:
        """One-click unsubscribe (no CSRF token: mail clients post it themselves; the
        token in the URL is the authorisation)."""
        language = await _language(request, invitations, token)
        if not await invitations.unsubscribe(token):
            return notice(language, "invalid", 400)
        return notice(language, "unsubscribed", 200)


async def _language(
    request: Request[Any, Any, Any], invitations: InvitationService, token: str
) -> str:
    """The invitation's language; for a bad token, the browser's (English or Spanish)."""
    language = await invitations.language_of(token)
    if language is not None:
        return language
    return browser_language(request.headers.get("accept-language"))
