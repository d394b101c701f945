"""Sampling speed: images per second of the 50-step VDM ancestral sampler on the hidden-capabilities U-Net.

Prompts are batched into one call per step; inference runs under ``torch.no_grad``. Variants: fp32,
bf16 autocast, and classifier-free guidance (w=3: one 2B-row call per step). GPU rows are measured when
CUDA is available, else marked "not measured: no GPU lent". Run:

    .venv/bin/python benchmarks/sample_speed.py [--batch 64] [--steps 50] [--threads T]
"""
from __future__ import annotations

import argparse
import time

import torch

from hidcap.diffusion import VDM
from hidcap.models import UNet, presets

VARIANTS = (("fp32", None, 1.0), ("bf16 autocast", torch.bfloat16, 1.0), ("fp32, CFG w=3", None, 3.0))


def measure(device: torch.device, batch: int, steps: int, dtype: torch.dtype | None, guidance: float) -> float:
    """Images per second for one sampling call of ``batch`` prompts (after one warm-up call)."""
    torch.manual_seed(0)
    model = UNet(presets.hidden_capabilities()).to(device).eval()
    diffusion = VDM().to(device)
    cond = torch.rand(batch, 12, device=device)
    gen = torch.Generator(device=device).manual_seed(0)
    diffusion.sample(model, cond, gen, steps=2, dtype=dtype, guidance=guidance)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    t0 = time.perf_counter()
    diffusion.sample(model, cond, gen, steps=steps, dtype=dtype, guidance=guidance)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return batch / (time.perf_counter() - t0)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--steps", type=int, default=50)
    p.add_argument("--threads", type=int, default=None)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"hidden-capabilities U-Net, VDM ancestral sampler, {args.steps} steps, batch {args.batch}, "
          f"CPU threads {torch.get_num_threads()}\n")
    print("| device | variant | images / s | ms / step |")
    print("|---|---|---|---|")
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    for device in devices:
        for name, dtype, w in VARIANTS:
            ips = measure(device, args.batch, args.steps, dtype, w)
            print(f"| {device.type} | {name} | {ips:.1f} | {args.batch / ips / args.steps * 1e3:.1f} |", flush=True)
    if not torch.cuda.is_available():
        for name, _, _ in VARIANTS:
            print(f"| cuda | {name} | not measured: no GPU lent | |")


if __name__ == "__main__":
    main()
