"""All accelerator measurements of hidcap in one command (≤ 8 minutes on one H100/H200).

Measures, for the faithful paper presets "hidden-capabilities" (Park et al. 2024: CUNet + their VDM) and
"concept-graphs" (Okawa et al. 2023: ContextUNet + their DDPM):

1. train ms/step (diffusion loss + backward + grad clip + AdamW, as ``hidcap.training.train`` runs it) at
   batch 64 and 128 for eager fp32, eager TF32, bf16 autocast, channels_last + bf16 and torch.compile + bf16:
   the median over ~30 timed steps after warm-up;
2. sampling images/s with each preset's sampler (its default number of steps, batch 128, fp32/TF32 and bf16);
3. ``train_many`` throughput for K = 1, 4, 8 runs of the preset (seeds 0..K-1, batch 64): ms per step of the
   group and run-steps/s, and the ratio time(K=8) / time(K=1) against the goal ≤ 3.

Every measurement is guarded (one failure or out-of-memory does not stop the rest) and has a time budget;
the compiled variants run last. The goal it reports against (issue 14): a paper-sized train step ≤ 10 ms at
batch 128 on an H100 (plain eager fp32/TF32 PyTorch takes about 30 ms there for a model of this size).
Writes ``OUT/gpu_check.json`` and ``OUT/gpu_check.md`` and prints the markdown. Run:

    .venv/bin/python benchmarks/gpu_check.py --out results/gpu            # on the accelerator
    .venv/bin/python benchmarks/gpu_check.py --smoke --out /tmp/gpu_smoke  # CPU, tiny presets, seconds

``--smoke`` uses the tiny presets of the same models ("tiny-cunet", "tiny-concept-graphs"), batch 8, 1 warm-up
and 2 timed steps, sampling with 2 steps, K = 1, 2, and skips torch.compile (minutes on a CPU); the test suite
runs it (tests/benchmarks/test_gpu_check.py).
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

from hidcap.training import CheckpointConfig, TrainConfig, _build, run_preset, train_many

PRESETS = ("hidden-capabilities", "concept-graphs")
SMOKE_PRESETS = {"hidden-capabilities": "tiny-cunet", "concept-graphs": "tiny-concept-graphs"}
GOAL_MS = 10.0  # paper-sized train step at batch 128 on an H100 (issue 14)
GOAL_MANY_RATIO = 3.0  # 8 paper-sized models ≤ 3x the time of one (issue 14)


@dataclass(frozen=True)
class Variant:
    name: str
    dtype: str = "float32"
    tf32: bool = False
    channels_last: bool = False
    compile: bool = False


VARIANTS = (
    Variant("eager fp32"),
    Variant("eager TF32", tf32=True),
    Variant("bf16 autocast", dtype="bfloat16", tf32=True),
    Variant("channels_last + bf16", dtype="bfloat16", tf32=True, channels_last=True),
    Variant("torch.compile + bf16", dtype="bfloat16", tf32=True, compile=True),
)


@dataclass
class Plan:
    """What to measure and how long; ``smoke`` shrinks everything to a CPU check of the script itself."""

    presets: dict[str, str]  # label -> run preset
    batches: tuple[int, ...]
    warmup: int
    timed: int
    sample_batch: int
    sample_steps: dict[str, int | None]  # label -> sampler steps (None: the sampler's default)
    many_k: tuple[int, ...]
    many_batch: int | None
    variant_budget_s: float
    compile_budget_s: float
    total_budget_s: float
    skip_compile: str | None = None


def plan(smoke: bool, device: torch.device) -> Plan:
    if smoke:
        return Plan(SMOKE_PRESETS, (8,), 1, 2, 4, {"hidden-capabilities": 2, "concept-graphs": None}, (1, 2), 8, 30.0, 30.0, 240.0,
                    skip_compile="skipped in --smoke (compiling takes minutes on a CPU)")
    skip = None if device.type == "cuda" else "skipped on CPU (compiling takes minutes; pass --device cuda)"
    return Plan({p: p for p in PRESETS}, (64, 128), 10, 30, 128, {p: None for p in PRESETS}, (1, 4, 8), 64, 25.0, 75.0, 420.0,
                skip_compile=skip)


# ---- timing helpers ------------------------------------------------------------------------------------------
def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _set_tf32(on: bool) -> None:
    torch.backends.cuda.matmul.allow_tf32 = on
    torch.backends.cudnn.allow_tf32 = on


def _timed(fn: Callable[[], Any], device: torch.device, warmup: int, timed: int, budget_s: float) -> tuple[float, int]:
    """Median ms of ``fn`` over up to ``timed`` calls after ``warmup`` calls, stopping when ``budget_s`` is spent
    (at least one timed call); returns (median ms, calls timed)."""
    start = time.perf_counter()
    for _ in range(warmup):
        fn()
        if time.perf_counter() - start > budget_s / 2:
            break
    _sync(device)
    times = []
    for _ in range(timed):
        t0 = time.perf_counter()
        fn()
        _sync(device)
        times.append(1000 * (time.perf_counter() - t0))
        if time.perf_counter() - start > budget_s:
            break
    return statistics.median(times), len(times)


def _batch(config: TrainConfig, batch: int, device: torch.device, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Random images in [0, 1] and 0/1 conditions of the model's shape: step time does not depend on content."""
    m = config.model
    g = torch.Generator().manual_seed(seed)
    images = torch.rand(batch, m.in_channels, m.image_size, m.image_size, generator=g)
    cond = (torch.rand(batch, m.cond_dim, generator=g) < 0.5).float()
    return images.to(device), cond.to(device)


def _guard(row: dict[str, Any], fn: Callable[[], dict[str, Any]], device: torch.device) -> dict[str, Any]:
    """Run one measurement; an exception (also out of memory) becomes status 'failed' with its error."""
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    t0 = time.perf_counter()
    try:
        row.update(fn())
        row["status"] = "ok"
    except Exception as exc:  # noqa: BLE001 -- one failure must not stop the other measurements
        row.update(status="failed", error=f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:300]}",
                   traceback=traceback.format_exc(limit=4))
    row["wall_s"] = round(time.perf_counter() - t0, 1)
    if device.type == "cuda":
        row["peak_mem_gb"] = round(torch.cuda.max_memory_allocated(device) / 2**30, 2)
    return row


# ---- the measurements ----------------------------------------------------------------------------------------
def train_step(preset: str, batch: int, variant: Variant, device: torch.device, p: Plan, budget_s: float) -> dict:
    """ms per train step of ``preset`` as hidcap.training.train runs it, in ``variant``."""
    _set_tf32(variant.tf32)
    config = run_preset(preset, batch_size=batch, device=str(device), dtype=variant.dtype,
                        channels_last=variant.channels_last)
    torch.manual_seed(0)
    parts = _build(config, device, noise_seed=0)
    forward = torch.compile(parts.model) if variant.compile else parts.model
    images, cond = _batch(config, batch, device)
    if variant.channels_last:
        images = images.contiguous(memory_format=torch.channels_last)
    autocast_dtype = getattr(torch, variant.dtype)
    clip = config.optimizer.grad_clip
    parts.model.train()

    def step() -> None:
        with parts.diffusion.autocast(device, autocast_dtype):
            loss = parts.diffusion.loss(forward, images, cond, parts.gen)
        parts.opt.zero_grad(set_to_none=True)
        loss.backward()
        if clip is not None:
            torch.nn.utils.clip_grad_norm_(parts.model.parameters(), clip)
        parts.opt.step()

    ms, n = _timed(step, device, p.warmup, p.timed, budget_s)
    return {"ms_per_step": round(ms, 3), "steps_timed": n,
            "params_m": round(sum(t.numel() for t in parts.model.parameters()) / 1e6, 3)}


def sampling(label: str, preset: str, dtype: str, device: torch.device, p: Plan, budget_s: float) -> dict:
    """Images per second of the preset's sampler at batch ``p.sample_batch``."""
    _set_tf32(True)
    config = run_preset(preset, device=str(device))
    torch.manual_seed(0)
    parts = _build(config, device, noise_seed=0)
    parts.model.eval()
    _, cond = _batch(config, p.sample_batch, device)
    steps = p.sample_steps.get(label)
    kwargs = {} if steps is None else {"steps": steps}
    autocast_dtype = getattr(torch, dtype)

    def run() -> None:
        with torch.no_grad(), parts.diffusion.autocast(device, autocast_dtype):
            parts.diffusion.sample(parts.model, cond, parts.gen, **kwargs)

    ms, n = _timed(run, device, 1, 3, budget_s)
    return {"images_per_s": round(p.sample_batch / (ms / 1000), 2), "ms_per_batch": round(ms, 1), "batches_timed": n,
            "sampler_steps": steps or "default"}


def many(preset: str, k: int, device: torch.device, p: Plan) -> dict:
    """``train_many`` of K seeds: ms per step of the whole group, from its metrics.jsonl timestamps."""
    _set_tf32(True)
    base = run_preset(preset, device=str(device), dtype="float32")
    if p.many_batch is not None:
        base = replace(base, batch_size=p.many_batch)
    w = max(p.warmup, 1)
    total = w + p.timed
    base = replace(base, steps=total, log_every=1, checkpoints=CheckpointConfig(steps=(total,), include_start=False))
    configs = [replace(base, seed=s) for s in range(k)]
    data = _batch(base, 4 * base.batch_size, device)
    with tempfile.TemporaryDirectory() as tmp:
        train_many(configs, [Path(tmp) / f"run{i}" for i in range(k)], data=data, progress=False)
        rows = [json.loads(line) for line in (Path(tmp) / "run0" / "metrics.jsonl").read_text().splitlines()]
    seconds = {r["step"]: r["seconds"] for r in rows}
    ms = 1000 * (seconds[total] - seconds[w]) / (total - w)
    return {"ms_per_step": round(ms, 3), "run_steps_per_s": round(1000 * k / ms, 2), "steps_timed": total - w,
            "batch": base.batch_size}


# ---- report --------------------------------------------------------------------------------------------------
def _fmt(row: dict[str, Any], key: str) -> str:
    if row.get("status") != "ok":
        return f"{row.get('status')}: {row.get('error', '')}".strip().rstrip(":")
    return str(row[key])


def markdown(report: dict[str, Any]) -> str:
    lines = [f"# gpu_check: {report['device_name']} ({report['started']})", "",
             f"torch {report['torch']}, smoke={report['smoke']}, wall {report['wall_s']} s", "",
             "## train ms/step", "", "| preset | batch | variant | ms/step | steps timed | peak GB |", "|---|---|---|---|---|---|"]
    for r in report["train"]:
        lines.append(f"| {r['preset']} | {r['batch']} | {r['variant']} | {_fmt(r, 'ms_per_step')} | "
                     f"{r.get('steps_timed', '')} | {r.get('peak_mem_gb', '')} |")
    lines += ["", "## sampling", "", "| preset | dtype | images/s | ms/batch | sampler steps |", "|---|---|---|---|---|"]
    for r in report["sampling"]:
        lines.append(f"| {r['preset']} | {r['dtype']} | {_fmt(r, 'images_per_s')} | {r.get('ms_per_batch', '')} | "
                     f"{r.get('sampler_steps', '')} |")
    lines += ["", "## train_many", "", "| preset | K | batch | ms/step (group) | run-steps/s |", "|---|---|---|---|---|"]
    for r in report["train_many"]:
        lines.append(f"| {r['preset']} | {r['k']} | {r.get('batch', '')} | {_fmt(r, 'ms_per_step')} | "
                     f"{r.get('run_steps_per_s', '')} |")
    lines += ["", "## goals (issue 14)", ""]
    for g in report["goals"]:
        lines.append(f"- {g}")
    return "\n".join(lines) + "\n"


def goals(report: dict[str, Any], p: Plan) -> list[str]:
    out = ["smoke run: tiny presets, not a measurement against the goals"] if report["smoke"] else []
    for label in p.presets:
        rows = [r for r in report["train"] if r["preset"] == label and r["batch"] == max(p.batches)
                and r["status"] == "ok"]
        if rows:
            best = min(rows, key=lambda r: r["ms_per_step"])
            verdict = "met" if best["ms_per_step"] <= GOAL_MS else "not met"
            out.append(f"{label}: best train step at batch {max(p.batches)} is {best['ms_per_step']} ms "
                       f"({best['variant']}); goal ≤ {GOAL_MS} ms on an H100: {verdict}")
        else:
            out.append(f"{label}: no train step measured at batch {max(p.batches)}")
        ks = {r["k"]: r for r in report["train_many"] if r["preset"] == label and r["status"] == "ok"}
        lo, hi = min(p.many_k), max(p.many_k)
        if lo in ks and hi in ks:
            ratio = ks[hi]["ms_per_step"] / ks[lo]["ms_per_step"]
            verdict = "met" if ratio <= GOAL_MANY_RATIO else "not met"
            out.append(f"{label}: train_many K={hi} takes {ratio:.2f}x the time of K={lo}; goal ≤ {GOAL_MANY_RATIO}x "
                       f"(for K=8): {verdict}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("gpu_check_results"), help="folder for the JSON and markdown")
    parser.add_argument("--smoke", action="store_true", help="tiny presets, 2 timed steps: checks the script on a CPU")
    parser.add_argument("--device", default=None, help="default: cuda when available, else cpu")
    parser.add_argument("--budget", type=float, default=None, help="total seconds (default 420; smoke 240)")
    args = parser.parse_args(argv)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    p = plan(args.smoke, device)
    if args.budget is not None:
        p.total_budget_s = args.budget
    t_start = time.perf_counter()
    deadline = t_start + p.total_budget_s
    report: dict[str, Any] = {
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"), "smoke": args.smoke,
        "device": str(device), "torch": torch.__version__, "python": platform.python_version(),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu",
        "goal_ms_batch128_h100": GOAL_MS, "train": [], "sampling": [], "train_many": [],
    }

    def left() -> float:
        return deadline - time.perf_counter()

    def skipped(row: dict[str, Any], why: str) -> dict[str, Any]:
        return {**row, "status": "skipped", "error": why}

    # 1. eager variants first, compile last: the expensive part cannot starve the rest
    for compiled in (False, True):
        for label, preset in p.presets.items():
            for batch in p.batches:
                for v in (v for v in VARIANTS if v.compile == compiled):
                    row = {"preset": label, "run_preset": preset, "batch": batch, "variant": v.name}
                    budget = min(p.compile_budget_s if v.compile else p.variant_budget_s, left())
                    if v.compile and p.skip_compile:
                        report["train"].append(skipped(row, p.skip_compile))
                    elif budget < 5:
                        report["train"].append(skipped(row, "total time budget spent"))
                    else:
                        report["train"].append(_guard(row, lambda: train_step(preset, batch, v, device, p, budget),
                                                      device))
                    print(json.dumps({k: x for k, x in report["train"][-1].items() if k != "traceback"}), flush=True)
        if not compiled:
            # 2. sampling and 3. train_many, before the compiled variants
            for label, preset in p.presets.items():
                for dtype in ("float32", "bfloat16"):
                    row = {"preset": label, "dtype": dtype}
                    budget = min(p.variant_budget_s, left())
                    report["sampling"].append(skipped(row, "total time budget spent") if budget < 5 else
                                              _guard(row, lambda: sampling(label, preset, dtype, device, p, budget), device))
                    print(json.dumps({k: x for k, x in report["sampling"][-1].items() if k != "traceback"}), flush=True)
            for label, preset in p.presets.items():
                for k in p.many_k:
                    row = {"preset": label, "k": k}
                    report["train_many"].append(skipped(row, "total time budget spent") if left() < 30 else
                                                _guard(row, lambda: many(preset, k, device, p), device))
                    print(json.dumps({k_: x for k_, x in report["train_many"][-1].items() if k_ != "traceback"}),
                          flush=True)
    report["wall_s"] = round(time.perf_counter() - t_start, 1)
    report["goals"] = goals(report, p)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "gpu_check.json").write_text(json.dumps(report, indent=2) + "\n")
    text = markdown(report)
    (args.out / "gpu_check.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
