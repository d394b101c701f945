"""hidcap's Tracer side by side with plain forward hooks and nnsight: µs per hooked call and equality.

Model: a stack of 16 Linear(64, 64) + GELU layers at batch 1 (hook cost dominates). For each tool, the
10th-percentile time (interleaved with raw passes) of one forward pass that records k layer outputs, including the tool's per-pass setup
(constructing the Tracer / nnsight trace, registering hooks), for k = 4 and k = 16; the slope
(t16 − t4) / 12 is the cost per extra hooked call and t4 − 4·slope − t_raw the fixed cost per pass.
Equality: recorded outputs and the output of a patched pass (layer 5's output replaced) must be bitwise
equal to plain hooks. nnsight is optional (``pip install -e .[bench]``); without it, its rows say so.
Run:

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/tracer_vs_nnsight.py [--reps N]
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

from hidcap.tracing import Tracer

try:
    from nnsight import NNsight
except ImportError:  # optional bench dependency
    NNsight = None

DEPTH, WIDTH = 16, 64


class Stack(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleList(nn.Sequential(nn.Linear(WIDTH, WIDTH), nn.GELU()) for _ in range(DEPTH))

    def forward(self, x):
        for layer in self.layers:
            x = layer(x)
        return x


def _site(env, name: str):
    for part in name.split("."):
        env = env[int(part)] if part.isdigit() else getattr(env, part)
    return env


_MODULES: dict[int, dict[str, nn.Module]] = {}


def _modules(model) -> dict[str, nn.Module]:
    """Name -> module, computed once per model (plain hooks are not charged for a name lookup)."""
    return _MODULES.setdefault(id(model), dict(model.named_modules()))


def plain_record(model, names, x):
    mods = _modules(model)
    out: dict = {}
    hs = [mods[n].register_forward_hook(lambda m, a, o, n=n: out.__setitem__(n, o.detach())) for n in names]
    try:
        y = model(x)
    finally:
        for h in hs:
            h.remove()
    return out, y


def plain_patch(model, name, value, x):
    h = _modules(model)[name].register_forward_hook(lambda m, a, o: value)
    try:
        return model(x)
    finally:
        h.remove()


def tracer_record(model, names, x):
    with Tracer(model, names) as tr:
        y = model(x)
    return {n: tr[n] for n in names}, y


def tracer_patch(model, name, value, x):
    with Tracer(model, replace={name: value}):
        return model(x)


def nnsight_record(wrapped, names, x):
    saved = []
    with wrapped.trace(x):
        for n in names:  # in execution order, as nnsight requires
            saved.append(_site(wrapped, n).output.save())
        y = wrapped.output.save()
    return {n: getattr(v, "value", v) for n, v in zip(names, saved)}, getattr(y, "value", y)


def nnsight_patch(wrapped, name, value, x):
    with wrapped.trace(x):
        _site(wrapped, name).output = value
        y = wrapped.output.save()
    return getattr(y, "value", y)


def _best_us(fns, reps: int) -> list[float]:
    """Per function, a low quantile (10th percentile) of ``reps`` single-call times (µs), calls of the
    functions interleaved so machine load affects all alike."""
    for fn in fns:
        for _ in range(3):
            fn()
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(reps):
        for fn, ts in zip(fns, times):
            t0 = time.perf_counter()
            fn()
            ts.append((time.perf_counter() - t0) * 1e6)
    return [statistics.quantiles(ts, n=10)[0] for ts in times]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=200)
    args = parser.parse_args()
    torch.manual_seed(0)
    model = Stack().eval()
    x = torch.randn(1, WIDTH)
    names = [f"layers.{i}" for i in range(DEPTH)]
    few = names[::4]
    value = torch.randn(1, WIDTH)
    tools = {"plain hooks": (model, plain_record, plain_patch), "hidcap Tracer": (model, tracer_record, tracer_patch)}
    if NNsight is not None:
        tools["nnsight"] = (NNsight(model), nnsight_record, nnsight_patch)

    with torch.no_grad():
        raw = _best_us([lambda: model(x)], args.reps)[0]
        ref, ref_y = plain_record(model, names, x)
        ref_patched = plain_patch(model, "layers.5", value, x)
        print(f"raw forward: {raw:.1f} µs ({DEPTH} layers, batch 1, {torch.get_num_threads()} thread(s))\n")
        print("| tool | µs per extra hooked call | fixed µs per pass | records equal | patched output equal |")
        print("|---|---:|---:|---|---|")
        for label, (m, record, patch_fn) in tools.items():
            got, y = record(m, names, x)
            equal = all(torch.equal(got[n], ref[n]) for n in names) and torch.equal(y, ref_y)
            patched_equal = torch.equal(patch_fn(m, "layers.5", value, x), ref_patched)
            raw, t_few, t_all = _best_us(
                [lambda: model(x), lambda: record(m, few, x), lambda: record(m, names, x)], args.reps
            )
            slope = (t_all - t_few) / (len(names) - len(few))
            fixed = t_few - len(few) * slope - raw
            print(f"| {label} | {slope:.1f} | {fixed:.1f} | {equal} | {patched_equal} |")
        if NNsight is None:
            print("| nnsight | not installed (pip install -e .[bench]) | | | |")


if __name__ == "__main__":
    main()
