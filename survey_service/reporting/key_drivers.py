"""Key-driver analysis: how strongly each empathy item moves NPS or CSAT. Pure functions.

From complete cases (the outcome and every item answered): Pearson correlations of each
item with the outcome, with Fisher-z 95% intervals, and the standardised coefficients of a
multiple regression of the outcome on all items (beta = R_xx^-1 r_xy on the correlation
matrix). Both come from sums and cross-products, so PostgreSQL does the scanning.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from survey_service.lib.regression import solve
from survey_service.lib.stats import correlation_interval
from survey_service.lib.structs import Struct

__all__ = ["MIN_RELIABLE_N", "Driver", "DriverReport", "key_drivers"]

MIN_RELIABLE_N = 30
"""Below this many complete responses (or 10 per item) the report warns it proves little."""


class Driver(Struct):
    """One item: correlation with the outcome (95% interval) and standardised coefficient."""

    item: str
    correlation: float | None
    ci_low: float | None
    ci_high: float | None
    coefficient: float | None


class DriverReport(Struct):
    """Drivers of one outcome over ``n`` complete responses."""

    outcome: str
    n: int
    drivers: list[Driver]
    r_squared: float | None
    warning: str | None


def key_drivers(
    outcome: str,
    items: Sequence[str],
    n: int,
    sums: Sequence[float],
    cross: Sequence[Sequence[float]],
) -> DriverReport:
    """Drivers from ``n`` complete cases of variables [outcome, *items]: their ``sums`` and
    the matrix ``cross`` of sums of products (cross[i][j] = sum of v_i * v_j)."""
    k = len(items) + 1
    cov = [[cross[i][j] - sums[i] * sums[j] / n if n else 0.0 for j in range(k)] for i in range(k)]
    sd = [math.sqrt(max(cov[i][i], 0.0)) for i in range(k)]

    def corr(i: int, j: int) -> float | None:
        return cov[i][j] / (sd[i] * sd[j]) if sd[i] > 0 and sd[j] > 0 else None

    betas = None
    if n > k and all(s > 0 for s in sd):
        rxx = [[corr(i, j) or 0.0 for j in range(1, k)] for i in range(1, k)]
        rxy = [corr(i, 0) or 0.0 for i in range(1, k)]
        betas = solve(rxx, rxy)
    drivers = []
    for index, item in enumerate(items, start=1):
        r = corr(index, 0)
        low, high = correlation_interval(r, n) if r is not None else (None, None)
        drivers.append(
            Driver(
                item=item,
                correlation=r,
                ci_low=low,
                ci_high=high,
                coefficient=betas[index - 1] if betas else None,
            )
        )
    r_squared = None
    if betas:
        r_squared = sum(b * (corr(i, 0) or 0.0) for i, b in enumerate(betas, start=1))
    warning = None
    if n < max(MIN_RELIABLE_N, 10 * len(items)):
        warning = (
            f"Only {n} complete responses: too few to tell which item matters more; "
            f"collect at least {max(MIN_RELIABLE_N, 10 * len(items))}."
        )
    return DriverReport(outcome=outcome, n=n, drivers=drivers, r_squared=r_squared, warning=warning)
