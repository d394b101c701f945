"""Tracer A/B: this checkout's Tracer against the Tracer of another commit, interleaved in one process.

On a shared machine, timings of two separate runs differ by more than the change being measured. This
script extracts ``src/hidcap/tracing`` of ``--base`` (default ``main``) with ``git archive``, imports it under
another package name, and times both Tracers in alternating blocks, so load affects both alike:

- setup: construct + enter + exit a Tracer recording 8 modules of the paper-sized U-Net, and the same plain
  hooks registered and removed (as ``benchmarks/tracer_setup.py``); best of ``--reps`` blocks;
- per call: a 2-layer MLP at batch 1 with all 4 modules recorded (as ``benchmarks/tracer_overhead.py``);
  best of ``10 * --reps`` blocks of 20 forwards, raw forwards interleaved; µs per hooked call is
  (traced - raw) / 4;
- with ``--conv-reps N``: % over raw of one forward of the U-Net-sized conv model of
  ``benchmarks/tracer_overhead.py`` (8 modules recorded), best of N interleaved forwards per variant;
- hook body: the Tracer's forward hook called directly (default options, a (1, 64) output), which
  isolates the Tracer's own per-call work from torch's hook dispatch; best of ``--reps`` blocks.

Run from the repository root:

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/tracer_compare.py --base d8e54a4 [--reps N] [--conv-reps N]
"""
from __future__ import annotations

import argparse
import importlib
import io
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

from hidcap.models import UNet
from hidcap.models.presets import hidden_capabilities

PATTERNS = ["downs.0.res.0", "downs.1.res.0", "downs.0.res.0.cond_embed", "mid.attn", "mid.res.1",
            "ups.0.res.0", "ups.1.res.0.cond_embed", "out_conv"]


def load_base_tracer(commit: str, folder: Path) -> type:
    """The ``Tracer`` class of ``commit``, imported as package ``hidcap_base_tracing``."""
    tar = subprocess.run(["git", "archive", commit, "src/hidcap/tracing"], capture_output=True, check=True).stdout
    pkg = folder / "hidcap_base_tracing"
    with tarfile.open(fileobj=io.BytesIO(tar)) as tf:
        for member in tf.getmembers():
            if member.isfile() and member.name.endswith(".py"):
                text = tf.extractfile(member).read().decode().replace("hidcap.tracing", "hidcap_base_tracing")
                target = pkg / Path(member.name).name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text)
    sys.path.insert(0, str(folder))
    return importlib.import_module("hidcap_base_tracing").Tracer


class MLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.act, self.fc2 = nn.Linear(64, 256), nn.GELU(), nn.Linear(256, 64)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


def _block(fn, inner: int) -> float:
    t0 = time.perf_counter()
    for _ in range(inner):
        fn()
    return (time.perf_counter() - t0) / inner * 1e6


def setup_us(tracers: dict[str, type], reps: int) -> dict[str, float]:
    model = UNet(hidden_capabilities())
    mods = dict(model.named_modules())

    def hook(m, a, o):
        return None

    def plain():
        for h in [mods[n].register_forward_hook(hook) for n in PATTERNS]:
            h.remove()

    def traced(cls):
        def run():
            with cls(model, PATTERNS):
                pass
        return run

    fns = {"plain hooks": plain, **{k: traced(c) for k, c in tracers.items()}}
    times: dict[str, list[float]] = {k: [] for k in fns}
    for rep in range(reps):
        order = list(fns) if rep % 2 == 0 else list(reversed(fns))
        for k in order:
            times[k].append(_block(fns[k], 20))
    return {k: min(v) for k, v in times.items()}


@torch.no_grad()
def per_call_us(tracers: dict[str, type], reps: int) -> dict[str, float]:
    """µs per hooked call: (traced - raw) / 4 of the MLP's forward time, best block of each (timeit's advice)."""
    torch.manual_seed(0)
    model, x = MLP().eval(), torch.randn(1, 64)
    live = {k: c(model, ["", "*"]) for k, c in tracers.items()}
    for _ in range(20):
        model(x)
    times: dict[str, list[float]] = {k: [] for k in ["raw", *live]}
    for rep in range(10 * reps):  # short blocks, many of them: on a loaded machine some run undisturbed
        order = ["raw", *live] if rep % 2 == 0 else [*reversed(live), "raw"]
        for k in order:
            if k == "raw":
                times[k].append(_block(lambda: model(x), 20))
            else:
                with live[k]:
                    times[k].append(_block(lambda: model(x), 20))
    raw = min(times["raw"])
    return {"raw forward": raw, **{k: (min(times[k]) - raw) / 4 for k in live}}


@torch.no_grad()
def hook_body_ns(tracers: dict[str, type], reps: int) -> dict[str, float]:
    """ns per call of the Tracer's own forward hook, called directly (no module, no torch dispatch) on a
    (1, 64) output with default options; best of ``reps`` blocks of 2,000 calls."""
    module, output = nn.Linear(64, 64), torch.randn(1, 64)
    times: dict[str, list[float]] = {k: [] for k in tracers}
    for rep in range(reps):
        for k in (list(tracers) if rep % 2 == 0 else list(reversed(tracers))):
            with tracers[k](module, [""]):
                hook = list(module._forward_hooks.values())[-1]
                times[k].append(_block(lambda: hook(module, (), output), 2000) * 1e3)
    return {k: min(v) for k, v in times.items()}


@torch.no_grad()
def conv_overhead_pct(tracers: dict[str, type], reps: int) -> dict[str, float]:
    """% over raw of one forward of ``tracer_overhead.py``'s U-Net-sized conv model (batch 8, 32x32) with
    its 8 modules recorded; best of ``reps`` single forwards per variant, interleaved."""
    from tracer_overhead import (
        ConvUNet,  # benchmarks/ is on sys.path when this file runs as a script
    )

    torch.manual_seed(0)
    model, x = ConvUNet().eval(), torch.randn(8, 3, 32, 32)
    patterns = ["inp", "downs.?", "mid", "ups.?", "out"]
    live = {k: c(model, patterns) for k, c in tracers.items()}
    model(x)
    times: dict[str, list[float]] = {k: [] for k in ["raw", *live]}
    for rep in range(reps):
        for k in (["raw", *live] if rep % 2 == 0 else [*reversed(live), "raw"]):
            if k == "raw":
                times[k].append(_block(lambda: model(x), 1))
            else:
                with live[k]:
                    times[k].append(_block(lambda: model(x), 1))
    raw = min(times["raw"])
    return {"raw forward": raw, **{k: (min(times[k]) - raw) / raw * 100 for k in live}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="main", help="git commit whose Tracer is the baseline")
    parser.add_argument("--reps", type=int, default=60)
    parser.add_argument("--conv-reps", type=int, default=0, help="also time the conv model (0: skip)")
    args = parser.parse_args()
    from hidcap.tracing import Tracer

    with tempfile.TemporaryDirectory() as tmp:
        tracers = {f"base {args.base}": load_base_tracer(args.base, Path(tmp)), "this checkout": Tracer}
        setup = setup_us(tracers, args.reps)
        calls = per_call_us(tracers, args.reps)
        body = hook_body_ns(tracers, args.reps)
        conv = conv_overhead_pct(tracers, args.conv_reps) if args.conv_reps else None
    plain = setup["plain hooks"]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.reps} interleaved blocks\n")
    print("| Tracer | setup µs (paper U-Net, 8 modules) | setup / plain hooks | µs per hooked call (MLP, B=1) "
          "| hook body ns |")
    print("|---|---:|---:|---:|---:|")
    print(f"| plain hooks | {plain:.1f} | 1.00 | — | — |")
    for k in tracers:
        print(f"| {k} | {setup[k]:.1f} | {setup[k] / plain:.2f} | {calls[k]:.2f} | {body[k]:.0f} |")
    print(f"\nraw MLP forward: {calls['raw forward']:.1f} µs (best block)")
    if conv is not None:
        print(f"\nconv model (B=8, 32x32, 8 modules recorded), best of {args.conv_reps}: raw "
              f"{conv['raw forward'] / 1e3:.1f} ms; " + "; ".join(f"{k} {conv[k]:+.1f} %" for k in tracers))


if __name__ == "__main__":
    main()
