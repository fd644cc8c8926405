"""KPIs from additive aggregates: pure functions, the definitions the README states.

Input is a mapping of the sums named in :mod:`survey_service.reporting.columns` (for any set of
responses: one group, a whole survey, several surveys) plus the number of assignments.

- NPS: promoters 9-10 count +100, passives 7-8 0, detractors 0-6 -100; NPS is the mean,
  its 95% interval mean +- t(0.975, n-1) * sqrt(s^2 / n) with the sample variance s^2.
- CSAT top-2-box: share of 4-5 on the 1-5 scale in percent, Wilson interval; CSAT mean:
  mean rating with a t interval.
- Empathy index: per response, the mean of its answered items on 0-100 (ratings
  (r-1)/4*100, yes/no 100/0; empathy_influence excluded); KPI = mean with t interval.
  Each item (and empathy_influence) is also reported on the same 0-100 scale.
- CSS: classified comments count +100 / 0 / -100; CSS = mean with t interval, and the counts.
- Response rate: a cohort by serving time: of the forms served (assignments) in the window,
  the share that has a response, whenever it came, in percent with a Wilson interval (when
  any form was served); it can never exceed 100%.
- heard / ignored: share of comments with the felt_heard / not_heard cue, Wilson intervals.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache

from survey_service.lib.stats import Moments, t_interval, wilson_interval
from survey_service.lib.structs import Struct
from survey_service.reporting.columns import AGGREGATE_NAMES
from survey_service.surveys.definitions import Metric

__all__ = [
    "METRICS",
    "RANGES",
    "CssKpi",
    "Estimate",
    "KpiMemo",
    "Kpis",
    "NpsKpi",
    "compute_kpis",
    "empathy_index_of",
    "estimate_of",
    "mean_estimate",
    "metric_moments",
    "share_of",
]

METRICS: tuple[Metric, ...] = (
    "nps",
    "csat_top2",
    "csat_mean",
    "empathy_index",
    "css",
    "response_rate",
)
"""The metrics experiments compare, each on its KPI scale (NPS -100..100, shares in %)."""


Bounds = tuple[float, float]

RANGES: dict[str, Bounds] = {
    "nps": (-100.0, 100.0),
    "csat_mean": (1.0, 5.0),
    "empathy_index": (0.0, 100.0),  # and each empathy rating on its 0-100 scale
    "css": (-100.0, 100.0),
}
"""The possible range of each mean KPI: its reported interval never reaches past it."""


def _metric_sums(
    sums: Mapping[str, int], assignments: int, answered: int
) -> dict[str, tuple[int, int, int, float]]:
    """Per metric of :data:`METRICS`: (n, sum of v, sum of v * v, scale) for values v whose
    metric is ``scale * v``: the one definition both :func:`metric_moments` and
    :func:`compute_kpis` read."""
    promoters, detractors = sums["nps_promoters"], sums["nps_detractors"]
    positive, negative = sums["css_positive"], sums["css_negative"]
    classified = positive + sums["css_neutral"] + negative
    return {
        "nps": (sums["nps_n"], promoters - detractors, promoters + detractors, 100),
        "csat_top2": (sums["csat_n"], sums["csat_top2"], sums["csat_top2"], 100),
        "csat_mean": (sums["csat_n"], sums["csat_sum"], sums["csat_sumsq"], 1.0),
        "empathy_index": (sums["empathy_n"], sums["empathy_sum6"], sums["empathy_sumsq36"], 1 / 6),
        "css": (classified, positive - negative, positive + negative, 100),
        "response_rate": (assignments, answered, answered, 100),
    }


def metric_moments(sums: Mapping[str, int], assignments: int, answered: int) -> dict[str, Moments]:
    """Per-response moments of every metric in :data:`METRICS` from rollup sums: NPS
    (+100 / 0 / -100), CSAT top-2 (100 / 0), CSAT mean, empathy index, CSS (+100 / 0 /
    -100 per classified comment) and response rate (100 / 0 per form served in the window:
    answered or not, whenever the answer came)."""
    return {
        name: Moments.from_sums(*metric)
        for name, metric in _metric_sums(sums, assignments, answered).items()
    }


class Estimate(Struct):
    """A KPI value with its 95% interval; None where there are too few data."""

    value: float | None
    ci_low: float | None
    ci_high: float | None
    n: int


class NpsKpi(Estimate):
    """NPS with its promoter / passive / detractor counts and shares (percent)."""

    promoters: int
    passives: int
    detractors: int
    promoter_share: float | None
    passive_share: float | None
    detractor_share: float | None


class CssKpi(Estimate):
    """Customer Sentiment Score with the class counts and the unclassified comments."""

    positive: int
    neutral: int
    negative: int
    unclassified: int


class Kpis(Struct):
    """Every KPI for one set of responses."""

    nps: NpsKpi
    csat_top2: Estimate
    csat_mean: Estimate
    empathy_index: Estimate
    empathy_understood: Estimate
    empathy_cared: Estimate
    empathy_emotional: Estimate
    empathy_influence: Estimate
    css: CssKpi
    response_rate: Estimate | None
    heard_share: Estimate
    ignored_share: Estimate


def estimate_of(moments: Moments) -> Estimate:
    """The mean of ``moments`` with its t interval."""
    interval = moments.interval()
    low, high = interval if interval else (None, None)
    return Estimate(value=moments.mean, ci_low=low, ci_high=high, n=moments.n)


def mean_estimate(
    n: int, total: int, total_sq: int, scale: float = 1.0, bounds: Bounds | None = None
) -> Estimate:
    """The mean of ``n`` values ``scale * v`` from the integer sums of ``v`` and ``v * v``,
    with its t interval: what ``estimate_of(Moments.from_sums(...))`` gives, without the
    intermediate objects (a grouped report computes seven per group, for thousands of
    groups). The variance's numerator is exact integer arithmetic, as in
    :meth:`Moments.from_sums`. ``bounds``: the metric's possible range, which the interval
    is cut to (with few values a t interval reaches past it: five ratings of a 0-100 item
    gave 9 to 101)."""
    if n < 2:
        return Estimate(value=scale * total / n if n else None, ci_low=None, ci_high=None, n=n)
    mean = scale * total / n
    low, high = t_interval(mean, scale * scale * (n * total_sq - total * total) / (n * (n - 1)), n)
    if bounds is not None:
        low, high = max(low, bounds[0]), min(high, bounds[1])
    return Estimate(value=mean, ci_low=low, ci_high=high, n=n)


def share_of(successes: int, n: int) -> Estimate:
    """``successes`` of ``n`` in percent with the Wilson interval (None values when n is 0)."""
    interval = wilson_interval(successes, n)
    if interval is None:
        return Estimate(value=None, ci_low=None, ci_high=None, n=0)
    return Estimate(
        value=100 * successes / n, ci_low=100 * interval[0], ci_high=100 * interval[1], n=n
    )


def _rating_0_100(a: Mapping[str, int], column: str) -> Estimate:
    # x = 25 * (r - 1): integer sums of (r - 1) from those of r.
    n, total, total_sq = a[column + "_n"], a[column + "_sum"], a[column + "_sumsq"]
    return mean_estimate(n, total - n, total_sq - 2 * total + n, 25.0, RANGES["empathy_index"])


def empathy_index_of(
    understood: int | None, cared: bool | None, emotional: int | None
) -> float | None:
    """One response's empathy index (0-100): the mean of its answered items, ratings as
    (r - 1) / 4 * 100 and yes/no as 100 / 0; None when it answered none."""
    items = [25.0 * (r - 1) for r in (understood, emotional) if r is not None]
    if cared is not None:
        items.append(100.0 if cared else 0.0)
    return sum(items) / len(items) if items else None


def _percent(part: int, whole: int) -> float | None:
    return 100 * part / whole if whole else None


def compute_kpis(a: Mapping[str, int], assignments: int = 0, answered: int = 0) -> Kpis:
    """All KPIs from the aggregates ``a`` and the forms served in the window (``assignments``)
    of which ``answered`` have a response; no response rate without served forms. The means
    are those of :func:`metric_moments`, estimated straight from the sums."""
    m = _metric_sums(a, assignments, answered)
    promoters, detractors, nps_n = a["nps_promoters"], a["nps_detractors"], a["nps_n"]
    passives = nps_n - promoters - detractors
    nps, css = (mean_estimate(*m[name], RANGES[name]) for name in ("nps", "css"))
    positive, neutral, negative = a["css_positive"], a["css_neutral"], a["css_negative"]
    cared_n, cared_yes, comments = a["empathy_cared_n"], a["empathy_cared_yes"], a["comments"]
    return Kpis(
        nps=NpsKpi(
            value=nps.value,
            ci_low=nps.ci_low,
            ci_high=nps.ci_high,
            n=nps_n,
            promoters=promoters,
            passives=passives,
            detractors=detractors,
            promoter_share=_percent(promoters, nps_n),
            passive_share=_percent(passives, nps_n),
            detractor_share=_percent(detractors, nps_n),
        ),
        csat_top2=share_of(a["csat_top2"], a["csat_n"]),
        csat_mean=mean_estimate(*m["csat_mean"], RANGES["csat_mean"]),
        empathy_index=mean_estimate(*m["empathy_index"], RANGES["empathy_index"]),
        empathy_understood=_rating_0_100(a, "empathy_understood"),
        empathy_cared=share_of(cared_yes, cared_n),  # yes/no: a share, as CSAT top-2
        empathy_emotional=_rating_0_100(a, "empathy_emotional"),
        empathy_influence=_rating_0_100(a, "empathy_influence"),
        css=CssKpi(
            value=css.value,
            ci_low=css.ci_low,
            ci_high=css.ci_high,
            n=css.n,
            positive=positive,
            neutral=neutral,
            negative=negative,
            unclassified=comments - css.n,
        ),
        response_rate=share_of(answered, assignments) if assignments else None,
        heard_share=share_of(a["heard"], comments),
        ignored_share=share_of(a["ignored"], comments),
    )


def _kpis_of_values(values: tuple[int, ...], assignments: int, answered: int) -> Kpis:
    return compute_kpis(dict(zip(AGGREGATE_NAMES, values, strict=True)), assignments, answered)


class KpiMemo:
    """:func:`compute_kpis` remembered by its inputs, for at most ``size`` of them (the
    least recently used forgotten first: ``functools.lru_cache``). It is a pure function
    of the sums, and a breakdown asked again (a dashboard's refresh, another system
    polling) finds the groups of every day but the last unchanged: their twelve estimates
    are not worked out again. Results are shared between reports, so they must not be
    changed (nothing does). About 4 KB an entry: the default keeps a 1,800-group breakdown
    in 8 MB.

    Least recently used, not oldest first: while answers arrive, each request of a 1,800-
    group breakdown brings the day's changed groups as new entries, and forgetting by age
    dropped groups that every request still used, which then came back as new entries and
    dropped others: 330 of 1,800 groups worked out again per request (``bench_kpis``)."""

    def __init__(self, size: int = 2048) -> None:
        if size < 1:
            raise ValueError("a memo keeps at least one entry")
        self.size = size
        self._kpis = lru_cache(maxsize=size)(_kpis_of_values)

    def __len__(self) -> int:
        return self._kpis.cache_info().currsize

    def kpis(self, values: tuple[int, ...], assignments: int = 0, answered: int = 0) -> Kpis:
        """``compute_kpis`` of the sums ``values`` (in :data:`AGGREGATE_NAMES` order, as
        :class:`.queries.AggregateRow` holds them), ``assignments`` and ``answered``."""
        return self._kpis(values, assignments, answered)
