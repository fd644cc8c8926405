"""Pure parts of the interaction log and the outcomes report: the word lists, the
logistic regression (against statsmodels), correlations, the need ranking and the
segments."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
import statsmodels.api as sm

from survey_service.interactions.need import rank_need
from survey_service.interactions.vocabulary import ACTIONS, CHANNELS, EMOTIONS, LABELS, REACTIONS
from survey_service.lib.regression import invert, logistic_regression
from survey_service.lib.stats import Moments, correlation, correlation_interval
from survey_service.outcomes.value import CustomerRow, CutPoints, value_figures


def test_every_language_names_every_choice() -> None:
    assert set(LABELS["es"]) == set(LABELS["en"])
    for words in LABELS.values():
        assert set(EMOTIONS + ACTIONS + REACTIONS + CHANNELS) <= set(words)
        assert all(text.strip() for text in words.values())


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_logistic_regression_matches_statsmodels(seed: int) -> None:
    rng = random.Random(seed)
    rows, outcomes = [], []
    for _ in range(400):
        x1, x2, x3 = rng.randint(1, 5), float(rng.random() < 0.5), rng.gauss(0, 1)
        eta = -1.5 + 0.4 * x1 - 0.7 * x2 + 0.3 * x3
        rows.append([1.0, float(x1), x2, x3])
        outcomes.append(rng.random() < 1 / (1 + math.exp(-eta)))
    fit = logistic_regression(rows, outcomes)
    assert fit is not None
    oracle = sm.Logit(np.array(outcomes, dtype=float), np.array(rows)).fit(disp=0)
    assert fit.coefficients == pytest.approx(list(oracle.params), rel=1e-7, abs=1e-9)
    assert fit.standard_errors == pytest.approx(list(oracle.bse), rel=1e-6)


def test_separation_and_singular_designs_are_refused() -> None:
    rows = [[1.0, float(x)] for x in range(10)]
    assert logistic_regression(rows, [x >= 5 for x in range(10)]) is None  # separated
    twins = [[1.0, float(x), float(x)] for x in range(10)]
    assert logistic_regression(twins, [x % 3 == 0 for x in range(10)]) is None  # collinear
    assert logistic_regression([], []) is None
    assert invert([[1.0, 2.0], [2.0, 4.0]]) is None
    assert invert([[2.0, 0.0], [0.0, 4.0]]) == [[0.5, 0.0], [0.0, 0.25]]


def test_correlation_and_moments_match_numpy() -> None:
    rng = random.Random(5)
    xs = [rng.gauss(0, 1) for _ in range(50)]
    ys = [x * 0.5 + rng.gauss(0, 1) for x in xs]
    r = correlation(xs, ys)
    assert r == pytest.approx(np.corrcoef(xs, ys)[0, 1])
    low, high = correlation_interval(r or 0.0, 50)
    z = math.atanh(r or 0.0)
    assert low == pytest.approx(math.tanh(z - 1.959963984540054 / math.sqrt(47)))
    assert high is not None
    assert high > (r or 0.0)
    assert correlation([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]) is None
    assert correlation_interval(0.5, 3) == (None, None)
    m = Moments.from_values(xs)
    assert (m.mean, m.variance) == (pytest.approx(np.mean(xs)), pytest.approx(np.var(xs, ddof=1)))


def test_need_ranks_by_the_lower_bound_and_suppresses_small_groups() -> None:
    groups = rank_need(
        {"big": (200, 60), "tiny": (3, 3), "small-high": (10, 6)},
        {"big": (50, 5), "web": (40, 30)},
        5,
        "interactions",
    )
    # 6 of 10 (Wilson lower bound 31%) ranks above 60 of 200 (24%); suppressed and empty
    # groups come last.
    assert [g.key for g in groups] == ["small-high", "big", "tiny", "web"]
    tiny = next(g for g in groups if g.key == "tiny")
    assert tiny.started_upset is None
    assert tiny.interactions == 3
    assert [g.rank for g in groups] == [1, 2, 3, 4]
    lows = [g.started_upset.ci_low for g in groups if g.started_upset is not None]
    assert lows == sorted(lows, reverse=True)
    by_responses = rank_need({}, {"a": (10, 1), "b": (10, 9)}, 5, "responses")
    assert [g.key for g in by_responses] == ["b", "a"]


def test_cut_points_and_lifetime_value() -> None:
    cuts = CutPoints(low_below=50, high_from=80)
    assert [cuts.segment(v) for v in (0, 49.9, 50, 79.9, 80, 100)] == [
        "low",
        "low",
        "middle",
        "middle",
        "high",
        "high",
    ]

    def row(index: float, bought: bool, revenue: float) -> CustomerRow:
        return CustomerRow(
            empathy_index=index,
            empathy_understood=None,
            empathy_cared=None,
            empathy_emotional=None,
            touchpoint=None,
            channel="link",
            bought=bought,
            referrals=0,
            revenue=revenue,
        )

    rows = [row(90, i < 6, 40.0 if i < 6 else 0.0) for i in range(10)]
    rows += [row(10, i < 2, 40.0 if i < 2 else 0.0) for i in range(10)]
    figures = value_figures(rows, cuts, 5)
    high = next(s for s in figures.segments if s.segment == "high")
    assert high.lifetime_value is not None
    assert high.lifetime_value.value == pytest.approx(24.0 / (1 - 0.6))
    middle = next(s for s in figures.segments if s.segment == "middle")
    assert middle.suppressed
    assert middle.revenue_per_customer is None
    difference = figures.high_vs_low.repeat_purchase_rate
    assert difference is not None
    assert difference.absolute == pytest.approx(40.0)
    assert figures.regression is None  # no item answered: nothing to regress on
    assert figures.regression_note is not None
