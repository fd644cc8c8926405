"""Every error the service raises on purpose, in one hierarchy; ``web.errors`` maps each
to its HTTP answer in one place.

::

    ServiceError
    ├── NotFound(kind, key)          404 "no <kind> called '<key>'"
    ├── BadParameter(key, message)   400 naming the parameter
    ├── AnswersRejected(errors)      400 naming each field (403 for a forged token)
    ├── TokenError(reason)           a token that cannot be used (becomes AnswersRejected)
    ├── TooBusy(retry_after)         429: a survey's submission limit is reached
    └── StartupError                 the service cannot start; the message says why
        ├── SettingsError            a setting from the environment is invalid
        └── DatabaseError            the database cannot be reached or prepared
"""

from __future__ import annotations

import re

import asyncpg
import msgspec

from survey_service.lib.structs import Struct

__all__ = [
    "AnswersRejected",
    "BadParameter",
    "DatabaseError",
    "FieldError",
    "NotFound",
    "RowError",
    "ServiceError",
    "SettingsError",
    "StartupError",
    "TokenError",
    "TooBusy",
    "database_unavailable",
    "field_error",
    "require_id",
]


class FieldError(Struct):
    """One rejected input, named the way the client sent it.

    ``code`` is stable for clients and page translations: required, range, type,
    too_long, unknown, token, invalid, suppressed.
    """

    key: str
    message: str
    code: str = "invalid"


class RowError(Struct):
    """Why row ``row`` (0-based, in the order sent) of a batch was not stored."""

    row: int
    errors: list[FieldError]


_AT = re.compile(r" - at `\$\.(\w+)")


def field_error(exc: msgspec.ValidationError) -> FieldError:
    """msgspec's complaint about one decoded object, named by the field it points at
    (``row`` when it names none)."""
    message = str(exc)
    found = _AT.search(message)
    return FieldError(key=found.group(1) if found else "row", message=message, code="type")


def require_id(kind: str, value: int, *, bits: int = 64) -> None:
    """NotFound for an id no row can have: not positive, or past the column's integer
    type (``bits``: 32 for integer, 64 for bigint); the database is never asked."""
    if not 0 < value < 2 ** (bits - 1):
        raise NotFound(kind, value)


class ServiceError(Exception):
    """Base of every error the service raises on purpose."""


class NotFound(ServiceError):
    """No ``kind`` (survey, experiment, invitation, link ...) called ``key`` is visible."""

    def __init__(self, kind: str, key: object) -> None:
        super().__init__(f"no {kind} called '{key}'")
        self.kind = kind
        self.key = str(key)


class BadParameter(ServiceError):
    """A query parameter or request field that cannot be used; answered 400 naming it."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key
        self.message = message


class AnswersRejected(ServiceError):
    """Answers or their token failed validation; ``errors`` names each field."""

    def __init__(self, errors: list[FieldError], *, reason: str = "invalid") -> None:
        super().__init__("; ".join(f"{e.key}: {e.message}" for e in errors))
        self.errors = errors
        self.reason = reason  # invalid | malformed | signature | expired | mismatch


class TokenError(ServiceError):
    """A token that cannot be used; ``reason`` is malformed, signature or expired."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class TooBusy(ServiceError):
    """Too many submissions right now; ``retry_after`` seconds until there is room."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class StartupError(ServiceError):
    """The service cannot start; the message says why."""


class SettingsError(StartupError):
    """A setting from the environment is invalid; the message names the variable."""


class DatabaseError(StartupError):
    """The database cannot be reached or prepared; the message says what to do."""


_UNAVAILABLE = (
    OSError,
    TimeoutError,
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,
    asyncpg.OperatorInterventionError,  # class 57: shutting down, starting up, cancelled
    asyncpg.InternalClientError,  # a pooled connection left mid-operation when the server died
    asyncpg.InsufficientResourcesError,  # class 53: too many connections while it comes back
)


def database_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` means the database is away (refused, lost, shutting down): the
    service answers 503 and recovers by itself when it is back."""
    return isinstance(exc, _UNAVAILABLE)
