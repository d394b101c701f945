"""Decisions over a sweep of concept-space runs with intervals (docs/probes.md, "How a verdict is decided").

A sweep (:mod:`hidcap.experiments.level_sweeps`) trains one run per (level, seed), e.g. a colour separation (Park et al.
2024, Fig. 3) or a masked fraction (Fig. 8). This module reads the per-sample correctness of the held-out class
from each run's :class:`~hidcap.evaluation.ConceptSpace` and decides, beyond 95 % intervals:

- :func:`run_onset` / :func:`pooled_onset`: the learning time of one run, or of the seed-pooled curve of one
  level, with a bootstrap interval over samples (and seeds) (:func:`hidcap.evaluation.onset_interval`);
- :func:`compare_onsets`: which of two levels learns first, per seed and pooled ("earlier" / "later" /
  "not decided", :func:`hidcap.evaluation.earlier`);
- :func:`end_reading`: the share of samples read as a concept's value 1 over the last checkpoints, with a
  Wilson (one seed) or two-level bootstrap (several seeds) interval.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from hidcap.evaluation.concept_scores import ConceptSpace
from hidcap.evaluation.intervals import Interval, accuracy_interval
from hidcap.evaluation.onsets import OnsetInterval, earlier, onset_interval
from hidcap.evaluation.seeds import seed_margin

__all__ = ["compare_onsets", "concept_correct", "end_reading", "joint_correct", "onset_gaps", "pooled_onset", "run_onset"]


def joint_correct(table: ConceptSpace, cls: str) -> tuple[np.ndarray, np.ndarray]:
    """``(steps (T,), correct (T, n))``: per-sample joint correctness (every concept right) of ``cls``."""
    if cls not in table.classes:
        raise KeyError(f"class {cls!r} was not measured; classes: {table.classes}")
    steps = np.array(table.steps)
    return steps, np.stack([table.correct[(int(s), cls)].all(axis=1) for s in steps])


def concept_correct(table: ConceptSpace, cls: str, concept: str) -> tuple[np.ndarray, np.ndarray]:
    """``(steps (T,), correct (T, n))``: per-sample correctness of ``concept`` alone for ``cls``."""
    if cls not in table.classes:
        raise KeyError(f"class {cls!r} was not measured; classes: {table.classes}")
    if concept not in table.concepts:
        raise KeyError(f"concept {concept!r} was not measured; concepts: {table.concepts}")
    j = table.concepts.index(concept)
    steps = np.array(table.steps)
    return steps, np.stack([table.correct[(int(s), cls)][:, j] for s in steps])


def run_onset(table: ConceptSpace, cls: str, threshold: float, *, rng: int = 0) -> OnsetInterval:
    """Learning time of ``cls`` in one run (:func:`hidcap.evaluation.learning_time` of its joint accuracy at
    ``threshold``: the 3-checkpoint moving average stays above it) with a bootstrap interval over its samples."""
    steps, correct = joint_correct(table, cls)
    return onset_interval(steps, correct, threshold=threshold, rng=rng)


def _stack(tables: Sequence[ConceptSpace], cls: str) -> tuple[np.ndarray, np.ndarray]:
    if not tables:
        raise ValueError("need at least one run")
    parts = [joint_correct(t, cls) for t in tables]
    steps = parts[0][0]
    for s, c in parts[1:]:
        if not np.array_equal(s, steps):
            raise ValueError(f"runs must share their checkpoint steps to be pooled, got {steps.tolist()} and "
                             f"{s.tolist()}")
        if c.shape[1] != parts[0][1].shape[1]:
            raise ValueError(f"runs must have the same samples per checkpoint, got {parts[0][1].shape[1]} and "
                             f"{c.shape[1]}")
    return steps, np.stack([c for _, c in parts])


def pooled_onset(tables: Sequence[ConceptSpace], cls: str, threshold: float, *, rng: int = 0) -> OnsetInterval:
    """Learning time of the seed-pooled joint-accuracy curve of ``cls`` (mean of per-seed curves), with a
    two-level bootstrap interval over seeds and samples (one table: over samples). The tables must share
    their checkpoint steps and samples per checkpoint."""
    steps, correct = _stack(tables, cls)
    return onset_interval(steps, correct if len(tables) > 1 else correct[0], threshold=threshold, rng=rng)


def _order(a: OnsetInterval, b: OnsetInterval) -> str:
    return "earlier" if earlier(a, b) else "later" if earlier(b, a) else "not decided"


def compare_onsets(first: Sequence[ConceptSpace], second: Sequence[ConceptSpace], cls: str, threshold: float,
                   *, seeds: Sequence[int] | None = None, rng: int = 0) -> dict[str, Any]:
    """Is ``cls`` learned earlier at the ``first`` level than at the ``second``, beyond the intervals?

    first, second: one table per seed, in the same seed order (``seeds`` names them). Returns
    ``{"per_seed": {seed: {"first", "second", "order"}}, "pooled": {"first", "second", "order"}}`` where each
    onset is an :meth:`OnsetInterval.to_dict` and ``order`` is ``"earlier"`` (first's interval ends before
    second's begins), ``"later"`` (the reverse) or ``"not decided"``. ``counts``: seeds per order.
    """
    if len(first) != len(second):
        raise ValueError(f"first and second must hold one table per seed each, got {len(first)} and {len(second)}")
    seeds = list(range(len(first))) if seeds is None else list(seeds)
    if len(seeds) != len(first):
        raise ValueError(f"seeds names {len(seeds)} seeds for {len(first)} tables")
    per_seed: dict[str, Any] = {}
    counts = {"earlier": 0, "later": 0, "not decided": 0}
    for seed, ta, tb in zip(seeds, first, second):
        a, b = run_onset(ta, cls, threshold, rng=rng), run_onset(tb, cls, threshold, rng=rng)
        order = _order(a, b)
        counts[order] += 1
        per_seed[str(seed)] = {"first": a.to_dict(), "second": b.to_dict(), "order": order}
    pa, pb = pooled_onset(first, cls, threshold, rng=rng), pooled_onset(second, cls, threshold, rng=rng)
    return {"per_seed": per_seed, "counts": counts,
            "pooled": {"first": pa.to_dict(), "second": pb.to_dict(), "order": _order(pa, pb)}}


def onset_gaps(comparison: dict[str, Any]) -> tuple[dict[str, int], dict[str, Any] | None]:
    """Per-seed gap ``second − first`` (steps) of a :func:`compare_onsets` result, for the seeds where both
    onset estimates are steps, and its across-seed margin over 0 (:func:`hidcap.evaluation.seed_margin`,
    ``to_dict``; ``None`` when no seed has both)."""
    gaps = {seed: int(pair["second"]["estimate"] - pair["first"]["estimate"])
            for seed, pair in comparison["per_seed"].items()
            if pair["first"]["estimate"] is not None and pair["second"]["estimate"] is not None}
    return gaps, (seed_margin(list(gaps.values()), 0.0, list(gaps)).to_dict() if gaps else None)


def end_reading(tables: Sequence[ConceptSpace], cls: str, concept: str, last: int = 3, *, rng: int = 0) -> Interval:
    """Share of ``cls``'s samples whose ``concept`` is read right, over the last ``last`` checkpoints, with a
    95 % interval: Wilson for one table, a bootstrap over seeds and samples for several (each seed's samples of
    the last checkpoints pooled)."""
    if last < 1:
        raise ValueError(f"last must be >= 1, got {last}")
    if not tables:
        raise ValueError("need at least one run")
    rows = []
    for t in tables:
        _, c = concept_correct(t, cls, concept)
        if c.shape[0] < last:
            raise ValueError(f"a run has {c.shape[0]} checkpoints, fewer than last={last}")
        rows.append(c[-last:].ravel())
    if len({r.size for r in rows}) != 1:
        raise ValueError("runs must have the same number of samples to be pooled")
    return accuracy_interval(np.stack(rows) if len(rows) > 1 else rows[0], rng=rng)
