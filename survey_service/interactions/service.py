"""The staff interaction log: recording, listing, the summary report and where empathy is
needed most."""

from __future__ import annotations

import datetime as dt
from typing import Any

from survey_service.apikeys.service import Audience
from survey_service.db import Database
from survey_service.db.replica import ReadRouter
from survey_service.errors import AnswersRejected, BadParameter, NotFound, require_id
from survey_service.interactions import queries
from survey_service.interactions.need import NeedBy, NeedGroup, RankedBy, rank_need
from survey_service.interactions.records import InteractionIn, InteractionOut, check_interaction
from survey_service.interactions.summary import (
    FOLLOW_UP_DAYS,
    LEAD,
    Fact,
    Summary,
    follow_up_index,
    summarise,
)
from survey_service.lib.references import CustomerKeys
from survey_service.lib.structs import Struct
from survey_service.reporting.metrics import empathy_index_of
from survey_service.reporting.service import MAX_FILTER_VALUE, parse_window
from survey_service.responses import queries as response_queries
from survey_service.surveys.catalog import Catalog

__all__ = [
    "InteractionDetail",
    "InteractionFilters",
    "InteractionPage",
    "InteractionReport",
    "InteractionService",
    "NeedReport",
]

FILTERS = ("touchpoint", "agent", "channel")
MAX_PAGE = 500


class InteractionFilters(Struct):
    """Query parameters as received: the window (``from``, ``to`` in ``tz``) and equality
    filters on touchpoint, agent and channel."""

    start: str | None = None
    end: str | None = None
    tz: str | None = None
    filters: dict[str, str] = {}


class InteractionPage(Struct):
    """A page of the log; pass ``next_cursor`` back for the next one (None: done)."""

    items: list[InteractionOut]
    next_cursor: int | None


class LinkedResponse(Struct):
    """A survey response naming the interaction's customer, from 12 hours before it to the
    follow-up window's end."""

    survey: str
    response_id: int
    created_at: dt.datetime
    empathy_index: float | None


class InteractionDetail(Struct):
    """One interaction and the survey responses linked to it by its customer reference."""

    interaction: InteractionOut
    follow_up_days: int
    responses: list[LinkedResponse]


class InteractionReport(Struct):
    """The summary of the selected interactions (see :mod:`.summary`)."""

    time_zone: str
    start: dt.datetime | None
    end: dt.datetime | None
    filters: dict[str, str]
    min_n: int
    follow_up_days: int
    summary: Summary


class NeedReport(Struct):
    """Where empathy is needed most (see :mod:`.need`); descriptive, with sample sizes."""

    by: NeedBy
    ranked_by: RankedBy
    time_zone: str
    start: dt.datetime | None
    end: dt.datetime | None
    min_n: int
    surveys: list[str]
    note: str
    groups: list[NeedGroup]


NEED_NOTE = (
    "Descriptive: where upset customers and unheard ones were seen in this window, not a"
    " forecast or a cause. Groups are ranked by the lower end of the 95% interval."
)


class InteractionService:
    """The log and its reports."""

    def __init__(
        self,
        db: Database,
        catalog: Catalog,
        customer_keys: CustomerKeys,
        *,
        min_n: int,
        time_zone: str,
        reads: ReadRouter | None = None,
    ) -> None:
        self.db = db
        self.reads = reads or ReadRouter(db, None, 0.0)
        self.catalog = catalog
        self.customer_keys = customer_keys
        self.min_n = min_n
        self.time_zone = time_zone

    async def record(self, row: InteractionIn, recorded_by: str) -> InteractionOut:
        """Check and store one interaction; 400 naming each field that cannot be used."""
        cleaned, errors = check_interaction(row, dt.datetime.now(dt.UTC))
        if errors:
            raise AnswersRejected(errors)
        key = self.customer_keys(cleaned.reference) if cleaned.reference else None
        return await queries.insert_interaction(self.db, cleaned, key, recorded_by)

    def _window(
        self, params: InteractionFilters
    ) -> tuple[str, dt.datetime | None, dt.datetime | None]:
        tz = params.tz or self.time_zone
        for name, value in params.filters.items():
            if name not in FILTERS:
                raise BadParameter(name, f"filter by {', '.join(FILTERS)}")
            if "\x00" in value or len(value) > MAX_FILTER_VALUE:
                raise BadParameter(name, f"at most {MAX_FILTER_VALUE} characters, no NUL")
        return tz, *parse_window(tz, params.start, params.end)

    async def page(self, params: InteractionFilters, cursor: int, limit: int) -> InteractionPage:
        """Interactions by id, ``limit`` at a time after ``cursor``."""
        if not 1 <= limit <= MAX_PAGE:
            raise BadParameter("limit", f"1 to {MAX_PAGE}")
        if cursor < 0:
            raise BadParameter("cursor", "the last id of the previous page, or 0")
        _, start, end = self._window(params)
        items, _ = await queries.interactions_between(
            self.db, start, end, params.filters, after_id=cursor, limit=limit + 1
        )
        more = len(items) > limit
        return InteractionPage(
            items=items[:limit], next_cursor=items[limit - 1].id if more else None
        )

    async def one(self, key: Audience, interaction_id: int) -> InteractionDetail:
        """The interaction and its linked responses (of the surveys the key sees)."""
        require_id("interaction", interaction_id)
        found = await queries.interaction(self.db, interaction_id)
        if found is None:
            raise NotFound("interaction", interaction_id)
        item, customer = found
        linked: list[LinkedResponse] = []
        if customer is not None:
            slugs, survey_ids = self._survey_ids(key)
            names = dict(zip(survey_ids, slugs, strict=True))
            start = item.occurred_at - LEAD
            end = item.occurred_at + dt.timedelta(days=FOLLOW_UP_DAYS)
            rows = await self.reads.read(
                lambda db: response_queries.referenced(db, survey_ids, start, end)
            )
            linked = [
                LinkedResponse(
                    survey=names[r["survey_id"]],
                    response_id=r["id"],
                    created_at=r["created_at"],
                    empathy_index=empathy_index_of(
                        r["empathy_understood"], r["empathy_cared"], r["empathy_emotional"]
                    ),
                )
                for r in rows
                if r["reference"] is not None and self.customer_keys(r["reference"]) == customer
            ]
        return InteractionDetail(interaction=item, follow_up_days=FOLLOW_UP_DAYS, responses=linked)

    def _survey_ids(self, key: Audience) -> tuple[list[str], list[int]]:
        slugs, ids = [], []
        for slug in self.catalog.slugs():
            info = self.catalog.current(slug)
            if info is not None and key.sees(slug):
                slugs.append(slug)
                ids.append(info.survey_id)
        return slugs, ids

    async def summary(self, key: Audience, params: InteractionFilters) -> InteractionReport:
        """Emotion mix, actions with upset customers, what ended well, and the follow-up
        empathy index by action (from responses of the surveys the key sees)."""
        tz, start, end = self._window(params)

        async def read(db: Any) -> tuple[list[InteractionOut], dict[int, str], list[Any]]:
            items, keys = await queries.interactions_between(db, start, end, params.filters)
            responses: list[Any] = []
            moments = [i.occurred_at for i in items if i.id in keys]
            if moments:
                _, survey_ids = self._survey_ids(key)
                responses = await response_queries.referenced(
                    db,
                    survey_ids,
                    min(moments) - LEAD,
                    max(moments) + dt.timedelta(days=FOLLOW_UP_DAYS),
                )
            return items, keys, responses

        items, keys, responses = await self.reads.read(read)
        by_customer: dict[str, list[tuple[dt.datetime, float | None]]] = {}
        for r in responses:
            if r["reference"] is None:
                continue
            index = empathy_index_of(
                r["empathy_understood"], r["empathy_cared"], r["empathy_emotional"]
            )
            by_customer.setdefault(self.customer_keys(r["reference"]), []).append(
                (r["created_at"], index)
            )
        facts = [
            Fact(
                touchpoint=i.touchpoint,
                agent=i.agent,
                emotion=i.emotion,
                actions=i.actions,
                reaction=i.reaction,
                follow_up=follow_up_index(i.occurred_at, by_customer.get(keys[i.id], []))
                if i.id in keys
                else None,
            )
            for i in items
        ]
        return InteractionReport(
            time_zone=tz,
            start=start,
            end=end,
            filters=params.filters,
            min_n=self.min_n,
            follow_up_days=FOLLOW_UP_DAYS,
            summary=summarise(facts, self.min_n),
        )

    async def need(
        self, key: Audience, params: InteractionFilters, by: str, ranked_by: str
    ) -> NeedReport:
        """Per touchpoint, channel or hour: interactions that started upset, and responses
        that did not feel heard (surveys the key sees), ranked."""
        if by not in ("touchpoint", "channel", "hour"):
            raise BadParameter("by", "touchpoint, channel or hour")
        if ranked_by not in ("interactions", "responses"):
            raise BadParameter("ranked_by", "interactions or responses")
        if params.filters:
            raise BadParameter(next(iter(params.filters)), "the need report takes no filters")
        tz, start, end = self._window(params)
        slugs, survey_ids = self._survey_ids(key)

        async def read(db: Any) -> tuple[list[Any], list[Any]]:
            logged = await queries.interaction_groups(db, by, start, end, tz)
            answered = await queries.unheard_groups(db, survey_ids, by, start, end, tz)
            return logged, answered

        logged, answered = await self.reads.read(read)
        return NeedReport(
            by=by,  # type: ignore[arg-type]  # checked above
            ranked_by=ranked_by,  # type: ignore[arg-type]
            time_zone=tz,
            start=start,
            end=end,
            min_n=self.min_n,
            surveys=slugs,
            note=NEED_NOTE,
            groups=rank_need(
                {r["key"]: (r["n"], r["upset"]) for r in logged},
                {r["key"]: (r["n"], r["unheard"]) for r in answered if r["n"]},
                self.min_n,
                ranked_by,  # type: ignore[arg-type]
            ),
        )
