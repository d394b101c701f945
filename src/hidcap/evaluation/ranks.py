"""Rank statistics of a sweep: learning time against a level (Park et al. 2024, Fig. 3 ranks learning time
against the concept signal). Average ranks with ties, Spearman's rho with never-learned runs ranked last, and
the sign verdict drawn from it."""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy.stats import rankdata

__all__ = ["average_ranks", "rank_verdict", "spearman"]


def average_ranks(values: Sequence[float]) -> np.ndarray:
    """Ranks 1..n of ``values`` (ties get the mean of their ranks; ``inf`` ranks last)."""
    return rankdata(np.asarray(values, dtype=float), method="average")


def spearman(x: Sequence[float], y: Sequence[float | None]) -> float | None:
    """Spearman rank correlation of ``x`` and ``y`` with average ranks for ties.

    ``None`` in ``y`` (a run that never learned) ranks after every number (all ``None`` tie). Returns
    ``None`` when it is undefined: fewer than two pairs, or either side constant.
    """
    if len(x) != len(y):
        raise ValueError(f"x and y must have the same length, got {len(x)} and {len(y)}")
    xs = np.asarray(x, dtype=float)
    ys = np.array([math.inf if v is None else float(v) for v in y])
    if np.any(np.isnan(xs)) or np.any(np.isnan(ys)):
        raise ValueError("x and y must not hold NaN")
    if xs.size < 2:
        return None
    rx, ry = average_ranks(xs), average_ranks(ys)
    if np.ptp(rx) == 0 or np.ptp(ry) == 0:
        return None
    return float(np.corrcoef(rx, ry)[0, 1])


def rank_verdict(levels: Sequence[float], times: Sequence[int | None], sign: int) -> tuple[bool | None, float | None]:
    """``(passed, rho)`` for "learning time correlates with ``levels`` with sign ``sign`` (-1 or +1)".

    ``times``: learning time per run (``None``: never learned, counted as slowest). ``passed`` is ``None``
    when no run learned or rho is undefined; else ``rho * sign > 0``.
    """
    if sign not in (-1, 1):
        raise ValueError(f"sign must be -1 or +1, got {sign}")
    if len(levels) != len(times):
        raise ValueError(f"levels and times must have the same length, got {len(levels)} and {len(times)}")
    rho = spearman(levels, times)
    if rho is None or all(t is None for t in times):
        return None, rho
    return bool(rho * sign > 0), rho

