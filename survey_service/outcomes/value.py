"""What empathy is worth: customers grouped by the empathy they reported, and what they
did afterwards. Pure functions over one row per customer.

- A customer is a customer reference seen on the survey's responses (metadata
  ``customer_ref`` / ``order_ref``, or an experiment subject's form). Their empathy index
  is the mean of their responses' indexes; their *anchor* is their first response; what
  they did counts in (anchor, anchor + horizon]. Customers whose horizon has not ended yet
  are left out (counted as ``still_in_horizon``), so a short wait never looks like churn.
- Segments by empathy index: low below ``low_below`` (default 50), high from
  ``high_from`` (default 80), middle between. Per segment: repeat-purchase rate (a
  ``purchase`` or ``repeat_purchase`` after the anchor; Wilson interval), referrals per
  customer and net revenue per customer (purchases minus refunds, one currency; t
  intervals), and a lifetime value estimate.
- Lifetime value: m / (1 - r), m the net revenue per customer in one horizon and r the
  repeat-purchase rate taken as the chance of staying for another horizon (r capped at
  0.9): a geometric-retention model, undiscounted, referrals not valued. Its bounds plug in
  the ends of m's and r's intervals, so they are wider than a joint interval would be.
- High against low: differences with Welch intervals (as experiments compute them).
- Correlations (Pearson, Fisher-z intervals) of the index and each item with repeat
  purchase and revenue; a logistic regression of repeat purchase on the items with
  touchpoint and channel (of the anchor response) as controls, as odds ratios with Wald
  intervals; complete cases only.

All of it is association, not proof of cause: customers who felt heard may differ in other
ways. For the causal answer, randomise a service script and read the experiment's outcome
metrics.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Literal

from survey_service.experiments.statistics import Comparison, compare
from survey_service.lib.regression import logistic_regression
from survey_service.lib.stats import Z_95, Moments, correlation, correlation_interval
from survey_service.lib.structs import Struct
from survey_service.reporting.metrics import Estimate, estimate_of, share_of

__all__ = [
    "ASSOCIATION",
    "ITEMS",
    "LIFETIME_METHOD",
    "Correlation",
    "CustomerRow",
    "CutPoints",
    "Difference",
    "LifetimeValue",
    "OddsRatio",
    "Regression",
    "Segment",
    "ValueFigures",
    "value_figures",
]

SegmentName = Literal["low", "middle", "high"]
ITEMS = ("empathy_understood", "empathy_cared", "empathy_emotional")
MAX_RETENTION = 0.9
MIN_LEVEL = 10
"""A touchpoint or channel with fewer customers joins "other" in the regression."""

ASSOCIATION = (
    "An association, not proof of cause: customers who reported more empathy may differ in"
    " other ways. Randomise a service script in an experiment (primary metric"
    " repeat_purchase_90d or revenue_90d) for the causal answer."
)
LIFETIME_METHOD = (
    "m / (1 - r): m is net revenue per customer in one horizon, r the repeat-purchase rate"
    " taken as the chance of staying another horizon (capped at 0.9); undiscounted,"
    " referrals not valued; bounds plug in the ends of m's and r's intervals."
)
TERMS = {
    "empathy_understood": "empathy_understood (per point, 1-5)",
    "empathy_cared": "empathy_cared (yes against no)",
    "empathy_emotional": "empathy_emotional (per point, 1-5)",
}


class CutPoints(Struct):
    """Empathy index cut points: low below ``low_below``, high from ``high_from``."""

    low_below: float = 50.0
    high_from: float = 80.0

    def segment(self, index: float) -> SegmentName:
        """The segment of an empathy index."""
        if index < self.low_below:
            return "low"
        return "high" if index >= self.high_from else "middle"


class CustomerRow(Struct):
    """One customer: what they reported (item means: ratings 1-5, cared as a share 0-1)
    and what they did within the horizon."""

    empathy_index: float
    empathy_understood: float | None
    empathy_cared: float | None
    empathy_emotional: float | None
    touchpoint: str | None
    channel: str
    bought: bool
    referrals: int
    revenue: float


class LifetimeValue(Struct):
    """A lifetime value estimate with the bounds of its parts (see the method)."""

    value: float | None
    low: float | None
    high: float | None


class Segment(Struct):
    """One empathy segment (figures None when suppressed under the minimum n)."""

    segment: SegmentName
    empathy_from: float
    empathy_below: float | None
    customers: int
    suppressed: bool
    repeat_purchase_rate: Estimate | None
    referrals_per_customer: Estimate | None
    revenue_per_customer: Estimate | None
    lifetime_value: LifetimeValue | None


class Difference(Struct):
    """High segment minus low segment, with Welch intervals."""

    repeat_purchase_rate: Comparison | None
    revenue_per_customer: Comparison | None
    note: str


class Correlation(Struct):
    """Pearson's r of an empathy measure with an outcome over ``n`` customers."""

    measure: str
    outcome: Literal["repeat_purchase", "revenue"]
    n: int
    r: float | None
    ci_low: float | None
    ci_high: float | None


class OddsRatio(Struct):
    """exp(coefficient) of one term, with its Wald 95% interval and p-value."""

    term: str
    odds_ratio: float
    ci_low: float
    ci_high: float
    p_value: float


class Regression(Struct):
    """Logistic regression of repeat purchase on the items and controls."""

    n: int
    repeat_purchases: int
    terms: list[OddsRatio]
    reference_levels: dict[str, str]
    """The level every touchpoint or channel odds ratio is against."""
    warning: str | None


class ValueFigures(Struct):
    """Every figure of the report for one horizon."""

    customers: int
    segments: list[Segment]
    high_vs_low: Difference
    correlations: list[Correlation]
    regression: Regression | None
    regression_note: str | None


def _lifetime(revenue: Moments, repeat: Moments) -> LifetimeValue:
    if revenue.mean is None or repeat.mean is None:
        return LifetimeValue(value=None, low=None, high=None)

    def value(m: float, r: float) -> float:
        return m / (1 - min(max(r, 0.0), MAX_RETENTION))

    m_ci = revenue.interval()
    r_ci = share_of(round(repeat.mean * repeat.n), repeat.n)
    if m_ci is None or r_ci.ci_low is None or r_ci.ci_high is None:
        return LifetimeValue(value=value(revenue.mean, repeat.mean), low=None, high=None)
    return LifetimeValue(
        value=value(revenue.mean, repeat.mean),
        low=value(m_ci[0], r_ci.ci_low / 100),
        high=value(m_ci[1], r_ci.ci_high / 100),
    )


def _segment(
    name: SegmentName, cuts: CutPoints, rows: Sequence[CustomerRow], min_n: int
) -> Segment:
    bounds = {
        "low": (0.0, cuts.low_below),
        "middle": (cuts.low_below, cuts.high_from),
        "high": (cuts.high_from, None),
    }[name]
    n = len(rows)
    shown = n >= min_n
    repeat = Moments.from_values([1.0 if r.bought else 0.0 for r in rows])
    revenue = Moments.from_values([r.revenue for r in rows])
    return Segment(
        segment=name,
        empathy_from=bounds[0],
        empathy_below=bounds[1],
        customers=n,
        suppressed=not shown,
        repeat_purchase_rate=share_of(sum(r.bought for r in rows), n) if shown else None,
        referrals_per_customer=estimate_of(Moments.from_values([r.referrals for r in rows]))
        if shown
        else None,
        revenue_per_customer=estimate_of(revenue) if shown else None,
        lifetime_value=_lifetime(revenue, repeat) if shown else None,
    )


def _difference(low: Sequence[CustomerRow], high: Sequence[CustomerRow], min_n: int) -> Difference:
    if min(len(low), len(high)) < min_n:
        return Difference(repeat_purchase_rate=None, revenue_per_customer=None, note=ASSOCIATION)

    def moments(rows: Sequence[CustomerRow], repeat: bool) -> Moments:
        return Moments.from_values(
            [(100.0 if r.bought else 0.0) if repeat else r.revenue for r in rows]
        )

    return Difference(
        repeat_purchase_rate=compare(moments(low, True), moments(high, True)),
        revenue_per_customer=compare(moments(low, False), moments(high, False)),
        note=ASSOCIATION,
    )


def _correlations(rows: Sequence[CustomerRow]) -> list[Correlation]:
    found = []
    for measure in ("empathy_index", *ITEMS):
        pairs = [(getattr(r, measure), r) for r in rows if getattr(r, measure) is not None]
        xs = [float(x) for x, _ in pairs]
        for outcome in ("repeat_purchase", "revenue"):
            ys = [
                (1.0 if r.bought else 0.0) if outcome == "repeat_purchase" else r.revenue
                for _, r in pairs
            ]
            r = correlation(xs, ys)
            low, high = correlation_interval(r, len(xs)) if r is not None else (None, None)
            found.append(
                Correlation(
                    measure=measure,
                    outcome=outcome,
                    n=len(xs),
                    r=r,
                    ci_low=low,
                    ci_high=high,
                )
            )
    return found


def _levels(values: Sequence[str]) -> tuple[str, list[str]]:
    """The reference level (the most common) and the other levels kept as terms; levels
    with fewer than MIN_LEVEL customers are pooled as "other"."""
    counts = Counter(values)
    reference = max(counts, key=lambda v: (counts[v], v))
    return reference, sorted(v for v in counts if v != reference)


def _pooled(value: str | None, counts: Counter[str]) -> str:
    text = value or "(none)"
    return text if counts[text] >= MIN_LEVEL else "other"


def design(
    rows: Sequence[CustomerRow],
) -> tuple[list[str], list[list[float]], list[bool], dict[str, str]]:
    """Term names, design rows (intercept first), outcomes and reference levels of the
    regression: complete cases of the items any customer answered, items that vary, and
    touchpoint and channel dummies."""
    items = [i for i in ITEMS if any(getattr(r, i) is not None for r in rows)]
    complete = [r for r in rows if all(getattr(r, i) is not None for i in items)]
    items = [i for i in items if len({getattr(r, i) for r in complete}) > 1]
    touch_counts = Counter(r.touchpoint or "(none)" for r in complete)
    channel_counts = Counter(r.channel for r in complete)
    touchpoints = [_pooled(r.touchpoint, touch_counts) for r in complete]
    channels = [_pooled(r.channel, channel_counts) for r in complete]
    references: dict[str, str] = {}
    names = ["intercept", *(TERMS[i] for i in items)]
    columns: list[list[float]] = [[1.0] * len(complete)]
    columns += [[float(getattr(r, i)) for r in complete] for i in items]
    for control, values in (("touchpoint", touchpoints), ("channel", channels)):
        if not values:
            continue
        reference, others = _levels(values)
        if not others:
            continue
        references[control] = reference
        for level in others:
            names.append(f"{control}: {level}")
            columns.append([1.0 if v == level else 0.0 for v in values])
    matrix = [list(row) for row in zip(*columns, strict=True)] if complete else []
    return names, matrix, [r.bought for r in complete], references


def _regression(rows: Sequence[CustomerRow]) -> tuple[Regression | None, str | None]:
    names, matrix, outcomes, references = design(rows)
    events = sum(outcomes)
    if len(names) < 2 or events == 0 or events == len(outcomes):
        return None, "No regression: no item varies, or every customer (or none) bought again."
    fit = logistic_regression(matrix, outcomes)
    if fit is None:
        return None, (
            "No regression: the model cannot be estimated (a term separates the outcome"
            " perfectly, or the terms are collinear). Collect more customers."
        )
    terms = []
    for name, beta, se in zip(names, fit.coefficients, fit.standard_errors, strict=True):
        if name == "intercept":
            continue
        terms.append(
            OddsRatio(
                term=name,
                odds_ratio=math.exp(beta),
                ci_low=math.exp(beta - Z_95 * se),
                ci_high=math.exp(beta + Z_95 * se),
                p_value=math.erfc(abs(beta / se) / math.sqrt(2)) if se > 0 else 1.0,
            )
        )
    rarer = min(events, len(outcomes) - events)
    warning = None
    if rarer < 10 * len(terms):
        warning = (
            f"{rarer} customers in the rarer outcome for {len(terms)} terms: fewer than 10 per"
            " term, so the odds ratios are unstable."
        )
    return (
        Regression(
            n=len(outcomes),
            repeat_purchases=events,
            terms=terms,
            reference_levels=references,
            warning=warning,
        ),
        None,
    )


def value_figures(rows: Sequence[CustomerRow], cuts: CutPoints, min_n: int) -> ValueFigures:
    """Every figure of the report (see the module docstring)."""
    grouped: dict[SegmentName, list[CustomerRow]] = {"low": [], "middle": [], "high": []}
    for row in rows:
        grouped[cuts.segment(row.empathy_index)].append(row)
    regression, note = _regression(rows)
    return ValueFigures(
        customers=len(rows),
        segments=[_segment(name, cuts, members, min_n) for name, members in grouped.items()],
        high_vs_low=_difference(grouped["low"], grouped["high"], min_n),
        correlations=_correlations(rows),
        regression=regression,
        regression_note=note,
    )
