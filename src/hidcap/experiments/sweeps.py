"""Sweeps of concept-space runs over one setting (a concept signal, a masking fraction): Park et al. 2024, Fig. 3
(learning time against colour separation), Fig. 4 (concept-space trajectories) and Fig. 8 (underspecification).

A sweep trains one run per (level, seed) on the two-concept square (class ``11`` held out, ``01`` and ``10``
training corners), places the held-out class in concept space at every checkpoint (:class:`Run`), summarises
each run (:func:`run_summary`: learning time, memorisation, per-concept learning times), ranks learning time
against the level (:func:`rank_verdict`) and draws learning times, accuracy curves and trajectories.
"""
from __future__ import annotations

import argparse
import csv
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import rankdata

from hidcap.data import ConceptDataSpec
from hidcap.evaluation.classifiers import ConceptProbe
from hidcap.evaluation.concept_space import ConceptSpace
from hidcap.evaluation.curves import first_crossing, memorization
from hidcap.evaluation.intervals import wilson_bounds
from hidcap.evaluation.learning_time import learning_time
from hidcap.experiments.cli import ProbeArgs, parse_args
from hidcap.experiments.concepts import measured_concept_space
from hidcap.experiments.level_onsets import joint_correct
from hidcap.experiments.scales import ConceptScale
from hidcap.experiments.training import train_all
from hidcap.plotting import figure

__all__ = [
    "HELD_OUT", "TRAINING_CORNERS", "Run", "average_ranks", "check_levels", "concept_accuracy", "level_colors",
    "SweepPoint", "extreme_tables", "measure_sweep", "plot_accuracy", "plot_learning_times", "plot_trajectories", "print_table", "rank_verdict",
    "resolve", "run_summary", "spearman", "write_tables",
]

#: The held-out class of the two-concept square and the training corners it can memorise (Park et al. 2024).
HELD_OUT = "11"
TRAINING_CORNERS = ("01", "10")


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
    """One trained and measured run: its setting (``level``), seed, run folder and concept-space table."""

    level: float
    seed: int
    run_dir: Path
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
    """Train (or reuse) every point's run as one sweep (:func:`hidcap.experiments.training.train_all`: grouped into
    ``train_many`` calls, on ``args.executor``), then measure ``classes`` in concept space at every checkpoint of
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


def write_tables(out: Path, rows: list[dict[str, Any]], runs: list[Run], level_name: str) -> None:
    """``runs.csv`` (one row per run) and ``curves.csv`` (per run, class and checkpoint)."""
    with (out / "runs.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow([level_name, "seed", "learning_time", "first_crossing", "final_accuracy", "max_accuracy",
                    "final_point_0", "final_point_1", "memorized", "memorized_corner"])
        for r in rows:
            m = r["memorization"]
            w.writerow([r["level"], r["seed"], "" if r["learning_time"] is None else r["learning_time"],
                        "" if r["first_crossing"] is None else r["first_crossing"], f"{r['final_accuracy']:.6f}",
                        f"{r['max_accuracy']:.6f}", f"{r['final_point'][0]:.6f}", f"{r['final_point'][1]:.6f}",
                        "" if m["memorized"] is None else int(m["memorized"]), m["corner"] or ""])
    with (out / "curves.csv").open("w", newline="") as f:
        w = csv.writer(f)
        concepts = runs[0].table.concepts if runs else ()
        w.writerow([level_name, "seed", "class", "step", "joint", "additive", *(f"p_{c}" for c in concepts)])
        for run in runs:
            for cls in run.table.classes:
                steps, joint = run.table.accuracy_curve(cls, "joint")
                _, add = run.table.accuracy_curve(cls, "additive")
                _, pts = run.table.trajectory(cls)
                for s, j, a, p in zip(steps, joint, add, pts):
                    w.writerow([run.level, run.seed, cls, int(s), f"{j:.6f}", f"{a:.6f}", *(f"{v:.6f}" for v in p)])


def level_colors(levels: Sequence[float]) -> dict[float, Any]:
    from matplotlib import colormaps

    cmap = colormaps["viridis"]
    return {lv: cmap(0.9 * i / max(len(levels) - 1, 1)) for i, lv in enumerate(levels)}


def plot_learning_times(path: Path, rows: list[dict[str, Any]], levels: Sequence[float], total_steps: int,
                        xlabel: str, series: dict[str, Sequence[int | None]], title: str,
                        signals: dict[float, float] | None = None, signal_label: str = "",
                        intervals: dict[str, Sequence[dict[str, Any]]] | None = None) -> Path:
    """Learning times against the level (and, if ``signals`` is given, against the measured concept signal).

    series: label -> one learning time per row (``None``: never learned), e.g. the joint accuracy of class 11
    and its colour concept alone. Each series gets its own colour and marker, its mean over learned runs a
    line; runs that never learned sit above the end-of-training line, marked x in the series' colour.
    intervals: label -> one onset interval per row (:meth:`OnsetInterval.to_dict`), drawn as error bars (an
    open-ended interval reaches the "never" band above the end of training).
    """
    panels = [("level", xlabel)] + ([("signal", signal_label)] if signals else [])
    fig = figure((5.4 * len(panels), 4.0))
    axes = fig.subplots(1, len(panels), squeeze=False)
    never_y = total_steps * 1.1
    styles = [("tab:blue", "o"), ("tab:orange", "^"), ("tab:green", "s"), ("tab:purple", "D")]
    for ax, (kind, label) in zip(axes[0], panels):
        xof = (lambda lv: lv) if kind == "level" else (lambda lv: signals[lv])
        for k, (name, times) in enumerate(series.items()):
            col, marker = styles[k % len(styles)]
            if len(times) != len(rows):
                raise ValueError(f"series {name!r} has {len(times)} times for {len(rows)} runs")
            mean_x, mean_y = [], []
            for lv in levels:
                learned = [t for r, t in zip(rows, times) if r["level"] == lv and t is not None]
                if learned:
                    mean_x.append(xof(lv))
                    mean_y.append(float(np.mean(learned)))
            ax.plot(mean_x, mean_y, "-", color=col, lw=1.0, alpha=0.7)
            xs = [xof(r["level"]) for r, t in zip(rows, times) if t is not None]
            ax.scatter(xs, [t for t in times if t is not None], marker=marker, color=col, s=36, zorder=3,
                       alpha=0.8, label=name)
            for j, (r, iv) in enumerate(zip(rows, (intervals or {}).get(name, ()))):
                lo = never_y if iv["low"] is None else iv["low"]
                hi = never_y if iv["high"] is None else iv["high"]
                x = xof(r["level"]) + 0.004 * (k - 0.5) * (1 + j % 3)  # small offsets keep overlapping bars apart
                ax.plot([x, x], [lo, hi], "-", color=col, lw=1.0, alpha=0.6)
            xn = [xof(r["level"]) for r, t in zip(rows, times) if t is None]
            ax.scatter(xn, [never_y + 0.03 * total_steps * k] * len(xn), marker="x", color=col, s=40, zorder=3,
                       label=f"{name}: never" if xn else None)
        ax.axhline(total_steps, color="0.4", ls=":", lw=1)
        ax.text(0.01, total_steps, " end of training", va="bottom", ha="left", fontsize=7, color="0.3",
                transform=ax.get_yaxis_transform())
        ax.set_ylim(0, total_steps * 1.25)
        ax.set_xlabel(label)
        ax.set_ylabel("learning time (training steps)" if kind == "level" else "")
        ax.legend(fontsize=7, loc="lower left")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    return path


def plot_accuracy(path: Path, runs: list[Run], levels: Sequence[float], level_label: str, threshold: float) -> Path:
    """Joint accuracy of class 11 against training step, one line per run, coloured by level."""
    colors = level_colors(levels)
    styles = ["-", "--", ":", "-."]
    seeds = sorted({r.seed for r in runs})
    fig = figure((6.4, 4.0))
    axes = fig.subplots(1, 1, squeeze=False)
    ax = axes[0, 0]
    for run in runs:
        steps, acc = run.curve()
        ax.plot(steps, acc, styles[seeds.index(run.seed) % len(styles)], marker="o", ms=2.5, lw=1.4,
                color=colors[run.level], label=f"{level_label} {run.level:g}, seed {run.seed}")
        _, correct = joint_correct(run.table, HELD_OUT)  # 95 % Wilson band of every checkpoint's accuracy
        low, high = wilson_bounds(correct.sum(axis=1), correct.shape[1])
        ax.fill_between(steps, low, high, color=colors[run.level], alpha=0.12, lw=0)
        t_learn = learning_time(steps, acc, threshold)
        if t_learn is not None:  # the run's learning time (smoothed accuracy stays above the threshold)
            ax.axvline(t_learn, color=colors[run.level], ls=":", lw=1.0)
    ax.axhline(threshold, color="0.4", ls=":", lw=1, label=f"threshold {threshold:g}")
    ax.set_ylim(-0.03, 1.03)
    ax.set_xlabel("training step")
    ax.set_ylabel(f"joint accuracy of class {HELD_OUT}")
    ax.set_title(f"class {HELD_OUT} from its own prompt (bands: 95 % Wilson; dotted: learning times)", fontsize=10)
    ax.legend(fontsize=7, ncol=2 if len(runs) > 6 else 1, loc="upper left")
    fig.tight_layout()
    fig.savefig(path)
    return path


def plot_trajectories(path: Path, runs: list[Run], levels: Sequence[float], level_label: str,
                      axis_labels: Sequence[str], corner_names: dict[str, str] | None = None,
                      title: str = "") -> Path:
    """Class 11's concept-space trajectory of every run, coloured by level (paper 001 Fig. 4b)."""
    colors = level_colors(levels)
    fig = figure((6.6, 5.2))
    axes = fig.subplots(1, 1, squeeze=False)
    ax = axes[0, 0]
    ax.plot([0, 1, 1, 0, 0], [0, 0, 1, 1, 0], color="0.85", lw=1, zorder=0)
    for bits in ("00", "01", "10", "11"):
        x, y = int(bits[0]), int(bits[1])
        ax.scatter(x, y, color="0.6", s=30, marker="s", zorder=1)
        name = f"{bits}" + (f"\n{corner_names[bits]}" if corner_names else "")
        ax.text(x + (-0.05 if x == 0 else 0.05), y + (-0.07 if y == 0 else 0.04), name, fontsize=8, color="0.3",
                ha="right" if x == 0 else "left")
    seeds = sorted({r.seed for r in runs})
    styles = ["-", "--", ":", "-."]
    for run in runs:
        _, pts = run.trajectory()
        col = colors[run.level]
        first_seed = run.seed == seeds[0]
        ax.plot(pts[:, 0], pts[:, 1], styles[seeds.index(run.seed) % len(styles)], color=col, lw=1.4,
                label=f"{level_label} {run.level:g}" if first_seed else None)
        ax.scatter(pts[:, 0], pts[:, 1], color=col, s=10, alpha=0.6)
        ax.scatter(*pts[0], facecolors="none", edgecolors=[col], s=50)
        ax.scatter(*pts[-1], color=col, s=50)
    ax.set_xlim(-0.15, 1.2)
    ax.set_ylim(-0.15, 1.15)
    ax.set_aspect("equal")
    ax.set_xlabel(axis_labels[0])
    ax.set_ylabel(axis_labels[1])
    ax.set_title(title or f"class {HELD_OUT} in concept space (hollow: first checkpoint, filled: last)", fontsize=9)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.02, 0.5))
    fig.tight_layout()
    fig.savefig(path)
    return path


def print_table(rows: list[dict[str, Any]], level_label: str) -> None:
    """One line per run: level, seed, learning time, first raw crossing, final accuracy and point, memorisation."""
    print(f"\n{level_label:>10s} {'seed':>4s} {'t80 (smoothed)':>14s} {'first >=':>9s} {'final acc':>9s} "
          f"{'final point':>14s} {'memorised':>9s} {'colour t80':>10s}")
    for r in rows:
        m = r["memorization"]
        mem = "-" if m["memorized"] is None else (m["corner"] or "no")
        t = "never" if r["learning_time"] is None else str(r["learning_time"])
        fc = "never" if r["first_crossing"] is None else str(r["first_crossing"])
        pt = f"({r['final_point'][0]:.2f}, {r['final_point'][1]:.2f})"
        ct = r["concept_learning_time"].get("color")
        ct = "never" if ct is None else str(ct)
        print(f"{r['level']:>10g} {r['seed']:>4d} {t:>14s} {fc:>9s} {r['final_accuracy']:>9.2f} {pt:>14s} {mem:>9s} "
              f"{ct:>10s}")


def resolve(name: str, argv: Sequence[str] | None, description: str, options: Any,
            seeds: dict[str, tuple[int, ...]]) -> tuple[ProbeArgs, argparse.Namespace]:
    """Parse a sweep probe's command line (:func:`~hidcap.experiments.cli.parse_args`; ``options`` must add
    ``--steps`` and ``--threshold``); without ``--seeds`` the scale's ``seeds`` are used.
    Checks ``--steps`` and ``--threshold`` (``ValueError`` naming the option)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args, ns = parse_args(name, description, argv, default_seeds=seeds["full"], extra=options)
    if not any(a == "--seeds" or a.startswith("--seeds=") for a in argv):
        args = replace(args, seeds=seeds[args.scale])
    if ns.steps is not None and ns.steps < 1:
        raise ValueError(f"--steps must be >= 1, got {ns.steps}")
    if not 0.0 < ns.threshold < 1.0:
        raise ValueError(f"--threshold must lie in (0, 1), got {ns.threshold}")
    return args, ns
