"""Domain exceptions to HTTP answers: a clear 4xx naming the field, never a 500."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response
from litestar.exceptions import NotFoundException, PermissionDeniedException, ValidationException
from litestar.exceptions.responses import create_exception_response

from survey_service.serving import AnswersRejected, SurveyNotFound

__all__ = ["EXCEPTION_HANDLERS"]


def _survey_not_found(request: Request[Any, Any, Any], exc: SurveyNotFound) -> Response[object]:
    return create_exception_response(request, NotFoundException(f"no survey called '{exc}'"))


def _answers_rejected(request: Request[Any, Any, Any], exc: AnswersRejected) -> Response[object]:
    extra = [{"key": e.key, "message": e.message} for e in exc.errors]
    if exc.reason == "signature":
        http_exc: Exception = PermissionDeniedException("token signature is invalid", extra=extra)
    else:
        http_exc = ValidationException("request rejected", extra=extra)
    return create_exception_response(request, http_exc)


EXCEPTION_HANDLERS = {
    SurveyNotFound: _survey_not_found,
    AnswersRejected: _answers_rejected,
}
