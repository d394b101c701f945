"""Calibration of hidcap.evaluation's intervals, selection control and seed-level tests on simulated data.
Prints markdown tables.

    .venv/bin/python benchmarks/interval_calibration.py [--reps 1000] [--seed-reps 2000] [--seed 0]

Every row of the first table simulates data whose true value is known and reports what the method gives on
average: coverage (share of 95 % intervals holding the true value) or the mean estimate.

The second table calibrates the seed-level tests (hidcap.evaluation.paired) on simulated learning curves:
per run, accuracy = 0.02 + 0.96·sigmoid((step − onset)/300) on 41 checkpoints over 20,000 steps (every 500),
read with binomial noise on n samples per checkpoint; a run that "never learns" plateaus at 0.6 instead of
0.98; the learning time is hidcap.evaluation.learning_time with its defaults. Each row gives the share of
``--seed-reps`` simulated data sets in which the claim passes (rate at no effect = false-positive rate; with
an effect = power) and in which it is decided against it. Not a speed benchmark.
"""
from __future__ import annotations

import argparse

import numpy as np
from scipy.stats import binom

from hidcap.evaluation import (
    accuracy_values,
    bootstrap_mean,
    learning_time,
    onset_interval,
    onset_test,
    seed_test,
    select_then_fresh,
    trend_test,
    wilson_bounds,
)

STEPS = np.arange(0, 20_001, 500)  # 41 checkpoints over a 20,000-step run (Park et al. 2024 train 20k steps)
WIDTH = 300.0  # steps: a sudden rise, as in Park et al. 2024 Fig. 6
NEVER_PLATEAU = 0.6  # a run that never learns stays below the 0.8 threshold


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


def curves(rng: np.random.Generator, onsets: np.ndarray, never: np.ndarray) -> np.ndarray:
    """True accuracy curves (runs, T) of runs with these onsets (runs,); ``never`` (runs,) plateau at 0.6."""
    high = np.where(never, NEVER_PLATEAU, 0.98)[:, None]
    return 0.02 + (high - 0.02) / (1 + np.exp(-(STEPS[None, :] - onsets[:, None]) / WIDTH))


def measured_times(rng: np.random.Generator, p: np.ndarray, n: int) -> list[int | None]:
    """Learning time of each run's curve (runs, T) read on n samples per checkpoint."""
    return [learning_time(STEPS, k / n) for k in rng.binomial(n, p)]


def onset_rates(reps: int, rng: np.random.Generator, seeds: int, n: int, shift: float, jitter_b: float,
                never_a: float, never_b: float) -> dict[str, tuple[float, float]]:
    """Level A onset N(6000, 1000²) per seed, level B N(6000 + shift, jitter_b²), independent (no benefit from
    pairing is assumed); a share ``never_*`` of runs never learns. Claim: A learns earlier (onset_test; the t
    column applies seed_test's t to the same censored differences, for contrast).
    Returns method -> (share passed, share decided against)."""
    out = {"sign-flip": [0, 0], "t": [0, 0]}
    for _ in range(reps):
        on_a = 6000 + 1000 * rng.standard_normal(seeds)
        on_b = 6000 + shift + jitter_b * rng.standard_normal(seeds)
        ta = measured_times(rng, curves(rng, on_a, rng.random(seeds) < never_a), n)
        tb = measured_times(rng, curves(rng, on_b, rng.random(seeds) < never_b), n)
        r = onset_test(ta, tb, horizon=int(STEPS[-1]))  # the decision: exact sign-flip on censored differences
        # t on the same censored differences: shown for contrast (onset_test does not decide with it)
        for method, verdict in (("sign-flip", r.passed), ("t", seed_test(r.values, alternative="less").passed)):
            out[method][0] += verdict is True
            out[method][1] += verdict is False
    return {m: (c[0] / reps, c[1] / reps) for m, c in out.items()}


def gap_rates(reps: int, rng: np.random.Generator, seeds: int, n: int, shift: float | None, never_b: float,
              window: int = 4) -> dict[str, tuple[float, float]]:
    """Capability onset N(6000, 500²) per seed; behaviour onset = capability's (``shift=None``: the same
    curve, no effect) or N(6000 + shift, 2000²), a share ``never_b`` never learning. Per seed: capability's
    learning time read on a selection set of n samples per checkpoint; then, on fresh samples (n per
    checkpoint for each), capability − behaviour averaged over the ``window`` checkpoints from that time,
    with its sampling variance (accuracy_values). Claim: the mean over seeds is > 0 (seed_test)."""
    out = {"t": [0, 0], "sign-flip": [0, 0]}
    idx = np.arange(n)
    for _ in range(reps):
        on_c = 6000 + 500 * rng.standard_normal(seeds)
        p_c = curves(rng, on_c, np.zeros(seeds, bool))
        if shift is None:
            p_b = p_c
        else:
            p_b = curves(rng, 6000 + shift + 2000 * rng.standard_normal(seeds), rng.random(seeds) < never_b)
        values, variances = np.empty(seeds), np.empty(seeds)
        for s, t_c in enumerate(measured_times(rng, p_c, n)):
            i0 = STEPS.size - window if t_c is None else min(int(np.searchsorted(STEPS, t_c)), STEPS.size - window)
            sl = slice(i0, i0 + window)
            acc_c, var_c = accuracy_values(idx[None, :] < rng.binomial(n, p_c[s, sl])[:, None])
            acc_b, var_b = accuracy_values(idx[None, :] < rng.binomial(n, p_b[s, sl])[:, None])
            values[s] = np.mean(acc_c - acc_b)
            variances[s] = np.sum(var_c + var_b) / window**2
        for method, counts in out.items():
            verdict = seed_test(values, sample_var=variances if method == "t" else None, method=method).passed
            counts[0] += verdict is True
            counts[1] += verdict is False
    return {m: (c[0] / reps, c[1] / reps) for m, c in out.items()}


def trend_rates(reps: int, rng: np.random.Generator, seeds: int, n: int, step: float, never: float,
                levels: int = 4) -> dict[str, tuple[float, float]]:
    """Level i of ``levels`` (0, 1, ...) has onset N(8000 − step·i, 1000²) per run, a share ``never`` of runs
    never learning. Claim: learning time falls as the level grows (trend_test, sign-flip; "t" applies the t
    test to the same per-seed Spearman correlations, for contrast)."""
    out = {"sign-flip": [0, 0], "t": [0, 0]}
    xs = np.arange(levels, dtype=float)
    for _ in range(reps):
        onsets = 8000 - step * xs[None, :] + 1000 * rng.standard_normal((seeds, levels))
        p = curves(rng, onsets.ravel(), rng.random(seeds * levels) < never)
        times = np.array(measured_times(rng, p, n), dtype=object).reshape(seeds, levels).tolist()
        r = trend_test(xs, times, horizon=int(STEPS[-1]))
        for method, verdict in (("sign-flip", r.passed), ("t", seed_test(r.values, alternative="less").passed)):
            out[method][0] += verdict is True
            out[method][1] += verdict is False
    return {m: (c[0] / reps, c[1] / reps) for m, c in out.items()}


TREND_CASES = (
    # (label, step per level, never)
    ("no trend, 25 % of runs never learn", 0.0, 0.25),
    ("700 steps earlier per level (2,100 over 4 levels)", 700.0, 0.0),
)
ONSET_CASES = (
    # (label, shift, jitter_b, never_a, never_b)
    ("no effect", 0.0, 1000.0, 0.0, 0.0),
    ("no effect, 40 % of runs never learn", 0.0, 1000.0, 0.4, 0.4),
    ("B later by 1,000 steps (1 seed sd)", 1000.0, 1000.0, 0.0, 0.0),
    ("B later by 2,000 steps (Park et al. 2024 Fig. 6: ~6k vs ~8k)", 2000.0, 1000.0, 0.0, 0.0),
    ("B at 1.39 × A's onset (Okawa et al. 2023 toy t*: n = 2 vs 1 at P* = 0.8)", 0.39 * 6000, 1390.0, 0.0, 0.0),
)
GAP_CASES = (
    # (label, shift, never_b)
    ("no effect (behaviour = capability)", None, 0.0),
    ("behaviour 1,000 steps later (sd 2,000)", 1000.0, 0.0),
    ("behaviour 2,000 steps later (sd 2,000), 40 % never (Park et al. 2024 Fig. 6)", 2000.0, 0.4),
)


def seed_level_table(reps: int, rng: np.random.Generator) -> None:
    """The calibration table of the seed-level tests (hidcap.evaluation.paired)."""
    print("\n| claim | simulated truth | seeds | n per ckpt | pass rate (t) | pass rate (sign-flip) "
          "| decided against (t / sign-flip) | reps |\n|---|---|---|---|---|---|---|---|")
    for label, shift, jitter_b, never_a, never_b in ONSET_CASES:
        for seeds in (5, 3):
            for n in (24, 96):
                r = onset_rates(reps, rng, seeds, n, shift, jitter_b, never_a, never_b)
                print(f"| A learns earlier (onset_test) | {label} | {seeds} | {n} | {r['t'][0]:.3f} | "
                      f"{r['sign-flip'][0]:.3f} | {r['t'][1]:.3f} / {r['sign-flip'][1]:.3f} | {reps} |")
    for label, step, never in TREND_CASES:
        for seeds in (5, 3):
            r = trend_rates(reps, rng, seeds, 24, step, never)
            print(f"| learning time falls over 4 levels (trend_test) | {label} | {seeds} | 24 | {r['t'][0]:.3f} | "
                  f"{r['sign-flip'][0]:.3f} | {r['t'][1]:.3f} / {r['sign-flip'][1]:.3f} | {reps} |")
    for label, shift, never_b in GAP_CASES:
        for seeds in (5, 3):
            for n in (24, 96):
                r = gap_rates(reps, rng, seeds, n, shift, never_b)
                print(f"| capability > behaviour (seed_test) | {label} | {seeds} | {n} | {r['t'][0]:.3f} | "
                      f"{r['sign-flip'][0]:.3f} | {r['t'][1]:.3f} / {r['sign-flip'][1]:.3f} | {reps} |")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=1000, help="simulated data sets per row of the first table")
    ap.add_argument("--seed-reps", type=int, default=2000, help="simulated data sets per row of the seed-level table")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    if args.reps < 1 or args.seed_reps < 1:
        ap.error("--reps and --seed-reps must be >= 1")
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
    seed_level_table(args.seed_reps, rng)


if __name__ == "__main__":
    main()
