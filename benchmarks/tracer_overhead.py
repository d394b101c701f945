"""Tracer overhead: median forward time raw vs. with a recording Tracer; prints a markdown table.

Models: a U-Net-sized conv model (channels 64-256, batch 8, 32x32; 8 modules recorded) and a
2-layer MLP at batch 1 (all 4 of its modules recorded: root, fc1, act, fc2). Raw and traced timings
are interleaved (alternating which goes first) so machine load affects both alike. Run:

    .venv/bin/python benchmarks/tracer_overhead.py [--reps N] [--threads T]
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

from hidcap.tracing import Tracer


class ResBlock(nn.Module):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.norm1 = nn.GroupNorm(8, cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.norm2 = nn.GroupNorm(8, cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()
        self.act = nn.SiLU()

    def forward(self, x):
        h = self.conv1(self.act(self.norm1(x)))
        h = self.conv2(self.act(self.norm2(h)))
        return h + self.skip(x)


class ConvUNet(nn.Module):
    """Encoder-decoder with skips: 64 -> 128 -> 256 channels at 32 -> 16 -> 8 pixels."""

    def __init__(self, chans: tuple[int, ...] = (64, 128, 256)):
        super().__init__()
        self.inp = nn.Conv2d(3, chans[0], 3, padding=1)
        self.downs = nn.ModuleList()
        self.pools = nn.ModuleList()
        for i, c in enumerate(chans):
            self.downs.append(ResBlock(chans[max(i - 1, 0)], c))
            self.pools.append(nn.Conv2d(c, c, 3, stride=2, padding=1) if i < len(chans) - 1 else nn.Identity())
        self.mid = ResBlock(chans[-1], chans[-1])
        self.ups = nn.ModuleList()
        self.upsample = nn.Upsample(scale_factor=2, mode="nearest")
        for i in reversed(range(len(chans) - 1)):
            self.ups.append(ResBlock(chans[i + 1] + chans[i], chans[i]))
        self.out = nn.Conv2d(chans[0], 3, 3, padding=1)

    def forward(self, x):
        h = self.inp(x)
        skips = []
        for block, pool in zip(self.downs, self.pools):
            h = block(h)
            skips.append(h)
            h = pool(h)
        h = self.mid(h)
        skips.pop()
        for block in self.ups:
            h = block(torch.cat([self.upsample(h), skips.pop()], dim=1))
        return self.out(h)


class MLP(nn.Module):
    def __init__(self, d_in: int = 64, hidden: int = 256, d_out: int = 64):
        super().__init__()
        self.fc1 = nn.Linear(d_in, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, d_out)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)))


def _time_block(fn, inner: int) -> float:
    t0 = time.perf_counter()
    for _ in range(inner):
        fn()
    return (time.perf_counter() - t0) / inner


@torch.no_grad()
def measure(model: nn.Module, x: torch.Tensor, patterns: list[str], reps: int, inner: int) -> dict:
    """Median seconds per forward, raw and inside a recording Tracer (records cleared per block)."""
    model.eval()
    tracer = Tracer(model, patterns)
    for _ in range(3):  # warm-up
        model(x)
    raw, traced = [], []

    def run_traced() -> None:
        with tracer:
            traced.append(_time_block(lambda: model(x), inner))

    for rep in range(reps):  # alternate which variant goes first, so drift and caches favour neither
        first, second = (run_traced, None) if rep % 2 else (None, run_traced)
        if first:
            first()
        raw.append(_time_block(lambda: model(x), inner))
        if second:
            second()
    hooked_calls = sum(tracer.calls(n) for n in tracer.names) // inner
    r, t = statistics.median(raw), statistics.median(traced)
    return {"raw": r, "traced": t, "hooked": hooked_calls, "names": tracer.names}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=41, help="timed blocks per variant (median taken)")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    conv = ConvUNet()
    conv_patterns = ["inp", "downs.?", "mid", "ups.?", "out"]  # 1 + 3 + 1 + 2 + 1 = 8 modules
    rows = [("U-Net conv (64-256 ch, B=8, 32x32)", measure(conv, torch.randn(8, 3, 32, 32), conv_patterns, args.reps, 1))]
    mlp = MLP()
    rows.append(("2-layer MLP (64-256-64, B=1)", measure(mlp, torch.randn(1, 64), ["", "*"], args.reps, 200)))

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device cpu, median of {args.reps} blocks\n")
    print("| model | hooked calls / forward | raw median ms | traced median ms | overhead % | µs per hooked call |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, m in rows:
        over = (m["traced"] - m["raw"]) / m["raw"] * 100
        per_call = (m["traced"] - m["raw"]) / m["hooked"] * 1e6
        print(f"| {label} | {m['hooked']} | {m['raw'] * 1e3:.3f} | {m['traced'] * 1e3:.3f} | {over:+.1f} | {per_call:.1f} |")


if __name__ == "__main__":
    main()
