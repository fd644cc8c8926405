"""Statistics as pure functions (no I/O): distributions and tests the KPI and experiment
code share. Written out rather than imported so the service needs no SciPy; the tests
compare every function with SciPy."""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["chi_square_gof", "chi_square_sf", "regularized_gamma_q"]

_EPS = 1e-15
_MAX_ITER = 10_000


def regularized_gamma_q(a: float, x: float) -> float:
    """Q(a, x) = Γ(a, x) / Γ(a), the upper regularized incomplete gamma function."""
    if a <= 0:
        raise ValueError("a must be positive")
    if x <= 0:
        return 1.0
    if x < a + 1:
        return 1.0 - _gamma_p_series(a, x)
    return _gamma_q_fraction(a, x)


def _gamma_p_series(a: float, x: float) -> float:
    term = total = 1.0 / a
    n = a
    for _ in range(_MAX_ITER):
        n += 1
        term *= x / n
        total += term
        if abs(term) < abs(total) * _EPS:
            break
    return total * math.exp(-x + a * math.log(x) - math.lgamma(a))


def _gamma_q_fraction(a: float, x: float) -> float:
    # Lentz's method for the continued fraction of Γ(a, x).
    tiny = 1e-300
    b = x + 1 - a
    c = 1 / tiny
    d = 1 / b
    h = d
    for i in range(1, _MAX_ITER):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1 / d
        delta = d * c
        h *= delta
        if abs(delta - 1) < _EPS:
            break
    return math.exp(-x + a * math.log(x) - math.lgamma(a)) * h


def chi_square_sf(statistic: float, df: int) -> float:
    """P(X >= statistic) for X ~ chi-square with ``df`` degrees of freedom."""
    return regularized_gamma_q(df / 2, statistic / 2)


def chi_square_gof(observed: Sequence[int], weights: Sequence[float]) -> tuple[float, float]:
    """Pearson's goodness-of-fit of counts against expected shares; (statistic, p-value).

    Degrees of freedom are k - 1. With no observations the p-value is 1 (nothing to flag).
    """
    if len(observed) != len(weights) or len(observed) < 2:
        raise ValueError("need at least two groups, one weight each")
    total = sum(observed)
    if total == 0:
        return 0.0, 1.0
    share = sum(weights)
    statistic = 0.0
    for count, weight in zip(observed, weights, strict=True):
        expected = total * weight / share
        statistic += (count - expected) ** 2 / expected
    return statistic, chi_square_sf(statistic, len(observed) - 1)
