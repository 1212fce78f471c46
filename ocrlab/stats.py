"""Statistics for comparing training configurations: confidence intervals over seeds, a paired
bootstrap over test lines (pooled over seeds), and Holm's correction for many comparisons.

All functions are plain NumPy and deterministic for a given ``seed``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

# Student's t, two-sided 95% (the 0.975 quantile), for 1..30 degrees of freedom.
_T975 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip


def t_quantile_975(df: int) -> float:
    """The 0.975 quantile of Student's t with ``df`` degrees of freedom (table up to 30, then
    the Cornish-Fisher expansion around the normal's 1.96, accurate to 1e-3)."""
    if df < 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {df}")
    if df <= len(_T975):
        return _T975[df - 1]
    z = 1.959964
    return z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)


@dataclass(frozen=True)
class MeanCI:
    """Mean of ``n`` values with a 95% t-interval (``low == high == mean`` when n == 1)."""

    mean: float
    low: float
    high: float
    std: float
    n: int

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def mean_ci(values: Sequence[float]) -> MeanCI:
    """Mean and 95% confidence interval (Student's t) of ``values`` — e.g. a metric over seeds."""
    x = np.asarray(values, dtype=np.float64)
    if x.size == 0:
        raise ValueError("mean_ci needs at least one value")
    m = float(x.mean())
    if x.size == 1:
        return MeanCI(m, m, m, 0.0, 1)
    sd = float(x.std(ddof=1))
    half = t_quantile_975(x.size - 1) * sd / math.sqrt(x.size)
    return MeanCI(m, m - half, m + half, sd, int(x.size))


@dataclass(frozen=True)
class PairedDiff:
    """``a - b`` of a pooled error rate, with a bootstrap 95% CI and a two-sided p-value.

    ``per_seed``: the difference seed by seed (same seed = same data order and initialization
    for both), to see whether the sign holds across seeds."""

    diff: float
    low: float
    high: float
    p: float
    per_seed: tuple[float, ...]
    n_lines: int
    n_boot: int

    def as_dict(self) -> dict[str, object]:
        d = asdict(self)
        d["per_seed"] = list(self.per_seed)
        return d


def paired_bootstrap(
    errors_a: np.ndarray,
    errors_b: np.ndarray,
    lengths: np.ndarray,
    *,
    n_boot: int = 2000,
    seed: int = 0,
) -> PairedDiff:
    """Paired bootstrap of the difference of pooled error rates between two configurations.

    ``errors_a``, ``errors_b``: (S, N) errors of each configuration, for S seeds (paired: seed s
    of a with seed s of b) on the same N test lines — edit distances for CER, 0/1 for line
    error rate. ``lengths``: (N,) reference lengths (ones for a line error rate).

    The rate is pooled over seeds and lines, ``sum errors / (S * sum lengths)``; the bootstrap
    resamples test lines (the same resample for every seed and both configurations), so its
    interval is about the test set's sampling noise for these seeds. The p-value is two-sided,
    from the bootstrap distribution shifted to the null (difference 0), at least ``1/n_boot``.
    """
    a = np.asarray(errors_a, dtype=np.float64)
    b = np.asarray(errors_b, dtype=np.float64)
    n_len = np.asarray(lengths, dtype=np.float64)
    if a.ndim == 1:
        a, b = a[None], b[None]
    if a.shape != b.shape or a.shape[1] != n_len.shape[0]:
        raise ValueError(
            f"paired_bootstrap: errors {a.shape} and {b.shape} must match and have one column "
            f"per length ({n_len.shape[0]})"
        )
    S, N = a.shape
    if N == 0 or n_len.sum() <= 0:
        raise ValueError("paired_bootstrap needs at least one test line with a positive length")
    d = (a - b).sum(0)  # (N,) summed over seeds
    diff = float(d.sum() / (S * n_len.sum()))
    per_seed = tuple(float(x) for x in (a - b).sum(1) / n_len.sum())
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, N, size=(n_boot, N))  # (B, N)
    boot = d[idx].sum(1) / (S * np.maximum(n_len[idx].sum(1), 1e-12))  # (B,)
    low, high = (float(x) for x in np.percentile(boot, [2.5, 97.5]))
    centered = boot - boot.mean()
    p = float(max((np.abs(centered) >= abs(diff)).mean(), 1.0 / n_boot))
    if diff == 0.0:
        p = 1.0
    return PairedDiff(diff, low, high, p, per_seed, N, n_boot)


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (same order as given), for a family of comparisons."""
    p = np.asarray(pvalues, dtype=np.float64)
    m = p.size
    order = np.argsort(p)
    adjusted = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adjusted[i] = running
    return adjusted.tolist()
