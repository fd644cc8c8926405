"""A/B test statistics, following GrowthBook's gbstats conventions. Pure functions.

- Per variant and metric: mean and sample variance from integer sums
  (:class:`survey_service.lib.stats.Moments`, shared with the KPIs).
- Treatment against control: absolute difference d = m_t - m_c with standard error
  sqrt(v_t/n_t + v_c/n_c); relative difference d / m_c (only when m_c is not 0) with the
  delta-method variance v_t / (n_t m_c^2) + v_c m_t^2 / (n_c m_c^4); Welch-Satterthwaite
  degrees of freedom; two-sided p-value of the Welch t statistic of the absolute difference;
  95% intervals estimate +- t(0.975, df) * SE.
- Several treatments: Holm-Bonferroni adjusted p-values per metric.
- Sequential mode: gbstats' asymptotic confidence sequences (Waudby-Smith et al.), with
  rho = sqrt((-2 ln a + ln(1 - 2 ln a)) / tuning), tuning 5000, n = n_t + n_c, and the
  always-valid p-value min(1, 1 / e-value).
- Sample-ratio mismatch: Pearson chi-square of assignments against the weights, k - 1
  degrees of freedom, flagged at p < 0.001.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import msgspec

from survey_service.lib.stats import Moments, chi_square_gof, t_ppf, t_sf
from survey_service.lib.structs import Struct

__all__ = [
    "ALPHA",
    "MIN_N",
    "SEQUENTIAL_TUNING",
    "SRM_THRESHOLD",
    "Comparison",
    "Verdict",
    "compare",
    "holm",
    "required_n",
    "sample_ratio_mismatch",
    "verdict",
]

ALPHA = 0.05
SEQUENTIAL_TUNING = 5000.0
SRM_THRESHOLD = 0.001
MIN_N = 30
"""Fewer responses than this in either arm: "not enough data", whatever the p-value says."""

Verdict = Literal["better", "worse", "no detectable difference", "not enough data"]


class Comparison(Struct):
    """One treatment against the control on one metric."""

    absolute: float | None
    absolute_ci: tuple[float, float] | None
    relative: float | None
    relative_ci: tuple[float, float] | None
    relative_note: str | None
    df: float | None
    t: float | None
    p_value: float | None
    p_value_adjusted: float | None
    sequential: bool


def _welch_df(c: Moments, t: Moments) -> float:
    a, b = t.variance / t.n, c.variance / c.n  # type: ignore[operator]
    denominator = a * a / (t.n - 1) + b * b / (c.n - 1)
    return (a + b) ** 2 / denominator if denominator > 0 else math.inf


def _rho(alpha: float, tuning: float) -> float:
    return math.sqrt((-2 * math.log(alpha) + math.log(-2 * math.log(alpha) + 1)) / tuning)


def _sequential_halfwidth(se: float, n: int, alpha: float, tuning: float) -> float:
    rho = _rho(alpha, tuning)
    s2 = se * se * n
    root = n * rho * rho + 1
    return math.sqrt(s2) * math.sqrt(2 * root * math.log(math.sqrt(root) / alpha) / (n * rho) ** 2)


def _sequential_p(estimate: float, se: float, n: int, alpha: float, tuning: float) -> float:
    rho = _rho(alpha, tuning)
    st2 = estimate * estimate * n / (se * se)
    root = n * rho * rho + 1
    e_value = math.exp(rho * rho * st2 / (2 * root)) / math.sqrt(root)
    return min(1.0, 1 / e_value)


def compare(
    control: Moments,
    treatment: Moments,
    *,
    sequential: bool = False,
    alpha: float = ALPHA,
    tuning: float = SEQUENTIAL_TUNING,
) -> Comparison:
    """Difference of ``treatment`` from ``control`` (see the module docstring). Fields are
    None where the data cannot support them (an arm with under two values, no variance)."""
    empty = Comparison(
        absolute=None,
        absolute_ci=None,
        relative=None,
        relative_ci=None,
        relative_note=None,
        df=None,
        t=None,
        p_value=None,
        p_value_adjusted=None,
        sequential=sequential,
    )
    if control.mean is None or treatment.mean is None:
        return empty
    absolute = treatment.mean - control.mean
    if control.variance is None or treatment.variance is None:
        return msgspec.structs.replace(empty, absolute=absolute)
    se = math.sqrt(treatment.variance / treatment.n + control.variance / control.n)
    relative = relative_se = None
    note = None
    if control.mean == 0:
        note = "relative difference undefined: the control mean is 0"
    else:
        relative = absolute / control.mean
        relative_se = math.sqrt(
            treatment.variance / (treatment.n * control.mean**2)
            + control.variance * treatment.mean**2 / (control.n * control.mean**4)
        )
    if se == 0:
        return msgspec.structs.replace(
            empty, absolute=absolute, relative=relative, relative_note=note
        )
    df = _welch_df(control, treatment)
    statistic = absolute / se
    n = control.n + treatment.n
    if sequential:
        p = _sequential_p(absolute, se, n, alpha, tuning)
        half = _sequential_halfwidth(se, n, alpha, tuning)
        relative_half = (
            _sequential_halfwidth(relative_se, n, alpha, tuning) if relative_se else None
        )
    else:
        p = 2 * t_sf(abs(statistic), df)
        quantile = t_ppf(1 - alpha / 2, df)
        half = quantile * se
        relative_half = quantile * relative_se if relative_se is not None else None
    return Comparison(
        absolute=absolute,
        absolute_ci=(absolute - half, absolute + half),
        relative=relative,
        relative_ci=(relative - relative_half, relative + relative_half)
        if relative is not None and relative_half is not None
        else None,
        relative_note=note,
        df=df,
        t=statistic,
        p_value=p,
        p_value_adjusted=p,
        sequential=sequential,
    )


def holm(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm-Bonferroni adjusted p-values (None stays None and is not counted)."""
    present = sorted((p, i) for i, p in enumerate(p_values) if p is not None)
    m = len(present)
    adjusted: list[float | None] = [None] * len(p_values)
    running = 0.0
    for rank, (p, index) in enumerate(present):
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[index] = running
    return adjusted


def verdict(
    comparison: Comparison, control_n: int, treatment_n: int, alpha: float = ALPHA
) -> Verdict:
    """Plain words that never claim more than the statistics support (higher is better)."""
    if min(control_n, treatment_n) < MIN_N or comparison.p_value_adjusted is None:
        return "not enough data"
    if comparison.p_value_adjusted >= alpha or comparison.absolute is None:
        return "no detectable difference"
    return "better" if comparison.absolute > 0 else "worse"


def sample_ratio_mismatch(
    assigned: Sequence[int], weights: Sequence[float]
) -> tuple[float, float, bool]:
    """(chi-square, p-value, mismatch flagged at p < 0.001)."""
    statistic, p = chi_square_gof(assigned, weights)
    return statistic, p, p < SRM_THRESHOLD


def required_n(
    variance: float, effect: float, alpha: float = ALPHA, power: float = 0.8
) -> int | None:
    """Responses per variant for a two-sided test to detect an absolute ``effect`` with the
    given power, both arms of variance ``variance`` (normal approximation)."""
    if effect == 0 or variance <= 0:
        return None
    z_alpha = t_ppf(1 - alpha / 2, math.inf)
    z_power = t_ppf(power, math.inf)
    return math.ceil(2 * variance * (z_alpha + z_power) ** 2 / effect**2)
