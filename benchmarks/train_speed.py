"""Training-step speed of the hidden-capabilities U-Net (VDM loss + backward + AdamW + grad clip).

Variants: eager fp32, bf16 autocast, channels_last, torch.compile (skipped on CPU unless
--compile-cpu: compiling the full model takes minutes there). Prints a markdown table of the median ms
per step over --steps timed steps after --warmup steps. GPU rows are measured when CUDA is available,
else marked "not measured: no GPU lent". Run:

    .venv/bin/python benchmarks/train_speed.py [--batch 128] [--steps 5] [--warmup 2] [--threads T]
"""
from __future__ import annotations

import argparse
import statistics
import time
from contextlib import nullcontext

import torch

from hidcap.diffusion import VDM
from hidcap.models import UNet, presets

VARIANTS = ("eager fp32", "bf16 autocast", "channels_last", "channels_last + bf16", "torch.compile + bf16")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(variant: str, device: torch.device, batch: int, steps: int, warmup: int) -> float:
    """Median milliseconds per training step."""
    torch.manual_seed(0)
    cfg = presets.hidden_capabilities()
    model = UNet(cfg).to(device)
    diffusion = VDM().to(device)
    cl = "channels_last" in variant
    if cl:
        model = model.to(memory_format=torch.channels_last)
    forward = torch.compile(model) if "compile" in variant else model
    opt = torch.optim.AdamW([{"params": model.parameters()}, {"params": diffusion.parameters(), "weight_decay": 0}],
                            lr=1e-3, weight_decay=0.01)
    gen = torch.Generator(device=device).manual_seed(0)
    x = torch.rand(batch, 3, 32, 32, device=device)
    if cl:
        x = x.contiguous(memory_format=torch.channels_last)
    c = torch.rand(batch, 12, device=device)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if "bf16" in variant else nullcontext()
    times = []
    for i in range(warmup + steps):
        _sync(device)
        t0 = time.perf_counter()
        with autocast:
            loss = diffusion.loss(forward, x, c, gen)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        _sync(device)
        if i >= warmup:
            times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--compile-cpu", action="store_true")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    params = sum(t.numel() for t in UNet(presets.hidden_capabilities()).parameters())
    print(f"hidden-capabilities U-Net ({params / 1e6:.1f} M parameters), batch {args.batch}, 3x32x32, "
          f"torch {torch.__version__}, CPU threads {torch.get_num_threads()}\n")
    print("| device | variant | ms / step | 20k steps |")
    print("|---|---|---|---|")
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    for device in devices:
        for variant in VARIANTS:
            if device.type == "cpu" and "compile" in variant and not args.compile_cpu:
                print(f"| cpu | {variant} | skipped (compile takes minutes on CPU; --compile-cpu) | |")
                continue
            ms = measure(variant, device, args.batch, args.steps, args.warmup)
            print(f"| {device.type} | {variant} | {ms:.1f} | {ms * 20000 / 60000:.1f} min |", flush=True)
    if not torch.cuda.is_available():
        for variant in VARIANTS:
            print(f"| cuda | {variant} | not measured: no GPU lent | |")


if __name__ == "__main__":
    main()
