"""Checkpoint I/O: what verifying the per-tensor CRC-32 checksums costs next to reading the file.

For each model (the tiny, hidden-capabilities and gaussian-bumps U-Nets) one checkpoint is written with
``save_checkpoint``; then ``read_checkpoint(verify=False)`` (read only, file in the page cache) and
``read_checkpoint(verify=True)`` (read + checksums) are timed, median of ``--repeat`` runs. The save time
includes computing the checksums. ``load model ms`` is what ``CheckpointSeries.load`` does around the read:
build the U-Net from its config and ``load_state_dict`` (verified read included). Run:

    .venv/bin/python benchmarks/checkpoint_io.py [--repeat 5] [--threads 1]
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from hidcap.checkpoints import read_checkpoint, save_checkpoint
from hidcap.models import UNet, presets

MODELS = ("tiny", "gaussian_bumps", "hidden_capabilities")


def _median_ms(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    print(f"{'model':22s} {'MiB':>7s} {'save ms':>8s} {'read ms':>8s} {'read+verify ms':>15s} "
          f"{'verify cost':>12s} {'load model ms':>14s}")
    with tempfile.TemporaryDirectory() as tmp:
        for name in MODELS:
            torch.manual_seed(0)
            state = UNet(getattr(presets, name)()).state_dict()
            path = Path(tmp) / f"{name}.safetensors"
            save_ms = _median_ms(lambda: save_checkpoint(path, state, step=1), args.repeat)
            read_checkpoint(path)  # warm the page cache
            read_ms = _median_ms(lambda: read_checkpoint(path, verify=False), args.repeat)
            verify_ms = _median_ms(lambda: read_checkpoint(path, verify=True), args.repeat)
            config = getattr(presets, name)()
            load_ms = _median_ms(lambda: UNet(config).load_state_dict(read_checkpoint(path)[0]), args.repeat)
            mib = path.stat().st_size / 2**20
            print(f"{name:22s} {mib:7.2f} {save_ms:8.1f} {read_ms:8.1f} {verify_ms:15.1f} "
                  f"{100 * (verify_ms - read_ms) / read_ms:+11.0f}% {load_ms:14.1f}")


if __name__ == "__main__":
    main()
