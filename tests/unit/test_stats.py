"""Statistics against SciPy."""

from __future__ import annotations

import pytest
from scipy import stats as scipy_stats

from survey_service.stats import chi_square_gof, chi_square_sf, regularized_gamma_q


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
