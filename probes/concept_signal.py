"""Concept signal sets learning speed: class 11 is learned sooner when the colours lie further apart.

Claim (SEEDS.md A; paper 001, Park et al. 2024, Sec. 4.1-4.2, Fig. 3 and 4): with concepts (color, size),
training classes 00 (large red), 01 (small red), 10 (large blue) and the held-out class 11 (small blue), the
number of gradient steps until class 11 is generated correctly (joint accuracy 80 %) falls as the colour
separation ``s`` (hence the colour *concept signal*) grows. On the way, class 11 first sits near the
training class that shares its stronger concept (*concept memorisation*: near 10 when colour is the stronger
signal, near 01 when size is), then turns to 11.

Protocol: for every colour separation level and seed, train a conditional diffusion model
(``hidcap.training.train``), generate class 11 (and, at the full scale, every class) at every checkpoint and
place it in concept space with a concept classifier trained on generator data of that level
(``hidcap.evaluation.concept_space``; one classifier per level, cached). The learning time of a run is
``hidcap.evaluation.learning_time``: the first checkpoint from which the 3-checkpoint moving average of the
joint accuracy of class 11 stays above the threshold (0.8). The measured colour and size concept signals
of each level come from ``hidcap.data.concept_signal`` (mean squared pixel change when the concept flips).

Criterion (stated before measuring): the Spearman rank correlation between colour separation and learning
time over all runs is negative. A run that never learns class 11 within its training steps counts as
slower than every run that does (all such runs tie at the slowest rank). The verdict is undetermined when
no run learns class 11 (every run ties) or the correlation is undefined.
Reported alongside (not part of the verdict): concept memorisation (before its learning time, or through
the whole run if it never learns, and after the initialisation: is class 11's concept-space point ever
nearest a training corner, 01 or 10, and which?) and the same learning-time rule applied to class 11's
colour concept alone (fraction of its samples the probe reads as blue).

Scales:

- ``--tiny``: 8 px, 12 steps, levels 0.3 and 0.8, one seed: seconds, exercises every code path (the
  verdict means nothing);
- ``--quick``: the 16 px DDPM of ``common.concept_scale("quick")`` (channels 8, 16) for its 1,200 steps (12
  quadratic checkpoints), objects centred (``position_range`` 0) and the size separation raised to 0.5 so
  that the small model learns size at all; levels 0.2 0.4 0.6 0.8, seed 0 only, only class 11 generated
  (about 7-8 minutes on one idle CPU thread). What it cannot show: in trial runs this model did not
  learn class 11 (joint) within 2,000 steps at any separation, so the verdict is likely undetermined; the
  colour-concept learning time of class 11 and its memorisation corner are reported as what this scale
  does show;
- full (default): the paper's VDM at 32 px, 20k steps, 60 checkpoints, levels 0.1 0.2 0.4 0.6 0.8,
  seeds 0 1 2, every class measured (one run is ~20 min on an A100: ``--device cuda``).

    python probes/concept_signal.py --quick
    python probes/concept_signal.py --device cuda
    python probes/concept_signal.py --quick --levels 0.3 0.5 0.7 --seeds 0 1
    python probes/concept_signal.py --tiny

Writes into ``--out``: ``verdict.json``, ``runs.csv`` (one row per run), ``curves.csv`` (accuracy and
concept-space point of every measured class per checkpoint), the figures ``learning_time.png``,
``accuracy.png``, ``concept_space_levels.png`` and one ``concept_space_s{level}.png`` per level (first seed).
"""
from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

if __package__ in (None, ""):  # run as a script: make `import common` work from any working directory
    sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (  # noqa: E402
    ConceptScale,
    ProbeArgs,
    concept_probe,
    concept_scale,
    first_crossing,
    parse_args,
    write_verdict,
)

from hidcap.runs import CheckpointSeries  # noqa: E402
from hidcap.config_io import config_to_dict  # noqa: E402
from hidcap.data import ConceptDataSpec, concept_signal  # noqa: E402
from hidcap.evaluation.classifiers import ConceptProbe  # noqa: E402
from hidcap.evaluation.concept_space import ConceptSpace, concept_space  # noqa: E402
from hidcap.evaluation.learning_time import learning_time  # noqa: E402
from hidcap.plotting import plot_concept_space  # noqa: E402
from hidcap.training import train  # noqa: E402

NAME = "concept_signal"
CLAIM = ("concept signal sets learning speed: the steps until held-out class 11 (small blue) reaches 80 % joint "
         "accuracy fall as the colour separation grows")
PAPER = "paper 001 (Park et al. 2024), Sec. 4.1-4.2, Fig. 3 (learning speed vs separation) and Fig. 4 (concept space)"
THRESHOLD = 0.8
HELD_OUT = "11"
TRAINING_CORNERS = ("01", "10")
#: Colour separation levels of each scale (``--levels`` overrides them).
LEVELS = {"tiny": (0.3, 0.8), "quick": (0.2, 0.4, 0.6, 0.8), "full": (0.1, 0.2, 0.4, 0.6, 0.8)}
#: Seeds of each scale when ``--seeds`` is not given (the quick scale runs one seed to fit its CPU budget).
SEEDS = {"tiny": (0,), "quick": (0,), "full": (0, 1, 2)}
#: Size separation of each scale: the quick model does not learn size at the default 0.3 within its budget.
SIZE_SEPARATION = {"tiny": 0.3, "quick": 0.5, "full": 0.3}
#: Which classes are generated and placed in concept space (the quick scale measures only the held-out one).
MEASURED = {"tiny": ("00", "01", "10", "11"), "quick": ("11",), "full": ("00", "01", "10", "11")}
#: Data-spec fields a scale changes from SEEDS.md A. Quick: objects at the frame centre (position_range 0): with
#: the paper's random positions the 16 px model draws no recognisable object within its CPU budget.
DATA: dict[str, dict[str, Any]] = {"tiny": {}, "quick": {"position_range": 0.0}, "full": {}}
#: Training steps per run (None: the scale's own, ``common.concept_scale``).
STEPS: dict[str, int | None] = {"tiny": None, "quick": None, "full": None}


def criterion(threshold: float = THRESHOLD) -> str:
    return (f"Spearman rho(colour separation, learning time of class {HELD_OUT}) < 0 over all runs, where the "
            f"learning time is the first checkpoint from which the 3-checkpoint moving average of class "
            f"{HELD_OUT}'s joint accuracy stays above {threshold:g}; runs that never learn {HELD_OUT} count as "
            "slowest (tied after every learned run); undetermined if no run learns it or rho is undefined")


# ------------------------------------------------------------------------------------------ pure helpers
def average_ranks(values: Sequence[float]) -> np.ndarray:
    """Ranks 1..n of ``values`` (ties get the mean of their ranks; ``inf`` ranks last)."""
    _, inverse, counts = np.unique(np.asarray(values, dtype=float), return_inverse=True, return_counts=True)
    upper = np.cumsum(counts)
    return (upper - (counts - 1) / 2.0)[inverse.ravel()]


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


def nearest_corner(point: Sequence[float]) -> str:
    """The concept-space corner (class bits) nearest to ``point`` in the unit square/cube."""
    p = np.asarray(point, dtype=float)
    if p.ndim != 1 or p.size < 1:
        raise ValueError(f"point must be a 1-D concept-space point, got shape {p.shape}")
    return "".join("1" if v > 0.5 else "0" for v in p)


def memorization(steps: Sequence[int], points: Sequence[Sequence[float]], turn: int | None,
                 corners: Sequence[str] = TRAINING_CORNERS, target: str = HELD_OUT) -> dict[str, Any]:
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


# ------------------------------------------------------------------------------------------ runs
def level_spec(scale: ConceptScale, level: float, size_separation: float) -> ConceptDataSpec:
    """The data of one colour-separation level at ``scale`` (with the scale's ``DATA`` changes)."""
    return scale.spec(color_separation=level, size_separation=size_separation, **DATA.get(scale.name, {}))


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


def measure_run(args: ProbeArgs, scale: ConceptScale, spec: ConceptDataSpec, probe: ConceptProbe, tag: str,
                seed: int, classes: Sequence[str], **overrides: Any) -> tuple[Path, ConceptSpace, int]:
    """Train (or reuse) the run ``tag`` of ``seed`` and measure ``classes`` in concept space at every
    checkpoint (cached beside the run as ``concept_space.json``). Returns ``(run_dir, table, steps)``."""
    config = scale.train_config(spec, seed, args.device, **overrides)
    run_dir = args.run_dir(tag, seed)
    train(config, run_dir, progress=args.progress)
    series = CheckpointSeries(run_dir, device=args.device)
    key = {"classes": list(classes), "samples_per_class": scale.samples_per_class, "sample_steps": scale.sample_steps,
           "seed": seed, "checkpoints": series.steps, "config": config_to_dict(config),
           "probe_accuracy": probe.heldout_accuracy}
    cache, meta = run_dir / "concept_space.json", run_dir / "concept_space.key.json"
    if cache.is_file() and meta.is_file() and json.loads(meta.read_text()) == json.loads(json.dumps(key)):
        return run_dir, ConceptSpace.from_json(cache), config.steps
    table = concept_space(series, spec, probe, classes=classes, samples_per_class=scale.samples_per_class, seed=seed,
                          allow_inaccurate_probe=not scale.strict_probe, progress=args.progress,
                          steps=scale.sample_steps)
    table.to_json(cache)
    meta.write_text(json.dumps(key) + "\n")
    return run_dir, table, config.steps


def concept_accuracy(table: ConceptSpace, cls: str, concept: str) -> tuple[np.ndarray, np.ndarray]:
    """``(steps, accuracy)``: the fraction of ``cls``'s samples whose probe reading of ``concept`` alone is
    right, per checkpoint (from the table's per-sample correctness)."""
    if concept not in table.concepts:
        raise KeyError(f"concept {concept!r} was not measured; concepts: {table.concepts}")
    j = table.concepts.index(concept)
    steps = np.array(table.steps)
    return steps, np.array([float(table.correct[(int(s), cls)][:, j].mean()) for s in steps])


def run_summary(run: Run, threshold: float) -> dict[str, Any]:
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
        "memorization": memorization(steps, pts, t_learn),
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


# ------------------------------------------------------------------------------------------ figures
def figure(nrows: int = 1, ncols: int = 1, figsize: tuple[float, float] = (6.4, 4.0)) -> tuple[Any, np.ndarray]:
    """A matplotlib Figure on the Agg canvas (no pyplot) and its axes as a 2-D array."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, dpi=110)
    FigureCanvasAgg(fig)
    return fig, np.atleast_2d(np.asarray(fig.subplots(nrows, ncols, squeeze=False)))


def level_colors(levels: Sequence[float]) -> dict[float, Any]:
    from matplotlib import colormaps

    cmap = colormaps["viridis"]
    return {lv: cmap(0.9 * i / max(len(levels) - 1, 1)) for i, lv in enumerate(levels)}


def plot_learning_times(path: Path, rows: list[dict[str, Any]], levels: Sequence[float], total_steps: int,
                        xlabel: str, series: dict[str, Sequence[int | None]], title: str,
                        signals: dict[float, float] | None = None, signal_label: str = "") -> Path:
    """Learning times against the level (and, if ``signals`` is given, against the measured concept signal).

    series: label -> one learning time per row (``None``: never learned), e.g. the joint accuracy of class 11
    and its colour concept alone. Each series gets its own colour and marker, its mean over learned runs a
    line; runs that never learned sit above the end-of-training line, marked x in the series' colour.
    """
    panels = [("level", xlabel)] + ([("signal", signal_label)] if signals else [])
    fig, axes = figure(1, len(panels), (5.4 * len(panels), 4.0))
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
    fig, axes = figure(1, 1, (6.4, 4.0))
    ax = axes[0, 0]
    for run in runs:
        steps, acc = run.curve()
        ax.plot(steps, acc, styles[seeds.index(run.seed) % len(styles)], marker="o", ms=2.5, lw=1.4,
                color=colors[run.level], label=f"{level_label} {run.level:g}, seed {run.seed}")
        t_learn = learning_time(steps, acc, threshold)
        if t_learn is not None:  # the run's learning time (smoothed accuracy stays above the threshold)
            ax.axvline(t_learn, color=colors[run.level], ls=":", lw=1.0)
    ax.axhline(threshold, color="0.4", ls=":", lw=1, label=f"threshold {threshold:g}")
    ax.set_ylim(-0.03, 1.03)
    ax.set_xlabel("training step")
    ax.set_ylabel(f"joint accuracy of class {HELD_OUT}")
    ax.set_title(f"class {HELD_OUT} generated from its own prompt (dotted verticals: learning times)", fontsize=10)
    ax.legend(fontsize=7, ncol=2 if len(runs) > 6 else 1, loc="upper left")
    fig.tight_layout()
    fig.savefig(path)
    return path


def plot_trajectories(path: Path, runs: list[Run], levels: Sequence[float], level_label: str,
                      axis_labels: Sequence[str], corner_names: dict[str, str] | None = None,
                      title: str = "") -> Path:
    """Class 11's concept-space trajectory of every run, coloured by level (paper 001 Fig. 4b)."""
    colors = level_colors(levels)
    fig, axes = figure(1, 1, (6.6, 5.2))
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


def _fmt(value: float | None) -> str:
    return "undefined" if value is None else f"{value:+.2f}"


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


# ------------------------------------------------------------------------------------------ main
def _options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--levels", type=float, nargs="+", default=None,
                        help="colour separations s in (0, 1] (default per scale: "
                             + "; ".join(f"{k} {' '.join(map(str, v))}" for k, v in LEVELS.items()) + ")")
    parser.add_argument("--size-separation", type=float, default=None,
                        help="size separation (default per scale: "
                             + ", ".join(f"{k} {v}" for k, v in SIZE_SEPARATION.items()) + ")")
    parser.add_argument("--steps", type=int, default=None, help="training steps per run (default: the scale's)")
    parser.add_argument("--threshold", type=float, default=THRESHOLD, help="joint-accuracy threshold (default 0.8)")


def resolve(name: str, argv: Sequence[str] | None, description: str, options: Any = _options,
            seeds: dict[str, tuple[int, ...]] = SEEDS) -> tuple[ProbeArgs, argparse.Namespace]:
    """Parse the command line (``common.parse_args``); without ``--seeds`` the scale's ``seeds`` are used.
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


def main(argv: list[str] | None = None) -> dict:
    args, ns = resolve(NAME, argv, __doc__.split("\n\n")[0], _options, SEEDS)
    levels = check_levels(ns.levels if ns.levels is not None else LEVELS[args.scale], name="--levels")
    size_sep = SIZE_SEPARATION[args.scale] if ns.size_separation is None else ns.size_separation
    if size_sep <= 0:
        raise ValueError(f"--size-separation must be > 0, got {size_sep}")
    if args.device != "cpu":
        torch.backends.cudnn.benchmark = True
    scale = concept_scale(args.scale)
    steps = ns.steps or STEPS[args.scale] or scale.steps
    overrides = {"steps": steps, "log_every": max(1, min(50, steps // 10))}
    classes = MEASURED[args.scale]
    n_signal = 64 if args.tiny else 512

    runs, signals, probe_acc = [], {}, {}
    for level in levels:
        spec = level_spec(scale, level, size_sep)
        signals[level] = {"color": concept_signal(spec, "color", n=n_signal, seed=0),
                          "size": concept_signal(spec, "size", n=n_signal, seed=0)}
        probe = concept_probe(spec, scale, args.out / "probes" / f"color{level:g}_size{size_sep:g}", args.device,
                              progress=args.progress)
        probe_acc[level] = dict(probe.heldout_accuracy)
        for seed in args.seeds:
            tag = f"color{level:g}_size{size_sep:g}_steps{steps}"
            run_dir, table, total = measure_run(args, scale, spec, probe, tag, seed, classes, **overrides)
            runs.append(Run(level, seed, run_dir, table, total))
            print(f"  color separation {level:g}, seed {seed}: final joint accuracy of {HELD_OUT} "
                  f"{table.accuracy_curve(HELD_OUT)[1][-1]:.2f}", flush=True)

    rows = [run_summary(r, ns.threshold) for r in runs]
    times = [r["learning_time"] for r in rows]
    passed, rho = rank_verdict([r["level"] for r in rows], times, sign=-1)
    color_times = [r["concept_learning_time"]["color"] for r in rows]
    color_faster, rho_color = rank_verdict([r["level"] for r in rows], color_times, sign=-1)
    mem_checked = [r for r in rows if r["memorization"]["memorized"] is not None]
    corners: dict[str, int] = {}
    for r in mem_checked:
        if r["memorization"]["corner"]:
            corners[r["memorization"]["corner"]] = corners.get(r["memorization"]["corner"], 0) + 1
    per_level = {}
    for lv in levels:
        lt = [r["learning_time"] for r in rows if r["level"] == lv]
        learned = [t for t in lt if t is not None]
        per_level[f"{lv:g}"] = {
            "color_signal": signals[lv]["color"], "size_signal": signals[lv]["size"],
            "learned_runs": len(learned), "runs": len(lt),
            "mean_learning_time": float(np.mean(learned)) if learned else None,
            "learning_times": lt,
            "memorized_corners": [r["memorization"]["corner"] for r in rows if r["level"] == lv],
            "probe_heldout_accuracy": probe_acc[lv],
        }

    write_tables(args.out, rows, runs, "color_separation")
    series = {f"class {HELD_OUT} joint (the verdict)": times, f"class {HELD_OUT} colour only": color_times}
    figures = [
        plot_learning_times(args.out / "learning_time.png", rows, levels, steps, "colour separation s", series,
                            f"time to {ns.threshold:.0%} on class {HELD_OUT}: joint rho = {_fmt(rho)}, "
                            f"colour-only rho = {_fmt(rho_color)}",
                            {lv: signals[lv]["color"] for lv in levels}, "measured colour concept signal (pixel MSE)"),
        plot_accuracy(args.out / "accuracy.png", runs, levels, "s =", ns.threshold),
        plot_trajectories(args.out / "concept_space_levels.png", runs, levels, "s =",
                          ("P(color = blue)", "P(size = small)"),
                          {"00": "large red", "01": "small red", "10": "large blue", "11": "small blue"},
                          title=f"class {HELD_OUT} by colour separation s (hollow: first checkpoint, filled: last)"),
    ]
    first = args.seeds[0]
    for run in runs:
        if run.seed == first:
            figures.append(plot_concept_space(
                run.table, args.out / f"concept_space_s{run.level:g}.png", held_out=(HELD_OUT,),
                title=f"colour separation {run.level:g}, seed {first} (hollow: first checkpoint, filled: last)"))

    print_table(rows, "color sep")
    print(f"Spearman rho(separation, learning time) = {_fmt(rho)} over {len(rows)} runs "
          f"({sum(t is not None for t in times)} learned class {HELD_OUT}); colour concept alone: rho = "
          f"{_fmt(rho_color)} ({sum(t is not None for t in color_times)} learned its colour)")
    notes = (f"size separation {size_sep:g}; data changes from SEEDS.md A: {DATA[args.scale] or 'none'}; "
             f"{steps} training steps per run; classes measured: {', '.join(classes)}; "
             f"{scale.samples_per_class} samples per class and checkpoint, {scale.sample_steps} sampling steps. ")
    if args.scale == "quick":
        notes += ("Quick scale: one seed and four levels to fit ~8 CPU minutes; objects centred (position_range 0) "
                  "and size separation 0.5 so that the 16 px model draws recognisable objects and learns size at "
                  "all; only class 11 is generated (memorisation is read against the fixed training corners). ")
    if args.tiny:
        notes += "Tiny scale: a smoke run; its verdict means nothing. "
    measured = {
        "threshold": ns.threshold,
        "levels": list(levels),
        "size_separation": size_sep,
        "training_steps": steps,
        "spearman_rho": rho,
        "n_runs": len(rows),
        "n_learned": sum(t is not None for t in times),
        "color_concept": {"note": "secondary, not the verdict: the same rule on the colour concept alone",
                          "spearman_rho": rho_color, "faster_with_separation": color_faster,
                          "n_learned": sum(t is not None for t in color_times)},
        "per_level": per_level,
        "memorization": {"runs_checked": len(mem_checked),
                         "runs_memorized": sum(bool(r["memorization"]["memorized"]) for r in mem_checked),
                         "corners": corners},
        "runs": rows,
    }
    return write_verdict(args, claim=CLAIM, paper=PAPER, criterion=criterion(ns.threshold), passed=passed,
                         measured=measured, figures=figures,
                         notes=notes.strip())


if __name__ == "__main__":
    main()
