"""Outcomes over REST: events in (scope ``outcomes:write``) and what empathy is worth
(scope ``kpis:read``)."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter

from survey_service.outcomes.events import MAX_BATCH, OutcomeBatchResult, parse_csv
from survey_service.outcomes.service import OutcomeReport, OutcomeService
from survey_service.outcomes.value import CutPoints
from survey_service.web.auth import API_KEY, api_key_of, requires
from survey_service.web.batches import read_rows

__all__ = ["OutcomeController"]

BATCH_BODY_LIMIT = 4 * 1024 * 1024  # 10,000 events of a few hundred bytes each


class OutcomeController(Controller):
    """What customers did later, from other systems; and its link to empathy."""

    path = "/api/v1"
    tags = ["outcomes"]
    security = API_KEY

    @post(
        "/outcomes",
        guards=[requires("outcomes:write")],
        request_max_body_size=BATCH_BODY_LIMIT,
        summary="Record outcome events",
        status_code=201,
    )
    async def create(
        self, request: Request[Any, Any, Any], outcomes: NamedDependency[OutcomeService]
    ) -> Response[OutcomeBatchResult]:
        """One JSON event, a JSON list, or ``text/csv`` (header ``event_id, kind,
        customer, occurred_at, amount, currency[, hash_customer]``), up to 10,000.
        Idempotent by ``event_id``: a replayed event is listed in ``duplicates`` and
        stores nothing. 201 when something new was stored and nothing rejected, 200 for a
        pure replay, 207 when some rows were rejected, 400 when no row was usable."""
        rows = await read_rows(request, parse_csv, MAX_BATCH)
        key = api_key_of(request)
        result = await outcomes.record(rows, f"api key {key.id} ({key.name})")
        if result.rejected:
            status = 207 if result.created or result.duplicates else 400
        else:
            status = 201 if result.created else 200
        return Response(result, status_code=status)

    @get(
        "/surveys/{slug:str}/outcomes",
        guards=[requires("kpis:read")],
        summary="What empathy is worth",
    )
    async def value(
        self,
        request: Request[Any, Any, Any],
        outcomes: NamedDependency[OutcomeService],
        slug: FromPath[str],
        horizon: Annotated[int, QueryParameter(description="days: 30, 90 or 365")] = 90,
        low_below: Annotated[
            float, QueryParameter(description="empathy index under this is 'low'")
        ] = 50.0,
        high_from: Annotated[
            float, QueryParameter(description="empathy index from this is 'high'")
        ] = 80.0,
        currency: Annotated[
            str | None, QueryParameter(description="ISO 4217; default the most common")
        ] = None,
        tz: Annotated[str | None, QueryParameter(description="IANA zone for from and to")] = None,
        start: Annotated[
            str | None, QueryParameter(name="from", description="first responses from")
        ] = None,
        end: Annotated[
            str | None, QueryParameter(name="to", description="first responses to")
        ] = None,
    ) -> OutcomeReport:
        """Customers of the survey by their reported empathy (low, middle, high):
        repeat-purchase rate, referrals and revenue per customer and a lifetime value
        estimate, each with an interval; high against low; correlations; a logistic
        regression with odds ratios. An association, not proof of cause."""
        return await outcomes.value(
            api_key_of(request),
            slug,
            horizon=horizon,
            cuts=CutPoints(low_below=low_below, high_from=high_from),
            currency=currency,
            tz=tz,
            start=start,
            end=end,
        )
