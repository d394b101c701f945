"""95 % intervals for accuracies, and the rule that compares them.

A verdict built on 24 samples per checkpoint needs its uncertainty stated: a proportion gets a Wilson
score interval (Wilson 1927), a mean over samples and seeds a percentile bootstrap (Efron & Tibshirani
1993, ch. 13). Two accuracies are compared on their intervals, never on their point estimates:

**A beats B** only when A's interval lies entirely above B's (``A.low > B.high``; "by m" when
``A.low − B.high > m``); otherwise the comparison is *not decided*. Disjoint 95 % intervals are a conservative test (stricter than a 5 %
two-sided test of the difference), chosen because it is one sentence, needs nothing but the two
intervals, and reads the same for onsets (:func:`hidcap.evaluation.onsets.earlier`).

Inputs are numpy arrays; bad input (no samples, ``k > n``, NaN, wrong shapes) raises ``ValueError``.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import ndtri

__all__ = [
    "Interval",
    "accuracy_interval",
    "beats",
    "beats_control",
    "bootstrap_mean",
    "check_level",
    "check_samples",
    "resampled_means",
    "wilson_bounds",
    "wilson_interval",
]

N_BOOT = 2000


@dataclass(frozen=True)
class Interval:
    """A point estimate with its two-sided interval.

    estimate: the value measured on all the data; low, high: the interval's ends; n: samples behind it
    (samples × seeds for a pooled mean); method: ``"wilson"``, ``"bootstrap:samples"`` or
    ``"bootstrap:seeds+samples"``; level: coverage the interval aims at (0.95).
    """

    estimate: float
    low: float
    high: float
    n: int
    method: str
    level: float = 0.95

    def __post_init__(self) -> None:
        if not all(np.isfinite([self.estimate, self.low, self.high])):
            raise ValueError(f"interval ends and estimate must be finite, got {self.low}, {self.estimate}, {self.high}")
        if self.low > self.high:
            raise ValueError(f"interval low {self.low} is above high {self.high}")

    @property
    def width(self) -> float:
        return self.high - self.low

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (floats, int, str)."""
        d = asdict(self)
        return {k: (float(v) if k in ("estimate", "low", "high", "level") else int(v) if k == "n" else str(v))
                for k, v in d.items()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Interval:
        return cls(**d)


def check_level(level: float) -> float:
    """``level`` as a float in (0, 1), or ValueError."""
    level = float(level)
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    return level


def wilson_bounds(k: ArrayLike, n: ArrayLike, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for ``k`` successes of ``n`` trials, vectorised.

    k, n: integer arrays that broadcast together, ``0 <= k <= n``, ``n >= 1``. Returns ``(low, high)``
    arrays of the broadcast shape: ``(p̂ + z²/2n ∓ z·sqrt(p̂(1−p̂)/n + z²/4n²)) / (1 + z²/n)``,
    ``z`` the ``(1 + level)/2`` normal quantile. Unlike the normal (Wald) interval it is not empty at
    ``k = 0`` or ``k = n``: 0 of 24 gives [0, 0.138].
    """
    level = check_level(level)
    k_arr = np.asarray(k, dtype=float)
    n_arr = np.asarray(n, dtype=float)
    if not (np.isfinite(k_arr).all() and np.isfinite(n_arr).all()):
        raise ValueError("k and n must be finite (got NaN or inf)")
    if np.any(k_arr != np.round(k_arr)) or np.any(n_arr != np.round(n_arr)):
        raise ValueError("k and n must be whole numbers")
    try:
        k_arr, n_arr = np.broadcast_arrays(k_arr, n_arr)
    except ValueError:
        raise ValueError(f"k and n must broadcast together, got shapes {np.shape(k)} and {np.shape(n)}") from None
    if np.any(n_arr < 1):
        raise ValueError("n must be >= 1 (no samples gives no interval)")
    if np.any(k_arr < 0) or np.any(k_arr > n_arr):
        raise ValueError("k must satisfy 0 <= k <= n")
    z = ndtri(0.5 + level / 2)  # standard normal quantile
    p = k_arr / n_arr
    denom = 1 + z**2 / n_arr
    centre = (p + z**2 / (2 * n_arr)) / denom
    half = z * np.sqrt(p * (1 - p) / n_arr + z**2 / (4 * n_arr**2)) / denom
    low = np.clip(centre - half, 0.0, 1.0)
    high = np.clip(centre + half, 0.0, 1.0)
    low = np.where(k_arr == 0, 0.0, low)  # exact ends where rounding would leave 1e-17
    high = np.where(k_arr == n_arr, 1.0, high)
    return low, high


def wilson_interval(k: int, n: int, level: float = 0.95) -> Interval:
    """Wilson :class:`Interval` for one proportion ``k / n`` (see :func:`wilson_bounds`)."""
    if np.ndim(k) or np.ndim(n):
        raise ValueError("wilson_interval takes one k and one n; use wilson_bounds for arrays")
    low, high = wilson_bounds(k, n, level)
    return Interval(float(k) / float(n), float(low), float(high), int(n), "wilson", level)


def check_samples(values: ArrayLike, name: str, shapes: dict[int, str]) -> np.ndarray:
    """``values`` as a float array whose dimension is a key of ``shapes`` (``{ndim: "(T, n)"}``, named in
    the error), samples on the last axis, at least one sample, no NaN or inf; ValueError otherwise."""
    try:
        v = np.asarray(values).astype(float)
    except (ValueError, TypeError) as e:
        raise ValueError(f"{name} must be a rectangular array of numbers ({e})") from None
    if v.ndim not in shapes:
        raise ValueError(f"{name} must have shape {' or '.join(shapes.values())}, got {v.shape}")
    if v.size == 0 or v.shape[-1] == 0:
        raise ValueError(f"{name} has no samples (shape {v.shape})")
    if not np.isfinite(v).all():
        raise ValueError(f"{name} contains {'NaN' if np.isnan(v).any() else 'inf'}")
    return v


def resampled_means(values: np.ndarray, *, n_boot: int = N_BOOT, rng: int | np.random.Generator = 0,
                    resample_seeds: bool = True) -> np.ndarray:
    """Bootstrap means of ``values`` (n_seeds, ..., n): (n_boot, ...).

    Each resample draws the samples (last axis) with replacement within each seed, the same draw for
    every middle index (so a sample keeps its identity across checkpoints), then averages over samples
    and over seeds; with ``resample_seeds`` the seeds are drawn with replacement too (two-level
    bootstrap). Works on draw counts, so memory is (n_boot, n_seeds, n) plus the result.
    """
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 1:
        raise ValueError(f"n_boot must be an int >= 1, got {n_boot!r}")
    gen = np.random.default_rng(rng)
    n_seeds, n = values.shape[0], values.shape[-1]
    counts = _counts(gen, n, (n_boot, n_seeds))  # (B, S, n)
    per_seed = np.einsum("bsn,s...n->bs...", counts, values) / n  # (B, S, ...)
    if resample_seeds and n_seeds > 1:
        weights = _counts(gen, n_seeds, (n_boot,)) / n_seeds  # (B, S)
    else:
        weights = np.full((n_boot, n_seeds), 1.0 / n_seeds)
    return np.einsum("bs,bs...->b...", weights, per_seed)


def _counts(gen: np.random.Generator, n: int, shape: tuple[int, ...]) -> np.ndarray:
    """How often each of ``n`` items is drawn in ``n`` draws with replacement, for each of ``shape``
    resamples: (*shape, n) integer counts summing to ``n`` along the last axis."""
    rows = int(np.prod(shape))
    idx = gen.integers(0, n, size=(rows, n)) + (np.arange(rows) * n)[:, None]
    return np.bincount(idx.ravel(), minlength=rows * n).reshape(*shape, n)


def bootstrap_mean(values: ArrayLike, *, level: float = 0.95, n_boot: int = N_BOOT,
                   rng: int | np.random.Generator = 0, resample_seeds: bool = True) -> Interval:
    """Percentile-bootstrap interval of a mean.

    values: (n,) per-sample values (e.g. 0/1 correctness) or (n_seeds, n) per-seed per-sample values;
    the estimate is the mean of per-seed means. ``n_boot`` resamples from ``rng`` (an int seed or a
    ``numpy.random.Generator``); ``resample_seeds`` also draws seeds with replacement (see
    :func:`resampled_means`). The interval is the ``(1 ∓ level)/2`` quantiles of the resampled means.
    Resampling both seeds and samples counts the sample noise twice (it is already in the spread of the
    per-seed means), so the two-level interval is conservative: wider than 95 % coverage needs. When
    every sample has the same value the interval collapses to that value; for one proportion prefer
    :func:`wilson_interval`.
    """
    level = check_level(level)
    v = check_samples(values, "values", {1: "(n,)", 2: "(n_seeds, n)"})
    v2 = v[None] if v.ndim == 1 else v
    means = resampled_means(v2, n_boot=n_boot, rng=rng, resample_seeds=resample_seeds)
    low, high = np.quantile(means, [0.5 - level / 2, 0.5 + level / 2])
    estimate = float(v2.mean(axis=-1).mean())
    method = "bootstrap:seeds+samples" if (v.ndim == 2 and resample_seeds and v.shape[0] > 1) else "bootstrap:samples"
    return Interval(estimate, float(low), float(high), int(v2.size), method, level)


def accuracy_interval(correct: ArrayLike, *, level: float = 0.95, n_boot: int = N_BOOT,
                      rng: int | np.random.Generator = 0) -> Interval:
    """Interval of an accuracy from per-sample correctness (bool or 0/1).

    correct (n,): Wilson interval of ``k = correct.sum()`` of ``n``. correct (n_seeds, n): bootstrap over
    seeds and samples of the mean of per-seed accuracies (:func:`bootstrap_mean`); with one seed, Wilson.
    """
    v = check_samples(correct, "correct", {1: "(n,)", 2: "(n_seeds, n)"})
    if np.any((v != 0) & (v != 1)):
        raise ValueError("correct must hold 0/1 or bool per-sample correctness")
    if v.ndim == 1 or v.shape[0] == 1:
        flat = v.ravel()
        return wilson_interval(int(flat.sum()), flat.size, level)
    return bootstrap_mean(v, level=level, n_boot=n_boot, rng=rng)


def beats(a: Interval, b: Interval, by: float = 0.0) -> bool:
    """``True`` when A is higher than B beyond the intervals: ``a.low > b.high``, or with ``by`` (a
    required lead, e.g. 0.3) ``a.low − b.high > by``. ``False`` means *not decided* (B beating A is
    ``beats(b, a)``)."""
    for name, x in (("a", a), ("b", b)):
        if not isinstance(x, Interval):
            raise ValueError(f"{name} must be an Interval, got {type(x).__name__}")
    if not np.isfinite(by) or by < 0:
        raise ValueError(f"by must be a finite lead >= 0, got {by}")
    return bool(a.low - b.high > by)


def beats_control(real: Interval, control: Interval) -> bool:
    """Negative-control rule: a protocol's claim passes only if ``real`` beats its ``control`` beyond the
    intervals (:func:`beats`). A control that does as well as the protocol fails the claim."""
    return beats(real, control)
