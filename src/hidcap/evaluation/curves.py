"""Statistics of measured curves over training.

**The learning time** (:func:`learning_time`) is the one onset every probe judges: the first checkpoint at
which the causally smoothed accuracy reaches the threshold and stays there for ``patience`` checkpoints
(default: trailing mean over 3 checkpoints, threshold 0.8, patience 3). It follows Park et al. 2024 (Sec. 4.1
and Fig. 3 and 8: steps "to reach 80 % accuracy" on the held-out class, the accuracy then staying there) and
Okawa et al. 2023 (the first-reach time t* of a model that does not forget; patience keeps a late dip from
turning a learned class into "never", and a brief spike from counting as learned).

The other onset notions are **reported only**, never judged: :func:`first_crossing` / :func:`onset_index`
(the first raw checkpoint at the threshold, no smoothing, no staying) and :func:`stay_crossing` (the
interpolated point from which a curve stays above a level to the end; used for curves over λ, not over
training). Also here: how sharply a curve rises, whether it rises then falls, and where a concept-space
trajectory memorises a training class and turns away from it.

All take plain sequences (steps or x values, and the values) and return plain numbers, ``None`` when the curve
never does the thing asked (never a stand-in number).
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "LEARNING_PATIENCE",
    "LEARNING_SMOOTHING",
    "LEARNING_THRESHOLD",
    "LEARNING_WINDOW",
    "SMOOTHING",
    "Turn",
    "find_turn",
    "first_crossing",
    "learning_time",
    "memorization",
    "nearest_corner",
    "onset_index",
    "rise_then_fall",
    "rise_width",
    "smooth",
    "stay_crossing",
]

SMOOTHING = ("none", "moving_average", "ema")


def first_crossing(steps: Sequence[int], values: Sequence[float], threshold: float) -> int | None:
    """First step whose value reaches ``threshold`` (no smoothing, no staying), or ``None``. Reported only:
    verdicts judge :func:`learning_time`."""
    for s, v in zip(steps, values):
        if v >= threshold:
            return int(s)
    return None


def onset_index(steps: Sequence[int], values: Sequence[float], threshold: float) -> int | None:
    """Index of the first checkpoint whose value reaches ``threshold`` (:func:`first_crossing`), or None.
    Reported only: verdicts judge :func:`learning_time`."""
    step = first_crossing(steps, values, threshold)
    return None if step is None else int(list(np.asarray(steps)).index(step))


def stay_crossing(xs, values, level: float) -> float | None:
    """Smallest x from which ``values`` stay ≥ ``level`` (linear interpolation with the grid point before);
    ``xs[0]`` when every value is ≥ level, ``None`` when the last value is below it. ``xs`` must increase."""
    x = np.asarray(xs, dtype=float)
    v = np.asarray(values, dtype=float)
    if x.ndim != 1 or x.shape != v.shape or x.size == 0:
        raise ValueError(f"xs and values must be 1-D of equal, non-zero length, got {x.shape} and {v.shape}")
    if np.any(np.diff(x) <= 0):
        raise ValueError("xs must be strictly increasing")
    below = np.flatnonzero(~(v >= level))
    if below.size == 0:
        return float(x[0])
    i = int(below[-1])
    if i == x.size - 1:
        return None
    x0, x1, v0, v1 = x[i], x[i + 1], v[i], v[i + 1]
    if not np.isfinite(v0):
        return float(x1)
    return float(x0 + (level - v0) / (v1 - v0) * (x1 - x0))


def rise_width(xs, values, low: float, high: float) -> float | None:
    """Δx between staying above ``low`` and staying above ``high`` (``None`` when it never stays above ``high``)."""
    lo, hi = stay_crossing(xs, values, low), stay_crossing(xs, values, high)
    if hi is None or lo is None:
        return None
    return float(max(hi - lo, 0.0))


def rise_then_fall(steps, prs, drop: float) -> dict:
    """Rise-then-fall of a curve ``prs`` (e.g. the participation ratio) over the trained checkpoints (step > 0).

    Returns ``{"peak_step", "peak_pr", "final_pr", "final_over_peak", "interior_peak", "passed"}``;
    ``passed``: the peak is neither the first nor the last trained checkpoint and final ≤ ``drop`` × peak
    (``None`` with fewer than three trained checkpoints).
    """
    s = np.asarray(steps, dtype=float)
    p = np.asarray(prs, dtype=float)
    if s.shape != p.shape or s.ndim != 1:
        raise ValueError(f"steps and prs must be 1-D of equal length, got {s.shape} and {p.shape}")
    if not 0 < drop <= 1:
        raise ValueError(f"drop must be in (0, 1], got {drop}")
    keep = s > 0
    s, p = s[keep], p[keep]
    if s.size == 0:
        raise ValueError("no trained checkpoint (step > 0) to judge")
    i = int(np.argmax(p))
    out = {"peak_step": int(s[i]), "peak_pr": float(p[i]), "final_pr": float(p[-1]),
           "final_over_peak": float(p[-1] / p[i]) if p[i] > 0 else None,
           "interior_peak": bool(0 < i < s.size - 1)}
    if s.size < 3:
        out["passed"] = None
    else:
        out["passed"] = bool(out["interior_peak"] and p[-1] <= drop * p[i])
    return out


def nearest_corner(point: Sequence[float]) -> str:
    """The concept-space corner (class bits) nearest to ``point`` in the unit square/cube."""
    p = np.asarray(point, dtype=float)
    if p.ndim != 1 or p.size < 1:
        raise ValueError(f"point must be a 1-D concept-space point, got shape {p.shape}")
    return "".join("1" if v > 0.5 else "0" for v in p)


def memorization(steps: Sequence[int], points: Sequence[Sequence[float]], turn: int | None,
                 corners: Sequence[str], target: str) -> dict[str, Any]:
    """Concept memorisation of one trajectory of the held-out class.

    steps (T,) and points (T, n): the class's concept-space trajectory. ``turn``: the step it is learned at
    (its learning time) or ``None`` if never. The checkpoints after the initialisation (step > 0) and
    before ``turn`` are the *intermediate* ones; the class *memorises* a training class when at one of
    them its nearest corner is a training corner (``corners``). Returns ``memorized`` (bool, ``None`` when
    there is no intermediate checkpoint), ``corner`` (the training corner it sat nearest most often, ties
    to the latest), ``steps_near`` (intermediate steps nearest that corner), ``nearest`` (nearest corner at
    every step) and ``first_at_target`` (first step nearest ``target``, or ``None``).
    """
    steps = [int(s) for s in steps]
    pts = np.asarray(points, dtype=float)
    if pts.ndim != 2 or pts.shape[0] != len(steps):
        raise ValueError(f"points must be (T, n) with T={len(steps)}, got shape {pts.shape}")
    nearest = [nearest_corner(p) for p in pts]
    inter = [i for i, s in enumerate(steps) if s > 0 and (turn is None or s < turn)]
    counts: dict[str, int] = {}
    last: dict[str, int] = {}
    for i in inter:
        if nearest[i] in corners:
            counts[nearest[i]] = counts.get(nearest[i], 0) + 1
            last[nearest[i]] = i
    corner = max(counts, key=lambda c: (counts[c], last[c])) if counts else None
    at_target = [s for s, c in zip(steps, nearest) if c == target]
    return {
        "memorized": None if not inter else bool(counts),
        "corner": corner,
        "steps_near": [steps[i] for i in inter if nearest[i] == corner] if corner else [],
        "intermediate_steps": [steps[i] for i in inter],
        "nearest": nearest,
        "first_at_target": at_target[0] if at_target else None,
    }


@dataclass(frozen=True)
class Turn:
    """Where a trajectory leaves concept memorisation.

    corner: the memorised class (None: the trajectory never came within ``radius`` of a neighbour corner);
    visits: checkpoints spent in its neighbourhood; index / step: the first checkpoint after the last visit
    (None when the trajectory is still there at the end); sharpest_index / sharpest_step / sharpest_angle:
    the checkpoint of the largest change of direction (degrees) between the move into it and the move out of
    it, each taken over enough checkpoints to cover at least ``min_move`` (so that dwelling is skipped).
    """

    corner: str | None
    visits: int
    index: int | None
    step: int | None
    sharpest_index: int | None
    sharpest_step: int | None
    sharpest_angle: float | None


def find_turn(steps: Sequence[int], points: Any, corners: Mapping[str, Any], radius: float,
              min_move: float = 0.05) -> Turn:
    """The turn of a concept-space trajectory ``points`` (T, n) at ``steps`` (T,) away from the memorised one
    of ``corners`` (name -> (n,) point); see :class:`Turn`."""
    steps = np.asarray(steps)
    pts = np.asarray(points, dtype=float)
    if pts.ndim != 2 or steps.ndim != 1 or pts.shape[0] != steps.size:
        raise ValueError(f"points must be (T, n) with T = len(steps), got {pts.shape} for {steps.size} steps")
    if not corners:
        raise ValueError("corners must name at least one memorisable class")
    if not 0 < radius < 0.5:
        raise ValueError(f"radius must be in (0, 0.5), got {radius}")
    # sharpest change of direction (reported, not judged): at each checkpoint, the angle between the move
    # from the last earlier point at least `min_move` away and the move to the first such later point
    sharp_i, sharp_a = None, None
    for i in range(1, len(pts) - 1):
        back = [j for j in range(i - 1, -1, -1) if np.linalg.norm(pts[i] - pts[j]) >= min_move]
        ahead = [k for k in range(i + 1, len(pts)) if np.linalg.norm(pts[k] - pts[i]) >= min_move]
        if back and ahead:
            u, v = pts[i] - pts[back[0]], pts[ahead[0]] - pts[i]
            angle = math.degrees(math.acos(float(np.clip(u @ v / (np.linalg.norm(u) * np.linalg.norm(v)), -1, 1))))
            if sharp_a is None or angle > sharp_a + 1e-9:
                sharp_i, sharp_a = i, angle
    sharp_step = None if sharp_i is None else int(steps[sharp_i])
    inside = {c: np.abs(pts - np.asarray(p, dtype=float)).max(axis=1) <= radius for c, p in corners.items()}
    visits = {c: int(v.sum()) for c, v in inside.items()}
    best = max(visits.values())
    if best == 0:
        return Turn(None, 0, None, None, sharp_i, sharp_step, sharp_a)
    # most visits; ties: the corner visited first
    corner = min((c for c in inside if visits[c] == best), key=lambda c: int(np.argmax(inside[c])))
    last = int(np.flatnonzero(inside[corner])[-1])
    if last == len(pts) - 1:
        return Turn(corner, best, None, None, sharp_i, sharp_step, sharp_a)
    return Turn(corner, best, last + 1, int(steps[last + 1]), sharp_i, sharp_step, sharp_a)

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


# The learning time's defaults: the one definition every probe judges (docs/concepts.md, "Learning time").
LEARNING_THRESHOLD = 0.8
LEARNING_PATIENCE = 3
LEARNING_SMOOTHING = "moving_average"
LEARNING_WINDOW = 3


def learning_time(
    steps: Sequence[int] | np.ndarray,
    accuracy: Sequence[float] | np.ndarray,
    threshold: float = LEARNING_THRESHOLD,
    *,
    patience: int | None = LEARNING_PATIENCE,
    smoothing: str = LEARNING_SMOOTHING,
    window: int = LEARNING_WINDOW,
    alpha: float = 0.5,
) -> int | None:
    """The learning time: first step where the smoothed accuracy reaches ``threshold`` and stays there.

    steps (T,) strictly increasing training steps; accuracy (T,) values at those steps. The curve is smoothed
    causally (:func:`smooth`; default a trailing mean over ``window`` = 3 checkpoints, so no point sees the
    future). ``patience=k`` (default 3): the smoothed value is ≥ ``threshold`` at this checkpoint and the
    next ``k − 1``, or at every checkpoint to the end of the curve when fewer than ``k − 1`` follow (the run
    ends while the accuracy is still there); ``patience=None``: ≥ ``threshold`` at every later checkpoint
    (a late dip then means "never"; reported only). Returns that step, or ``None``
    ("never") if no checkpoint qualifies. The defaults are the one definition verdicts judge; change them only
    to report a variant.
    """
    s = np.asarray(steps)
    a = np.asarray(accuracy, dtype=float)
    if s.ndim != 1 or a.ndim != 1 or s.shape != a.shape:
        raise ValueError(f"steps and accuracy must be 1-D of equal length, got shapes {s.shape} and {a.shape}")
    if s.size and np.any(np.diff(s) <= 0):
        raise ValueError("steps must be strictly increasing (sort the curve by step first)")
    if np.any(~np.isfinite(a)):
        raise ValueError("accuracy must be finite")
    if not np.isfinite(threshold):
        raise ValueError(f"threshold must be finite, got {threshold}")
    if patience is not None and (isinstance(patience, bool) or not isinstance(patience, (int, np.integer)) or patience < 1):
        raise ValueError(f"patience must be None or an int >= 1, got {patience!r}")
    # "reaches": >=, with a tolerance for the rounding of the trailing mean (3 × 0.8 / 3 is 0.7999...)
    above = smooth(a, smoothing, window, alpha) >= threshold - 1e-12
    # run[i]: consecutive checkpoints from i on that are at the threshold
    run = np.zeros(above.size + 1, dtype=int)
    for i in range(above.size - 1, -1, -1):
        run[i] = run[i + 1] + 1 if above[i] else 0
    run = run[:-1]
    to_end = run == np.arange(above.size, 0, -1)  # at the threshold from i to the last checkpoint
    hits = np.flatnonzero(to_end if patience is None else (run >= patience) | (above & to_end))
    return int(s[hits[0]]) if hits.size else None
