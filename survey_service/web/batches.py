"""Batch bodies, read the same way by every batch endpoint (invitations, outcomes): one
JSON object, a JSON list, or ``text/csv``."""

from __future__ import annotations

import csv
from collections.abc import Callable
from typing import Any

import msgspec
from litestar import Request
from litestar.exceptions import ValidationException

__all__ = ["read_rows"]


async def read_rows(
    request: Request[Any, Any, Any], parse_csv: Callable[[str], list[dict[str, Any]]], limit: int
) -> list[Any]:
    """The rows of the request's body (CSV by its content type, else JSON); 400 when the
    body cannot be read or holds no row or more than ``limit``."""
    body = await request.body()
    try:
        if request.headers.get("content-type", "").startswith("text/csv"):
            rows: list[Any] = parse_csv(body.decode("utf-8-sig"))
        else:
            decoded = msgspec.json.decode(body)
            rows = decoded if isinstance(decoded, list) else [decoded]
    except (msgspec.DecodeError, UnicodeDecodeError, csv.Error) as exc:
        raise ValidationException(f"unreadable body: {exc}") from None
    if not rows or len(rows) > limit:
        raise ValidationException(f"send 1 to {limit} rows")
    return rows
