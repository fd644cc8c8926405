"""Liveness and readiness probes."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from litestar import Controller, Response, get
from litestar.di import NamedDependency

from survey_service.lib.ratelimit import Limits

__all__ = ["HealthController"]


@runtime_checkable
class Pingable(Protocol):
    """The database as readiness needs it (:class:`survey_service.db.Database`)."""

    async def ping(self) -> bool:
        """Whether the database answers."""


@runtime_checkable
class Replica(Protocol):
    """The read router as readiness needs it (:class:`survey_service.db.replica.ReadRouter`)."""

    max_lag: float
    replica: object | None

    async def check(self) -> float | None:
        """The replica's lag now; None when it does not answer (or none is configured)."""


class HealthController(Controller):
    """``live``: the process answers; ``ready``: it can do its work."""

    path = "/health"
    tags = ["health"]
    include_in_schema = True

    @get("/live")
    async def live(self) -> dict[str, str]:
        """Always ok while the process serves requests."""
        return {"status": "ok"}

    @get("/ready")
    async def ready(
        self,
        db: NamedDependency[Pingable],
        reads: NamedDependency[Replica],
        limits: NamedDependency[Limits],
    ) -> Response[dict[str, str]]:
        """200 while the primary answers, else 503 (nothing works without it). The replica
        (when configured) and the rate-limit store are reported too, but neither makes the
        instance unready: reads fall back to the primary, and the limits let requests
        through while their store is away (``degraded``)."""
        database, store = await db.ping(), await limits.counter.ping()
        body = {"database": "ok" if database else "unreachable"}
        degraded = not store
        if reads.replica is not None:
            lag = await reads.check()
            degraded = degraded or lag is None or lag > reads.max_lag
            body["replica"] = "unreachable" if lag is None else f"lag {lag:.3f} s"
        body["limit_store"] = "ok" if store else "unreachable"
        if not database:
            return Response({"status": "unavailable", **body}, status_code=503)
        return Response({"status": "degraded" if degraded else "ok", **body})
