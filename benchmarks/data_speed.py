"""Generation speed of the data generators (hidcap.data). Prints a markdown table.

    .venv/bin/python benchmarks/data_speed.py [--repeats 3] [--device cpu]

Target (issue 3): the default bump set (d = 0.1, σ = 1, N = 32: 102,400 images) in under 10 s on 2 CPU cores.
"""
from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch

from hidcap.data import BumpDataSpec, ConceptDataSpec, HeldOutRegion


def _time(fn, repeats: int, device: str) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        out = fn()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--device", default="cpu")
    args = p.parse_args()
    cases = {
        "bump d=0.1 σ=1 (default)": BumpDataSpec(),
        "SOS d=0.1 σ=1": BumpDataSpec(kind="sos"),
        "bump periodic d=0.1": BumpDataSpec(periodic=True),
        "SOS d=0.1, band [13,19] held out": BumpDataSpec(kind="sos", held_out=HeldOutRegion("band")),
        "stripe_x d=0.1 (44² latent)": BumpDataSpec(kind="stripe_x"),
        "bump d=0.1, λ=0.2": BumpDataSpec(subsample=0.2),
        "concepts color×size, 3×2048, 32²": ConceptDataSpec(),
        "concepts shape×color×size, 4×2048": ConceptDataSpec(
            concepts=("shape", "color", "size"), train_classes=("000", "100", "010", "001"), test_classes=("111",)
        ),
    }
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}, "
          f"{platform.processor() or platform.machine()}, median of {args.repeats}")
    print()
    print("| data set | images | seconds | images/s | MB |")
    print("|---|---:|---:|---:|---:|")
    for name, spec in cases.items():
        seconds, data = _time(lambda s=spec: s.build(0, device=args.device), args.repeats, args.device)
        n = len(data)
        mb = data.images.numel() * data.images.element_size() / 2**20
        print(f"| {name} | {n:,} | {seconds:.2f} | {n / seconds:,.0f} | {mb:.0f} |")
        del data


if __name__ == "__main__":
    main()
