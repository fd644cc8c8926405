"""Small dense linear algebra and logistic regression, as pure functions (no NumPy at run
time; the tests compare the fit with statsmodels).

The logistic fit is Newton-Raphson (IRLS) on covariate patterns: rows with identical
covariates are pooled into (trials, successes), which gives exactly the same maximum
likelihood estimate as row by row and keeps the work proportional to the number of
distinct patterns, small for survey ratings.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from survey_service.lib.structs import Struct

__all__ = ["LogitFit", "invert", "logistic_regression", "solve"]

MAX_ITERATIONS = 50
TOLERANCE = 1e-10
MAX_COEFFICIENT = 30.0
"""|beta| past this means (quasi-)separation: the odds ratio runs off to infinity."""


def solve(matrix: Sequence[Sequence[float]], vector: Sequence[float]) -> list[float] | None:
    """x with matrix @ x = vector (Gaussian elimination, partial pivoting); None when the
    matrix is singular."""
    size = len(vector)
    a = [[*row, vector[i]] for i, row in enumerate(matrix)]
    for col in range(size):
        pivot = max(range(col, size), key=lambda r: abs(a[r][col]))
        if abs(a[pivot][col]) < 1e-12:
            return None
        a[col], a[pivot] = a[pivot], a[col]
        for r in range(size):
            if r != col:
                factor = a[r][col] / a[col][col]
                a[r] = [x - factor * y for x, y in zip(a[r], a[col], strict=True)]
    return [a[i][size] / a[i][i] for i in range(size)]


def invert(matrix: Sequence[Sequence[float]]) -> list[list[float]] | None:
    """The inverse (column by column); None when singular."""
    size = len(matrix)
    columns = []
    for j in range(size):
        column = solve(matrix, [1.0 if i == j else 0.0 for i in range(size)])
        if column is None:
            return None
        columns.append(column)
    return [[columns[j][i] for j in range(size)] for i in range(size)]


class LogitFit(Struct):
    """Coefficients (log odds) and their standard errors, in the order of the columns."""

    coefficients: list[float]
    standard_errors: list[float]
    iterations: int


def _sigmoid(eta: float) -> float:
    if eta >= 0:
        return 1 / (1 + math.exp(-eta))
    e = math.exp(eta)
    return e / (1 + e)


def logistic_regression(
    rows: Sequence[Sequence[float]], outcomes: Sequence[bool]
) -> LogitFit | None:
    """The maximum likelihood logistic fit of ``outcomes`` on ``rows`` (include a column of
    ones for an intercept). None when it cannot be estimated: a singular design, or
    separation (a coefficient running off to infinity), or no convergence."""
    patterns: dict[tuple[float, ...], list[int]] = {}
    for row, outcome in zip(rows, outcomes, strict=True):
        counts = patterns.setdefault(tuple(row), [0, 0])
        counts[0] += 1
        counts[1] += bool(outcome)
    if not patterns:
        return None
    k = len(next(iter(patterns)))
    beta = [0.0] * k
    for iteration in range(1, MAX_ITERATIONS + 1):
        gradient = [0.0] * k
        hessian = [[0.0] * k for _ in range(k)]
        for x, (trials, successes) in patterns.items():
            p = _sigmoid(sum(b * v for b, v in zip(beta, x, strict=True)))
            residual = successes - trials * p
            weight = trials * p * (1 - p)
            for i in range(k):
                gradient[i] += residual * x[i]
                wx = weight * x[i]
                for j in range(i + 1):
                    hessian[i][j] += wx * x[j]
        for i in range(k):
            for j in range(i):
                hessian[j][i] = hessian[i][j]
        step = solve(hessian, gradient)
        if step is None:
            return None
        beta = [b + s for b, s in zip(beta, step, strict=True)]
        if any(abs(b) > MAX_COEFFICIENT for b in beta):
            return None
        if max(abs(s) for s in step) < TOLERANCE:
            covariance = invert(hessian)
            if covariance is None:
                return None
            errors = [math.sqrt(max(covariance[i][i], 0.0)) for i in range(k)]
            return LogitFit(coefficients=beta, standard_errors=errors, iterations=iteration)
    return None
