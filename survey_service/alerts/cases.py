"""Follow-up cases: a detractor's case (opened by the alert job) moved on to contacted or
resolved with a note, and how fast cases are closed."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from survey_service.alerts import queries
from survey_service.apikeys.service import Audience
from survey_service.db import Database
from survey_service.errors import BadParameter, NotFound, require_id
from survey_service.lib.stats import wilson_interval
from survey_service.lib.structs import Struct
from survey_service.reporting.metrics import Estimate
from survey_service.reporting.service import KpiParams, ReportingService, parse_window

__all__ = ["CaseOut", "CaseService", "CaseStats"]

CaseStatus = Literal["open", "contacted", "resolved"]


class CaseOut(Struct):
    """A follow-up case."""

    id: int
    survey: str
    response_id: int
    reason: str
    status: CaseStatus
    note: str | None
    opened_at: dt.datetime
    contacted_at: dt.datetime | None
    resolved_at: dt.datetime | None
    updated_by: str | None
    nps: int | None = None
    csat: int | None = None
    comment: str | None = None
    touchpoint: str | None = None
    agent: str | None = None


class CaseStats(Struct):
    """Follow-up of cases opened in the window: the share resolved (Wilson interval) and
    the median hours from opening to resolution."""

    survey: str
    opened: int
    contacted: int
    resolved: int
    closed_share: Estimate
    median_hours_to_close: float | None


class CaseService:
    """Cases of the surveys an audience sees."""

    def __init__(self, db: Database, reporting: ReportingService) -> None:
        self.db = db
        self.reporting = reporting
        self.catalog = reporting.catalog

    def _visible_ids(self, who: Audience) -> dict[int, str]:
        return {i.survey_id: i.slug for i in self.catalog.served() if who.sees(i.slug)}

    async def cases(self, who: Audience, status: str | None, limit: int = 200) -> list[CaseOut]:
        """Cases of the surveys ``who`` sees (open first, newest first)."""
        if status is not None and status not in ("open", "contacted", "resolved"):
            raise BadParameter("status", "open, contacted or resolved")
        names = self._visible_ids(who)
        rows = await queries.cases(self.db, list(names), status, limit)
        return [
            CaseOut(
                **{**dict(r), "survey": names[r["survey_id"]], "survey_id": None}
                if False
                else {
                    k: v
                    for k, v in {**dict(r), "survey": names[r["survey_id"]]}.items()
                    if k != "survey_id"
                }
            )
            for r in rows
        ]

    async def update_case(
        self, who: Audience, case_id: int, status: str, note: str | None, by: str
    ) -> CaseOut:
        """Mark a case contacted or resolved (or open again), with a note."""
        if status not in ("open", "contacted", "resolved"):
            raise BadParameter("status", "open, contacted or resolved")
        if note is not None and len(note) > 2000:
            raise BadParameter("note", "at most 2,000 characters")
        require_id("case", case_id)
        names = self._visible_ids(who)
        row = await queries.update_case(self.db, list(names), case_id, status, note, by)
        if row is None:
            raise NotFound("case", case_id)
        return _case(row, names)

    async def case_stats(self, who: Audience, slug: str, params: KpiParams) -> CaseStats:
        """Share of cases closed and the median time to close, for cases opened in the window."""
        info = self.reporting.visible(who, slug)
        start, end = parse_window(params.tz or self.reporting.time_zone, params.start, params.end)
        row = await queries.case_stats(self.db, info.survey_id, start, end)
        interval = wilson_interval(row["resolved"], row["opened"])
        share = Estimate(
            value=100 * row["resolved"] / row["opened"] if row["opened"] else None,
            ci_low=100 * interval[0] if interval else None,
            ci_high=100 * interval[1] if interval else None,
            n=row["opened"],
        )
        hours = row["median_hours"]
        return CaseStats(
            survey=slug,
            opened=row["opened"],
            contacted=row["contacted"],
            resolved=row["resolved"],
            closed_share=share,
            median_hours_to_close=float(hours) if hours is not None else None,
        )


def _case(row: Any, names: dict[int, str]) -> CaseOut:
    fields = {k: v for k, v in dict(row).items() if k != "survey_id"}
    return CaseOut(**fields, survey=names[row["survey_id"]])
