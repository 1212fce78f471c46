"""ocrlab.stats on inputs whose answers are known."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ocrlab.stats import holm, mean_ci, paired_bootstrap, t_quantile_975


def test_t_quantiles_match_the_table_and_the_limit():
    assert t_quantile_975(2) == pytest.approx(4.303)
    assert t_quantile_975(60) == pytest.approx(2.000, abs=2e-3)
    assert t_quantile_975(120) == pytest.approx(1.980, abs=2e-3)
    with pytest.raises(ValueError):
        t_quantile_975(0)


def test_mean_ci_of_known_values():
    ci = mean_ci([1.0, 2.0, 3.0])  # mean 2, sd 1, half-width t(2) * 1 / sqrt(3)
    half = 4.303 / math.sqrt(3)
    assert (ci.mean, ci.std, ci.n) == (2.0, 1.0, 3)
    assert ci.low == pytest.approx(2 - half) and ci.high == pytest.approx(2 + half)
    one = mean_ci([0.25])
    assert one.low == one.high == one.mean == 0.25
    with pytest.raises(ValueError):
        mean_ci([])


def test_paired_bootstrap_sees_a_consistent_shift_and_not_noise():
    rng = np.random.default_rng(0)
    lengths = rng.integers(5, 30, size=400).astype(float)
    base = rng.poisson(2.0, size=(3, 400)).astype(float)
    # every line of every seed one error fewer: pooled CER difference = -3*400 / (3 * sum len)
    better = np.maximum(base - 1, 0)
    d = paired_bootstrap(better, base, lengths, n_boot=1000, seed=1)
    exact = (better - base).sum() / (3 * lengths.sum())
    assert d.diff == pytest.approx(exact)
    assert d.high < 0 and d.p <= 0.002
    assert len(d.per_seed) == 3 and all(x < 0 for x in d.per_seed)

    same = paired_bootstrap(base, base, lengths, n_boot=500)
    assert same.diff == 0 and same.p == 1.0

    # errors that differ only by a symmetric random swap: no effect to find
    swap = rng.random(size=(3, 400)) < 0.5
    noise_a = np.where(swap, base, rng.poisson(2.0, size=(3, 400)))
    noise_b = np.where(swap, rng.poisson(2.0, size=(3, 400)), base)
    n = paired_bootstrap(noise_a, noise_b, lengths, n_boot=1000, seed=2)
    assert n.low < 0 < n.high and n.p > 0.05


def test_paired_bootstrap_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="must match"):
        paired_bootstrap(np.zeros((2, 5)), np.zeros((2, 4)), np.ones(5))
    with pytest.raises(ValueError, match="positive length"):
        paired_bootstrap(np.zeros((1, 3)), np.zeros((1, 3)), np.zeros(3))


def test_holm_adjustment_of_a_known_family():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])
    assert holm([]) == []


def test_t_table_joins_the_expansion_at_df_30():
    assert t_quantile_975(30) == pytest.approx(2.042)  # the table's last entry
    assert t_quantile_975(31) == pytest.approx(2.0395, abs=1e-3)  # the expansion's first
    assert t_quantile_975(30) > t_quantile_975(31) > 1.96


def _diffs_with(mean: float, sd: float, n: int, seed: int) -> np.ndarray:
    """n paired differences whose sample mean and sample sd are exactly ``mean`` and ``sd``."""
    z = np.random.default_rng(seed).standard_normal(n)
    z = (z - z.mean()) / z.std(ddof=0)
    return mean + sd * z


def test_bootstrap_interval_endpoints_on_a_known_distribution():
    """One seed, unit lengths: the pooled difference is the mean of d, whose sampling sd is
    sd / sqrt(N); the percentile interval must sit at about mean +- 1.96 of that."""
    n, sd = 400, 2.0
    d = _diffs_with(0.3, sd, n, seed=0)
    r = paired_bootstrap(d, np.zeros(n), np.ones(n), n_boot=4000, seed=0)
    se = sd / math.sqrt(n)
    assert r.diff == pytest.approx(0.3)
    assert r.low == pytest.approx(0.3 - 1.96 * se, abs=0.15 * se)
    assert r.high == pytest.approx(0.3 + 1.96 * se, abs=0.15 * se)


def test_bootstrap_p_value_of_a_moderate_effect():
    """A mean two standard errors from 0: the two-sided p must be near 0.0455, not 0 or 1."""
    n, sd = 400, 1.0
    d = _diffs_with(2.0 * sd / math.sqrt(n), sd, n, seed=1)
    r = paired_bootstrap(d, np.zeros(n), np.ones(n), n_boot=4000, seed=3)
    assert 0.03 < r.p < 0.065


def test_bootstrap_is_reproducible_under_a_seed():
    d = _diffs_with(0.1, 1.0, 100, seed=2)
    a = paired_bootstrap(d, np.zeros(100), np.ones(100), n_boot=500, seed=7)
    b = paired_bootstrap(d, np.zeros(100), np.ones(100), n_boot=500, seed=7)
    c = paired_bootstrap(d, np.zeros(100), np.ones(100), n_boot=500, seed=8)
    assert a == b
    assert (a.low, a.high) != (c.low, c.high)


def test_bootstrap_interval_covers_the_true_difference_95_percent_of_the_time():
    """Coverage over 300 simulated test sets drawn from a known population (true difference
    0.2): a 95% interval must cover it in about 95% of them."""
    rng = np.random.default_rng(11)
    n, true = 150, 0.2
    covered = 0
    trials = 300
    for t in range(trials):
        d = rng.normal(true, 1.0, size=n)
        r = paired_bootstrap(d, np.zeros(n), np.ones(n), n_boot=400, seed=t)
        covered += r.low <= true <= r.high
    assert 0.90 <= covered / trials <= 0.99


def test_holm_with_one_test_and_with_ties():
    assert holm([0.03]) == pytest.approx([0.03])  # m = 1: nothing to correct
    assert holm([0.01, 0.04, 0.01]) == pytest.approx([0.03, 0.04, 0.03])
    assert holm([0.02, 0.02]) == pytest.approx([0.04, 0.04])
    adjusted = holm([0.001, 0.2, 0.03, 0.03])
    # monotone in the raw p-values, never below them, never above 1
    assert all(a >= p for a, p in zip(adjusted, [0.001, 0.2, 0.03, 0.03], strict=True))
    assert max(adjusted) <= 1.0
