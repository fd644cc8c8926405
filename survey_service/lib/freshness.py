"""Where a request's reads ran and how stale they may be, for the answer's headers
(``X-Read-From``, ``X-Replica-Lag-Seconds``); set by the read router."""

from __future__ import annotations

import contextvars
from typing import Literal

from survey_service.lib.structs import Struct

__all__ = ["READ_SOURCE", "ReadSource"]


class ReadSource(Struct):
    """``replica`` with its replay lag, or ``primary`` (lag 0)."""

    source: Literal["primary", "replica"]
    lag_seconds: float


READ_SOURCE: contextvars.ContextVar[ReadSource | None] = contextvars.ContextVar(
    "read_source", default=None
)
"""Set when a request's reads were routed (only where a replica is configured)."""
