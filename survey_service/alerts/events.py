"""The events the service sends to webhooks, as Structs: their JSON schemas go into the
OpenAPI document (``webhooks``), one per event type.

Every message body is ``{"type": ..., "timestamp": ..., "data": ...}`` (the Standard
Webhooks payload shape); ``data`` is one of the Structs below.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal, get_args

from survey_service.lib.structs import Struct

__all__ = [
    "EVENT_DATA",
    "EVENT_TYPES",
    "EventType",
    "ExperimentSrm",
    "KpiThreshold",
    "ResponseEvent",
]

EventType = Literal[
    "response.created",
    "response.detractor",
    "response.mismatch",
    "response.low_empathy",
    "response.negative",
    "kpi.threshold",
    "experiment.srm",
]
EVENT_TYPES: tuple[EventType, ...] = get_args(EventType)


class ResponseEvent(Struct):
    """A stored response (``response.*``): its scores, where it came from, and which alert
    rules it triggered. No free text and no customer data: receivers that need the comment
    read it over the API with their own key."""

    survey: str
    response_id: int
    created_at: dt.datetime
    channel: str
    variant: str | None
    language: str
    touchpoint: str | None
    agent: str | None
    nps: int | None
    csat: int | None
    empathy_understood: int | None
    empathy_cared: bool | None
    sentiment_class: int | None
    score_text_mismatch: bool
    alerts: list[str]
    case_id: int | None
    """The follow-up case a detractor opened."""


class KpiThreshold(Struct):
    """A rolling 7-day KPI crossed a rule (``kpi.threshold``)."""

    survey: str
    metric: str
    rule: str
    window_start: dt.datetime
    window_end: dt.datetime
    value: float | None
    ci_low: float | None
    ci_high: float | None
    n: int
    threshold: float | None
    previous: float | None
    difference_ci: tuple[float, float] | None


class ExperimentSrm(Struct):
    """A running experiment's assignments do not follow its weights (``experiment.srm``)."""

    experiment: str
    survey: str
    assignments: dict[str, int]
    expected_share: dict[str, float]
    chi_square: float
    p_value: float


EVENT_DATA: dict[str, type[Struct]] = {
    **{t: ResponseEvent for t in EVENT_TYPES if t.startswith("response.")},
    "kpi.threshold": KpiThreshold,
    "experiment.srm": ExperimentSrm,
}
