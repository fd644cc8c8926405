"""Where empathy is needed most: per touchpoint, channel or hour of day, the share of
interactions that started frustrated or angry and the share of survey responses that
report not feeling heard (understood 1-2, or "cared: no"). Pure functions.

Descriptive, not a forecast: the figures say where upset customers and unheard ones were
seen, with the sample sizes, so an owner can put the most empathetic staff there. Groups
are ranked by the lower end of the 95% interval, so a group ranks high only when the data
say its share is high, not because three visits happened to go badly. Groups under the
minimum n are shown with their n only and ranked last.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from survey_service.lib.structs import Struct
from survey_service.reporting.metrics import Estimate, share_of

__all__ = ["NeedBy", "NeedGroup", "RankedBy", "rank_need"]

NeedBy = Literal["touchpoint", "channel", "hour"]
RankedBy = Literal["interactions", "responses"]


class NeedGroup(Struct):
    """One touchpoint, channel or hour (0-23 in the report's time zone)."""

    key: str | int | None
    rank: int
    interactions: int
    started_upset: Estimate | None
    """Share of interactions that started frustrated or angry (None: suppressed)."""
    responses: int
    not_heard: Estimate | None
    """Share of responses reporting they did not feel heard (None: suppressed)."""


def rank_need(
    interactions: Mapping[str | int | None, tuple[int, int]],
    responses: Mapping[str | int | None, tuple[int, int]],
    min_n: int,
    ranked_by: RankedBy,
) -> list[NeedGroup]:
    """Groups from (n, upset) interaction counts and (n, unheard) response counts per
    key, ranked by the lower bound of the chosen share."""
    groups = []
    for key in {*interactions, *responses}:
        n_i, upset = interactions.get(key, (0, 0))
        n_r, unheard = responses.get(key, (0, 0))
        groups.append(
            NeedGroup(
                key=key,
                rank=0,
                interactions=n_i,
                started_upset=share_of(upset, n_i) if n_i >= min_n else None,
                responses=n_r,
                not_heard=share_of(unheard, n_r) if n_r >= min_n else None,
            )
        )

    def order(g: NeedGroup) -> tuple[float, str]:
        shown = g.started_upset if ranked_by == "interactions" else g.not_heard
        low = shown.ci_low if shown is not None and shown.ci_low is not None else -1.0
        return -low, str(g.key)

    groups.sort(key=order)
    for rank, group in enumerate(groups, start=1):
        group.rank = rank
    return groups
