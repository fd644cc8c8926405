"""Bearer API keys on /api/v1 read endpoints: a guard per scope."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.openapi.spec import SecurityScheme

from survey_service.apikeys.service import ApiKeyInfo, authenticate

__all__ = ["API_KEY", "API_KEY_SCHEME", "api_key_of", "requires"]

API_KEY: list[dict[str, list[str]]] = [{"apiKey": []}]
"""The OpenAPI security requirement of every guarded operation."""
API_KEY_SCHEME = SecurityScheme(
    type="http",
    scheme="bearer",
    description="An API key from `survey-service apikey create`, as `Authorization: Bearer`.",
)

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="survey_service"'}


def requires(
    scope: str,
) -> Callable[[ASGIConnection[Any, Any, Any, Any], BaseRouteHandler], Awaitable[None]]:
    """A guard admitting requests whose bearer key is live and carries ``scope``."""

    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        scheme, _space, token = connection.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise NotAuthorizedException(
                "an API key is required (Authorization: Bearer ...)", headers=_CHALLENGE
            )
        key = await authenticate(connection.app.state.db, token.strip())
        if key is None:
            raise NotAuthorizedException("the API key is unknown or revoked", headers=_CHALLENGE)
        if not key.allows(scope):
            raise PermissionDeniedException(f"the API key lacks the '{scope}' scope")
        connection.state.api_key = key

    return guard


def api_key_of(connection: ASGIConnection[Any, Any, Any, Any]) -> ApiKeyInfo:
    """The key the guard admitted."""
    key: ApiKeyInfo = connection.state.api_key
    return key
