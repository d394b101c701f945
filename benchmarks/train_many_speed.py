"""K runs at once: ``hidcap.training.train_many`` (one vmapped model) vs ``train`` called K times in a row.

Each variant trains K runs of a preset (default: the tiny preset, seeds 0..K-1) for --steps steps into fresh
run directories, with the preset's checkpoints, metrics and resume files, and reports the wall time of the
whole call (model building, data, checkpoints included) and the ratio many / one-after-another. The goal of
issue 14 on the CPU: ratio ≤ 0.5 for 4 tiny-preset models. Run:

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/train_many_speed.py [--k 4] [--steps 100] [--batch 32]
        [--preset tiny] [--threads 1] [--repeats 1]
"""
from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

from hidcap.training import CheckpointConfig, run_preset, train, train_many


def _configs(preset: str, k: int, steps: int, batch: int | None) -> list:
    base = run_preset(preset, steps=steps, checkpoints=CheckpointConfig(count=5))
    if batch is not None:
        base = replace(base, batch_size=batch)
    return [replace(base, seed=seed) for seed in range(k)]


def measure(preset: str, k: int, steps: int, batch: int | None) -> tuple[float, float]:
    """Seconds for (K solo ``train`` calls, one ``train_many`` call) on fresh run directories."""
    configs = _configs(preset, k, steps, batch)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        for i, config in enumerate(configs):
            train(config, root / f"solo{i}", progress=False)
        solo = time.perf_counter() - t0
        t0 = time.perf_counter()
        train_many(configs, [root / f"many{i}" for i in range(k)], progress=False)
        many = time.perf_counter() - t0
    return solo, many


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--k", type=int, nargs="+", default=[4])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--batch", type=int, nargs="+", default=[None])
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own)")
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    # warm-up: imports, first-call allocations
    measure(args.preset, 2, 2, args.batch[0])
    print(f"preset {args.preset}, {args.steps} steps, torch threads {torch.get_num_threads()}")
    print("| K | batch | K × train (s) | train_many (s) | ratio | ms/step/run solo | ms/step/run many |")
    print("|---|---|---|---|---|---|---|")
    for batch in args.batch:
        for k in args.k:
            for _ in range(args.repeats):
                solo, many = measure(args.preset, k, args.steps, batch)
                b = batch if batch is not None else run_preset(args.preset).batch_size
                print(f"| {k} | {b} | {solo:.2f} | {many:.2f} | {many / solo:.2f} | "
                      f"{1000 * solo / (k * args.steps):.1f} | {1000 * many / (k * args.steps):.1f} |", flush=True)


if __name__ == "__main__":
    main()
