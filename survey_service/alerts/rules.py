"""Alert rules and what triggers them (pure functions).

Rules live in a survey's TOML (``[alerts]``) or are set over the API (which then replace
the TOML's). Per response: ``detractor`` (NPS 0-6), ``low_csat`` (CSAT 1-2),
``low_empathy`` (understood 1-2, or "cared: no"), ``negative_comment`` (sentiment class
-1) and ``mismatch`` (a score the comment contradicts). KPI rules, checked by the
periodic job over the last 7 days: ``below`` (the rolling NPS or empathy index under a
threshold) and ``drop`` (down against the 7 days before, with the 95% interval of the
difference excluding zero); and a sample-ratio mismatch in a running experiment.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal, get_args

import msgspec

from survey_service.lib.structs import Struct

__all__ = [
    "RESPONSE_RULES",
    "AlertRules",
    "KpiRule",
    "ResponseRule",
    "response_alerts",
]

ResponseRule = Literal["detractor", "low_csat", "low_empathy", "negative_comment", "mismatch"]
RESPONSE_RULES: tuple[ResponseRule, ...] = get_args(ResponseRule)


class KpiRule(Struct):
    """A rule on a rolling 7-day KPI: under ``below``, or a real ``drop``."""

    metric: Literal["nps", "empathy_index"]
    below: Annotated[float, msgspec.Meta(ge=-100, le=100)] | None = None
    drop: bool = False

    def name(self) -> str:
        """A stable name for de-duplication (one alert per rule and day)."""
        return f"{self.metric}:{'drop' if self.drop else f'below {self.below:g}'}"


class AlertRules(Struct):
    """What a survey alerts on, and whether its managers get an email."""

    response: list[ResponseRule] = msgspec.field(default_factory=lambda: list(RESPONSE_RULES))
    kpi: list[KpiRule] = []
    srm: bool = True
    """Alert when a running experiment's assignments do not follow its weights."""
    email: bool = True
    """Email the survey's managers (else only webhooks)."""


def response_alerts(rules: AlertRules, row: Mapping[str, Any]) -> list[ResponseRule]:
    """The rules a stored response triggers (its typed columns: ``nps``, ``csat``,
    ``empathy_understood``, ``empathy_cared``, ``sentiment_class``, ``score_text_mismatch``)."""
    hits: dict[ResponseRule, bool] = {
        "detractor": row["nps"] is not None and row["nps"] <= 6,
        "low_csat": row["csat"] is not None and row["csat"] <= 2,
        "low_empathy": (row["empathy_understood"] is not None and row["empathy_understood"] <= 2)
        or row["empathy_cared"] is False,
        "negative_comment": row["sentiment_class"] == -1,
        "mismatch": bool(row["score_text_mismatch"]),
    }
    return [rule for rule in rules.response if hits[rule]]
