"""The random draw of variants, tested statistically on 100,000 draws per weighting."""

from __future__ import annotations

import collections
from collections.abc import Callable

import pytest

from survey_service.experiments.assignment import draw_variant
from survey_service.lib.stats import chi_square_gof
from survey_service.surveys.definitions import Experiment, Variant
from tests.helpers import SPLITS

DRAWS = 100_000


@pytest.mark.parametrize("slug", list(SPLITS))
def test_draws_follow_the_weights(slug: str, figures: Callable[[str], None]) -> None:
    weights = SPLITS[slug]
    experiment = Experiment(
        key=slug,
        control="a",
        variants=[Variant(name=name, weight=weight) for name, weight in weights.items()],
    )
    drawn = collections.Counter(draw_variant(experiment) for _ in range(DRAWS))
    names = list(weights)
    statistic, p = chi_square_gof([drawn[n] for n in names], [weights[n] for n in names])
    figures(f"draw {slug}: {dict(drawn)} of {DRAWS:,} chi2={statistic:.2f} p={p:.3f}")
    assert set(drawn) == set(names)
    assert p > 1e-5  # fails by chance once in 100,000 runs; a biased draw fails always


def test_a_biased_draw_would_be_caught() -> None:
    """The check above has the power to see a 1-point bias at this sample size."""
    biased = [51_000, 49_000]
    assert chi_square_gof(biased, [50, 50])[1] < 1e-5
