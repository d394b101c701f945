"""Where a ``train_many`` step spends its time: wall ms per lockstep step of K runs, by phase.

Wraps the phases of ``hidcap.training._many_loop`` with timers (batched forward, backward, per-run clipping,
gradient hand-out, the K optimizer steps, metrics/checkpoints, the two halves of the diffusion loss) and trains K
runs of a preset once after a 2-step warm-up. Run:

    .venv/bin/python benchmarks/train_many_phases.py [--preset tiny] [--k 4] [--steps 100]
"""
from __future__ import annotations

import argparse
import collections
import functools
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

import hidcap.training as training
from hidcap.diffusion import build_diffusion
from hidcap.training import CheckpointConfig, run_preset, train_many

_PHASES = [(training._Stacked, "forward", "batched forward (vmap)"), (torch.Tensor, "backward", "backward"),
           (training._RunSteps, "clip", "clip (each run)"), (training._Stacked, "share_grads", "hand out grads"),
           (torch.optim.AdamW, "step", "optimizer step (each run)"),
           (training._RunSteps, "record", "metrics + checkpoints"), (training._RunSteps, "batch", "batches"),
           (training, "_many_loop", "whole step")]


def _timed(owner: Any, name: str, label: str, acc: collections.Counter) -> Any:
    """Replace ``owner.name`` by a timed wrapper adding to ``acc[label]``; returns what to put back (``None``:
    the attribute was inherited, delete the wrapper)."""
    fn = getattr(owner, name)
    own = vars(owner).get(name)

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            acc[label] += time.perf_counter() - t0

    setattr(owner, name, wrapper)
    return own


def _diffusion_phases(cls: type) -> list[tuple[type, str, str]]:
    """The two halves of the diffusion loss of class ``cls``, as phases."""
    return [(cls, "loss_inputs", "diffusion loss: inputs"), (cls, "loss_from_output", "diffusion loss: from output")]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--steps", type=int, default=100)
    args = parser.parse_args(argv)
    acc: collections.Counter = collections.Counter()
    base = run_preset(args.preset, steps=args.steps, checkpoints=CheckpointConfig(count=5))
    phases = _PHASES + _diffusion_phases(type(build_diffusion(base.diffusion)))
    originals = [_timed(owner, name, label, acc) for owner, name, label in phases]
    try:
        configs = [replace(base, seed=s) for s in range(args.k)]
        with tempfile.TemporaryDirectory() as tmp:
            train_many([replace(c, steps=2) for c in configs], [Path(tmp) / f"w{i}" for i in range(args.k)],
                       progress=False)
            acc.clear()
            train_many(configs, [Path(tmp) / f"r{i}" for i in range(args.k)], progress=False)
    finally:
        for (owner, name, _), own in zip(phases, originals):
            if own is None:
                delattr(owner, name)
            else:
                setattr(owner, name, own)
    print(f"preset {args.preset}, K {args.k}, {args.steps} steps, torch threads {torch.get_num_threads()}")
    print("| phase | ms per step (all K runs) |")
    print("|---|---|")
    for _, _, label in phases:
        print(f"| {label} | {1000 * acc[label] / args.steps:.1f} |")


if __name__ == "__main__":
    main()
