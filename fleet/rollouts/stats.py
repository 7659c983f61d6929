"""The two statistical tests behind the detection-quality gate. Pure Python, no I/O.

* **Rate**: is a camera's detection rate after an update different from before? Counts
  of independent events over time are modelled as Poisson. Conditional on the total
  n = a + b, the after-count a of two Poisson processes with equal rates observed for
  t_after and t_before is Binomial(n, t_after / (t_after + t_before)) (the classical exact
  test for comparing two Poisson rates). `rate_test` returns the two-sided p-value (twice
  the smaller tail, capped at 1) and the rate ratio.
* **Scores**: did the confidence distribution change? The two-sample Kolmogorov-Smirnov
  statistic D (largest gap between the two empirical CDFs) with its asymptotic p-value
  (Kolmogorov's distribution, with Stephens' small-sample correction of the argument).

Both are cross-checked against SciPy in tests/fleet/test_rollout_stats.py.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class RateTest:
    """After vs before: counts, durations, the rate ratio and the test's p-value."""

    after: int
    before: int
    after_s: float
    before_s: float
    ratio: float  # (after / after_s) / (before / before_s); inf when before is 0
    expected_after: float  # what `after` would be at the before rate
    p_value: float


def _log_pmf(k: int, n: int, p: float) -> float:
    if p <= 0.0:
        return 0.0 if k == 0 else -math.inf
    if p >= 1.0:
        return 0.0 if k == n else -math.inf
    return (
        math.lgamma(n + 1)
        - math.lgamma(k + 1)
        - math.lgamma(n - k + 1)
        + k * math.log(p)
        + (n - k) * math.log1p(-p)
    )


def _log_sum(logs: Sequence[float]) -> float:
    top = max(logs)
    if top == -math.inf:
        return -math.inf
    return top + math.log(sum(math.exp(x - top) for x in logs))


def binom_cdf(k: int, n: int, p: float) -> float:
    """P(X <= k) for X ~ Binomial(n, p)."""
    if k < 0:
        return 0.0
    if k >= n:
        return 1.0
    return min(1.0, math.exp(_log_sum([_log_pmf(i, n, p) for i in range(k + 1)])))


def binom_sf(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p)."""
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    return min(1.0, math.exp(_log_sum([_log_pmf(i, n, p) for i in range(k, n + 1)])))


def rate_test(after: int, after_s: float, before: int, before_s: float) -> RateTest:
    """Compare two event counts over their observation times (both times > 0)."""
    if after_s <= 0 or before_s <= 0:
        raise ValueError("observation times must be positive")
    n = after + before
    share = after_s / (after_s + before_s)
    lower = binom_cdf(after, n, share)
    upper = binom_sf(after, n, share)
    p_value = min(1.0, 2.0 * min(lower, upper))
    before_rate = before / before_s
    after_rate = after / after_s
    ratio = after_rate / before_rate if before_rate > 0 else math.inf if after else 1.0
    return RateTest(after, before, after_s, before_s, ratio, before_rate * after_s, p_value)


@dataclass(frozen=True)
class KsTest:
    """Two-sample Kolmogorov-Smirnov: statistic D in [0, 1] and asymptotic p-value."""

    statistic: float
    p_value: float
    n_before: int
    n_after: int


def ks_statistic(a: Sequence[float], b: Sequence[float]) -> float:
    """Sup |F_a(x) - F_b(x)| over all x; both samples non-empty."""
    xs, ys = sorted(a), sorted(b)
    gap = 0.0
    for value in (*xs, *ys):
        fa = bisect_right(xs, value) / len(xs)
        fb = bisect_right(ys, value) / len(ys)
        gap = max(gap, abs(fa - fb))
    return gap


def kolmogorov_sf(lam: float) -> float:
    """P(K > lam) for Kolmogorov's distribution: 2 sum (-1)^(k-1) exp(-2 k^2 lam^2)."""
    if lam < 0.2:  # the series converges slowly here and the value is 1 to 1e-10
        return 1.0
    total = 0.0
    for k in range(1, 101):
        term = 2.0 * (-1) ** (k - 1) * math.exp(-2.0 * k * k * lam * lam)
        total += term
        if abs(term) < 1e-12:
            break
    return min(1.0, max(0.0, total))


def ks_test(before: Sequence[float], after: Sequence[float]) -> KsTest:
    """D between the samples and its p-value (asymptotic, Stephens-corrected)."""
    if not before or not after:
        raise ValueError("both samples need at least one value")
    d = ks_statistic(before, after)
    n, m = len(before), len(after)
    en = math.sqrt(n * m / (n + m))
    return KsTest(d, kolmogorov_sf((en + 0.12 + 0.11 / en) * d), n, m)


def median(values: Sequence[float]) -> float:
    """The middle value (mean of the middle two); the sample must not be empty."""
    ordered = sorted(values)
    mid = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[mid]
    return (ordered[mid - 1] + ordered[mid]) / 2.0
