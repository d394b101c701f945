"""Tables of a level sweep (:mod:`~hidcap.experiments.level_sweeps`): ``runs.csv`` and ``curves.csv`` on disk,
and the per-run table printed to the console."""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from hidcap.experiments.level_sweeps import Run

__all__ = ["print_table", "write_tables"]


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

