"""Does a diffusion model trained on periodic Gaussian bumps learn a factorised (Clifford) torus?

Trains a conditional DDPM on Gaussian bumps with periodic boundaries (their latent space is a torus;
conditioning = fixed sinusoidal encodings of t, x, y, as in paper 003), then at several checkpoints samples
one image per (x, y) on the lattice while a Tracer records one U-Net layer at the final sampling step, and
measures: sample accuracy, participation ratio, PCA eigenspectrum, persistent homology (Betti numbers) and
the torus orthogonality/parallelism tests against ideal Clifford and standard tori.

    python examples/clifford_torus.py                         # CPU default (2 cores: see docs/results.md)
    python examples/clifford_torus.py --device cuda --full    # the paper's scale (32x32, d=0.1, T=1000)
    python examples/clifford_torus.py --tiny                  # seconds; what the test suite runs

Writes PNG figures and summary.json to --out and prints a table, then where the wall time went (train /
sample at the earlier checkpoints / sample at the last / accuracy + PCA / ripser / torus tests / figures). Same seed -> same summary on one device (everything but the "timing"
entry). Re-running with the same --out reuses the finished training run.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from hidcap.config_io import config_to_dict
from hidcap.scales import TorusScale, torus_scale
from hidcap.experiments.torus_measurement import measure_torus_scale, torus_figures
from hidcap.training import train

#: the example's sizes -> entries of the scale registry (hidcap.scales.TORUS_SCALES)
SCALES = {"tiny": "example-tiny", "cpu": "example-cpu", "full": "full"}


def scale(name: str) -> TorusScale:
    """The ``tiny`` (tests), ``cpu`` (default) and ``full`` (paper) configurations."""
    if name not in SCALES:
        raise ValueError(f"unknown scale {name!r}; use tiny, cpu or full")
    return torus_scale(SCALES[name])


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--full", action="store_true", help="the paper's scale (use with --device cuda)")
    size.add_argument("--tiny", action="store_true", help="seconds-long smoke run (used by the tests)")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda (default cpu)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("out/clifford_torus"))
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    args = parser.parse_args(argv)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        parser.error(f"--device {args.device} requested but CUDA is not available")

    name = "full" if args.full else "tiny" if args.tiny else "cpu"
    s = scale(name)
    config = s.train_config(args.seed, args.device)
    progress = False if args.no_progress else None
    args.out.mkdir(parents=True, exist_ok=True)

    t0 = time.perf_counter()
    series = train(config, args.out / "run", progress=progress)
    t_train = time.perf_counter() - t0
    m = measure_torus_scale(series, s, args.seed, progress)
    rows, betti, verdict, labels = m.rows, m.betti, m.verdict, m.labels
    t_measure = time.perf_counter() - t0 - t_train
    torus_figures(args.out, [m])
    t_total = time.perf_counter() - t0
    phases = {"train": t_train, **m.timings, "figures": t_total - t_train - t_measure}
    phases["other"] = max(0.0, t_total - sum(phases.values()))

    summary = {
        "scale": name, "seed": args.seed, "device": args.device, "layer": s.bumps.layer,
        "train_config": config_to_dict(config),
        "checkpoints": rows,
        "final": {
            "step": m.step,
            "accuracy": rows[-1]["accuracy"],
            "participation_ratio": rows[-1]["participation_ratio"],
            "top4_explained": rows[-1]["top4_explained"],
            "betti": list(betti.betti),
            "betti_rule": betti.rule,
            "betti_at_95_confidence": list(m.betti_confidence.betti) if m.betti_confidence is not None else None,
            "betti_p_values": ([list(map(float, p)) for p in m.betti_confidence.p_values]
                               if m.betti_confidence is not None and m.betti_confidence.p_values else None),
            "torus_tests": {"distances": verdict.distances, "closer": verdict.closer},
        },
        "timing": {"train_s": round(t_train, 1), "measure_s": round(t_measure, 1), "total_s": round(t_total, 1),
                   "phases_s": {k: round(v, 1) for k, v in phases.items()}},
    }
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")

    print(f"\nClifford torus ({name}, layer {s.bumps.layer}, {len(labels)} grid points) -> {args.out}")
    print(f"{'step':>7s} {'points':>6s} {'accuracy':>9s} {'PR':>6s} {'top-4 var':>9s}")
    for r in rows:
        print(f"{r['step']:7d} {r['points']:6d} {r['accuracy']:9.3f} {r['participation_ratio']:6.2f} "
              f"{r['top4_explained']:9.3f}")
    print(f"\nBetti numbers (final): {betti.betti}   (a torus: (1, 2, 1))")
    if m.betti_confidence is not None:  # the confidence rule, reported beside the default (docs/geometry.md)
        print(f"at 95 % confidence: {m.betti_confidence.summary()}")
    print(verdict.summary())
    print(phase_table(phases))
    return summary


def phase_table(phases: dict[str, float]) -> str:
    """A markdown table of wall seconds and share of the total per phase (``phases``: name -> seconds)."""
    total = sum(phases.values())
    lines = ["", "| phase | wall s | share |", "|---|---:|---:|"]
    for name, sec in phases.items():
        lines.append(f"| {name} | {sec:.1f} | {100 * sec / total if total > 0 else 0.0:.0f} % |")
    lines.append(f"| total | {total:.1f} | 100 % |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
