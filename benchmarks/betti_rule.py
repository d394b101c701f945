"""Accuracy of hidcap's Betti rules (`betti_numbers`) on shapes of known homology.

Two suites. "random" (the default since the confidence rule): random (non-grid) samples with noise and outliers,
several components, N = 256 to 2,048, each run with the confidence rule (the default) and, with --old, the null
rule beside it (`rule="null", n_landmarks=200`, the default before):

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/betti_rule.py --seeds 0 1 --dev   # development seeds: per-case
                                                                # p-values under both universal-null calibrations
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/betti_rule.py --seeds 100 --old --out out/betti   # held-out
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/betti_rule.py --timing    # seconds on 2,048 points, memory

Random shapes: circle (radius 1), sphere (radius 1), standard torus (R = 2, r = 1) and Klein bottle (R = 2, r = 1,
over Z/3) in their native dimension, Clifford torus (radii 1, 1) rotated into 64 dimensions, two circles (radius
1, centres 4 apart), each with Gaussian noise 0.05 per coordinate and 2 % outliers drawn uniformly from the
bounding box enlarged 1.5 times (before any rotation); a 3-D standard Gaussian blob with 5 % outliers uniform in
[-8, 8]³, a 3-D Student-t blob (3 degrees of freedom: heavy tails, no added outliers) and two Gaussian blobs 8
apart with 5 % outliers uniform in [-10, 10]³. The development seeds are 0 and 1; the held-out seeds 100 and 101.

The "grid" suite (--suite grid) is the earlier table:

    .venv/bin/python benchmarks/betti_rule.py                 # default table, 104 cases (37 min of case time on a
                                                              # shared 2-core machine under load; the per-case
                                                              # log on stderr shows the time of each)
    .venv/bin/python benchmarks/betti_rule.py --smoke         # four small cases, 120 landmarks: checks the script
    .venv/bin/python benchmarks/betti_rule.py --out out/betti # also writes betti_rule.md and betti_rule.csv
    .venv/bin/python benchmarks/betti_rule.py --figure docs/figures/betti_grid_density.png   # the grid diagram

Shapes (scale ~1): circle (radius 1), sphere (radius 1), Clifford torus (radii 1, 1), standard torus (R = 2,
r = 1), Klein bottle in R⁴ (R = 2, r = 1; over Z/3 and, as "klein_z2", over Z/2), a 3-D standard Gaussian blob.
"grid" samples lie on an even grid of angles (circle: evenly spaced, sphere: Fibonacci lattice, surfaces: a
√N × √N grid), "random" ones at uniformly random angles. Noise is isotropic Gaussian with the given standard
deviation per coordinate of the ambient space; "64" rotates the shape randomly into 64 dimensions before the
noise is added (so noise 0.1 displaces a point by ~0.8). Each case runs `betti_numbers(points, rule="null",
n_landmarks=200)` (the default when this table was made; `--rule confidence` for the current default) with the
coefficient field of klein_z2 set to Z/2.

The rule's constants were chosen on the development seeds 0 and 1; the default table uses the held-out seed 100 (docs/geometry.md).
"""
from __future__ import annotations

import argparse
import csv
import platform
import sys
import time
from itertools import product
from pathlib import Path

import numpy as np

from hidcap.geometry import (
    betti_numbers,
    clifford_torus,
    grid_labels,
    klein_bottle,
    persistence_diagrams,
    random_labels,
    random_rotation,
    ring,
    sphere,
    standard_torus,
)

SHAPES = ("circle", "sphere", "clifford", "standard", "klein", "klein_z2", "blob")
RANDOM_SHAPES = ("circle", "sphere", "clifford", "standard", "klein", "two_circles", "blob", "t_blob", "two_blobs")
RANDOM_EXPECTED = {
    "circle": (1, 1, 0), "sphere": (1, 0, 1), "clifford": (1, 2, 1), "standard": (1, 2, 1), "klein": (1, 1, 0),
    "two_circles": (2, 2, 0), "blob": (1, 0, 0), "t_blob": (1, 0, 0), "two_blobs": (2, 0, 0),
}
RANDOM_N = (256, 512, 1024, 2048)
DEV_SEEDS = (0, 1)
EXPECTED = {
    "circle": (1, 1, 0), "sphere": (1, 0, 1), "clifford": (1, 2, 1), "standard": (1, 2, 1),
    "klein": (1, 1, 0), "klein_z2": (1, 2, 1), "blob": (1, 0, 0),
}
COEFF = {"klein_z2": 2}
HELD_OUT_SEEDS = (100,)
RANDOM_HELD_OUT_SEEDS = (100, 101)


def _with_outliers(pts: np.ndarray, fraction: float, rng: np.random.Generator, box: float | None = None) -> np.ndarray:
    """Replace ``fraction`` of the rows by points uniform in ``[-box, box]^d`` (default: the bounding box × 1.5)."""
    n_out = int(round(fraction * len(pts)))
    if n_out == 0:
        return pts
    lo, hi = (-box, box) if box is not None else (1.5 * pts.min(axis=0), 1.5 * pts.max(axis=0))
    out = pts.copy()
    out[rng.choice(len(pts), n_out, replace=False)] = rng.uniform(lo, hi, size=(n_out, pts.shape[1]))
    return out


def make_random_cloud(shape: str, n: int, seed: int) -> np.ndarray:
    """Points ``(n, d)`` of one case of the random suite (see the module docstring)."""
    if shape not in RANDOM_EXPECTED:
        raise ValueError(f"shape must be one of {RANDOM_SHAPES}, got {shape!r}")
    rng = np.random.default_rng(seed)
    noise, outliers = 0.05, 0.02
    if shape == "blob":
        return _with_outliers(rng.standard_normal((n, 3)), 0.05, rng, box=8.0)
    if shape == "t_blob":
        return rng.standard_t(3, size=(n, 3))
    if shape == "two_blobs":
        pts = rng.standard_normal((n, 3)) + np.where(np.arange(n) < n // 2, -4.0, 4.0)[:, None] * [1, 0, 0]
        return _with_outliers(pts, 0.05, rng, box=10.0)
    if shape == "circle":
        pts = ring(n, random=True, seed=rng)
    elif shape == "two_circles":
        pts = ring(n, random=True, seed=rng) + np.where(np.arange(n) < n // 2, 0.0, 4.0)[:, None] * [1, 0]
    elif shape == "sphere":
        pts = sphere(n, random=True, seed=rng)
    else:
        make = {"clifford": clifford_torus, "standard": standard_torus, "klein": klein_bottle}[shape]
        pts = make(random_labels(n, seed=rng), period=1.0)
    pts = _with_outliers(pts + noise * rng.standard_normal(pts.shape), outliers, rng)
    if shape == "clifford":
        pts = np.pad(pts, ((0, 0), (0, 60))) @ random_rotation(64, seed=rng).T
    return pts


def random_cases(seeds: tuple[int, ...]) -> list[dict]:
    """The random suite's rows before they are run: shape × N × seed."""
    return [dict(suite="random", shape=s, n=n, seed=seed) for s, n, seed in product(RANDOM_SHAPES, RANDOM_N, seeds)]


def run_random_case(case: dict, old: bool, dev: bool) -> dict:
    """One random-suite case: the confidence rule (and, with ``old``, the null rule beside it)."""
    from hidcap.geometry import universal_pvalues

    pts = make_random_cloud(case["shape"], case["n"], case["seed"])
    t = time.perf_counter()
    res = betti_numbers(pts, seed=case["seed"])
    row = {**case, "betti": res.betti, "expected": RANDOM_EXPECTED[case["shape"]], "seconds": time.perf_counter() - t,
           "landmarks": res.n_landmarks, "p": [np.sort(p)[:3].tolist() for p in res.p_values],
           "levels": list(res.levels), "band": res.h0_band}
    row["right"] = row["betti"] == row["expected"]
    if dev:  # the same diagrams under the paper's calibration, to choose between the two
        dg = res.persistence.diagrams[1:]
        paper = universal_pvalues(dg, calibration="paper")
        row["betti_paper"] = (res.betti[0], *(int(res.infinite[k + 1] + np.sum(p < res.levels[k + 1]))
                                               for k, p in enumerate(paper)))
        row["right_paper"] = row["betti_paper"] == row["expected"]
    if old:
        t = time.perf_counter()
        prev = betti_numbers(pts, rule="null", n_landmarks=200, seed=case["seed"])
        row.update(betti_old=prev.betti, right_old=prev.betti == row["expected"], seconds_old=time.perf_counter() - t)
    return row


def random_table(rows: list[dict], old: bool) -> tuple[str, str]:
    """Markdown: the per-case table and the accuracy by shape and N (confidence rule, null rule beside it)."""
    head = "| shape | N | seed | expected | confidence rule | right |" + (" null rule (old) | right |" if old else "")
    lines = [head, "|---|---:|---:|---|---|---|" + ("---|---|" if old else "")]
    for r in rows:
        line = (f"| {r['shape']} | {r['n']} | {r['seed']} | {fmt(r['expected'])} | {fmt(r['betti'])} | "
                f"{'yes' if r['right'] else '**no**'} |")
        if old:
            line += f" {fmt(r['betti_old'])} | {'yes' if r['right_old'] else '**no**'} |"
        lines.append(line)
    keys = ["right"] + (["right_old"] if old else [])
    summary = ["| cases | " + " | ".join(["confidence rule"] + (["null rule (old)"] if old else [])) + " |",
               "|---|" + "---:|" * len(keys)]

    def acc(sub: list[dict]) -> str:
        return " | ".join(f"{sum(r[k] for r in sub)} / {len(sub)} ({sum(r[k] for r in sub) / len(sub):.0%})"
                          for k in keys)

    for shape in RANDOM_SHAPES:
        sub = [r for r in rows if r["shape"] == shape]
        if sub:
            summary.append(f"| {shape} | {acc(sub)} |")
    for n in RANDOM_N:
        sub = [r for r in rows if r["n"] == n]
        if sub:
            summary.append(f"| N = {n} | {acc(sub)} |")
    big = [r for r in rows if r["n"] >= 512]
    if big:
        summary.append(f"| **N ≥ 512** | {acc(big)} |")
    summary.append(f"| **all** | {acc(rows)} |")
    return "\n".join(lines), "\n".join(summary)


def make_cloud(shape: str, n: int, sampling: str, noise: float, dim: int | None, seed: int) -> np.ndarray:
    """Points ``(n, d)`` of one benchmark case (see the module docstring)."""
    if shape not in EXPECTED:
        raise ValueError(f"shape must be one of {SHAPES}, got {shape!r}")
    if sampling not in ("grid", "random"):
        raise ValueError(f"sampling must be 'grid' or 'random', got {sampling!r}")
    rng = np.random.default_rng(seed)
    kw = dict(noise=noise, dim=dim, seed=rng)
    if shape == "circle":
        return ring(n, random=sampling == "random", **kw)
    if shape == "sphere":
        return sphere(n, random=sampling == "random", **kw)
    if shape == "blob":
        pts = rng.standard_normal((n, 3))
        if dim is not None:
            pts = np.pad(pts, ((0, 0), (0, dim - 3))) @ random_rotation(dim, seed=rng).T
        return pts + noise * rng.standard_normal(pts.shape)
    nx = 2 ** int(np.log2(n) // 2)
    if sampling == "grid":
        lab, period = grid_labels(nx, n // nx), None
    else:
        lab, period = random_labels(n, seed=rng), 1.0
    make = {"clifford": clifford_torus, "standard": standard_torus, "klein": klein_bottle, "klein_z2": klein_bottle}
    return make[shape](lab, period=period, **kw)


def cases(smoke: bool, seeds: tuple[int, ...]) -> list[dict]:
    """The table's rows before they are run: shape × sampling × N × noise × embedding × seed."""
    if smoke:
        # small and with 120 landmarks (not the default 200), to run in seconds
        grid = [("clifford", "random", 256, 0.05, None), ("sphere", "grid", 200, 0.0, None),
                ("klein", "grid", 256, 0.0, None), ("blob", "random", 200, 0.0, None)]
        return [dict(shape=s, sampling=m, n=n, noise=z, dim=d, seed=seeds[0], landmarks=120) for s, m, n, z, d in grid]
    out = []
    for shape, sampling, n, noise, dim, seed in product(SHAPES, ("grid", "random"), (256, 1024), (0.0, 0.1),
                                                        (None, 64), seeds):
        if shape == "blob" and sampling == "grid":
            continue
        out.append(dict(shape=shape, sampling=sampling, n=n, noise=noise, dim=dim, seed=seed))
    return out


def run_case(case: dict) -> dict:
    pts = make_cloud(case["shape"], case["n"], case["sampling"], case["noise"], case["dim"], case["seed"])
    t = time.perf_counter()
    # the grid suite measures the null rule (the default when this table was made) unless --rule says otherwise
    rule = case.get("rule", "null")
    kw = {"n_landmarks": case.get("landmarks", 200)} if rule == "null" else {}
    res = betti_numbers(pts, rule=rule, coeff=COEFF.get(case["shape"], 3), seed=case["seed"], **kw)
    expected = EXPECTED[case["shape"]]
    return {**case, "dim": case["dim"] or "native", "betti": res.betti, "expected": expected,
            "right": res.betti == expected, "seconds": time.perf_counter() - t,
            "h1": np.round(res.lifetimes[1][:3], 3).tolist(), "h2": np.round(res.lifetimes[2][:2], 3).tolist(),
            "thresholds": [round(t, 3) for t in res.thresholds]}


def fmt(b: tuple[int, ...]) -> str:
    return "(" + ", ".join(map(str, b)) + ")"


def table(rows: list[dict]) -> tuple[str, str]:
    """Markdown: the per-case table and the per-shape accuracy summary."""
    lines = ["| shape | sampling | N | noise | embedding | seed | Betti | expected | right |",
             "|---|---|---:|---:|---|---:|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['shape']} | {r['sampling']} | {r['n']} | {r['noise']} | {r['dim']} | {r['seed']} | "
                     f"{fmt(r['betti'])} | {fmt(r['expected'])} | {'yes' if r['right'] else '**no**'} |")
    summary = ["| shape | right / cases | accuracy |", "|---|---:|---:|"]
    for shape in [s for s in SHAPES if any(r["shape"] == s for r in rows)]:
        sub = [r for r in rows if r["shape"] == shape]
        k = sum(r["right"] for r in sub)
        summary.append(f"| {shape} | {k} / {len(sub)} | {k / len(sub):.0%} |")
    k = sum(r["right"] for r in rows)
    summary.append(f"| **all** | {k} / {len(rows)} | {k / len(rows):.0%} |")
    return "\n".join(lines), "\n".join(summary)


def grid_density_figure(path: Path) -> Path:
    """H1 barcodes of one standard torus (R = 2, r = 1, noise 0.02) sampled on a 16×16 and a 32×32 grid (all
    points, no landmarks)."""
    from hidcap.plotting import _figure, _save

    fig = _figure((9.5, 3.8))
    for i, m in enumerate((16, 32)):
        pts = standard_torus(grid_labels(m), noise=0.02, seed=0)
        h1 = persistence_diagrams(pts, maxdim=1, n_landmarks=None).diagrams[1]
        life = h1[:, 1] - h1[:, 0]
        h1 = h1[np.argsort(life)[::-1]][:25]
        life = np.sort(life)[::-1]
        ax = fig.add_subplot(1, 2, i + 1)
        for j, (b, d) in enumerate(h1):
            ax.plot([b, d], [j, j], color="tab:red" if j < 2 else "0.5", lw=2.5 if j < 2 else 1.5)
        dist = np.linalg.norm(pts[:, None] - pts[None], axis=2) + np.eye(len(pts)) * 1e9
        spacing = float(dist.min(axis=1).max())
        ax.axvline(spacing, color="tab:blue", ls="--", lw=1, label=f"largest nearest-neighbour spacing {spacing:.2f}")
        ax.axvline(np.sqrt(3), color="k", ls=":", lw=1, label="minor ring dies (r√3 = 1.73)")
        ax.invert_yaxis()
        ax.set_xlabel("filtration scale (birth → death)")
        ax.set_ylabel("H1 bars, longest first")
        ax.set_title(f"{m}×{m} grid ({m * m} points): loop bars {np.round(life[:2], 2).tolist()}\n"
                     f"next bar {life[2]:.2f}: second loop / next = {life[1] / life[2]:.2f}", fontsize=9)
        ax.legend(frameon=False, fontsize=7, loc="lower right")
    return _save(fig, path)


def main(argv: list[str] | None = None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--suite", choices=("random", "grid"), default="random")
    ap.add_argument("--old", action="store_true", help="random suite: also run the null rule (the old default)")
    ap.add_argument("--rule", choices=("null", "confidence"), default="null", help="grid suite: the rule to measure")
    ap.add_argument("--timing", action="store_true", help="time the default call on three 2,048-point clouds and exit")
    ap.add_argument("--dev", action="store_true", help="random suite: also count under the paper's calibration")
    ap.add_argument("--smoke", action="store_true", help="four small cases with 120 landmarks (seconds)")
    ap.add_argument("--seeds", type=int, nargs="+", default=None)
    ap.add_argument("--shapes", nargs="+", choices=sorted(set(SHAPES) | set(RANDOM_SHAPES)), default=list(SHAPES),
                    help="only these shapes")
    ap.add_argument("--part", default="1/1", help="run only part i of k of the cases (e.g. 2/2), to split the run")
    ap.add_argument("--out", type=Path, default=None, help="folder for betti_rule.md and betti_rule.csv")
    ap.add_argument("--figure", type=Path, default=None, help="draw the grid-density diagram to this PNG and exit")
    args = ap.parse_args(argv)
    if args.figure is not None:
        print(grid_density_figure(args.figure))
        return []
    i_part, k_part = (int(v) for v in args.part.split("/"))
    if not 1 <= i_part <= k_part:
        ap.error(f"--part must be i/k with 1 ≤ i ≤ k, got {args.part}")
    if args.timing:
        timing()
        return []
    if args.suite == "random" and not args.smoke:
        return random_main(args, i_part, k_part)
    args.seeds = args.seeds or list(HELD_OUT_SEEDS)
    todo = [{**c, "rule": args.rule} for c in cases(args.smoke, tuple(args.seeds))
            if c["shape"] in args.shapes][i_part - 1 :: k_part]
    print(f"machine: {platform.processor() or platform.machine()}, {len(todo)} cases", file=sys.stderr)
    rows = []
    t0 = time.perf_counter()
    for i, case in enumerate(todo):
        rows.append(run_case(case))
        r = rows[-1]
        print(f"[{i + 1}/{len(todo)}] {r['shape']} {r['sampling']} N={r['n']} noise={r['noise']} {r['dim']} "
              f"seed={r['seed']}: {fmt(r['betti'])} {'ok' if r['right'] else 'WRONG'} ({r['seconds']:.1f} s) "
              f"H1 {r['h1']} H2 {r['h2']} thr {r['thresholds']}", file=sys.stderr, flush=True)
    cases_md, summary_md = table(rows)
    print(cases_md + "\n\n" + summary_md)
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "betti_rule.md").write_text(cases_md + "\n\n" + summary_md + "\n")
        with open(args.out / "betti_rule.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["shape", "sampling", "n", "noise", "embedding", "seed", "betti", "expected", "right"])
            for r in rows:
                w.writerow([r["shape"], r["sampling"], r["n"], r["noise"], r["dim"], r["seed"], fmt(r["betti"]),
                            fmt(r["expected"]), r["right"]])
    return rows


def timing() -> None:
    """Seconds of the default `betti_numbers` on the suite's 2,048-point circle, Clifford torus and sphere (seed 7),
    of `persistence_diagrams(points, maxdim=2)` on 1,024 points, the load average and the peak memory."""
    import os
    import resource

    for shape in ("circle", "clifford", "sphere"):
        pts = make_random_cloud(shape, 2048, 7)
        load = os.getloadavg()[0]
        t = time.perf_counter()
        res = betti_numbers(pts, seed=7)
        print(f"{shape} N=2048: {fmt(res.betti)} in {time.perf_counter() - t:.1f} s (load average {load:.1f}, "
              f"{res.n_landmarks} landmarks)", flush=True)
    t = time.perf_counter()
    ph = persistence_diagrams(make_random_cloud("clifford", 1024, 7), maxdim=2)
    print(f"persistence_diagrams(1,024 points, maxdim=2): {time.perf_counter() - t:.1f} s, {ph.n_landmarks} landmarks")
    print(f"peak memory {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


def random_main(args: argparse.Namespace, i_part: int, k_part: int) -> list[dict]:
    seeds = tuple(args.seeds or RANDOM_HELD_OUT_SEEDS)
    shapes = [s for s in args.shapes if s in RANDOM_EXPECTED] if args.shapes != list(SHAPES) else list(RANDOM_SHAPES)
    todo = [c for c in random_cases(seeds) if c["shape"] in shapes][i_part - 1 :: k_part]
    print(f"machine: {platform.processor() or platform.machine()}, {len(todo)} cases", file=sys.stderr)
    rows = []
    t0 = time.perf_counter()
    for i, case in enumerate(todo):
        r = run_random_case(case, args.old, args.dev)
        rows.append(r)
        extra = f" paper {fmt(r['betti_paper'])}" if args.dev else ""
        extra += f" old {fmt(r['betti_old'])} ({r['seconds_old']:.1f} s)" if args.old else ""
        print(f"[{i + 1}/{len(todo)}] {r['shape']} N={r['n']} seed={r['seed']}: {fmt(r['betti'])} "
              f"{'ok' if r['right'] else 'WRONG'} ({r['seconds']:.1f} s, landmarks {r['landmarks']}){extra} "
              f"p {[[f'{v:.1e}' for v in p] for p in r['p']]} levels {[f'{v:.1e}' for v in r['levels']]} "
              f"band {r['band']:.3g}", file=sys.stderr, flush=True)
    cases_md, summary_md = random_table(rows, args.old)
    print(cases_md + "\n\n" + summary_md)
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        part = "" if k_part == 1 else f"_part{i_part}of{k_part}"
        (args.out / f"betti_random{part}.md").write_text(cases_md + "\n\n" + summary_md + "\n")
        with open(args.out / f"betti_random{part}.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["shape", "n", "seed", "expected", "betti", "right", "seconds", "landmarks"]
                       + (["betti_old", "right_old", "seconds_old"] if args.old else []))
            for r in rows:
                w.writerow([r["shape"], r["n"], r["seed"], fmt(r["expected"]), fmt(r["betti"]), r["right"],
                            round(r["seconds"], 1), r["landmarks"]]
                           + ([fmt(r["betti_old"]), r["right_old"], round(r["seconds_old"], 1)] if args.old else []))
    return rows


if __name__ == "__main__":
    main()
