"""The API's own documentation: Redoc served from the package (no CDN, works offline), and
every error answer documented in the OpenAPI document.

Redoc's standalone bundle (``static/redoc``, MIT licence beside it) reads the schema from
``/schema/openapi.json`` through its ``<redoc spec-url>`` element: the page needs no inline
script, so its own Content-Security-Policy allows scripts from this origin only.
"""

from __future__ import annotations

from typing import Any, cast

import msgspec
from litestar import Request
from litestar.openapi.plugins import OpenAPIRenderPlugin
from litestar.openapi.spec import (
    Components,
    OpenAPI,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    Parameter,
    PathItem,
    RequestBody,
    Schema,
)

from survey_service.alerts.events import EVENT_DATA

__all__ = ["DOCS_POLICY", "RedocFromPackage", "document_errors", "document_webhooks"]

DOCS_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",  # Redoc styles its components inline
        "img-src 'self' data:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "worker-src blob:",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ]
)
"""The docs page's Content-Security-Policy (every other page allows no script at all)."""

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><redoc spec-url="/schema/openapi.json"></redoc>
<script src="/static/redoc/redoc.standalone.js"></script></body></html>
"""


class RedocFromPackage(OpenAPIRenderPlugin):
    """Redoc at ``/schema`` (and ``/schema/redoc``), its script from ``/static``."""

    def __init__(self) -> None:
        super().__init__(path=["/", "/redoc"])

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        """The page; Redoc fetches the schema itself."""
        title = str(openapi_schema.get("info", {}).get("title", "API"))
        return _PAGE.format(title=title).encode()


_ERROR = Schema(
    type=OpenAPIType.OBJECT,
    required=["status_code", "detail"],
    properties={
        "status_code": Schema(type=OpenAPIType.INTEGER),
        "detail": Schema(type=OpenAPIType.STRING),
        "extra": Schema(
            type=OpenAPIType.ARRAY,
            items=Schema(
                type=OpenAPIType.OBJECT,
                properties={
                    "key": Schema(type=OpenAPIType.STRING, description="the field or parameter"),
                    "message": Schema(type=OpenAPIType.STRING),
                    "code": Schema(type=OpenAPIType.STRING),
                },
            ),
        ),
    },
)

_ALWAYS = {
    "400": "a parameter, field or body that cannot be used; `extra` names each",
    "429": "too many requests from this address or to this survey; see Retry-After",
    "503": "the database is briefly away; try again after Retry-After seconds",
}
_WITH_BODY = {"413": "the body is larger than allowed"}
_WITH_PATH = {"404": "no such survey, experiment, invitation or response (the detail names it)"}
_GUARDED = {
    "401": "the API key is missing, unknown or revoked",
    "403": "the API key lacks the scope this needs",
    "404": "not found, or outside the surveys the key may read",
}


def document_errors(openapi: OpenAPI) -> None:
    """Add the error answers every operation can give to the OpenAPI document (in place)."""
    for item in (openapi.paths or {}).values():
        for method in ("get", "post", "put", "patch", "delete"):
            operation: Operation | None = getattr(item, method)
            if operation is None:
                continue
            errors = dict(_ALWAYS)
            if operation.request_body is not None:
                errors |= _WITH_BODY
            if any(getattr(p, "param_in", None) == "path" for p in operation.parameters or []):
                errors |= _WITH_PATH
            if operation.security:
                errors |= _GUARDED
            responses = operation.responses if operation.responses is not None else {}
            for status, description in errors.items():
                responses.setdefault(
                    status,
                    OpenAPIResponse(
                        description=description,
                        content={"application/json": OpenAPIMediaType(schema=_ERROR)},
                    ),
                )
            operation.responses = responses


_WEBHOOK_HEADERS = (
    ("webhook-id", "the message id, the same on every retry: de-duplicate by it"),
    ("webhook-timestamp", "Unix seconds of this attempt: refuse old ones (replays)"),
    (
        "webhook-signature",
        "space-separated v1,<base64 HMAC-SHA256 of id.timestamp.body> under each live secret"
        " (the key is the base64 after whsec_)",
    ),
)


def document_webhooks(openapi: OpenAPI) -> None:
    """Every webhook event type, its headers and its JSON schema, in the OpenAPI document's
    ``webhooks`` (in place); the payload schemas join the components."""
    _, components = msgspec.json.schema_components(
        sorted(set(EVENT_DATA.values()), key=lambda t: t.__name__),
        ref_template="#/components/schemas/{name}",
    )
    openapi.components = openapi.components or Components()
    schemas = openapi.components.schemas if openapi.components.schemas is not None else {}
    # Plain JSON Schema dicts: Litestar's spec objects pass them through as they are.
    schemas.update(components)
    openapi.components.schemas = schemas
    hooks: dict[str, Any] = {}
    for event, data in EVENT_DATA.items():
        envelope = {
            "type": "object",
            "required": ["type", "timestamp", "data"],
            "properties": {
                "type": {"const": event},
                "timestamp": {"type": "string", "format": "date-time"},
                "data": {"$ref": f"#/components/schemas/{data.__name__}"},
            },
        }
        hooks[event] = PathItem(
            post=Operation(
                summary=f"{event} (Standard Webhooks)",
                description=(data.__doc__ or "").strip(),
                parameters=[
                    Parameter(
                        name=name,
                        param_in="header",
                        required=True,
                        description=text,
                        schema=Schema(type=OpenAPIType.STRING),
                    )
                    for name, text in _WEBHOOK_HEADERS
                ],
                request_body=RequestBody(
                    required=True,
                    content={"application/json": OpenAPIMediaType(schema=cast(Any, envelope))},
                ),
                responses={
                    "2XX": OpenAPIResponse(
                        description="received; any other answer (or none in 10 s) is retried"
                    )
                },
            )
        )
    openapi.webhooks = hooks
