"""Learning time: the first training step from which a (smoothed) accuracy curve stays above a threshold.

Park et al. 2024 measures how fast a concept is learned as the first checkpoint where the smoothed accuracy of
a class exceeds a threshold (e.g. 0.8) and stays there. A curve that never gets there has no learning
time: the functions return ``None`` rather than a stand-in number.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["SMOOTHING", "learning_time", "smooth"]

SMOOTHING = ("none", "moving_average", "ema")


def smooth(values: Sequence[float] | np.ndarray, method: str = "moving_average", window: int = 3, alpha: float = 0.5) -> np.ndarray:
    """Smooth a 1-D curve (T,) -> (T,).

    ``"moving_average"``: trailing mean over the last ``window`` points (fewer at the start, so no point
    sees the future); ``"ema"``: exponential moving average ``s_t = α·v_t + (1 − α)·s_{t−1}``;
    ``"none"``: a copy.
    """
    v = np.asarray(values, dtype=float)
    if v.ndim != 1:
        raise ValueError(f"values must be 1-D, got shape {v.shape}")
    if method not in SMOOTHING:
        raise ValueError(f"method must be one of {SMOOTHING}, got {method!r}")
    if method == "none" or v.size == 0:
        return v.copy()
    if method == "moving_average":
        if window < 1:
            raise ValueError(f"window must be >= 1, got {window}")
        c = np.concatenate([[0.0], np.cumsum(v)])
        idx = np.arange(1, v.size + 1)
        lo = np.maximum(idx - window, 0)
        return (c[idx] - c[lo]) / (idx - lo)
    if not 0.0 < alpha <= 1.0:
        raise ValueError(f"alpha must be in (0, 1], got {alpha}")
    out = np.empty_like(v)
    out[0] = v[0]
    for i in range(1, v.size):
        out[i] = alpha * v[i] + (1 - alpha) * out[i - 1]
    return out


def learning_time(
    steps: Sequence[int] | np.ndarray,
    accuracy: Sequence[float] | np.ndarray,
    threshold: float = 0.8,
    *,
    patience: int | None = None,
    smoothing: str = "moving_average",
    window: int = 3,
    alpha: float = 0.5,
) -> int | None:
    """First step where the smoothed accuracy exceeds ``threshold`` and stays above it.

    steps (T,) strictly increasing training steps; accuracy (T,) values at those steps.
    ``patience=None`` (default): the smoothed value must stay strictly above ``threshold`` at every later
    point; ``patience=k``: at this point and the next ``k − 1`` points (a run cut short by the end of the
    curve does not count). Smoothing: see :func:`smooth`. Returns that step, or ``None`` if never reached.
    """
    s = np.asarray(steps)
    a = np.asarray(accuracy, dtype=float)
    if s.ndim != 1 or a.ndim != 1 or s.shape != a.shape:
        raise ValueError(f"steps and accuracy must be 1-D of equal length, got shapes {s.shape} and {a.shape}")
    if s.size and np.any(np.diff(s) <= 0):
        raise ValueError("steps must be strictly increasing (sort the curve by step first)")
    if np.any(~np.isfinite(a)):
        raise ValueError("accuracy must be finite")
    if patience is not None and (isinstance(patience, bool) or not isinstance(patience, (int, np.integer)) or patience < 1):
        raise ValueError(f"patience must be None or an int >= 1, got {patience!r}")
    above = smooth(a, smoothing, window, alpha) > threshold
    t = above.size
    if patience is None:
        # suffix_all[i]: every point from i to the end is above
        suffix_all = np.flip(np.logical_and.accumulate(np.flip(above)))
        hits = np.flatnonzero(suffix_all)
    else:
        if t < patience:
            return None
        window_sum = np.convolve(above.astype(int), np.ones(patience, dtype=int), mode="valid")  # (t - patience + 1,)
        hits = np.flatnonzero(window_sum == patience)
    return int(s[hits[0]]) if hits.size else None
