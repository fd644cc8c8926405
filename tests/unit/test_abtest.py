"""A/B statistics against SciPy and hand-written formulas; false-positive simulations."""

from __future__ import annotations

import math
import random
from typing import Any

import numpy as np
import pytest
from scipy import stats as scipy_stats

from survey_service.experiments.statistics import (
    compare,
    holm,
    required_n,
    sample_ratio_mismatch,
    verdict,
)
from survey_service.lib.stats import Moments


def moments(values: list[int]) -> Moments:
    return Moments.from_sums(len(values), sum(values), sum(v * v for v in values))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_fixed_test_matches_scipy_welch_and_the_delta_method(seed: int) -> None:
    rng = np.random.default_rng(seed)
    control = [int(x) for x in rng.integers(1, 6, size=140)]
    treatment = [int(x) for x in rng.integers(2, 6, size=95)]
    result = compare(moments(control), moments(treatment))
    reference = scipy_stats.ttest_ind(treatment, control, equal_var=False)
    assert result.p_value == pytest.approx(reference.pvalue, rel=1e-6)
    assert result.t == pytest.approx(reference.statistic, rel=1e-6)
    mc, mt = np.mean(control), np.mean(treatment)
    vc, vt = np.var(control, ddof=1), np.var(treatment, ddof=1)
    nc, nt = len(control), len(treatment)
    df = (vt / nt + vc / nc) ** 2 / ((vt / nt) ** 2 / (nt - 1) + (vc / nc) ** 2 / (nc - 1))
    q = scipy_stats.t.ppf(0.975, df)
    se = math.sqrt(vt / nt + vc / nc)
    assert result.absolute_ci == pytest.approx((mt - mc - q * se, mt - mc + q * se), rel=1e-6)
    rel_se = math.sqrt(vt / (nt * mc**2) + vc * mt**2 / (nc * mc**4))
    rel = (mt - mc) / mc
    assert result.relative == pytest.approx(rel, rel=1e-6)
    assert result.relative_ci == pytest.approx((rel - q * rel_se, rel + q * rel_se), rel=1e-6)


def gbstats_result(control: list[int], treatment: list[int], *, sequential: bool, kind: str) -> Any:
    """GrowthBook's own implementation (a test-only oracle) on the same data."""
    from gbstats.frequentist.tests import (
        FrequentistConfig,
        SequentialConfig,
        SequentialTwoSidedTTest,
        TwoSidedTTest,
    )
    from gbstats.models.statistics import SampleMeanStatistic

    def stat(values: list[int]) -> SampleMeanStatistic:
        return SampleMeanStatistic(
            n=len(values), sum=sum(values), sum_squares=sum(v * v for v in values)
        )

    if sequential:
        config = SequentialConfig(difference_type=kind, sequential_tuning_parameter=5000)
        return SequentialTwoSidedTTest(stat(control), stat(treatment), config).compute_result()
    config_fixed = FrequentistConfig(difference_type=kind)
    return TwoSidedTTest(stat(control), stat(treatment), config_fixed).compute_result()


@pytest.mark.parametrize("sequential", [False, True])
@pytest.mark.parametrize("seed", [4, 5, 6])
def test_intervals_and_p_values_match_gbstats(seed: int, sequential: bool) -> None:
    rng = np.random.default_rng(seed)
    control = [int(x) for x in rng.integers(0, 11, size=int(rng.integers(40, 400)))]
    treatment = [int(x) for x in rng.integers(1, 11, size=int(rng.integers(40, 400)))]
    ours = compare(moments(control), moments(treatment), sequential=sequential)
    absolute = gbstats_result(control, treatment, sequential=sequential, kind="absolute")
    relative = gbstats_result(control, treatment, sequential=sequential, kind="relative")
    assert ours.absolute == pytest.approx(absolute.expected, rel=1e-9)
    assert ours.absolute_ci == pytest.approx(tuple(absolute.ci), rel=1e-6)
    assert ours.p_value == pytest.approx(absolute.p_value, rel=1e-6)
    assert ours.relative == pytest.approx(relative.expected, rel=1e-9)
    assert ours.relative_ci == pytest.approx(tuple(relative.ci), rel=1e-6)


def test_always_valid_intervals_are_wider_than_fixed_ones() -> None:
    control, treatment = moments([1, 2, 3, 4, 5] * 40), moments([2, 3, 4, 5, 5] * 40)
    sequential, fixed = compare(control, treatment, sequential=True), compare(control, treatment)
    assert sequential.absolute_ci is not None
    assert fixed.absolute_ci is not None
    assert sequential.absolute_ci[0] < fixed.absolute_ci[0] < fixed.absolute_ci[1]
    assert fixed.absolute_ci[1] < sequential.absolute_ci[1]


def test_zero_variance_and_zero_control_mean() -> None:
    same = compare(moments([4] * 50), moments([4] * 50))
    assert (same.absolute, same.p_value, same.absolute_ci) == (0.0, None, None)
    assert verdict(same, 50, 50) == "not enough data"
    zero = compare(moments([0, 0, 100, 0] * 20), moments([0, 100, 100, 0] * 20))
    zero_control = compare(moments([0] * 40 + [100] * 0), moments([0, 100] * 20))
    assert zero_control.relative is None
    assert zero_control.relative_note == "relative difference undefined: the control mean is 0"
    assert zero.relative is not None


def test_missing_arm() -> None:
    result = compare(moments([3, 4, 5]), Moments.from_sums(0, 0, 0))
    assert (result.absolute, result.p_value) == (None, None)
    assert verdict(result, 3, 0) == "not enough data"


def test_holm_against_the_definition() -> None:
    p = [0.01, 0.04, 0.03, None]
    assert holm(p) == pytest.approx([0.03, 0.06, 0.06, None])  # type: ignore[arg-type]
    assert holm([0.5]) == [0.5]
    assert holm([0.4, 0.3]) == [0.6, 0.6]


def test_srm() -> None:
    statistic, p, flagged = sample_ratio_mismatch([5000, 5000], [50, 50])
    assert (statistic, flagged) == (0.0, False)
    statistic, p, flagged = sample_ratio_mismatch([5300, 4700], [50, 50])
    assert p == pytest.approx(scipy_stats.chisquare([5300, 4700]).pvalue, rel=1e-9)
    assert flagged


def test_required_n_matches_the_textbook_formula() -> None:
    z = scipy_stats.norm.ppf(0.975) + scipy_stats.norm.ppf(0.8)
    assert required_n(1.2, 0.25) == math.ceil(2 * 1.2 * z**2 / 0.25**2)
    assert required_n(1.0, 0) is None


def test_verdicts_follow_the_adjusted_p_value() -> None:
    better = compare(moments([3, 4] * 60), moments([4, 5] * 60))
    assert verdict(better, 120, 120) == "better"
    assert verdict(compare(moments([4, 5] * 60), moments([3, 4] * 60)), 120, 120) == "worse"
    assert verdict(better, 20, 120) == "not enough data"


def test_false_positive_rate_near_five_percent_fixed_and_at_most_five_sequential() -> None:
    rng = random.Random(20261125)
    experiments, days, per_day = 400, 14, 30
    fixed_hits = sequential_hits = naive_peeking_hits = 0
    for _ in range(experiments):
        control: list[int] = []
        treatment: list[int] = []
        sequential_seen = naive_seen = False
        for _day in range(days):
            control += [100 if rng.random() < 0.6 else 0 for _ in range(per_day)]
            treatment += [100 if rng.random() < 0.6 else 0 for _ in range(per_day)]
            daily = compare(moments(control), moments(treatment), sequential=True)
            sequential_seen |= daily.p_value is not None and daily.p_value < 0.05
            naive = compare(moments(control), moments(treatment))
            naive_seen |= naive.p_value is not None and naive.p_value < 0.05
        final = compare(moments(control), moments(treatment))
        fixed_hits += final.p_value is not None and final.p_value < 0.05
        sequential_hits += sequential_seen
        naive_peeking_hits += naive_seen
    fixed_rate, sequential_rate = fixed_hits / experiments, sequential_hits / experiments
    assert 0.025 <= fixed_rate <= 0.08, fixed_rate
    assert sequential_rate <= 0.05, sequential_rate
    # The reason the sequential mode exists: peeking daily at the fixed test inflates it.
    assert naive_peeking_hits / experiments > 0.12
