"""Tracer overhead on a diffusers UNet2DConditionModel, against plain forward hooks that keep the same outputs.

Three variants of one forward pass (batch 2, 16x16x4 latents, 8 text tokens of width 64), interleaved so machine load
affects them alike: raw (no hooks); plain hooks (``register_forward_hook`` appending each output, detached, to a
list: what a hand-written recorder keeps); a recording ``hidcap.tracing.Tracer`` over the same modules. Two module
sets: the U-Net's blocks plus every cross-attention ``attn2``, and every resnet, attention and transformer-block
submodule. Before timing, the Tracer's records are checked to equal the plain hooks' outputs. Prints a markdown
table (median ms per forward over ``--reps`` blocks).

    python benchmarks/diffusers_tracer_overhead.py [--reps N] [--threads T]
"""
from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from torch import nn

from hidcap.diffusers_series import import_diffusers
from hidcap.tracing import Tracer, resolve_modules

SETS = {
    "blocks + attn2": ["down_blocks.0", "down_blocks.1", "mid_block", "up_blocks.0", "up_blocks.1", "*.attn2"],
    "every resnet / attention / transformer block": ["*.resnets.?", "*.attentions.?", "*.transformer_blocks.?",
                                                     "*.attn1", "*.attn2", "*.ff"],
}


def build_model() -> nn.Module:
    """A small UNet2DConditionModel: channels (32, 64), cross-attention in both levels, 64-d text tokens."""
    diffusers = import_diffusers()
    torch.manual_seed(0)
    return diffusers.UNet2DConditionModel(
        sample_size=16, in_channels=4, out_channels=4, block_out_channels=(32, 64), layers_per_block=1,
        down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D"), norm_num_groups=8, cross_attention_dim=64,
        attention_head_dim=8).eval()


def _detach(out):
    """A tensor output detached; a nested tuple/list output as the tuple of its tensor leaves, detached."""
    if isinstance(out, torch.Tensor):
        return out.detach()
    leaves: list[torch.Tensor] = []

    def walk(o) -> None:
        if isinstance(o, torch.Tensor):
            leaves.append(o.detach())
        elif isinstance(o, (tuple, list)):
            for item in o:
                walk(item)

    walk(out)
    return tuple(leaves)


class PlainHooks:
    """Forward hooks that append each call's output (detached) to ``self.records[name]``."""

    def __init__(self, model: nn.Module, names: list[str]):
        self.model, self.names = model, names
        self.records: dict[str, list] = {}
        self.handles: list = []

    def __enter__(self) -> PlainHooks:
        modules = dict(self.model.named_modules())
        self.records = {n: [] for n in self.names}
        for n in self.names:
            store = self.records[n]
            self.handles.append(modules[n].register_forward_hook(lambda m, i, o, store=store: store.append(_detach(o))))
        return self

    def __exit__(self, *exc) -> None:
        for h in self.handles:
            h.remove()
        self.handles.clear()


def _same(a, b) -> bool:
    if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
        return isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and torch.equal(a, b)
    return len(a) == len(b) and all(torch.equal(x, y) for x, y in zip(a, b))


@torch.no_grad()
def measure(model: nn.Module, patterns: list[str], reps: int) -> dict:
    """Median seconds per forward: raw, plain hooks, Tracer; the number of modules recorded."""
    x, t, ehs = torch.randn(2, 4, 16, 16), torch.tensor([10, 900]), torch.randn(2, 8, 64)
    names = resolve_modules(model, patterns)

    def forward() -> None:
        model(x, t, encoder_hidden_states=ehs)

    with PlainHooks(model, names) as hooks:
        forward()
    with Tracer(model, names) as tr:
        forward()
    bad = [n for n in names if not _same(_detach(tr[n]), hooks.records[n][-1])]
    if bad:
        raise AssertionError(f"the Tracer's records differ from the plain hooks' for {bad}")

    def timed(context: Callable[[], object] | None) -> float:
        t0 = time.perf_counter()
        if context is None:
            forward()
        else:
            with context():
                forward()
        return time.perf_counter() - t0

    variants = {"raw": None, "hooks": lambda: PlainHooks(model, names), "tracer": lambda: Tracer(model, names)}
    times: dict[str, list[float]] = {k: [] for k in variants}
    for _ in range(3):
        forward()
    for rep in range(reps):  # rotate the order, so drift and caches favour none of them
        order = list(variants)[rep % 3:] + list(variants)[: rep % 3]
        for k in order:
            times[k].append(timed(variants[k]))
    return {"n": len(names), **{k: statistics.median(v) for k, v in times.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=31, help="timed forwards per variant (median taken)")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    diffusers = import_diffusers()
    model = build_model()
    rows = [(label, measure(model, patterns, args.reps)) for label, patterns in SETS.items()]
    print(f"diffusers {diffusers.__version__}, torch {torch.__version__}, {torch.get_num_threads()} threads, cpu, "
          f"UNet2DConditionModel {sum(p.numel() for p in model.parameters()):,} parameters, median of {args.reps}\n")
    print("| modules recorded | n | raw ms | plain hooks ms | Tracer ms | Tracer / plain hooks | Tracer − hooks, µs per module |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for label, m in rows:
        print(f"| {label} | {m['n']} | {m['raw'] * 1e3:.2f} | {m['hooks'] * 1e3:.2f} | {m['tracer'] * 1e3:.2f} | "
              f"{m['tracer'] / m['hooks']:.3f} | {(m['tracer'] - m['hooks']) / m['n'] * 1e6:.1f} |")


if __name__ == "__main__":
    main()
