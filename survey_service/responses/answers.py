"""Answers: checking them against a version's questions (pure functions)."""

from __future__ import annotations

import re
from collections.abc import Mapping

from survey_service.errors import FieldError
from survey_service.surveys.definitions import QuestionType, Role, SurveyDefinition

__all__ = [
    "ROLE_COLUMNS",
    "AnswerValue",
    "clean_text",
    "coerce_form_fields",
    "role_columns",
    "validate_answers",
]

AnswerValue = int | bool | str
"""An answer as stored: int for nps and rating, bool for yes_no, str for text."""

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean_text(value: str) -> str:
    """Normalised free text: control characters removed, line ends unified, trimmed."""
    return _CONTROL.sub("", value.replace("\r\n", "\n").replace("\r", "\n")).strip()


def validate_answers(
    definition: SurveyDefinition, answers: Mapping[str, object], prefix: str = "answers."
) -> tuple[dict[str, AnswerValue], list[FieldError]]:
    """Check every answer against its question; return the clean answers or the errors."""
    clean: dict[str, AnswerValue] = {}
    errors: list[FieldError] = []
    for key in answers:
        if definition.question(key) is None:
            message = "no such question in this survey"
            errors.append(FieldError(key=prefix + key, message=message, code="unknown"))
    for q in definition.questions:
        value = answers.get(q.id)
        if isinstance(value, str) and q.type is QuestionType.TEXT:
            value = clean_text(value) or None
        if value is None:
            if q.required:
                errors.append(
                    FieldError(key=prefix + q.id, message="an answer is required", code="required")
                )
            continue
        problem = _check(q.type, value, q.limit)
        if problem:
            code, message = problem
            errors.append(FieldError(key=prefix + q.id, message=message, code=code))
        else:
            clean[q.id] = value  # type: ignore[assignment]  # checked by _check
    return clean, errors


def _check(kind: QuestionType, value: object, limit: int) -> tuple[str, str] | None:
    if kind is QuestionType.NPS or kind is QuestionType.RATING:
        low, high = (0, 10) if kind is QuestionType.NPS else (1, 5)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            return "range", f"must be a whole number from {low} to {high}"
    elif kind is QuestionType.YES_NO:
        if not isinstance(value, bool):
            return "type", "must be true or false"
    elif not isinstance(value, str):
        return "type", "must be text"
    elif len(value) > limit:
        return "too_long", f"must be at most {limit} characters"
    return None


def coerce_form_fields(
    definition: SurveyDefinition, fields: Mapping[str, str]
) -> dict[str, object]:
    """Typed answers from an HTML form post (all strings); blank fields are unanswered.

    Values that do not convert stay strings, so :func:`validate_answers` names the problem.
    Fields that are not questions (token, CSRF, honeypot) are ignored here.
    """
    answers: dict[str, object] = {}
    for q in definition.questions:
        raw = fields.get(q.id)
        if raw is None or not raw.strip():
            continue
        if q.type in (QuestionType.NPS, QuestionType.RATING):
            answers[q.id] = int(raw) if raw.strip().isdecimal() and len(raw) < 4 else raw
        elif q.type is QuestionType.YES_NO:
            answers[q.id] = {"yes": True, "no": False}.get(raw, raw)
        else:
            answers[q.id] = raw
    return answers


ROLE_COLUMNS: tuple[str, ...] = tuple(role.value for role in Role)
"""The response columns named after roles, in :class:`Role` order (made once: iterating
the enum costs a little per answer)."""
_NO_ROLES: dict[str, AnswerValue | None] = dict.fromkeys(ROLE_COLUMNS)


def role_columns(
    definition: SurveyDefinition, answers: Mapping[str, AnswerValue]
) -> dict[str, AnswerValue | None]:
    """The typed response columns (named after roles) filled from the answers."""
    columns: dict[str, AnswerValue | None] = dict(_NO_ROLES)
    for q in definition.questions:
        columns[q.role.value] = answers.get(q.id)
    return columns
