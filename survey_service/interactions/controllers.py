"""The interaction log over REST: record (scope ``interactions:write``), read back (scope
``responses:read``: notes and references are collected data), and the reports (scope
``kpis:read``)."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from survey_service.interactions.records import InteractionIn, InteractionOut
from survey_service.interactions.service import (
    InteractionDetail,
    InteractionFilters,
    InteractionPage,
    InteractionReport,
    InteractionService,
    NeedReport,
)
from survey_service.web.auth import API_KEY, api_key_of, requires
from survey_service.web.filters import From, To, Zone

__all__ = ["InteractionController", "provide_interaction_filters"]

_Text = Annotated[str | None, QueryParameter(description="only interactions with this value")]


async def provide_interaction_filters(
    start: From = None,
    end: To = None,
    tz: Zone = None,
    touchpoint: _Text = None,
    agent: _Text = None,
    channel: _Text = None,
) -> InteractionFilters:
    """The window and filters of every interaction read, declared once."""
    given = {"touchpoint": touchpoint, "agent": agent, "channel": channel}
    return InteractionFilters(
        start=start, end=end, tz=tz, filters={k: v for k, v in given.items() if v}
    )


class InteractionController(Controller):
    """Staff log customer interactions (emotion, actions, reaction); owners read reports."""

    path = "/api/v1/interactions"
    tags = ["interactions"]
    security = API_KEY
    dependencies = {"window": Provide(provide_interaction_filters)}

    @post(guards=[requires("interactions:write")], summary="Log an interaction", status_code=201)
    async def create(
        self,
        request: Request[Any, Any, Any],
        interactions: NamedDependency[InteractionService],
        data: JSONBody[InteractionIn],
    ) -> InteractionOut:
        """Emotion, actions and reaction from closed lists; touchpoint, agent, duration,
        note and a customer or order reference are optional. With ``hash_reference`` only
        the reference's keyed hash is stored."""
        key = api_key_of(request)
        return await interactions.record(data, f"api key {key.id} ({key.name})")

    @get(guards=[requires("responses:read")], summary="The interaction log")
    async def many(
        self,
        interactions: NamedDependency[InteractionService],
        window: NamedDependency[InteractionFilters],
        cursor: FromQuery[int] = 0,
        limit: FromQuery[int] = 100,
    ) -> InteractionPage:
        """By id; pass ``next_cursor`` back for the next page."""
        return await interactions.page(window, cursor, limit)

    @get("/{interaction_id:int}", guards=[requires("responses:read")], summary="One interaction")
    async def one(
        self,
        request: Request[Any, Any, Any],
        interactions: NamedDependency[InteractionService],
        interaction_id: FromPath[int],
    ) -> InteractionDetail:
        """The interaction and the survey responses that name the same customer (link or
        invitation metadata, or an experiment subject's form), from 12 hours before it to
        30 days after."""
        return await interactions.one(api_key_of(request), interaction_id)

    @get("/summary", guards=[requires("kpis:read")], summary="What the log says")
    async def summary(
        self,
        request: Request[Any, Any, Any],
        interactions: NamedDependency[InteractionService],
        window: NamedDependency[InteractionFilters],
    ) -> InteractionReport:
        """Emotion mix by touchpoint and agent; how often each action was used with
        frustrated or angry customers; the share ending calmer or satisfied per action
        (Wilson intervals); the linked follow-up survey's empathy index per action.
        Groups under the minimum n are suppressed, as in the KPI API."""
        return await interactions.summary(api_key_of(request), window)

    @get("/need", guards=[requires("kpis:read")], summary="Where empathy is needed most")
    async def need(
        self,
        request: Request[Any, Any, Any],
        interactions: NamedDependency[InteractionService],
        window: NamedDependency[InteractionFilters],
        by: Annotated[
            str, QueryParameter(description="touchpoint, channel or hour")
        ] = "touchpoint",
        ranked_by: Annotated[
            str, QueryParameter(description="interactions (started upset) or responses (not heard)")
        ] = "interactions",
    ) -> NeedReport:
        """Per group: share of interactions that started frustrated or angry and share of
        responses that did not feel heard, with intervals and sample sizes, ranked."""
        return await interactions.need(api_key_of(request), window, by, ranked_by)
