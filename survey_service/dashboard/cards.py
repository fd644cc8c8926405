"""The KPI cards every dashboard page and the weekly report show: a figure as the KPI API
gives it, with its interval and n, and its change against the previous period, flagged as
real only when the 95% Welch interval of the difference (as experiments compute it)
excludes zero and both periods reach the minimum n. Pure functions."""

from __future__ import annotations

from survey_service.experiments.statistics import compare
from survey_service.lib.stats import Moments
from survey_service.lib.structs import Struct
from survey_service.reporting.metrics import Estimate, Kpis
from survey_service.reporting.service import KpiReport

__all__ = ["CARDS", "Card", "Change", "cards", "estimate", "high_of", "low_of", "value_of"]

CARDS: tuple[tuple[str, str, str, float, float], ...] = (
    ("nps", "NPS", "", -100, 100),
    ("csat_top2", "CSAT (top-2 box)", "%", 0, 100),
    ("empathy_index", "Empathy index", "", 0, 100),
    ("css", "Customer Sentiment Score", "", -100, 100),
    ("response_rate", "Response rate", "%", 0, 100),
)
"""(metric, label, unit, axis low, axis high) of every KPI the pages show."""


class Change(Struct):
    """The current value against the previous period's."""

    previous: float | None
    difference: float | None
    low: float | None
    high: float | None
    real: bool


class Card(Struct):
    """One KPI with its interval, n and change."""

    metric: str
    label: str
    unit: str
    value: float | None
    low: float | None
    high: float | None
    n: int
    change: Change | None


def estimate(kpis: Kpis | None, metric: str) -> Estimate | None:
    """One KPI of a report (None when suppressed or not a plain estimate)."""
    if kpis is None:
        return None
    value = getattr(kpis, metric)
    return value if isinstance(value, Estimate) else None


def _change(current: Moments, previous: Moments, min_n: int) -> Change:
    c = compare(previous, current)
    real = (
        c.absolute_ci is not None
        and min(current.n, previous.n) >= min_n
        and (c.absolute_ci[0] > 0 or c.absolute_ci[1] < 0)
    )
    low, high = c.absolute_ci if c.absolute_ci else (None, None)
    return Change(previous=previous.mean, difference=c.absolute, low=low, high=high, real=real)


def cards(
    report: KpiReport,
    current: dict[str, Moments] | None = None,
    previous: dict[str, Moments] | None = None,
    min_n: int = 5,
) -> list[Card]:
    """The KPI cards of a report (its figures as the API gives them), with changes."""
    found = []
    for metric, label, unit, _, _ in CARDS:
        e = estimate(report.kpis, metric)
        change = None
        if current is not None and previous is not None:
            change = _change(current[metric], previous[metric], min_n)
        found.append(
            Card(
                metric=metric,
                label=label,
                unit=unit,
                value=e.value if e else None,
                low=e.ci_low if e else None,
                high=e.ci_high if e else None,
                n=e.n if e else 0,
                change=change,
            )
        )
    return found


def value_of(kpis: Kpis | None, metric: str) -> float | None:
    """A KPI's value, if any."""
    e = estimate(kpis, metric)
    return e.value if e else None


def low_of(kpis: Kpis | None, metric: str) -> float | None:
    """A KPI's interval's low end, if any."""
    e = estimate(kpis, metric)
    return e.ci_low if e else None


def high_of(kpis: Kpis | None, metric: str) -> float | None:
    """A KPI's interval's high end, if any."""
    e = estimate(kpis, metric)
    return e.ci_high if e else None
