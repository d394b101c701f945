"""The decision rules of the multiplicative-emergence probe (Okawa et al. 2023, Figs. 5-7; docs/probes.md,
"Criterion: multiplicative_emergence"): concept distances, the order of onsets by distance, suddenness of joint
against additive accuracy, and the toy model t*(n) fit.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from hidcap.data import ConceptDataSpec, ConceptGraph
from hidcap.evaluation.concept_scores import ConceptSpace
from hidcap.evaluation.intervals import wilson_interval
from hidcap.evaluation.onsets import OnsetInterval, earlier
from hidcap.experiments.level_onsets import pooled_onset, run_onset
from hidcap.experiments.verdicts import combine_verdicts
from hidcap.theory import critical_time, fit_multiplicative

__all__ = ["class_onsets", "combine_order", "distances", "ones", "order_beyond_intervals", "order_holds", "overall",
           "sudden_fraction", "suddenness_share", "suddenness_vote", "toy_fit"]


def distances(spec: ConceptDataSpec) -> dict[str, int]:
    """Concept distance of every class to the training set (training classes 0)."""
    graph = ConceptGraph.from_spec(spec)
    return graph.distances(spec.all_classes)


def ones(bits: str) -> int:
    """Number of 1-bits of a class: how many concepts differ from the base class 000."""
    return bits.count("1")


def sudden_fraction(values: Sequence[float]) -> tuple[float | None, float]:
    """``(S, rise)`` of a curve over evenly spaced checkpoints: rise = max over i<j of v_j − v_i (0 for a
    curve that never increases), S = largest single-interval increase / rise (``None`` when rise is 0)."""
    v = np.asarray(values, dtype=float)
    if v.ndim != 1 or v.size < 2:
        raise ValueError(f"values must be a 1-D curve of at least two points, got shape {v.shape}")
    if not np.all(np.isfinite(v)):
        raise ValueError("values must be finite")
    rise = float(np.max(v - np.minimum.accumulate(v)))
    jump = float(np.max(np.diff(v)))
    if rise <= 0:
        return None, 0.0
    return jump / rise, rise


def order_holds(times: Mapping[str, int | None], dist: Mapping[str, int]) -> bool | None:
    """Claim 1 for one seed: max t* of the distance-1 classes ≤ t* of the distance-2 class(es).

    ``None`` t* (never learned) counts as latest; when the latest distance-1 class and the distance-2 class
    are both never learned the order is undecided (``None``).
    """
    d1 = [c for c in times if dist[c] == 1]
    d2 = [c for c in times if dist[c] == 2]
    if not d1 or not d2:
        raise ValueError(f"need classes at distance 1 and 2, got distances { {c: dist[c] for c in times} }")
    late = lambda c: math.inf if times[c] is None else float(times[c])  # noqa: E731
    t1, t2 = max(late(c) for c in d1), min(late(c) for c in d2)
    if math.isinf(t1) and math.isinf(t2):
        return None
    return t1 <= t2


def combine_order(per_seed: Sequence[bool | None]) -> bool | None:
    """Claim 1 over seeds: holds in every seed that decides it; ``None`` if no seed decides."""
    return combine_verdicts(per_seed, skip_undetermined=True)


def suddenness_vote(pairs: Sequence[tuple[float | None, float | None, float]],
                    min_rise: float = 0.5) -> tuple[bool | None, dict[str, int]]:
    """Claim 2 from ``(S_joint, S_additive, joint_rise)`` per held-out curve.

    Curves whose joint rise is below ``min_rise`` are not judged; exact ties are left out. Passes when the
    joint S is larger in more than half of the judged curves; ``None`` when no curve can be judged.
    """
    sharper = flatter = ties = skipped = 0
    for s_joint, s_add, rise in pairs:
        if s_joint is None or rise < min_rise:
            skipped += 1
            continue
        s_add = 0.0 if s_add is None else s_add
        if abs(s_joint - s_add) < 1e-9:
            ties += 1
        elif s_joint > s_add:
            sharper += 1
        else:
            flatter += 1
    counts = {"joint_sharper": sharper, "additive_sharper": flatter, "ties": ties, "not_judged": skipped}
    judged = sharper + flatter
    return (None if judged == 0 else sharper > judged / 2), counts


def toy_fit(n: Sequence[int], t_star: Sequence[float], target: float = 0.8,
            rel_tol: float = 0.25) -> dict[str, Any]:
    """Fit :func:`hidcap.theory.fit_multiplicative` to learned ``(n, t*)`` pairs and judge its shape.

    Returns ``{"passed", "p", "rmse", "n_levels", "measured_mean", "predicted", "max_rel_dev", "points"}``;
    ``passed`` is ``None`` (and the fit fields ``None``) with fewer than two distinct n.
    """
    n = np.asarray(n, dtype=int)
    t = np.asarray(t_star, dtype=float)
    if n.shape != t.shape:
        raise ValueError(f"n and t_star must have the same length, got {n.shape} and {t.shape}")
    levels = sorted(set(n.tolist()))
    out: dict[str, Any] = {"passed": None, "p": None, "rmse": None, "n_levels": levels, "measured_mean": None,
                           "predicted": None, "max_rel_dev": None, "points": int(n.size), "target": target}
    if len(levels) < 2:
        return out
    fit = fit_multiplicative(n, t, target)
    means = np.array([t[n == k].mean() for k in levels])
    pred = critical_time(fit.p, np.array(levels), target)
    rel = np.abs(pred - means) / means
    out.update(passed=bool(np.max(rel) <= rel_tol), p=fit.p, rmse=fit.rmse, measured_mean=means.tolist(),
               predicted=pred.tolist(), max_rel_dev=float(np.max(rel)))
    return out


def overall(parts: Sequence[bool | None]) -> bool | None:
    """All claims pass -> True; any fails -> False; otherwise undetermined."""
    return combine_verdicts(parts)


def class_onsets(spaces: Mapping[int, ConceptSpace], classes: Sequence[str], threshold: float) -> dict[str, Any]:
    """Onsets with 95 % bootstrap intervals of every class: per seed (``run_onset``) and seed-pooled
    (``pooled_onset``: the mean of per-seed curves, bootstrap over seeds and samples), as dicts."""
    seeds = list(spaces)
    return {c: {"per_seed": {str(s): run_onset(spaces[s], c, threshold).to_dict() for s in seeds},
                "pooled": pooled_onset([spaces[s] for s in seeds], c, threshold).to_dict()} for c in classes}


def order_beyond_intervals(pooled: Mapping[str, Mapping[str, Any]], dist: Mapping[str, int]) -> dict[str, Any]:
    """Claim 1 on seed-pooled onset intervals (``OnsetInterval.to_dict`` per held-out class).

    Holds when 111 (every distance-2 class) is learned, no distance-2 class is earlier than any distance-1 class
    beyond the intervals, and at least one distance-1 class is earlier than every distance-2 class beyond them.
    Returns ``{"passed", "learned_far", "against", "earlier_near"}`` (``against``: (far, near) pairs where the
    far class came first beyond the intervals; ``earlier_near``: near classes earlier than every far one)."""
    near = [c for c in pooled if dist[c] == 1]
    far = [c for c in pooled if dist[c] == 2]
    if not near or not far:
        raise ValueError(f"need held-out classes at distance 1 and 2, got { {c: dist[c] for c in pooled} }")
    iv = {c: OnsetInterval.from_dict(dict(pooled[c])) for c in pooled}
    learned = all(iv[c].estimate is not None for c in far)
    against = [(f, n) for f in far for n in near if earlier(iv[f], iv[n])]
    first = [n for n in near if all(earlier(iv[n], iv[f]) for f in far)]
    return {"passed": bool(learned and not against and first), "learned_far": learned, "against": against,
            "earlier_near": first}


def suddenness_share(counts: Mapping[str, int]) -> dict[str, Any]:
    """Claim 2 beyond the intervals: the share of judged curves whose joint S exceeds the additive S, with its
    95 % Wilson interval; holds when the interval lies above 0.5 (no judged curve: fails)."""
    k, n = int(counts["joint_sharper"]), int(counts["joint_sharper"] + counts["additive_sharper"])
    if n == 0:
        return {"passed": False, "share": None, "interval": None, "judged": 0}
    iv = wilson_interval(k, n)
    return {"passed": bool(iv.low > 0.5), "share": k / n, "interval": iv.to_dict(), "judged": n}
