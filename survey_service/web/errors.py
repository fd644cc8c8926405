"""The service's errors (:mod:`survey_service.errors`) to HTTP answers, in one place: a
clear 4xx naming the field, never a 500.

JSON for the API; on the customer pages (``/s/...``, ``/q/...``, ``/kiosk/...``) the same
errors become friendly pages in the customer's language.
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.enums import MediaType
from litestar.exceptions import (
    HTTPException,
    InternalServerException,
    NotFoundException,
    PermissionDeniedException,
    ServiceUnavailableException,
    TooManyRequestsException,
    ValidationException,
)
from litestar.exceptions.responses import create_exception_response

from survey_service.errors import (
    AnswersRejected,
    BadParameter,
    NotFound,
    TooBusy,
    database_unavailable,
)
from survey_service.lib.i18n import browser_language
from survey_service.surveys.definitions import pick_language
from survey_service.web.context import request_id_of
from survey_service.web.pages import notice

__all__ = ["EXCEPTION_HANDLERS", "RETRY_AFTER_SECONDS"]

log = logging.getLogger("survey_service.web")

_PAGE_KINDS = {
    404: "not_found",
    403: "refused",
    413: "too_big",
    429: "busy",
    500: "broken",
    503: "unavailable",
}


def _json(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    """The JSON error answer, JSON whatever the handler serves (an image, a CSV), with the
    request id a caller can quote when reporting it."""
    response = create_exception_response(request, exc)
    body = response.content
    if isinstance(body, bytes):  # encoded already for a handler that serves another type
        body = msgspec.json.decode(body)
    response.content = {**body, "request_id": request_id_of(request.scope)}
    response.media_type = MediaType.JSON
    return response


def _page_language(request: Request[Any, Any, Any]) -> str:
    slug = request.path_params.get("slug")
    info = request.app.state.surveys.catalog.current(slug) if slug else None
    accept = request.headers.get("accept-language")
    if info is None:
        return browser_language(accept)
    return pick_language(info.definition, request.query_params.get("lang"), accept)


def _answer(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    kind = _PAGE_KINDS.get(exc.status_code)
    path = request.url.path
    pages = ("/s/", "/q/", "/kiosk/", "/staff/", "/dashboard")
    page = path.startswith(pages) and not path.endswith((".svg", ".png", ".csv"))
    if page and kind:
        language = _page_language(request)
        slug = request.path_params.get("slug")
        link = f"/s/{slug}?lang={language}" if slug and kind != "not_found" else None
        return notice(language, kind, exc.status_code, link, dict(exc.headers or {}))
    return _json(request, exc)


def _http_exception(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    return _answer(request, exc)


def _not_found(request: Request[Any, Any, Any], exc: NotFound) -> Response[Any]:
    return _answer(request, NotFoundException(str(exc)))


def _too_busy(request: Request[Any, Any, Any], exc: TooBusy) -> Response[Any]:
    retry = {"Retry-After": str(max(1, round(exc.retry_after)))}
    return _answer(request, TooManyRequestsException(str(exc), headers=retry))


def _bad_parameter(request: Request[Any, Any, Any], exc: BadParameter) -> Response[Any]:
    extra = [{"key": exc.key, "message": exc.message}]
    return _json(request, ValidationException(f"bad parameter {exc.key}", extra=extra))


def _answers_rejected(request: Request[Any, Any, Any], exc: AnswersRejected) -> Response[Any]:
    extra = [{"key": e.key, "message": e.message, "code": e.code} for e in exc.errors]
    if exc.reason == "signature":
        http_exc: HTTPException = PermissionDeniedException(
            "token signature is invalid", extra=extra
        )
    else:
        http_exc = ValidationException("request rejected", extra=extra)
    return _json(request, http_exc)


RETRY_AFTER_SECONDS = 5
"""What a client is told to wait while the database is away (it comes back by itself)."""


def _unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """A body that cannot be decoded (400), the database away (503 with Retry-After), or a
    bug (500, logged with its traceback)."""
    if isinstance(exc, (UnicodeDecodeError, RecursionError)):  # while decoding the body
        return _answer(request, ValidationException("the body is not UTF-8 JSON of sane depth"))
    if database_unavailable(exc):
        log.warning("database unavailable on %s %s: %s", request.method, request.url.path, exc)
        unavailable = ServiceUnavailableException(
            "the database is unavailable; try again shortly",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
        return _answer(request, unavailable)
    log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return _answer(request, InternalServerException())


EXCEPTION_HANDLERS = {
    HTTPException: _http_exception,
    NotFound: _not_found,
    AnswersRejected: _answers_rejected,
    BadParameter: _bad_parameter,
    TooBusy: _too_busy,
    Exception: _unexpected,
}
