"""The quality gate's statistics agree with SciPy's, and decide what they should."""

from __future__ import annotations

import math
import random

import pytest
from scipy import stats as scipy_stats

from fleet.rollouts import stats


@pytest.mark.parametrize(
    ("k", "n", "p"), [(0, 10, 0.3), (3, 40, 0.3), (17, 40, 0.3), (250, 1000, 0.2), (5, 5, 0.9)]
)
def test_binomial_tails_match_scipy(k: int, n: int, p: float) -> None:
    assert stats.binom_cdf(k, n, p) == pytest.approx(scipy_stats.binom.cdf(k, n, p), rel=1e-9)
    assert stats.binom_sf(k, n, p) == pytest.approx(scipy_stats.binom.sf(k - 1, n, p), rel=1e-9)


def test_rate_test_is_the_conditional_binomial_test_of_two_poisson_rates() -> None:
    got = stats.rate_test(after=0, after_s=15, before=30, before_s=30)
    # Equal rates: each of the 30 events falls in the after window with p = 15/45.
    assert got.p_value == pytest.approx(2 * (30 / 45) ** 30)
    assert got.ratio == 0 and got.expected_after == pytest.approx(15)
    same = stats.rate_test(after=10, after_s=10, before=30, before_s=30)
    assert same.ratio == pytest.approx(1.0) and same.p_value == 1.0
    busy = stats.rate_test(after=200, after_s=10, before=30, before_s=30)
    assert busy.ratio == pytest.approx(20.0) and busy.p_value < 1e-50
    assert stats.rate_test(0, 10, 0, 10).p_value == 1.0
    assert stats.rate_test(5, 10, 0, 10).ratio == math.inf
    with pytest.raises(ValueError, match="positive"):
        stats.rate_test(1, 0, 1, 10)


def test_ks_statistic_and_p_value_match_scipy() -> None:
    rng = random.Random(7)
    for n, m, shift in ((80, 50, 0.0), (200, 200, 0.1), (30, 400, 0.4), (500, 20, 0.0)):
        a = [rng.gauss(0.6, 0.1) for _ in range(n)]
        b = [rng.gauss(0.6 + shift, 0.1) for _ in range(m)]
        got = stats.ks_test(a, b)
        want = scipy_stats.ks_2samp(a, b)
        assert got.statistic == pytest.approx(want.statistic, abs=1e-12)
        # Asymptotic with Stephens' correction vs SciPy's exact/asymptotic choice: close.
        assert got.p_value == pytest.approx(want.pvalue, abs=0.01, rel=0.25)


def test_ks_separates_a_collapsed_score_distribution() -> None:
    rng = random.Random(3)
    before = [min(1.0, max(0.35, rng.gauss(0.6, 0.12))) for _ in range(100)]
    saturated = [1.0] * 100
    got = stats.ks_test(before, saturated)
    assert got.statistic == pytest.approx(1.0) and got.p_value < 1e-20
    with pytest.raises(ValueError):
        stats.ks_test([], [1.0])


def test_median() -> None:
    assert stats.median([3.0, 1.0, 2.0]) == 2.0
    assert stats.median([4.0, 1.0, 2.0, 3.0]) == 2.5
