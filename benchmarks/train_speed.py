"""Where a CPU training step goes, and what torch.compile and the other variants gain.

A training step as ``hidcap.training.train`` runs it: diffusion loss (forward), backward, grad clip, AdamW
(foreach). Two tables, both printed as markdown:

1. **Step breakdown** (eager fp32): torch.profiler's self CPU time over ``--profile-steps`` steps, grouped by op
   into convolution (forward + backward), normalisation (group / layer norm, forward + backward), activation
   (GELU / SiLU, forward + backward), attention + linear (matmuls, softmax), optimizer (AdamW + grad clip: the
   ``_foreach`` ops and the optimizer's Python) and other (elementwise arithmetic of the loss and the blocks,
   copies, allocation, autograd bookkeeping). Autograd's per-node overhead counts with its op's category.
2. **Variants**: median ms per step over ``--steps`` timed steps after ``--warmup`` steps: eager fp32,
   channels_last, bf16 autocast, channels_last + bf16, torch.compile (fp32); with ``--compile`` only (compiling
   takes minutes on a CPU), with its compile time and gain over eager. CUDA rows when CUDA is available.

Models (``--model``): ``bump-quick`` (default: the U-Net + DDPM T=200 that ``make demo`` trains, batch 64 on
16x16 periodic bumps, see hidcap.scales.BUMP_SCALES["quick"]), ``hidden-capabilities`` (the 15 M
parameter U-Net + VDM at 3x32x32; about 45 s per CPU step at batch 128) and ``tiny`` (seconds; what the test
runs). Run:

    .venv/bin/python benchmarks/train_speed.py [--model bump-quick] [--batch 64] [--threads 1] [--compile]
"""
from __future__ import annotations

import argparse
import re
import statistics
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass

import torch
from torch import nn

from hidcap.data import BumpDataSpec
from hidcap.diffusion import VDM, DDPMConfig, build_diffusion
from hidcap.scales import bump_scale
from hidcap.models import UNet, build_model, presets

VARIANTS = ("eager fp32", "channels_last", "bf16 autocast", "channels_last + bf16", "torch.compile")
MODELS = ("bump-quick", "hidden-capabilities", "tiny")

#: op-name patterns of each category, tried in this order (the first match wins); the rest is "other"
CATEGORIES: tuple[tuple[str, str], ...] = (
    ("optimizer (AdamW + clip)", r"_foreach|adamw|clip_grad"),
    ("convolution", r"conv"),
    ("normalisation", r"group_norm|layer_norm|batch_norm"),
    ("activation", r"gelu|silu|sigmoid|relu"),
    ("attention + linear", r"\bmm\b|addmm|bmm|matmul|linear|softmax|scaled_dot_product|baddbmm"),
)


@dataclass
class Step:
    """One model's training step: call ``step()`` once per step; ``model`` for memory-format changes."""

    model: nn.Module
    step: Callable[[], None]
    description: str


def build_step(name: str, batch: int, device: torch.device, variant: str = "eager fp32") -> Step:
    """The training step of model ``name`` (see :data:`MODELS`) at ``batch`` on ``device`` in ``variant``."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; use one of {MODELS}")
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; use one of {VARIANTS}")
    torch.manual_seed(0)
    if name == "hidden-capabilities":
        model: nn.Module = UNet(presets.hidden_capabilities()).to(device)
        diffusion: nn.Module = VDM().to(device)
        x = torch.rand(batch, 3, 32, 32, device=device)
        c = torch.rand(batch, 12, device=device)
        decay = 0.01
    else:
        if name == "bump-quick":
            scale = bump_scale("quick")
            cfg, dcfg = scale.model, scale.diffusion
        else:
            cfg = presets.tiny_bumps(image_size=8, channels=(8, 16), attention_resolutions=())
            dcfg = DDPMConfig.scaled(20)
        data = BumpDataSpec(image_size=cfg.image_size, increment=0.5, periodic=True).build(0)
        if batch > len(data.images):
            raise ValueError(f"batch {batch} exceeds the {len(data.images)} training images")
        model, diffusion = build_model(cfg).to(device), build_diffusion(dcfg).to(device)
        x, c = data.images[:batch].to(device), data.cond[:batch].to(device)
        decay = 0.0
    cl = "channels_last" in variant
    if cl:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    forward = torch.compile(model) if "compile" in variant else model
    groups = [{"params": list(model.parameters()), "weight_decay": decay}]
    if any(True for _ in diffusion.parameters()):
        groups.append({"params": list(diffusion.parameters()), "weight_decay": 0.0})
    opt = torch.optim.AdamW(groups, lr=1e-3, foreach=True)
    gen = torch.Generator(device=device).manual_seed(0)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if "bf16" in variant else nullcontext()

    def step() -> None:
        with autocast:
            loss = diffusion.loss(forward, x, c, gen)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0, foreach=True)
        opt.step()

    params = sum(p.numel() for p in model.parameters())
    return Step(model, step, f"{name} ({params / 1e6:.2f} M parameters), batch {batch}, {tuple(x.shape[1:])}")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_steps(step: Step, device: torch.device, steps: int, warmup: int) -> tuple[float, float]:
    """(seconds of the first step, median ms of ``steps`` steps after ``warmup``); the first step includes
    torch.compile's compilation."""
    times = []
    for _ in range(warmup + steps):
        _sync(device)
        t0 = time.perf_counter()
        step.step()
        _sync(device)
        times.append(time.perf_counter() - t0)
    return times[0], statistics.median(times[warmup:]) * 1e3


def categorise(op: str) -> str:
    """The category (see :data:`CATEGORIES`) of an aten op name such as ``aten::convolution_backward``."""
    name = op.lower()
    for category, pattern in CATEGORIES:
        if re.search(pattern, name):
            return category
    return "other"


def breakdown(step: Step, steps: int, warmup: int) -> tuple[dict[str, float], dict[str, float]]:
    """Self CPU milliseconds per step by category and by op, from torch.profiler over ``steps`` steps."""
    from torch.profiler import ProfilerActivity, profile

    for _ in range(warmup):
        step.step()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            step.step()
    by_op: dict[str, float] = {}
    for evt in prof.key_averages():  # self times do not overlap: they add up to the profiled CPU time
        by_op[evt.key] = by_op.get(evt.key, 0.0) + evt.self_cpu_time_total / 1e3 / steps
    by_cat = {name: 0.0 for name, _ in CATEGORIES} | {"other": 0.0}
    for op, ms in by_op.items():
        by_cat[categorise(op)] += ms
    return by_cat, by_op


def breakdown_table(by_cat: dict[str, float], by_op: dict[str, float], top: int = 8) -> str:
    """Markdown: the categories with ms / step and share, then the ``top`` ops by self time."""
    total = sum(by_cat.values())
    lines = ["| category | self CPU ms / step | share |", "|---|---:|---:|"]
    for name, ms in sorted(by_cat.items(), key=lambda kv: -kv[1]):
        lines.append(f"| {name} | {ms:.1f} | {100 * ms / total if total else 0:.0f} % |")
    lines.append(f"| total | {total:.1f} | 100 % |")
    lines += ["", "| op (top by self CPU time) | category | ms / step |", "|---|---|---:|"]
    for op, ms in sorted(by_op.items(), key=lambda kv: -kv[1])[:top]:
        lines.append(f"| {op} | {categorise(op)} | {ms:.1f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", choices=MODELS, default="bump-quick")
    p.add_argument("--batch", type=int, default=None, help="default: 64 (128 for hidden-capabilities, 8 for tiny)")
    p.add_argument("--steps", type=int, default=5, help="timed steps per variant")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--profile-steps", type=int, default=5)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--compile", action="store_true", help="also time torch.compile (minutes on a CPU)")
    p.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    args = p.parse_args(argv)
    for name in ("steps", "warmup", "profile_steps"):
        if getattr(args, name) < (0 if name == "warmup" else 1):
            p.error(f"--{name.replace('_', '-')} must be positive")
    if args.threads:
        torch.set_num_threads(args.threads)
    batch = args.batch or {"hidden-capabilities": 128, "tiny": 8}.get(args.model, 64)
    cpu = torch.device("cpu")
    report: dict = {"model": args.model, "batch": batch, "threads": torch.get_num_threads(),
                    "torch": torch.__version__, "variants": []}

    base = build_step(args.model, batch, cpu)
    print(f"{base.description}, torch {torch.__version__}, CPU threads {torch.get_num_threads()}\n")
    by_cat, by_op = breakdown(base, args.profile_steps, max(1, args.warmup))
    report["breakdown_ms"], report["ops_ms"] = by_cat, by_op
    print(f"Step breakdown, eager fp32, self CPU time over {args.profile_steps} profiled steps:\n")
    print(breakdown_table(by_cat, by_op), "\n", flush=True)

    print("| device | variant | ms / step | vs eager | first step s |")
    print("|---|---|---:|---:|---:|")
    devices = [cpu] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    for device in devices:
        eager = None
        for variant in args.variants:
            if device.type == "cpu" and "compile" in variant and not args.compile:
                print(f"| cpu | {variant} | skipped (--compile: compiling takes minutes on a CPU) | | |")
                continue
            first, ms = time_steps(build_step(args.model, batch, device, variant), device, args.steps, args.warmup)
            eager = ms if variant == "eager fp32" else eager
            gain = f"{eager / ms:.2f}x" if eager else ""
            report["variants"].append({"device": device.type, "variant": variant, "ms_per_step": ms,
                                       "first_step_s": first})
            print(f"| {device.type} | {variant} | {ms:.1f} | {gain} | {first:.1f} |", flush=True)
    if not torch.cuda.is_available():
        print("| cuda | every variant | not measured: no GPU lent | | |")
    return report


if __name__ == "__main__":
    main()
