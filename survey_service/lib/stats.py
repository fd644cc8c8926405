"""Statistics as pure functions (no I/O): distributions and tests the KPI and experiment
code share. Written out rather than imported so the service needs no SciPy; the tests
compare every function with SciPy."""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache
from statistics import NormalDist

from survey_service.lib.structs import Struct

__all__ = [
    "Z_95",
    "Moments",
    "chi_square_gof",
    "chi_square_sf",
    "correlation",
    "correlation_interval",
    "regularized_beta",
    "regularized_gamma_q",
    "t_interval",
    "t_pdf",
    "t_ppf",
    "t_sf",
    "wilson_interval",
]

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


# --- Student's t and friends ---------------------------------------------------------------

Z_95 = 1.959963984540054
"""Two-sided 95% normal quantile."""


def _betacf(a: float, b: float, x: float) -> float:
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1, a - 1
    c, d = 1.0, 1 - qab * x / qap
    d = 1 / (tiny if abs(d) < tiny else d)
    h = d
    for m in range(1, _MAX_ITER):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1 + aa * d
        d = 1 / (tiny if abs(d) < tiny else d)
        c = 1 + aa / c
        c = tiny if abs(c) < tiny else c
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1 + aa * d
        d = 1 / (tiny if abs(d) < tiny else d)
        c = 1 + aa / c
        c = tiny if abs(c) < tiny else c
        delta = d * c
        h *= delta
        if abs(delta - 1) < _EPS:
            break
    return h


def regularized_beta(a: float, b: float, x: float) -> float:
    """I_x(a, b), the regularized incomplete beta function."""
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    front = math.exp(
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    if x < (a + 1) / (a + b + 2):
        return front * _betacf(a, b, x) / a
    return 1 - front * _betacf(b, a, 1 - x) / b


def t_sf(t: float, df: float) -> float:
    """P(T > t) for Student's t with ``df`` (possibly fractional) degrees of freedom."""
    if math.isinf(df):
        return 0.5 * math.erfc(t / math.sqrt(2))
    tail = 0.5 * regularized_beta(df / 2, 0.5, df / (df + t * t))
    return tail if t > 0 else 1 - tail


def t_pdf(t: float, df: float) -> float:
    """The density of Student's t with ``df`` degrees of freedom at ``t``."""
    if math.isinf(df):
        return math.exp(-0.5 * t * t) / math.sqrt(2 * math.pi)
    log_density = (
        math.lgamma((df + 1) / 2)
        - math.lgamma(df / 2)
        - 0.5 * math.log(df * math.pi)
        - (df + 1) / 2 * math.log1p(t * t / df)
    )
    return math.exp(log_density)


_NORMAL = NormalDist()
_NEWTON_STEPS = 8  # then bisection (at 97.5%, the service's, Newton settles in two or three)


@lru_cache(maxsize=65_536)
def t_ppf(p: float, df: float) -> float:
    """The ``p`` quantile of Student's t, to 1e-12; cached, since a report with many groups
    asks for the same few degrees of freedom again and again.

    Newton's method on :func:`t_sf` from the normal quantile, kept inside a bracket that
    each step narrows (a step leaving it bisects instead): two to five evaluations of
    the tail, where bisection alone took forty (about 1 ms, once per new ``df``: a
    breakdown whose groups grow while answers arrive meets new ones on every request)."""
    if not 0 < p < 1:
        raise ValueError("p must be in (0, 1)")
    if p < 0.5:
        return -t_ppf(1 - p, df)
    tail = 1 - p
    low, high = 0.0, math.inf  # the quantile's bracket, narrowed by every evaluation
    t = _NORMAL.inv_cdf(p)
    if not math.isinf(df):  # Cornish-Fisher: within 1% from df 3 on
        t += (t**3 + t) / (4 * df) + (5 * t**5 + 16 * t**3 + 3 * t) / (96 * df * df)
    for evaluation in range(200):
        excess = t_sf(t, df) - tail  # positive: the quantile lies above t
        if excess > 0:
            low = t
        else:
            high = t
        if evaluation < _NEWTON_STEPS:
            step = excess / t_pdf(t, df)
            if abs(step) <= 1e-12 * max(1.0, t):
                return t + step
            t += step
            if low < t < high:
                continue
        # Newton overshot, or the tail's own rounding keeps it from settling: bisect.
        if high - low < 1e-12 * max(1.0, high):
            break
        t = (low + high) / 2 if high < math.inf else 2 * low + 1
    return (low + high) / 2


def wilson_interval(successes: int, n: int, z: float = Z_95) -> tuple[float, float] | None:
    """Wilson score interval for a proportion; None when n is 0."""
    if n == 0:
        return None
    p = successes / n
    z2 = z * z
    denominator = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denominator
    # Conditionals rather than max/min: a grouped report computes thousands of these.
    low, high = centre - half, centre + half
    return (low if low > 0.0 else 0.0), (high if high < 1.0 else 1.0)


def t_interval(mean: float, variance: float, n: int, alpha: float = 0.05) -> tuple[float, float]:
    """The two-sided ``1 - alpha`` Student's t interval of a mean of ``n`` values (n >= 2)
    with sample variance ``variance``."""
    half = t_ppf(1 - alpha / 2, n - 1) * math.sqrt((variance if variance > 0.0 else 0.0) / n)
    return mean - half, mean + half


def correlation_interval(r: float, n: int) -> tuple[float | None, float | None]:
    """The Fisher-z 95% interval of a Pearson correlation ``r`` over ``n`` pairs (None
    ends under four pairs or at |r| = 1)."""
    if n <= 3 or abs(r) >= 1:
        return None, None
    z, half = math.atanh(r), Z_95 / math.sqrt(n - 3)
    return math.tanh(z - half), math.tanh(z + half)


def correlation(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Pearson's r of paired values; None under two pairs or when either side is constant."""
    n = len(xs)
    if n < 2:
        return None
    # Centred sums (two passes): no cancellation; plain sums, since fsum's exactness is not
    # needed for r and costs 3x on the outcome report's 10,000s of customers.
    mx, my = sum(xs) / n, sum(ys) / n
    dx = [x - mx for x in xs]
    dy = [y - my for y in ys]
    sxy = sum(a * b for a, b in zip(dx, dy, strict=True))
    sxx = sum(a * a for a in dx)
    syy = sum(b * b for b in dy)
    if sxx <= 0 or syy <= 0:
        return None
    return max(-1.0, min(1.0, sxy / math.sqrt(sxx * syy)))


class Moments(Struct):
    """n, mean and sample variance of one metric over ``n`` values: what every mean with an
    interval (KPIs) and every comparison (experiments) is computed from."""

    n: int
    mean: float | None
    variance: float | None

    @classmethod
    def from_sums(cls, n: int, total: int, total_sq: int, scale: float = 1.0) -> Moments:
        """From integer sums of values ``v`` where the metric is ``scale * v``.

        The variance numerator n*Q - S^2 is computed in exact integers, so no cancellation
        error creeps in however large the sums. None where undefined: no mean without data,
        no variance with fewer than two values.
        """
        if n == 0:
            return cls(n=0, mean=None, variance=None)
        mean = scale * total / n
        variance = scale * scale * (n * total_sq - total * total) / (n * (n - 1)) if n > 1 else None
        return cls(n=n, mean=mean, variance=variance)

    @classmethod
    def from_values(cls, values: Sequence[float]) -> Moments:
        """From the values themselves (two passes, for the variance's accuracy)."""
        n = len(values)
        if n == 0:
            return cls(n=0, mean=None, variance=None)
        mean = math.fsum(values) / n
        variance = math.fsum((v - mean) ** 2 for v in values) / (n - 1) if n > 1 else None
        return cls(n=n, mean=mean, variance=variance)

    def interval(self, alpha: float = 0.05) -> tuple[float, float] | None:
        """The two-sided t interval of the mean (Student's t, n - 1 degrees of freedom);
        None under two values."""
        if self.mean is None or self.variance is None:
            return None
        return t_interval(self.mean, self.variance, self.n, alpha)
