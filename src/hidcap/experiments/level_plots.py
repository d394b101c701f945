"""Figures of a level sweep (:mod:`~hidcap.experiments.level_sweeps`): learning time against the level
(Park et al. 2024, Fig. 3), accuracy curves, and concept-space trajectories (Fig. 4)."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hidcap.evaluation.curves import learning_time
from hidcap.evaluation.intervals import wilson_bounds
from hidcap.experiments.level_onsets import joint_correct
from hidcap.experiments.level_sweeps import HELD_OUT, Run
from hidcap.plotting import figure, save

__all__ = ["level_colors", "plot_accuracy", "plot_learning_times", "plot_trajectories"]


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
    The legend names every mark (run, mean line, interval bar, never); a caption under the panels says what
    they are and what "rho" in ``title`` means (Spearman rank correlation over runs, never ranked last:
    :func:`hidcap.evaluation.ranks.spearman`). Returns ``path``.
    """
    panels = [("level", xlabel)] + ([("signal", signal_label)] if signals else [])
    fig = figure((5.4 * len(panels), 4.0))
    axes = fig.subplots(1, len(panels), squeeze=False)
    never_y = total_steps * 1.1
    styles = [("tab:blue", "o"), ("tab:orange", "^"), ("tab:green", "s"), ("tab:purple", "D")]
    for ax, (kind, label) in zip(axes[0], panels):
        xof = (lambda lv: lv) if kind == "level" else (lambda lv: signals[lv])
        span = max(np.ptp([xof(lv) for lv in levels]), 1e-12) / 0.4  # 1 for levels 0.4 apart, as before
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
                x = xof(r["level"]) + 0.004 * span * (k - 0.5) * (1 + j % 3)  # keep overlapping bars apart
                ax.plot([x, x], [lo, hi], "-", color=col, lw=1.0, alpha=0.6)
            xn = [xof(r["level"]) for r, t in zip(rows, times) if t is None]
            ax.scatter(xn, [never_y + 0.03 * total_steps * k] * len(xn), marker="x", color=col, s=40, zorder=3,
                       label=f"{name}: never" if xn else None)
        ax.axhline(total_steps, color="0.4", ls=":", lw=1, label=f"end of training ({total_steps} steps)")
        ax.plot([], [], "-", color="0.3", lw=1.0, alpha=0.7, label="mean over the runs that learned")
        if intervals:
            ax.plot([], [], "|", color="0.3", ms=12, mew=1.0, alpha=0.6, label="95 % bootstrap interval of the onset")
        ax.set_ylim(0, total_steps * 1.25)
        ax.set_xlabel(label)
        ax.set_ylabel("learning time (training steps)")
    handles, names = axes[0, 0].get_legend_handles_labels()  # the panels share their marks: one legend
    fig.legend(handles, names, loc="lower center", ncol=min(len(names), 4), fontsize=7, frameon=False,
               bbox_to_anchor=(0.5, 0.07))
    fig.suptitle(title.replace("rho", "\N{GREEK SMALL LETTER RHO}"), fontsize=10)
    caption = ("Markers: one run each (its learning time: the first step from which its smoothed accuracy stays "
               "above the threshold); x: a run that never got there, drawn above the end of training.")
    if "rho" in title or "\N{GREEK SMALL LETTER RHO}" in title:
        caption += ("\n\N{GREEK SMALL LETTER RHO}: Spearman rank correlation of the level with the learning time "
                    "over all runs (never ranks last); negative = learned sooner at higher levels.")
    fig.text(0.5, 0.01, caption, ha="center", va="bottom", fontsize=7, color="0.25", wrap=True)
    rows_of_legend = -(-len(names) // 4)
    fig.tight_layout(rect=(0, 0.075 + 0.05 * rows_of_legend, 1, 1))
    return save(fig, path, tight=False)


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
    ax.plot([], [], "|", color="0.4", ms=12, label="dotted vertical: the run's learning time")
    ax.fill_between([], [], [], color="0.4", alpha=0.12, lw=0, label="95 % Wilson band")
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

