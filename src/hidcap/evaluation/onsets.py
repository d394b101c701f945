"""Intervals for an onset (learning time) of a noisy accuracy curve, and the rule that compares onsets.

An onset is read off a curve measured on a few samples per checkpoint, so it moves when the samples
do. :func:`onset_interval` resamples the samples (the same resample at every checkpoint, so a sample
keeps its identity along training) and recomputes the onset with
:func:`hidcap.evaluation.learning_time` (or a given onset function) each time. A resampled curve may
never reach the threshold: **"never" is a value**, ordered after every step, and is kept in the
distribution, so an interval can be open-ended (``high is None``) and its share of "never" is reported.

**A is earlier than B** only when A's interval lies entirely before B's (``A.high < B.low``, "never"
counting as later than every step); otherwise the comparison is *not decided*.

These intervals describe one run's onset (or a pooled curve's); they do not decide a claim over training
seeds. With several seeds, resampling the seeds (``resample_seeds=True``) is degenerate for 3 seeds (a
resample repeats one seed in 3/27 of draws); compare per-seed learning times with
:func:`hidcap.evaluation.paired.onset_test` instead.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from hidcap.evaluation.intervals import N_BOOT, check_level, check_samples, resampled_means
from hidcap.evaluation.curves import learning_time

__all__ = ["OnsetInterval", "earlier", "onset_interval"]

OnsetFn = Callable[[np.ndarray, np.ndarray], "int | None"]


@dataclass(frozen=True)
class OnsetInterval:
    """An onset step with its bootstrap interval; ``None`` stands for "never" (no onset within the run).

    estimate: onset of the curve of all samples; low, high: the ``(1 ∓ level)/2`` quantiles of the
    resampled onsets ("never" ordered after every step, so ``high is None`` means the interval is
    open-ended and ``low is None`` that even its early end never comes); never: share of resamples with
    no onset; n: samples per checkpoint (× seeds); n_boot: resamples; method: how samples were drawn.
    In JSON, "never" is ``null``.
    """

    estimate: int | None
    low: int | None
    high: int | None
    never: float
    n: int
    n_boot: int
    method: str
    level: float = 0.95

    @property
    def open_ended(self) -> bool:
        """The interval reaches "never": the onset may not happen within the run."""
        return self.high is None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict; "never" is ``None`` (``null``)."""
        step = lambda s: None if s is None else int(s)  # noqa: E731
        return {"estimate": step(self.estimate), "low": step(self.low), "high": step(self.high),
                "never": float(self.never), "n": int(self.n), "n_boot": int(self.n_boot),
                "method": str(self.method), "level": float(self.level)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> OnsetInterval:
        return cls(**d)


def onset_interval(
    steps: Sequence[int] | np.ndarray,
    correct: ArrayLike,
    onset: OnsetFn | None = None,
    *,
    level: float = 0.95,
    n_boot: int = N_BOOT,
    rng: int | np.random.Generator = 0,
    resample_seeds: bool = True,
    **learning_time_kwargs: Any,
) -> OnsetInterval:
    """Bootstrap interval of the onset step of an accuracy curve.

    steps (T,): checkpoint steps, strictly increasing. correct (T, n): per-checkpoint, per-sample
    correctness (bool or 0/1; sample ``j`` is the same generator draw at every checkpoint), or
    (n_seeds, T, n) for several seeds, whose curve is the mean of per-seed accuracies.
    onset: ``onset(steps, curve) -> step | None``; default :func:`hidcap.evaluation.learning_time` with
    ``learning_time_kwargs`` (``threshold=0.8``, ``patience``, ``smoothing``, ...). Pass e.g. a
    first-crossing function to judge a probe's own definition (then give no learning-time keywords).
    Each of ``n_boot`` resamples draws samples with replacement within each seed (and, with
    ``resample_seeds`` and several seeds, the seeds too), from ``rng`` (int or Generator).
    """
    level = check_level(level)
    if onset is None:
        onset = partial(learning_time, **learning_time_kwargs)
    elif learning_time_kwargs:
        raise ValueError(f"learning-time keywords {sorted(learning_time_kwargs)} are only used without an onset function")
    s = np.asarray(steps)
    if s.ndim != 1 or s.size == 0:
        raise ValueError(f"steps must be a non-empty 1-D array, got shape {s.shape}")
    c = check_samples(correct, "correct", {2: "(T, n)", 3: "(n_seeds, T, n)"})
    if np.any((c != 0) & (c != 1)):
        raise ValueError("correct must hold 0/1 or bool per-sample correctness")
    c3 = c[None] if c.ndim == 2 else c  # (S, T, n)
    if c3.shape[1] != s.size:
        raise ValueError(f"correct has {c3.shape[1]} checkpoints but steps has {s.size}")
    estimate = onset(s, c3.mean(axis=-1).mean(axis=0))
    curves = resampled_means(c3, n_boot=n_boot, rng=rng, resample_seeds=resample_seeds)  # (B, T)
    onsets = np.array([np.inf if (o := onset(s, curve)) is None else float(o) for curve in curves])
    low = np.quantile(onsets, 0.5 - level / 2, method="lower")
    high = np.quantile(onsets, 0.5 + level / 2, method="higher")
    as_step = lambda x: None if np.isinf(x) else int(x)  # noqa: E731
    method = "bootstrap:seeds+samples" if (c3.shape[0] > 1 and resample_seeds) else "bootstrap:samples"
    return OnsetInterval(None if estimate is None else int(estimate), as_step(low), as_step(high),
                         float(np.mean(np.isinf(onsets))), int(c3.shape[0] * c3.shape[2]), int(n_boot), method, level)


def earlier(a: OnsetInterval, b: OnsetInterval) -> bool:
    """``True`` when onset A is earlier than B beyond the intervals: A's interval ends before B's begins
    (``a.high < b.low``; "never" is later than every step, so an open-ended A is never earlier, and an A
    with an end beats a B whose whole interval is "never"). ``False`` means *not decided*."""
    for name, x in (("a", a), ("b", b)):
        if not isinstance(x, OnsetInterval):
            raise ValueError(f"{name} must be an OnsetInterval, got {type(x).__name__}")
    if a.high is None:
        return False
    return b.low is None or a.high < b.low
