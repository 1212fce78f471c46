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
