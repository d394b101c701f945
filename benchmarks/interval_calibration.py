"""Calibration of hidcap.evaluation's intervals and selection control on simulated data. Prints a markdown table.

    .venv/bin/python benchmarks/interval_calibration.py [--reps 1000] [--seed 0]

Every row simulates data whose true value is known and reports what the method gives on average:
coverage (share of 95 % intervals holding the true value) or the mean estimate. Not a speed benchmark.
"""
from __future__ import annotations

import argparse

import numpy as np
from scipy.stats import binom

from hidcap.evaluation import bootstrap_mean, learning_time, onset_interval, select_then_fresh, wilson_bounds


def wilson_exact(n: int, p: float) -> float:
    """Exact coverage of the Wilson interval for n trials at true p (sum of the binomial law)."""
    k = np.arange(n + 1)
    low, high = wilson_bounds(k, n)
    return float(binom.pmf(k, n, p)[(low <= p) & (p <= high)].sum())


def selection(reps: int, rng: np.random.Generator, variants: int = 8, n: int = 24, p: float = 0.5) -> tuple[float, ...]:
    naive, fresh, covered = [], [], []
    for _ in range(reps):
        sel, new = rng.random((variants, n)) < p, rng.random((variants, n)) < p
        s = select_then_fresh({str(i): sel[i] for i in range(variants)}, {str(i): new[i] for i in range(variants)})
        naive.append(s.selection.estimate)
        fresh.append(s.fresh.estimate)
        covered.append(s.fresh.low <= p <= s.fresh.high)
    return float(np.mean(naive)), float(np.mean(fresh)), float(np.mean(covered))


def bootstrap_coverage(reps: int, rng: np.random.Generator, seeds: int, n: int, p: float, seed_sd: float) -> float:
    hits = 0
    for _ in range(reps):
        ps = np.clip(p + seed_sd * rng.standard_normal(seeds), 0, 1)
        iv = bootstrap_mean(rng.random((seeds, n)) < ps[:, None], n_boot=1000, rng=rng)
        hits += iv.low <= p <= iv.high
    return hits / reps


def onset_coverage(reps: int, rng: np.random.Generator, n: int) -> tuple[float, float, float]:
    """Ramp from 0.3 to 0.98 over 12 checkpoints; onset = learning_time(threshold 0.8) of the true curve."""
    steps = np.arange(12) * 100
    p = np.linspace(0.3, 0.98, steps.size)
    true = learning_time(steps, p, 0.8)
    hits, widths, never = 0, [], []
    for _ in range(reps):
        iv = onset_interval(steps, rng.random((steps.size, n)) < p[:, None], threshold=0.8, n_boot=500, rng=rng)
        high = np.inf if iv.high is None else iv.high
        low = np.inf if iv.low is None else iv.low
        hits += low <= true <= high
        widths.append((high - low) / 100)
        never.append(iv.never)
    return hits / reps, float(np.median(widths)), float(np.mean(never))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=1000, help="simulated data sets per row")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    print("| quantity | setting | true | measured | reps |\n|---|---|---|---|---|")
    for p in (0.1, 0.5, 0.8, 0.95):
        print(f"| Wilson coverage (exact) | n = 24, p = {p} | 0.95 | {wilson_exact(24, p):.3f} | exact |")
    naive, fresh, cov = selection(args.reps, rng)
    se = np.sqrt(0.25 / 24)
    print(f"| max of 8 selection scores | 8 variants, p = 0.5, n = 24 | 0.5 | {naive:.3f} (+{(naive - 0.5) / se:.2f} SE) "
          f"| {args.reps} |")
    print(f"| fresh score of the chosen variant | same | 0.5 | {fresh:.3f} | {args.reps} |")
    print(f"| fresh Wilson coverage | same | 0.95 | {cov:.3f} | {args.reps} |")
    r = max(args.reps // 5, 1)
    for seeds, n, sd in ((1, 24, 0.0), (1, 60, 0.0), (3, 24, 0.0), (3, 24, 0.05), (5, 24, 0.05)):
        c = bootstrap_coverage(r, rng, seeds, n, 0.7, sd)
        print(f"| bootstrap coverage | {seeds} seed(s) × {n}, p = 0.7, seed sd {sd} | 0.95 | {c:.3f} | {r} |")
    for n in (24, 96):
        c, w, nv = onset_coverage(r, rng, n)
        print(f"| onset interval coverage | ramp 0.3→0.98, 12 ckpts, n = {n} | 0.95 | {c:.3f} "
              f"(median width {w:.0f} ckpts, mean never share {nv:.3f}) | {r} |")


if __name__ == "__main__":
    main()
