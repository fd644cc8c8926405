"""Outcome events in, and the report of what empathy is worth."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import msgspec

from survey_service.apikeys.service import Audience
from survey_service.db import Database
from survey_service.db.replica import ReadRouter
from survey_service.errors import BadParameter, RowError, field_error
from survey_service.lib.references import CustomerKeys
from survey_service.lib.structs import Struct
from survey_service.outcomes import queries
from survey_service.outcomes.events import (
    CURRENCIES,
    MAX_BATCH,
    OutcomeBatchResult,
    OutcomeIn,
    check_outcome,
)
from survey_service.outcomes.value import (
    ASSOCIATION,
    LIFETIME_METHOD,
    CustomerRow,
    CutPoints,
    ValueFigures,
    value_figures,
)
from survey_service.reporting.metrics import empathy_index_of
from survey_service.reporting.service import ReportingService, parse_window
from survey_service.responses import queries as response_queries

__all__ = ["HORIZONS", "OutcomeReport", "OutcomeService", "SubjectOutcomes"]

HORIZONS = (30, 90, 365)
"""Days after a customer's first response in which their outcomes count."""
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


class OutcomeReport(Struct):
    """What empathy is worth on one survey (see :mod:`survey_service.outcomes.value`)."""

    survey: str
    horizon_days: int
    currency: str | None
    """Revenue is summed in this currency only (the customers' most common one unless
    asked); money events in other currencies are left out."""
    cut_points: CutPoints
    time_zone: str
    start: dt.datetime | None = msgspec.field(name="from")
    end: dt.datetime | None = msgspec.field(name="to")
    min_n: int
    still_in_horizon: int
    """Customers left out because their horizon has not ended yet."""
    figures: ValueFigures
    lifetime_method: str
    note: str


class SubjectOutcomes(Struct):
    """What an experiment's subjects did within the horizon after their assignment, per
    variant: (bought again, referrals, net revenue) of each subject whose horizon ended,
    and how many are still inside it."""

    horizon_days: int
    currency: str | None
    done: dict[str, list[tuple[bool, int, float]]]
    still_in_horizon: dict[str, int]


class _Seen:
    """One customer's responses, gathered in time order."""

    def __init__(self, first: Any, index: float) -> None:
        self.anchor: dt.datetime = first["created_at"]
        self.touchpoint: str | None = first["touchpoint"]
        self.channel: str = first["channel"]
        self.indexes = [index]
        self.items: dict[str, list[float]] = {"understood": [], "cared": [], "emotional": []}
        self.add_items(first)

    def add_items(self, row: Any) -> None:
        for name in ("understood", "emotional"):
            if row[f"empathy_{name}"] is not None:
                self.items[name].append(float(row[f"empathy_{name}"]))
        if row["empathy_cared"] is not None:
            self.items["cared"].append(1.0 if row["empathy_cared"] else 0.0)

    def mean(self, name: str) -> float | None:
        values = self.items[name]
        return sum(values) / len(values) if values else None


def customers_of(responses: Sequence[Any], keys: CustomerKeys) -> dict[str, _Seen]:
    """Per customer key, their responses that answered an empathy item (time order)."""
    seen: dict[str, _Seen] = {}
    for row in responses:
        index = empathy_index_of(
            row["empathy_understood"], row["empathy_cared"], row["empathy_emotional"]
        )
        if row["reference"] is None or index is None:
            continue
        key = keys(row["reference"])
        if key in seen:
            seen[key].indexes.append(index)
            seen[key].add_items(row)
        else:
            seen[key] = _Seen(row, index)
    return seen


class OutcomeService:
    """Outcome events and the value report."""

    def __init__(
        self,
        db: Database,
        reporting: ReportingService,
        customer_keys: CustomerKeys,
        *,
        reads: ReadRouter | None = None,
    ) -> None:
        self.db = db
        self.reporting = reporting
        self.reads = reads or ReadRouter(db, None, 0.0)
        self.customer_keys = customer_keys

    async def record(self, raw_rows: Sequence[Any], recorded_by: str) -> OutcomeBatchResult:
        """Check every row; store the valid ones in one statement, each event id once."""
        if not 1 <= len(raw_rows) <= MAX_BATCH:
            raise BadParameter("rows", f"send 1 to {MAX_BATCH} events")
        now = dt.datetime.now(dt.UTC)
        rejected: list[RowError] = []
        valid: list[OutcomeIn] = []
        for index, raw in enumerate(raw_rows):
            try:
                row = msgspec.convert(raw, OutcomeIn, strict=False)
            except msgspec.ValidationError as exc:
                rejected.append(RowError(row=index, errors=[field_error(exc)]))
                continue
            row, errors = check_outcome(row, now)
            if errors:
                rejected.append(RowError(row=index, errors=errors))
            else:
                valid.append(row)
        stored = await queries.insert_outcomes(
            self.db,
            [
                (
                    row.event_id,
                    row.kind,
                    self.customer_keys(row.customer),
                    None if row.hash_customer else row.customer,
                    row.occurred_at,
                    row.amount,
                    row.currency,
                    recorded_by,
                )
                for row in valid
            ],
        )
        first: set[str] = set()
        duplicates = []
        for r in valid:  # a stored id's first row was stored; every other row is a repeat
            if r.event_id in stored and r.event_id not in first:
                first.add(r.event_id)
            elif r.event_id not in duplicates:
                duplicates.append(r.event_id)
        return OutcomeBatchResult(created=len(stored), duplicates=duplicates, rejected=rejected)

    async def value(
        self,
        key: Audience,
        slug: str,
        *,
        horizon: int,
        cuts: CutPoints,
        currency: str | None,
        tz: str | None,
        start: str | None,
        end: str | None,
    ) -> OutcomeReport:
        """Segments, differences, correlations and the regression for one survey."""
        info = self.reporting.visible(key, slug)
        if horizon not in HORIZONS:
            raise BadParameter("horizon", f"one of {', '.join(map(str, HORIZONS))} (days)")
        if not 0 < cuts.low_below <= cuts.high_from <= 100:
            raise BadParameter("low_below", "0 < low_below <= high_from <= 100")
        if currency is not None and currency not in CURRENCIES:
            raise BadParameter("currency", "an ISO 4217 code such as EUR or USD")
        zone = tz or self.reporting.time_zone
        since, until = parse_window(zone, start, end)
        now = dt.datetime.now(dt.UTC)
        span = dt.timedelta(days=horizon)

        async def read(
            db: Any,
        ) -> tuple[dict[str, _Seen], dict[str, queries.Behaviour], str | None]:
            responses = await response_queries.referenced(
                db, [info.survey_id], since or EPOCH, until
            )
            seen = customers_of(responses, self.customer_keys)
            done = {k: c for k, c in seen.items() if c.anchor + span <= now}
            money = currency or await queries.main_currency(db, list(done))
            anchors = [(k, c.anchor) for k, c in done.items()]
            behaviour = await queries.behaviour_after(db, anchors, span, money) if anchors else {}
            return seen, behaviour, money

        seen, behaviour, money = await self.reads.read(read)
        rows = [
            CustomerRow(
                empathy_index=sum(c.indexes) / len(c.indexes),
                empathy_understood=c.mean("understood"),
                empathy_cared=c.mean("cared"),
                empathy_emotional=c.mean("emotional"),
                touchpoint=c.touchpoint,
                channel=c.channel,
                bought=behaviour[k][0],
                referrals=behaviour[k][1],
                revenue=behaviour[k][2],
            )
            for k, c in seen.items()
            if k in behaviour
        ]
        return OutcomeReport(
            survey=info.slug,
            horizon_days=horizon,
            currency=money,
            cut_points=cuts,
            time_zone=zone,
            start=since,
            end=until,
            min_n=self.reporting.min_n,
            still_in_horizon=len(seen) - len(rows),
            figures=value_figures(rows, cuts, self.reporting.min_n),
            lifetime_method=LIFETIME_METHOD,
            note=ASSOCIATION,
        )

    async def after_assignment(
        self, subjects: Sequence[Any], horizon_days: int, now: dt.datetime
    ) -> SubjectOutcomes:
        """Outcomes of experiment subjects (rows with ``reference``, ``variant`` and
        ``assigned_at``, in assignment order; a customer counts once, in their first
        assignment) within ``horizon_days`` after their assignment."""
        span = dt.timedelta(days=horizon_days)
        first: dict[str, tuple[str, dt.datetime]] = {}
        for row in subjects:
            first.setdefault(
                self.customer_keys(row["reference"]), (row["variant"], row["assigned_at"])
            )
        pending: dict[str, int] = {}
        anchors = []
        for key, (variant, assigned_at) in first.items():
            if assigned_at + span > now:
                pending[variant] = pending.get(variant, 0) + 1
            else:
                anchors.append((key, assigned_at))

        async def read(db: Any) -> tuple[dict[str, queries.Behaviour], str | None]:
            if not anchors:
                return {}, None
            money = await queries.main_currency(db, [k for k, _ in anchors])
            return await queries.behaviour_after(db, anchors, span, money), money

        behaviour, money = await self.reads.read(read)
        done: dict[str, list[tuple[bool, int, float]]] = {}
        for key, _ in anchors:
            done.setdefault(first[key][0], []).append(behaviour[key])
        return SubjectOutcomes(
            horizon_days=horizon_days, currency=money, done=done, still_in_horizon=pending
        )
