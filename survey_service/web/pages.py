"""What every customer page shares: the form page, the thank-you page and friendly notices
(expired, invalid, busy ...), in the customer's language."""

from __future__ import annotations

from urllib.parse import urlencode

from litestar.datastructures import Cookie
from litestar.response import Template

from survey_service.lib.i18n import LANGUAGE_NAMES, ui_text
from survey_service.surveys.definitions import SurveyDefinition
from survey_service.surveys.serving import SurveyView

__all__ = ["NO_STORE", "form_page", "notice", "thanks_page"]

NO_STORE = {"Cache-Control": "no-store"}


def notice(
    language: str,
    kind: str,
    status: int,
    link: str | None = None,
    headers: dict[str, str] | None = None,
) -> Template:
    """A friendly full page (expired, invalid, busy ...) in the customer's language."""
    t = ui_text(language)
    return Template(
        template_name="notice.html",
        context={
            "lang": language,
            "title": t[f"{kind}_title"],
            "heading": t[f"{kind}_title"],
            "message": t[kind],
            "link": link,
            "link_text": t["fresh"],
        },
        status_code=status,
        headers={**NO_STORE, **(headers or {})},
    )


def thanks_page(
    definition: SurveyDefinition, language: str, refresh: str | None = None
) -> Template:
    """The survey's thank-you text (or the page words') in ``language``; ``refresh`` is a
    meta-refresh value for screens that move on by themselves."""
    t = ui_text(language)
    return Template(
        template_name="notice.html",
        context={
            "lang": language,
            "title": t["thanks_title"],
            "heading": t["thanks_title"],
            "message": definition.thanks[language] if definition.thanks else t["thanks"],
            "refresh": refresh,
        },
        headers=NO_STORE,
    )


def form_page(
    survey: SurveyView,
    token: str,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
    cookie: Cookie | None = None,
) -> Template:
    """The form as ``survey`` describes it, carrying ``token``; ``errors`` by question id
    and the ``values`` to keep when it is shown again."""
    base = f"/s/{survey.slug}"
    return Template(
        template_name="form.html",
        context={
            "lang": survey.language,
            "title": survey.title,
            "survey": survey,
            "token": token,
            "action": base,
            "errors": errors or {},
            "values": values or {},
            "t": ui_text(survey.language),
            "language_names": LANGUAGE_NAMES,
            "lang_urls": {
                code: f"{base}?{urlencode({'lang': code, 't': token})}" for code in survey.languages
            },
        },
        status_code=status,
        headers=NO_STORE,
        cookies=[cookie] if cookie else None,
    )
