"""Statistics against SciPy."""

from __future__ import annotations

import math

import pytest
from scipy import stats as scipy_stats

from survey_service.lib import stats
from survey_service.lib.stats import (
    Moments,
    chi_square_gof,
    chi_square_sf,
    regularized_gamma_q,
    t_pdf,
    t_ppf,
    t_sf,
    wilson_interval,
)
from survey_service.reporting.columns import AGGREGATE_NAMES
from survey_service.reporting.metrics import (
    RANGES,
    KpiMemo,
    compute_kpis,
    estimate_of,
    mean_estimate,
)


@pytest.mark.parametrize("a", [0.5, 1, 1.5, 2, 7.5, 40])
@pytest.mark.parametrize("x", [0.01, 0.5, 1, 3, 10, 60, 200])
def test_regularized_gamma_q_matches_scipy(a: float, x: float) -> None:
    from scipy.special import gammaincc

    assert regularized_gamma_q(a, x) == pytest.approx(gammaincc(a, x), rel=1e-9, abs=1e-300)


@pytest.mark.parametrize("df", [1, 2, 3, 9])
@pytest.mark.parametrize("statistic", [0.0, 0.2, 3.84, 13.8, 40.0])
def test_chi_square_sf_matches_scipy(statistic: float, df: int) -> None:
    assert chi_square_sf(statistic, df) == pytest.approx(
        scipy_stats.chi2.sf(statistic, df), rel=1e-9, abs=1e-300
    )


@pytest.mark.parametrize(
    ("observed", "weights"),
    [
        ([5000, 5000], [1, 1]),
        ([5100, 4900], [50, 50]),
        ([1950, 3100, 4950], [20, 30, 50]),
        ([10, 30, 60], [1, 1, 1]),
    ],
)
def test_goodness_of_fit_matches_scipy(observed: list[int], weights: list[float]) -> None:
    total = sum(observed)
    expected = [total * w / sum(weights) for w in weights]
    reference = scipy_stats.chisquare(observed, expected)
    statistic, p = chi_square_gof(observed, weights)
    assert statistic == pytest.approx(reference.statistic, rel=1e-12)
    assert p == pytest.approx(reference.pvalue, rel=1e-9)


def test_goodness_of_fit_edge_cases() -> None:
    assert chi_square_gof([0, 0], [1, 1]) == (0.0, 1.0)
    with pytest.raises(ValueError, match="two groups"):
        chi_square_gof([3], [1])


@pytest.mark.parametrize("df", [1, 2, 3.5, 9, 30, 99.7, 1000, 1e6])
@pytest.mark.parametrize("t", [-3.0, -0.5, 0.0, 0.7, 1.96, 4.0, 12.0])
def test_t_sf_matches_scipy(t: float, df: float) -> None:
    assert t_sf(t, df) == pytest.approx(scipy_stats.t.sf(t, df), rel=1e-9, abs=1e-15)


@pytest.mark.parametrize("df", [1, 2, 4, 9, 29, 250.5, 10_000])
@pytest.mark.parametrize("p", [0.025, 0.5, 0.9, 0.975, 0.999])
def test_t_ppf_matches_scipy(p: float, df: float) -> None:
    assert t_ppf(p, df) == pytest.approx(scipy_stats.t.ppf(p, df), rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("df", [1, 2.5, 30, 1000, math.inf])
@pytest.mark.parametrize("t", [-4.0, 0.0, 0.3, 2.0, 40.0])
def test_t_pdf_matches_scipy(t: float, df: float) -> None:
    assert t_pdf(t, df) == pytest.approx(scipy_stats.t.pdf(t, df), rel=1e-12, abs=1e-300)


def test_t_ppf_settles_in_a_few_evaluations_of_the_tail(monkeypatch: pytest.MonkeyPatch) -> None:
    """A breakdown's groups meet a new df on almost every request while answers arrive:
    each quantile costs two or three tail evaluations (Newton), not forty (bisection)."""
    evaluations: list[float] = []

    def counted(t: float, df: float) -> float:
        evaluations.append(df)
        return t_sf(t, df)

    monkeypatch.setattr(stats, "t_sf", counted)
    stats.t_ppf.cache_clear()
    for df in range(2, 2000, 7):
        evaluations.clear()
        assert stats.t_ppf(0.975, df) == pytest.approx(scipy_stats.t.ppf(0.975, df), rel=1e-11)
        assert len(evaluations) <= 5, df
    stats.t_ppf.cache_clear()


@pytest.mark.parametrize(("successes", "n"), [(0, 1), (1, 1), (3, 10), (50, 100), (999, 1000)])
def test_wilson_matches_statsmodels_formula(successes: int, n: int) -> None:
    z = scipy_stats.norm.ppf(0.975)
    p = successes / n
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z / (1 + z**2 / n) * (p * (1 - p) / n + z**2 / (4 * n**2)) ** 0.5
    low, high = wilson_interval(successes, n)  # type: ignore[misc]
    assert low == pytest.approx(max(0, centre - half), abs=1e-12)
    assert high == pytest.approx(min(1, centre + half), abs=1e-12)
    assert wilson_interval(0, 0) is None


def test_moments_interval() -> None:
    values = [3, 5, 4, 1, 5, 2]
    moments = Moments.from_sums(len(values), sum(values), sum(v * v for v in values))
    ref = scipy_stats.t.interval(
        0.95, len(values) - 1, loc=sum(values) / 6, scale=scipy_stats.sem(values)
    )
    assert moments.interval() == pytest.approx(ref, rel=1e-9)
    assert moments.mean == pytest.approx(20 / 6)
    assert moments.variance == pytest.approx(scipy_stats.tvar(values), rel=1e-12)
    assert Moments.from_sums(0, 0, 0).interval() is None
    assert Moments.from_sums(1, 4, 16) == Moments(n=1, mean=4, variance=None)
    assert Moments.from_sums(3, 12, 48).interval() == (4, 4)
    scaled = Moments.from_sums(len(values), sum(values), sum(v * v for v in values), scale=25)
    assert scaled.interval()[0] == pytest.approx(25 * ref[0], rel=1e-12)  # type: ignore[index]


@pytest.mark.parametrize(
    "values", [[], [4], [3, 3, 3], [3, 5, 4, 1, 5, 2], [0, 10] * 400, list(range(-7, 40))]
)
@pytest.mark.parametrize("scale", [1.0, 25.0, 1 / 6])
def test_mean_estimate_is_the_t_interval_of_the_values(values: list[int], scale: float) -> None:
    """The grouped reports' shortcut gives what the general path and SciPy give."""
    n, total, total_sq = len(values), sum(values), sum(v * v for v in values)
    got = mean_estimate(n, total, total_sq, scale)
    assert got == estimate_of(Moments.from_sums(n, total, total_sq, scale))
    assert got.n == n
    if n == 0:
        assert (got.value, got.ci_low, got.ci_high) == (None, None, None)
        return
    assert got.value == pytest.approx(scale * total / n, rel=1e-12)
    if n == 1:
        assert (got.ci_low, got.ci_high) == (None, None)
        return
    scaled = [scale * v for v in values]
    sem = scipy_stats.sem(scaled)
    ref = (
        (got.value, got.value) if sem == 0 else scipy_stats.t.interval(0.95, n - 1, got.value, sem)
    )
    assert (got.ci_low, got.ci_high) == pytest.approx(ref, rel=1e-9, abs=1e-9)


def _sums(seed: int) -> dict[str, int]:
    """Plausible rollup sums (every aggregate named), different for each seed."""
    sums = {name: 7 * seed + i for i, name in enumerate(AGGREGATE_NAMES)}
    sums.update(n=40 + seed, nps_n=30, nps_promoters=12, nps_detractors=8 + seed % 3)
    sums.update(csat_n=25, csat_top2=15, css_positive=4, css_neutral=3, css_negative=2)
    sums.update(comments=12, heard=5, ignored=1, empathy_cared_n=20, empathy_cared_yes=12)
    return sums


def _values(seed: int) -> tuple[int, ...]:
    """:func:`_sums` as an AggregateRow holds them."""
    return tuple(_sums(seed)[name] for name in AGGREGATE_NAMES)


def test_the_kpi_memo_answers_as_compute_kpis_and_keeps_a_bounded_number() -> None:
    memo = KpiMemo(size=3)
    first = memo.kpis(_values(1), 50, 40)
    assert first == compute_kpis(_sums(1), 50, 40)
    assert memo.kpis(_values(1), 50, 40) is first  # remembered
    assert memo.kpis(_values(1), 50, 41) == compute_kpis(_sums(1), 50, 41)  # any input counts
    assert memo.kpis(_values(2), 50, 40) == compute_kpis(_sums(2), 50, 40)
    assert memo.kpis(_values(2), 50, 40).nps != first.nps
    memo.kpis(_values(3), 50, 40)
    assert len(memo) == 3
    again = memo.kpis(_values(1), 50, 40)  # the oldest was forgotten: worked out again
    assert again == first
    assert again is not first


def test_the_kpi_memo_forgets_the_least_recently_used() -> None:
    """A breakdown asked again and again while one group changes keeps its other groups."""
    memo = KpiMemo(size=3)
    kept = {seed: memo.kpis(_values(seed)) for seed in (1, 2)}
    for changed in range(3, 12):  # each request: groups 1 and 2 as they were, and a new one
        for seed in (1, 2):
            assert memo.kpis(_values(seed)) is kept[seed]
        memo.kpis(_values(changed))
        assert len(memo) == 3


def test_kpi_intervals_stay_inside_each_metrics_range() -> None:
    """Five answers: four 'yes, they cared', ratings near the top, NPS from -100 to 100.
    Their t intervals reach past the scales; the report cuts them to the range, and the yes/no
    item gets the Wilson interval of a share."""
    sums = dict.fromkeys(AGGREGATE_NAMES, 0)
    sums.update(n=5, empathy_cared_n=5, empathy_cared_yes=4)
    ratings = [5, 5, 5, 4, 5]
    sums.update(
        empathy_understood_n=5,
        empathy_understood_sum=sum(ratings),
        empathy_understood_sumsq=sum(r * r for r in ratings),
    )
    sums.update(nps_n=5, nps_promoters=4, nps_detractors=1)
    sums.update(csat_n=5, csat_sum=24, csat_sumsq=4 * 25 + 16)
    kpis = compute_kpis(sums)
    unbounded = mean_estimate(5, 4, 4, 100.0)
    assert unbounded.ci_high is not None
    assert unbounded.ci_high > 100
    cared = kpis.empathy_cared
    assert cared.value == 80.0
    assert (cared.ci_low, cared.ci_high) == pytest.approx(
        tuple(100 * x for x in wilson_interval(4, 5) or ()), rel=1e-12
    )
    for estimate, (low, high) in (
        (kpis.empathy_understood, RANGES["empathy_index"]),
        (kpis.nps, RANGES["nps"]),
        (kpis.csat_mean, RANGES["csat_mean"]),
    ):
        assert estimate.ci_low is not None
        assert estimate.ci_high is not None
        assert estimate.value is not None
        assert low <= estimate.ci_low <= estimate.value <= estimate.ci_high <= high
    assert kpis.empathy_understood.ci_high == 100.0  # cut, not 101
    assert kpis.nps.ci_high == 100.0
