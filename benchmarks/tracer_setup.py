"""Tracer setup cost: construct + enter + exit a Tracer vs. registering and removing the same plain hooks.

Issue 17 measured 611 µs (tiny U-Net, 169 modules) and 1,370 µs (paper-sized, 331 modules) for the
Tracer, about 5x plain hooks, because every construction walked ``named_modules()`` ~2.4 times. Each
Tracer now resolves its own names (issue 23): an exact name is followed along its path, a glob walks
``named_modules()`` once; nothing is cached between Tracers. The goal is construct + enter + exit <= 3x
plain hooks on the paper-sized U-Net (``hidcap.models.presets.hidden_capabilities()``) for the 8 exact
names below; the last row shows what one glob (``*.cond_embed``, a walk of the whole model) costs. No
forward pass is timed; the best of --reps interleaved blocks is reported. Run:

    OMP_NUM_THREADS=1 PYTHONPATH=src .venv/bin/python benchmarks/tracer_setup.py [--reps N]
"""
from __future__ import annotations

import argparse
import time

from hidcap.models import UNet
from hidcap.models.presets import hidden_capabilities, tiny
from hidcap.tracing import Tracer, resolve_modules

PATTERNS = ["downs.0.res.0", "downs.1.res.0", "downs.0.res.0.cond_embed", "mid.attn", "mid.res.1",
            "ups.0.res.0", "ups.1.res.0.cond_embed", "out_conv"]


def _best_us(fns, reps: int, inner: int = 20) -> list[float]:
    """Per function, the best of ``reps`` blocks of ``inner`` calls (µs per call); blocks of the
    functions are interleaved so machine load affects all alike (timeit's advice: the minimum)."""
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(reps):
        for fn, ts in zip(fns, times):
            t0 = time.perf_counter()
            for _ in range(inner):
                fn()
            ts.append((time.perf_counter() - t0) / inner * 1e6)
    return [min(ts) for ts in times]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=50)
    args = parser.parse_args()
    print("| model | modules | plain hooks µs | Tracer µs | ratio | goal |")
    print("|---|---:|---:|---:|---:|---|")
    rows = [("tiny", tiny(), PATTERNS), ("paper-sized", hidden_capabilities(), PATTERNS),
            ("paper-sized, glob '*.cond_embed'", hidden_capabilities(), ["*.cond_embed"])]
    for label, cfg, patterns in rows:
        model = UNet(cfg)
        names = resolve_modules(model, patterns)
        mods = dict(model.named_modules())

        def hook(m, a, o):
            return None

        def plain():
            handles = [mods[n].register_forward_hook(hook) for n in names]
            for h in handles:
                h.remove()

        def traced():
            with Tracer(model, patterns):
                pass

        plain_us, tracer_us = _best_us([plain, traced], args.reps)
        ratio = tracer_us / plain_us
        goal = ("met" if ratio <= 3 else "NOT met") if patterns is PATTERNS else "(no goal)"
        print(f"| {label} ({len(names)} hooked) | {len(mods)} | {plain_us:.1f} | {tracer_us:.1f} | {ratio:.2f} | "
              f"<= 3x: {goal} |")


if __name__ == "__main__":
    main()
