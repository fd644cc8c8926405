"""The interaction log in figures: pure functions over the logged interactions.

- Emotion mix: the share of each primary emotion, overall, per touchpoint and per agent.
- Actions with upset customers: of the interactions that started frustrated or angry, the
  share in which each action was used.
- What worked: per action, the share of the interactions using it that ended with the
  customer calmer or satisfied.
- Follow-up: per action, the empathy index of the linked survey responses (the first
  response naming the same customer from 12 hours before the interaction to
  :data:`FOLLOW_UP_DAYS` after it).

Shares come with Wilson intervals, means with t intervals; a group with fewer than
``min_n`` interactions is reported as suppressed (its n only), as the KPI API does. These
are descriptive figures: staff choose their actions, so "what worked" is an association.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Iterable, Sequence

from survey_service.interactions.vocabulary import (
    ACTIONS,
    EMOTIONS,
    GOOD_ENDINGS,
    UPSET,
    Action,
    Emotion,
    Reaction,
)
from survey_service.lib.stats import Moments
from survey_service.lib.structs import Struct
from survey_service.reporting.metrics import Estimate, estimate_of, share_of

__all__ = [
    "FOLLOW_UP_DAYS",
    "ActionResult",
    "EmotionMix",
    "Fact",
    "FollowUp",
    "Summary",
    "follow_up_index",
    "summarise",
]

FOLLOW_UP_DAYS = 30
LEAD = dt.timedelta(hours=12)
"""A response up to this long before the logged time still follows the interaction (staff
often log a visit after the customer already answered at the counter)."""


class Fact(Struct):
    """What the summary needs of one interaction."""

    touchpoint: str | None
    agent: str | None
    emotion: Emotion
    actions: list[Action]
    reaction: Reaction
    follow_up: float | None = None
    """The empathy index of its linked survey response, if any."""


class EmotionMix(Struct):
    """The share of each emotion in one group (``key`` null: the group with no value)."""

    key: str | None
    n: int
    suppressed: bool
    emotions: dict[str, Estimate] | None


class ActionResult(Struct):
    """One action: how often it was used with upset customers, how often the interactions
    using it ended calmer or satisfied, and the follow-up empathy index."""

    action: Action
    used: int
    used_with_upset: Estimate
    """Of the interactions that started frustrated or angry, the share using the action."""
    ended_well: Estimate | None
    """Share ended calmer or satisfied; None (suppressed) under the minimum n."""


class FollowUp(Struct):
    """The empathy index of linked follow-up responses, per action taken."""

    action: Action
    n: int
    suppressed: bool
    empathy_index: Estimate | None


class Summary(Struct):
    """The figures of one selection of interactions."""

    n: int
    upset: int
    emotions: EmotionMix
    by_touchpoint: list[EmotionMix]
    by_agent: list[EmotionMix]
    actions: list[ActionResult]
    linked: int
    follow_up: list[FollowUp]


def _mix(key: str | None, facts: Sequence[Fact], min_n: int) -> EmotionMix:
    n = len(facts)
    if n < min_n:
        return EmotionMix(key=key, n=n, suppressed=True, emotions=None)
    counts = Counter(f.emotion for f in facts)
    emotions: dict[str, Estimate] = {e: share_of(counts[e], n) for e in EMOTIONS}
    return EmotionMix(key=key, n=n, suppressed=False, emotions=emotions)


def _grouped(
    facts: Iterable[Fact], key: Callable[[Fact], str | None], min_n: int
) -> list[EmotionMix]:
    groups: dict[str | None, list[Fact]] = {}
    for fact in facts:
        groups.setdefault(key(fact), []).append(fact)
    mixes = [_mix(k, members, min_n) for k, members in groups.items()]
    return sorted(mixes, key=lambda m: (-m.n, m.key or ""))


def summarise(facts: Sequence[Fact], min_n: int) -> Summary:
    """Every figure of the interaction report (see the module's docstring)."""
    upset = [f for f in facts if f.emotion in UPSET]
    actions = []
    follow_up = []
    for action in ACTIONS:
        using = [f for f in facts if action in f.actions]
        good = sum(f.reaction in GOOD_ENDINGS for f in using)
        actions.append(
            ActionResult(
                action=action,
                used=len(using),
                used_with_upset=share_of(sum(action in f.actions for f in upset), len(upset)),
                ended_well=share_of(good, len(using)) if len(using) >= min_n else None,
            )
        )
        indexes = [f.follow_up for f in using if f.follow_up is not None]
        shown = len(indexes) >= min_n
        follow_up.append(
            FollowUp(
                action=action,
                n=len(indexes),
                suppressed=not shown,
                empathy_index=estimate_of(Moments.from_values(indexes)) if shown else None,
            )
        )
    return Summary(
        n=len(facts),
        upset=len(upset),
        emotions=_mix(None, facts, min_n),
        by_touchpoint=_grouped(facts, lambda f: f.touchpoint, min_n),
        by_agent=_grouped(facts, lambda f: f.agent, min_n),
        actions=actions,
        linked=sum(f.follow_up is not None for f in facts),
        follow_up=follow_up,
    )


def follow_up_index(
    occurred_at: dt.datetime, responses: Sequence[tuple[dt.datetime, float | None]]
) -> float | None:
    """The empathy index of the first response (by time, ``responses`` sorted) that follows
    an interaction at ``occurred_at``; None when none does or it answered no empathy item."""
    start, end = occurred_at - LEAD, occurred_at + dt.timedelta(days=FOLLOW_UP_DAYS)
    for created_at, index in responses:
        if start <= created_at < end:
            return index
    return None
