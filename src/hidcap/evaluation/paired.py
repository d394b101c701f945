"""Seed-level tests with a stated error rate: one value per training seed, never a bootstrap over seeds.

A claim over training seeds ("capability is above behaviour", "level A learns earlier than level B") is
tested on **one number per seed**: a per-seed value (capability − behaviour) or a per-seed paired difference
(A's value − B's value for the same seed). Seeds are the unit of replication; with 3 to 5 of them a
percentile bootstrap over seeds is degenerate (a resample repeats one seed too often for its quantiles to
mean anything), so nothing here resamples seeds.

The test of a claim (one-sided, in the claimed direction, at ``alpha`` = 0.05):

- ``method="t"``: Student's t on the per-seed values, ``n − 1`` degrees of freedom, with **each seed's
  sample noise folded in**: the variance of a seed's value is estimated by the across-seed sample
  variance ``s²`` (which holds the between-seed spread and the sample noise), floored at the mean of the
  per-seed sampling variances ``v̄`` (``sample_var``, e.g. ``p̃(1 − p̃)/(n + 4)`` of an accuracy on
  ``n`` samples, :func:`accuracy_values`). The standard error is ``sqrt(max(s², v̄) / n_seeds)``, so five
  seeds that agree by luck (or all sit at 24 of 24) are not taken as noiseless. The floor only widens the
  t interval, so the test is at most as liberal as Student's.
- ``method="sign-flip"``: the exact permutation test that flips the sign of each seed's value (all
  ``2^n`` patterns; Fisher 1935), p = share of patterns whose mean is at least the observed one. Exact
  whenever a value is as likely negative as positive under "no effect", whatever its law, censored values
  included. With 5 seeds its smallest p is 1/32 = 0.031 (every seed in the claimed direction); with 3
  seeds 1/8, so 3 seeds can never pass it at 0.05.
- ``method="sign"``: the exact binomial sign test on the non-zero values (``scipy.stats.binomtest``).

**Decision rule** (``SeedTest.passed``): ``True`` when the claimed direction's one-sided p ≤ ``alpha``;
``False`` when the opposite direction's one-sided p ≤ ``alpha`` (decided against the claim); ``None``
(undetermined) otherwise. So a claim with no effect behind it passes with probability ≤ ``alpha``, and a
true claim is decided against with probability ≤ ``alpha``: exactly for the sign-flip and sign tests, by
normal theory for t (measured on simulated learning curves in benchmarks/interval_calibration.py, table
in docs/probes.md, "Seed-level statistics: error rates"). ``decided`` is ``passed is not None``.

Every result also reports a t interval at level ``1 − 2·alpha`` (two-sided 90 %), whose lower end is the
one-sided 95 % bound: with ``method="t"`` the claim "greater" passes exactly when ``low > threshold``.

**Learning times** (:func:`onset_test`): a run that never learns has learning time "never", which enters
**censored at the run's horizon** (a number ≥ every observed learning time, e.g. the run's last step): a
seed where A learns at 6,000 and B never has difference ≤ 6,000 − horizon, a seed where neither learns has
difference 0 (no evidence either way). The default test is the sign-flip one, which stays exact under this
censoring (the t test is not offered for onsets: on learning times read off a checkpoint grid its
false-positive rate came out above alpha in the calibration); ``SeedTest.censored`` counts the seeds with
a "never".

**Trends over levels** (:func:`trend_test`, e.g. learning time against colour separation): per seed, the
Spearman rank correlation of the level with the censored learning times (a seed whose times are all equal
has 0: no evidence), then the sign-flip test of those correlations over seeds (exact when the levels'
learning times of a seed are exchangeable under "no trend").

Bad input (fewer than 2 seeds, NaN or inf, seeds that do not match between A and B, repeated seeds,
negative sampling variances, an unknown method or direction) raises ``ValueError`` naming the problem.
"""
from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from hidcap.evaluation.intervals import check_samples

__all__ = [
    "ALPHA",
    "METHODS",
    "SeedTest",
    "accuracy_values",
    "onset_test",
    "paired_test",
    "seed_test",
    "trend_test",
]

ALPHA = 0.05
METHODS = ("t", "sign-flip", "sign")
_ALTERNATIVES = ("greater", "less")

SeedValues = Sequence[float] | np.ndarray | Mapping[Any, float]
Seed = int | str


@dataclass(frozen=True)
class SeedTest:
    """A one-sided test over training seeds and its t interval.

    estimate: mean of the per-seed ``values`` minus ``threshold``; low, high: its t interval at ``level``
    (= 1 − 2·alpha, so ``low`` is the one-sided 1 − alpha bound); se: the standard error used
    (``sqrt(max(s², v̄)/n)``); p_value: one-sided p of the claimed direction (``alternative``) by
    ``method``; p_reverse: the same for the opposite direction; n: seeds; seeds: their labels (or
    ``None``); values: per-seed values (differences for a paired test); sample_var: per-seed sampling
    variances folded into the t interval (or ``None``); censored: seeds with a "never" (onsets only).
    ``passed``: see the module's decision rule.
    """

    estimate: float
    low: float
    high: float
    se: float
    p_value: float
    p_reverse: float
    n: int
    seeds: tuple[Seed, ...] | None
    values: tuple[float, ...]
    sample_var: tuple[float, ...] | None
    threshold: float
    alternative: str
    method: str
    alpha: float = ALPHA
    censored: int = 0

    @property
    def level(self) -> float:
        """Two-sided level of ``low``/``high``: 1 − 2·alpha."""
        return 1.0 - 2.0 * self.alpha

    @property
    def passed(self) -> bool | None:
        """``True``: claimed direction's p ≤ alpha; ``False``: opposite direction's p ≤ alpha; else ``None``."""
        if self.p_value <= self.alpha:
            return True
        if self.p_reverse <= self.alpha:
            return False
        return None

    @property
    def decided(self) -> bool:
        return self.passed is not None

    @property
    def rule(self) -> str:
        """The decision rule in words (written into verdicts)."""
        side = ">" if self.alternative == "greater" else "<"
        return (f"passed when the one-sided {self.method} test over {self.n} seeds of mean {side} "
                f"{self.threshold:g} gives p <= {self.alpha:g}; failed when the opposite one-sided p <= "
                f"{self.alpha:g}; otherwise undetermined")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (``passed`` is ``null`` when undetermined)."""
        return {"estimate": float(self.estimate), "low": float(self.low), "high": float(self.high),
                "se": float(self.se), "p_value": float(self.p_value), "p_reverse": float(self.p_reverse),
                "n": int(self.n),
                "seeds": None if self.seeds is None else [s if isinstance(s, str) else int(s) for s in self.seeds],
                "values": [float(v) for v in self.values],
                "sample_var": None if self.sample_var is None else [float(v) for v in self.sample_var],
                "threshold": float(self.threshold), "alternative": self.alternative, "method": self.method,
                "alpha": float(self.alpha), "level": float(self.level), "censored": int(self.censored),
                "passed": self.passed, "decided": self.decided, "rule": self.rule}


def accuracy_values(correct: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Per-seed accuracy and its sampling variance from per-sample correctness (n_seeds, n) of 0/1.

    Returns ``(accuracy, variance)``, both (n_seeds,): ``k/n`` and the Agresti–Coull variance
    ``p̃(1 − p̃)/(n + 4)`` with ``p̃ = (k + 2)/(n + 4)``, which is never 0 (24 of 24 still has a variance).
    """
    c = check_samples(correct, "correct", {2: "(n_seeds, n)"})
    if np.any((c != 0) & (c != 1)):
        raise ValueError("correct must hold 0/1 or bool per-sample correctness")
    n = c.shape[1]
    k = c.sum(axis=1)
    p_tilde = (k + 2) / (n + 4)
    return k / n, p_tilde * (1 - p_tilde) / (n + 4)


def _as_values(values: SeedValues, seeds: Sequence[Seed] | None, name: str) -> tuple[np.ndarray, tuple | None]:
    """(n,) float array and seed labels from a sequence (with optional ``seeds``) or a seed -> value mapping."""
    if isinstance(values, Mapping):
        if seeds is not None:
            raise ValueError(f"{name} is a seed -> value mapping; do not pass seeds as well")
        seeds = tuple(values)
        values = [values[s] for s in seeds]
    try:
        v = np.asarray(values, dtype=float)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{name} must be numbers, one per seed ({e})") from None
    if v.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one value per seed), got shape {v.shape}")
    if v.size < 2:
        raise ValueError(f"{name} needs at least 2 seeds, got {v.size}")
    if not np.isfinite(v).all():
        raise ValueError(f"{name} contains {'NaN' if np.isnan(v).any() else 'inf'}")
    if seeds is not None:
        seeds = tuple(seeds)
        if len(seeds) != v.size:
            raise ValueError(f"got {len(seeds)} seeds for {v.size} values of {name}")
        if len(set(seeds)) != len(seeds):
            raise ValueError(f"seeds of {name} must be distinct, got {list(seeds)}")
    return v, seeds


def _as_var(sample_var: SeedValues | None, seeds: tuple | None, n: int, name: str) -> np.ndarray | None:
    if sample_var is None:
        return None
    if isinstance(sample_var, Mapping):
        if seeds is None or set(sample_var) != set(seeds):
            raise ValueError(f"{name} must have the same seeds as the values")
        sample_var = [sample_var[s] for s in seeds]
    v = np.asarray(sample_var, dtype=float)
    if v.shape != (n,):
        raise ValueError(f"{name} must hold one variance per seed ({n}), got shape {v.shape}")
    if not np.isfinite(v).all() or np.any(v < 0):
        raise ValueError(f"{name} must be finite and >= 0")
    return v


def _check_options(alternative: str, alpha: float, method: str) -> None:
    if alternative not in _ALTERNATIVES:
        raise ValueError(f"alternative must be one of {_ALTERNATIVES}, got {alternative!r}")
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if not 0.0 < float(alpha) < 0.5:
        raise ValueError(f"alpha must be in (0, 0.5), got {alpha}")


def _sign_flip_p(d: np.ndarray) -> float:
    """Exact one-sided p of mean(d) > 0 over all 2^n sign flips (ties within 1e-12 count as at least)."""
    if d.size > 20:
        raise ValueError(f"the exact sign-flip test enumerates 2^n patterns; {d.size} seeds is too many (use 't')")
    signs = np.array(list(itertools.product((1.0, -1.0), repeat=d.size)))  # (2^n, n)
    means = signs @ d / d.size
    observed = d.mean()
    return float(np.mean(means >= observed - 1e-12 * max(1.0, float(np.abs(d).max()))))


def _test(d: np.ndarray, sample_var: np.ndarray | None, seeds: tuple | None, threshold: float, alternative: str,
          alpha: float, method: str, censored: int = 0) -> SeedTest:
    """The test of ``d − threshold`` in direction ``alternative``; ``d`` (n,) per-seed values."""
    x = d - threshold
    n = x.size
    s2 = float(x.var(ddof=1))
    floor = 0.0 if sample_var is None else float(sample_var.mean())
    se = float(np.sqrt(max(s2, floor) / n))
    mean = float(x.mean())
    q = float(stats.t.ppf(1 - alpha, n - 1))
    low, high = mean - q * se, mean + q * se
    sign = 1.0 if alternative == "greater" else -1.0
    if method == "t":
        if se == 0.0:  # every seed the same value and no sampling variance given
            p_up = 0.0 if mean > 0 else 1.0
            p_down = 0.0 if mean < 0 else 1.0
        else:
            p_up = float(stats.t.sf(mean / se, n - 1))
            p_down = float(stats.t.cdf(mean / se, n - 1))
    elif method == "sign-flip":
        p_up, p_down = _sign_flip_p(x), _sign_flip_p(-x)
    else:
        pos, neg = int(np.sum(x > 0)), int(np.sum(x < 0))
        if pos + neg == 0:
            p_up = p_down = 1.0
        else:
            p_up = float(stats.binomtest(pos, pos + neg, 0.5, alternative="greater").pvalue)
            p_down = float(stats.binomtest(neg, pos + neg, 0.5, alternative="greater").pvalue)
    p, p_rev = (p_up, p_down) if sign > 0 else (p_down, p_up)
    return SeedTest(mean, low + threshold, high + threshold, se, p, p_rev, n, seeds, tuple(float(v) for v in d),
                    None if sample_var is None else tuple(float(v) for v in sample_var), float(threshold),
                    alternative, method, float(alpha), int(censored))


def seed_test(values: SeedValues, threshold: float = 0.0, *, sample_var: SeedValues | None = None,
              seeds: Sequence[Seed] | None = None, alternative: str = "greater", alpha: float = ALPHA,
              method: str = "t") -> SeedTest:
    """One-sample test over seeds: is the mean of per-seed ``values`` above (``"greater"``) or below
    (``"less"``) ``threshold``?

    values: (n_seeds,) per-seed values, e.g. capability − behaviour per seed (each a mean over its
    samples), or a seed -> value mapping. sample_var: (n_seeds,) sampling variance of each value (for a
    difference of two independent accuracies, the sum of theirs, :func:`accuracy_values`), folded into
    the t interval as a floor; ``None`` folds in nothing. See the module for the methods and the rule.
    """
    _check_options(alternative, alpha, method)
    if not np.isfinite(threshold):
        raise ValueError(f"threshold must be finite, got {threshold}")
    v, seeds = _as_values(values, seeds, "values")
    var = _as_var(sample_var, seeds, v.size, "sample_var")
    return _test(v, var, seeds, float(threshold), alternative, alpha, method)


def _paired(a: SeedValues, b: SeedValues, seeds: Sequence[Seed] | None) -> tuple[np.ndarray, np.ndarray, tuple | None]:
    """A and B aligned by seed: (n,), (n,), seed labels. Mappings are matched by key."""
    if isinstance(a, Mapping) != isinstance(b, Mapping):
        raise ValueError("a and b must both be seed -> value mappings or both sequences")
    if isinstance(a, Mapping):
        if seeds is not None:
            raise ValueError("a and b are seed -> value mappings; do not pass seeds as well")
        if set(a) != set(b):
            only_a, only_b = sorted(map(str, set(a) - set(b))), sorted(map(str, set(b) - set(a)))
            raise ValueError(f"a and b must have the same seeds (only in a: {only_a}, only in b: {only_b})")
        seeds = tuple(a)
        a, b = [a[s] for s in seeds], [b[s] for s in seeds]
    va, seeds = _as_values(a, seeds, "a")
    vb, _ = _as_values(b, seeds, "b")
    if va.size != vb.size:
        raise ValueError(f"a and b must have one value per seed each, got {va.size} and {vb.size}")
    return va, vb, seeds


def paired_test(a: SeedValues, b: SeedValues, *, sample_var_a: SeedValues | None = None,
                sample_var_b: SeedValues | None = None, seeds: Sequence[Seed] | None = None,
                alternative: str = "greater", alpha: float = ALPHA, method: str = "t") -> SeedTest:
    """Paired test over seeds of the per-seed differences ``a − b`` against 0 (``"greater"``: A above B).

    a, b: (n_seeds,) values of the same seeds in the same order (``seeds`` labels them), or two
    seed -> value mappings with the same keys. sample_var_a, sample_var_b: their sampling variances
    (independent samples: the difference's is their sum), both or neither. See :func:`seed_test`.
    """
    _check_options(alternative, alpha, method)
    va, vb, seeds = _paired(a, b, seeds)
    if (sample_var_a is None) != (sample_var_b is None):
        raise ValueError("give sample_var_a and sample_var_b both or neither")
    var = None
    if sample_var_a is not None:
        var = _as_var(sample_var_a, seeds, va.size, "sample_var_a") + _as_var(sample_var_b, seeds, vb.size, "sample_var_b")
    return _test(va - vb, var, seeds, 0.0, alternative, alpha, method)


def onset_test(times_a: Sequence[int | None] | Mapping[Any, int | None],
               times_b: Sequence[int | None] | Mapping[Any, int | None], horizon: float, *,
               seeds: Sequence[Seed] | None = None, alternative: str = "less", alpha: float = ALPHA,
               method: str = "sign-flip") -> SeedTest:
    """Paired test over seeds of learning times: is A earlier (``"less"``, the default) than B?

    times_a, times_b: (n_seeds,) learning times in steps (:func:`hidcap.evaluation.curves.learning_time`),
    ``None`` for "never", for the same seeds (or two seed -> time mappings with the same keys). "Never"
    enters censored at ``horizon``, which must be ≥ every observed time (e.g. the run's last step). The
    per-seed values are the censored differences A − B. Tests: exact sign-flip (default) or sign; not t,
    whose false-positive rate on learning times read off a checkpoint grid came out above alpha (0.057 at
    no effect with 5 seeds, benchmarks/interval_calibration.py); its interval is still reported.
    """
    _check_options(alternative, alpha, method)
    if method == "t":
        raise ValueError("onset_test decides with method 'sign-flip' or 'sign' (exact under censoring); "
                         "the t interval is reported in low/high")
    if not np.isfinite(horizon):
        raise ValueError(f"horizon must be finite, got {horizon}")

    def censor(t: Any, name: str) -> float:
        if t is None:
            return float(horizon)
        if isinstance(t, bool) or not np.isfinite(float(t)):
            raise ValueError(f"{name} must hold steps or None (never), got {t!r}")
        if float(t) > horizon:
            raise ValueError(f"{name} holds {t}, after the horizon {horizon}; the horizon must be >= every time")
        return float(t)

    def censored(times: Any, name: str) -> Any:
        if isinstance(times, Mapping):
            return {k: censor(t, name) for k, t in times.items()}
        return [censor(t, name) for t in times]

    va, vb, seeds = _paired(censored(times_a, "times_a"), censored(times_b, "times_b"), seeds)
    if isinstance(times_a, Mapping):
        n_never = sum(times_a[s] is None or times_b[s] is None for s in seeds)
    else:
        n_never = sum(ta is None or tb is None for ta, tb in zip(times_a, times_b))
    return _test(va - vb, None, seeds, 0.0, alternative, alpha, method, censored=n_never)


def trend_test(levels: Sequence[float], times: Sequence[Sequence[int | None]] | Mapping[Any, Sequence[int | None]],
               horizon: float, *, seeds: Sequence[Seed] | None = None, alternative: str = "less",
               alpha: float = ALPHA, method: str = "sign-flip") -> SeedTest:
    """Trend of learning times over levels, tested over seeds: do times fall (``"less"``, the default) or
    rise (``"greater"``) as the level grows?

    levels (L,): the levels' values (e.g. colour separations), distinct, L ≥ 3. times: (n_seeds, L)
    learning times per seed and level, ``None`` for "never" (censored at ``horizon`` as in
    :func:`onset_test`), or a seed -> (L,) mapping. Per seed the value is Spearman's ρ between level and
    time (0 when a seed's times are all equal); the test is on those ρ (sign-flip by default, or sign).
    """
    _check_options(alternative, alpha, method)
    if method == "t":
        raise ValueError("trend_test decides with method 'sign-flip' or 'sign'; the t interval is reported in low/high")
    lv = np.asarray(levels, dtype=float)
    if lv.ndim != 1 or lv.size < 3:
        raise ValueError(f"levels must be 1-D with at least 3 levels, got shape {lv.shape}")
    if not np.isfinite(lv).all() or np.unique(lv).size != lv.size:
        raise ValueError(f"levels must be finite and distinct, got {lv.tolist()}")
    if not np.isfinite(horizon):
        raise ValueError(f"horizon must be finite, got {horizon}")
    if isinstance(times, Mapping):
        if seeds is not None:
            raise ValueError("times is a seed -> times mapping; do not pass seeds as well")
        seeds = tuple(times)
        times = [times[s] for s in seeds]
    rows, n_never = [], 0
    for i, row in enumerate(times):
        row = list(row)
        if len(row) != lv.size:
            raise ValueError(f"seed {i} has {len(row)} learning times for {lv.size} levels")
        vals = []
        for t in row:
            if t is None:
                vals.append(float(horizon))
                continue
            if isinstance(t, bool) or not np.isfinite(float(t)):
                raise ValueError(f"times must hold steps or None (never), got {t!r}")
            if float(t) > horizon:
                raise ValueError(f"times holds {t}, after the horizon {horizon}; the horizon must be >= every time")
            vals.append(float(t))
        n_never += any(t is None for t in row)
        rows.append(0.0 if np.ptp(vals) == 0 else float(stats.spearmanr(lv, vals).statistic))
    rho, seeds = _as_values(rows, seeds, "times")
    return _test(rho, None, seeds, 0.0, alternative, alpha, method, censored=n_never)
