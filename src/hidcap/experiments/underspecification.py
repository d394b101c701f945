"""Underspecification (Park et al. 2024, Sec. 5, Fig. 9): measured trajectories of the held-out class beside
the toy model of Eq. 2, and the end colour against the masked fraction.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hidcap.experiments.level_plots import level_colors
from hidcap.experiments.level_sweeps import HELD_OUT, Run
from hidcap.plotting import figure
from hidcap.theory import underspecified_dynamics


def plot_trajectories(path: Path, runs: list[Run], fractions: Sequence[float], ends: dict[tuple[float, int], float],
                      fit: tuple[float, float] | None, *, corner_names: dict[str, str], end_checkpoints: int,
                      end_intervals: dict[tuple[float, int], dict[str, Any]] | None = None,
                      axis_labels: tuple[str, str] = ("P(color = blue)", "P(shape = triangle)")) -> Path:
    """Three panels: measured class-11 trajectories by α, the toy model of Eq. 2, end colour against α.

    ends: (α, seed) -> end colour coordinate; end_intervals: (α, seed) -> 95 % interval (``Interval.to_dict``) of
    the share of samples read as blue over the last ``end_checkpoints`` checkpoints, drawn as error bars beside
    the point; corner_names: class bits -> label; axis_labels: the concept-space axes."""
    colors = level_colors(fractions)
    fig = figure((15.0, 4.9))
    axes = fig.subplots(1, 3)
    seeds = sorted({r.seed for r in runs})
    styles = ["-", "--", ":", "-."]
    toy_t = np.linspace(0.0, 3.0, 60)
    for k, ax in enumerate(axes[:2]):
        ax.plot([0, 1, 1, 0, 0], [0, 0, 1, 1, 0], color="0.85", lw=1, zorder=0)
        for bits, name in corner_names.items():
            x, y = int(bits[0]), int(bits[1])
            ax.scatter(x, y, color="0.6", s=30, marker="s")
            ax.text(x + (-0.05 if x == 0 else 0.05), y + (-0.08 if y == 0 else 0.04), f"{bits}\n{name}", fontsize=7,
                    color="0.3", ha="right" if x == 0 else "left")
        ax.set_xlim(-0.35, 1.4)
        ax.set_ylim(-0.2, 1.22)
        ax.set_aspect("equal")
        ax.set_xlabel(axis_labels[0] if k == 0 else "z1 (colour)")
        ax.set_ylabel(axis_labels[1] if k == 0 else "z2 (the other concept)")
    for run in runs:
        _, pts = run.trajectory()
        col = colors[run.level]
        axes[0].plot(pts[:, 0], pts[:, 1], styles[seeds.index(run.seed) % len(styles)], color=col, lw=1.4,
                     label=f"alpha = {run.level:g}" if run.seed == seeds[0] else None)
        axes[0].scatter(pts[:, 0], pts[:, 1], color=col, s=10, alpha=0.6)
        axes[0].scatter(*pts[0], facecolors="none", edgecolors=[col], s=50)
        axes[0].scatter(*pts[-1], color=col, s=50)
    axes[0].set_title(f"measured: class {HELD_OUT} (hollow: first checkpoint, filled: last)", fontsize=9)
    axes[0].legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=3)
    for a in fractions:
        z = underspecified_dynamics(a, toy_t, s=1.0)
        axes[1].plot(z[:, 0], z[:, 1], "-", color=colors[a], lw=1.6, label=f"alpha = {a:g}")
        axes[1].scatter(*z[-1], color=colors[a], s=40)
    axes[1].set_title("toy model, Eq. 2 (s = 1): target (1 - s alpha, 1)", fontsize=9)
    axes[1].legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=3)
    ax = axes[2]
    for (a, seed), c in sorted(ends.items()):
        k = seeds.index(seed)
        ax.scatter(a, c, color=colors[a], s=40, marker="osD^v"[k % 5], zorder=3,
                   label=f"seed {seed}" if a == fractions[0] else None)
        iv = (end_intervals or {}).get((a, seed))
        if iv is not None:  # share read as blue, 95 % interval, just right of the point
            x = a + 0.012 * (k + 1)
            ax.plot([x, x], [iv["low"], iv["high"]], "-", color=colors[a], lw=1.0)
            ax.scatter(x, iv["estimate"], color=colors[a], s=10, marker="_")
    xs = np.linspace(0, 1, 50)
    ax.plot(xs, 1 - xs, ":", color="0.4", label="toy target 1 - alpha (s = 1)")
    if fit is not None:
        ax.plot(xs, fit[0] - fit[1] * xs, "-", color="tab:red", lw=1.2,
                label=f"least squares: {fit[0]:.2f} - {fit[1]:.2f} alpha")
    ax.set_xlim(-0.05, 1.05)
    ax.set_ylim(-0.05, 1.05)
    ax.set_xlabel("masked fraction alpha of class 01 (colour masked)")
    ax.set_ylabel(f"end P(color = blue) of class {HELD_OUT}")
    ax.set_title(f"end colour, last {end_checkpoints} checkpoints (bars: share read blue, 95 %)", fontsize=9)
    ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    fig.savefig(path)
    return path
