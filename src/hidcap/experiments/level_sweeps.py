"""Sweeps of concept-space runs over one setting (a concept signal, a masking fraction): Park et al. 2024, Fig. 3
(learning time against colour separation), Fig. 4 (concept-space trajectories) and Fig. 8 (underspecification).

A sweep trains one run per (level, seed) on the two-concept square (class ``11`` held out, ``01`` and ``10``
training corners), places the held-out class in concept space at every checkpoint (:class:`Run`) and summarises
each run (:func:`run_summary`: learning time, memorisation, per-concept learning times). Ranking learning time
against the level is :mod:`hidcap.evaluation.ranks`; tables are :mod:`~hidcap.experiments.level_tables` and
figures :mod:`~hidcap.experiments.level_plots`.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hidcap.data import ConceptDataSpec
from hidcap.evaluation.classifiers import ConceptProbe
from hidcap.evaluation.concept_scores import ConceptSpace
from hidcap.evaluation.curves import first_crossing, learning_time, memorization
from hidcap.experiments.concept_measurement import measured_concept_space
from hidcap.experiments.probe_args import ProbeArgs
from hidcap.experiments.probe_runs import train_all
from hidcap.scales import ConceptScale

__all__ = [
    "HELD_OUT", "TRAINING_CORNERS", "Run", "SweepPoint", "check_levels", "concept_accuracy", "extreme_tables",
    "load_runs", "measure_sweep", "run_summary", "saved_runs",
]

#: The held-out class of the two-concept square and the training corners it can memorise (Park et al. 2024).
HELD_OUT = "11"
TRAINING_CORNERS = ("01", "10")


def check_levels(levels: Sequence[float], low: float = 0.0, high: float = 1.0, name: str = "levels",
                 open_low: bool = True) -> tuple[float, ...]:
    """Validate a list of levels: at least two, distinct, each in ``(low, high]`` (``[low, high]`` if not
    ``open_low``); returns them sorted. ``ValueError`` naming the problem otherwise."""
    levels = tuple(float(v) for v in levels)
    if len(levels) < 2:
        raise ValueError(f"{name}: need at least two levels to rank, got {list(levels)}")
    if len(set(levels)) != len(levels):
        raise ValueError(f"{name}: levels must not repeat, got {list(levels)}")
    bad = [v for v in levels if not (low < v <= high if open_low else low <= v <= high)]
    if bad:
        interval = f"({low:g}, {high:g}]" if open_low else f"[{low:g}, {high:g}]"
        raise ValueError(f"{name}: every level must lie in {interval}, got {bad}")
    return tuple(sorted(levels))


@dataclass
class Run:
    """One trained and measured run: its setting (``level``), seed, run folder (``None`` for a run read back
    from saved measurements) and concept-space table."""

    level: float
    seed: int
    run_dir: Path | None
    table: ConceptSpace
    total_steps: int

    def curve(self, cls: str = HELD_OUT) -> tuple[np.ndarray, np.ndarray]:
        return self.table.accuracy_curve(cls)

    def trajectory(self, cls: str = HELD_OUT) -> tuple[np.ndarray, np.ndarray]:
        return self.table.trajectory(cls)


@dataclass(frozen=True)
class SweepPoint:
    """One run of a sweep before training: its ``level``, ``seed``, data ``spec``, concept ``probe`` and run
    folder ``tag`` (the run lives at ``args.run_dir(tag, seed)``)."""

    level: float
    seed: int
    spec: ConceptDataSpec
    probe: ConceptProbe
    tag: str


def measure_sweep(args: ProbeArgs, scale: ConceptScale, points: Sequence[SweepPoint], classes: Sequence[str],
                  **overrides: Any) -> list[Run]:
    """Train (or reuse) every point's run as one sweep (:func:`hidcap.experiments.probe_runs.train_all`, on
    ``args.executor``), then measure ``classes`` in concept space at every checkpoint of
    each (cached beside the run as ``concept_space.json``). ``overrides``: TrainConfig fields (e.g. ``steps``).
    Returns one :class:`Run` per point, in order."""
    if not points:
        raise ValueError("points must hold at least one sweep point")
    keys = [(p.tag, p.seed) for p in points]
    if len(set(keys)) != len(keys):
        raise ValueError(f"sweep points must have distinct (tag, seed), got {keys}")
    configs = {(p.tag, p.seed): scale.train_config(p.spec, p.seed, args.device, **overrides) for p in points}
    series = train_all(args, configs)
    runs = []
    for p in points:
        s = series[(p.tag, p.seed)]
        run_dir = args.run_dir(p.tag, p.seed)
        table = measured_concept_space(s, p.spec, p.probe, scale, p.seed, run_dir, classes=classes,
                                       progress=args.progress)
        runs.append(Run(p.level, p.seed, run_dir, table, configs[(p.tag, p.seed)].steps))
    return runs


def extreme_tables(levels: Sequence[float], runs: Sequence[Run], name: str = "level"
                   ) -> tuple[float, float, list[int], list[ConceptSpace], list[ConceptSpace]]:
    """``(lo, hi, seeds, lo_tables, hi_tables)``: the smallest and largest of ``levels`` and the concept-space
    tables of their runs, one per seed (sorted seeds of ``runs``). ValueError naming the missing
    ``(name, seed)`` pairs."""
    lo, hi = min(levels), max(levels)
    seeds = sorted({r.seed for r in runs})
    by = {(r.level, r.seed): r.table for r in runs}
    missing = [(lv, s) for lv in (lo, hi) for s in seeds if (lv, s) not in by]
    if missing:
        raise ValueError(f"no run for ({name}, seed) {missing}")
    return lo, hi, seeds, [by[(lo, s)] for s in seeds], [by[(hi, s)] for s in seeds]


def saved_runs(runs: Sequence[Run], levels: Sequence[float]) -> list[dict[str, Any]]:
    """The runs of the smallest and largest of ``levels`` as JSON-able dicts ``{level, seed, total_steps, table}``
    (the table's :meth:`~hidcap.evaluation.ConceptSpace.to_dict`): what a sweep's verdict reads."""
    ends = (min(levels), max(levels))
    return [{"level": r.level, "seed": r.seed, "total_steps": r.total_steps, "table": r.table.to_dict()}
            for r in runs if r.level in ends]


def load_runs(saved: Sequence[dict[str, Any]]) -> list[Run]:
    """:func:`saved_runs`' dicts back as :class:`Run` (without a run folder)."""
    return [Run(float(r["level"]), int(r["seed"]), None, ConceptSpace.from_dict(r["table"]), int(r["total_steps"]))
            for r in saved]


def concept_accuracy(table: ConceptSpace, cls: str, concept: str) -> tuple[np.ndarray, np.ndarray]:
    """``(steps, accuracy)``: the fraction of ``cls``'s samples whose probe reading of ``concept`` alone is
    right, per checkpoint (from the table's per-sample correctness)."""
    if concept not in table.concepts:
        raise KeyError(f"concept {concept!r} was not measured; concepts: {table.concepts}")
    j = table.concepts.index(concept)
    steps = np.array(table.steps)
    return steps, np.array([float(table.correct[(int(s), cls)][:, j].mean()) for s in steps])


def run_summary(run: Run, threshold: float, corners: Sequence[str] = TRAINING_CORNERS) -> dict[str, Any]:
    """The numbers of one run: learning time (smoothed, staying), first raw crossing, final accuracy,
    final concept-space point, memorisation, per-concept learning times, and the accuracy curve /
    trajectory of class 11."""
    steps, acc = run.curve()
    _, pts = run.trajectory()
    t_learn = learning_time(steps, acc, threshold)
    per_concept = {c: concept_accuracy(run.table, HELD_OUT, c)[1] for c in run.table.concepts}
    return {
        "level": run.level,
        "seed": run.seed,
        "learning_time": t_learn,
        "first_crossing": first_crossing(steps, acc, threshold),
        "final_accuracy": float(acc[-1]),
        "max_accuracy": float(acc.max()),
        "final_point": pts[-1].tolist(),
        "memorization": memorization(steps, pts, t_learn, corners=corners, target=HELD_OUT),
        "concept_learning_time": {c: learning_time(steps, a, threshold) for c, a in per_concept.items()},
        "concept_accuracy": {c: a.tolist() for c, a in per_concept.items()},
        "steps": steps.tolist(),
        "accuracy": acc.tolist(),
        "trajectory": pts.tolist(),
    }

