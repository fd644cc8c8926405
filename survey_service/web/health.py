"""Liveness and readiness probes."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from litestar import Controller, Response, get
from litestar.di import NamedDependency

__all__ = ["HealthController"]


@runtime_checkable
class Pingable(Protocol):
    """The database as readiness needs it (:class:`survey_service.db.Database`)."""

    async def ping(self) -> bool:
        """Whether the database answers."""


class HealthController(Controller):
    """``live``: the process answers; ``ready``: it can also reach the database."""

    path = "/health"
    tags = ["health"]
    include_in_schema = True

    @get("/live")
    async def live(self) -> dict[str, str]:
        """Always ok while the process serves requests."""
        return {"status": "ok"}

    @get("/ready")
    async def ready(self, db: NamedDependency[Pingable]) -> Response[dict[str, str]]:
        """ok with 200 when the database answers, else 503."""
        if await db.ping():
            return Response({"status": "ok", "database": "ok"})
        return Response({"status": "unavailable", "database": "unreachable"}, status_code=503)
