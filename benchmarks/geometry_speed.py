"""Speed of persistent homology (ripser, maxdim=2) and of the percolation λ sweep. Prints markdown tables.

    .venv/bin/python benchmarks/geometry_speed.py [--sizes 256 512 1024] [--landmarks 200] [--timeout 300]

Points: a noisy Clifford torus rotated into 64 dimensions (like activations on a 32×32 grid), PCA-reduced to 8
dimensions before ripser; each case runs in a child process and is stopped after --timeout seconds. Percolation: a
full sweep of 50 λ values × 5 repeats on a 256×256 lattice for several bump widths σ (threshold 0.005).
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import platform
import time

import numpy as np

from hidcap.geometry import clifford_torus, grid_labels, persistence_diagrams
from hidcap.percolation import PercolationConfig, lattice_edges, percolation_curve


def _ripser_case(n: int, landmarks: int | None, queue: mp.Queue) -> None:
    nx = 2 ** int(np.log2(n) // 2)
    pts = clifford_torus(grid_labels(nx, n // nx), noise=0.05, dim=64, seed=0)
    t = time.perf_counter()
    persistence_diagrams(pts, maxdim=2, n_landmarks=landmarks, pca_dim=8)
    queue.put(time.perf_counter() - t)


def _time_ripser(n: int, landmarks: int | None, timeout: float) -> str:
    """Run one case in a child process so a case past ``timeout`` seconds can be stopped."""
    queue: mp.Queue = mp.Queue()
    proc = mp.Process(target=_ripser_case, args=(n, landmarks, queue))
    proc.start()
    proc.join(timeout)
    if proc.is_alive():
        proc.terminate()
        proc.join()
        return f"> {timeout:.0f} (stopped)"
    return f"{queue.get():.2f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024])
    ap.add_argument("--landmarks", type=int, default=200)
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds allowed per ripser case")
    ap.add_argument("--lattice", type=int, default=256)
    ap.add_argument("--sigmas", type=float, nargs="+", default=[0.2, 0.5, 1.0])
    args = ap.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, numpy {np.__version__}\n")

    print("| n points | maxdim | landmarks | ripser s |")
    print("|---:|---:|---:|---:|")
    for n in args.sizes:
        for lm in (None, args.landmarks):
            if lm is not None and lm >= n:
                continue
            print(f"| {n} | 2 | {lm or 'all'} | {_time_ripser(n, lm, args.timeout)} |", flush=True)

    print(f"\n| lattice | σ | edges | λ values × repeats | edges s | sweep s |")
    print("|---|---:|---:|---:|---:|---:|")
    lam = np.linspace(0, 1, 50)
    for sigma in args.sigmas:
        cfg = PercolationConfig(shape=(args.lattice, args.lattice), sigma=sigma, threshold=0.005)
        t0 = time.perf_counter()
        edges = lattice_edges(cfg)
        t1 = time.perf_counter()
        percolation_curve(lam, cfg, repeats=5, seed=0, edges=edges, progress=False)
        t2 = time.perf_counter()
        print(f"| {args.lattice}×{args.lattice} | {sigma} | {len(edges)} | 50 × 5 | {t1 - t0:.2f} | {t2 - t1:.2f} |", flush=True)


if __name__ == "__main__":
    main()
