"""Exceptions to HTTP answers: a clear 4xx naming the field, never a 500.

JSON for the API; on the customer pages (``/s/...``) the same errors become friendly pages
in the customer's language.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response
from litestar.exceptions import (
    HTTPException,
    NotFoundException,
    PermissionDeniedException,
    ValidationException,
)
from litestar.exceptions.responses import create_exception_response

from survey_service.surveys.definitions import pick_language
from survey_service.reporting.service import BadParameter
from survey_service.surveys.serving import AnswersRejected, SurveyNotFound

__all__ = ["EXCEPTION_HANDLERS"]

_PAGE_KINDS = {404: "not_found", 403: "refused", 413: "too_big", 429: "busy"}


def _page_language(request: Request[Any, Any, Any]) -> str:
    slug = request.path_params.get("slug")
    info = request.app.state.surveys.catalog.current(slug) if slug else None
    accept = request.headers.get("accept-language")
    if info is None:
        return "es" if (accept or "").lower().startswith("es") else "en"
    return pick_language(info.definition, request.query_params.get("lang"), accept)


def _answer(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    kind = _PAGE_KINDS.get(exc.status_code)
    if request.url.path.startswith(("/s/", "/q/", "/kiosk/")) and kind:
        from survey_service.web.pages import notice  # pages import this module's peers

        language = _page_language(request)
        slug = request.path_params.get("slug")
        link = f"/s/{slug}?lang={language}" if slug and kind != "not_found" else None
        return notice(language, kind, exc.status_code, link)
    return create_exception_response(request, exc)


def _http_exception(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    return _answer(request, exc)


def _survey_not_found(request: Request[Any, Any, Any], exc: SurveyNotFound) -> Response[Any]:
    return _answer(request, NotFoundException(f"no survey called '{exc}'"))


def _bad_parameter(request: Request[Any, Any, Any], exc: BadParameter) -> Response[Any]:
    extra = [{"key": exc.key, "message": exc.message}]
    return create_exception_response(
        request, ValidationException(f"bad parameter {exc.key}", extra=extra)
    )


def _answers_rejected(request: Request[Any, Any, Any], exc: AnswersRejected) -> Response[Any]:
    extra = [{"key": e.key, "message": e.message, "code": e.code} for e in exc.errors]
    if exc.reason == "signature":
        http_exc: HTTPException = PermissionDeniedException(
            "token signature is invalid", extra=extra
        )
    else:
        http_exc = ValidationException("request rejected", extra=extra)
    return create_exception_response(request, http_exc)


EXCEPTION_HANDLERS = {
    HTTPException: _http_exception,
    SurveyNotFound: _survey_not_found,
    AnswersRejected: _answers_rejected,
    BadParameter: _bad_parameter,
}
