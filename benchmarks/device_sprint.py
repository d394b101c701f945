"""Device sprint: the hidden-capabilities claim on the faithful model at paper resolution, within ~8 minutes of
one H100 (Park et al. 2024, Sec. 4.4, Fig. 6).

Trains the "hidden-capabilities" run preset's model (CUNet + Park et al.'s VDM, 3x32x32, AdamW lr 1e-3, wd 0.01,
grad clip 0.01, batch 64; ``CONCEPT_SCALES["cunet-sprint"]``) on >= 3 seeds, then measures capability against
behaviour under the quick probe's criterion: the settings of ``probes.hidden_capabilities`` at its full scale
(colour separation 0.3, all five overprompt colours, the 4x4 (alpha, beta) grid, 64 samples per variant, 50
sampler steps) with this scale's model, measured and analysed by ``hidcap.experiments.capability`` and judged by
the probe's criteria (a), (b), (c). What differs from the paper, and is written into verdict.json: the number
of training steps and 12 linear checkpoints instead of 60 quadratic ones.

Steps: the sprint first times a few steps of one run alone and of the seeds in lockstep
(``hidcap.training.train_many``), keeps whichever trains the seeds faster on this device (``--training auto``),
and sets the steps so that training fits ``--train-budget`` seconds (between ``--min-steps`` and
``--max-steps``, a multiple of 12 checkpoints x 50). Writes ``verdict.json`` (with ``sprint``: the timing
choice, ms per step, steps and the wall seconds of every phase) and the probe's figures into ``--out``.

    python benchmarks/device_sprint.py --device cuda --out results/sprint     # ~8 min on one H100
    python benchmarks/device_sprint.py --smoke --out /tmp/sprint              # the same code path, CPU, seconds
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # the probe's criterion lives in probes/ (python benchmarks/device_sprint.py)
    sys.path.insert(0, str(REPO))

from hidcap import plotting
from hidcap.experiments.capability import (
    TARGET,
    analyse_seed,
    measure_seed,
    plot_fig6,
    plot_per_seed,
    plot_trajectories,
)
from hidcap.experiments.concept_measurement import concept_probe
from hidcap.experiments.probe_args import ProbeArgs
from hidcap.scales import concept_scale
from hidcap.experiments.verdicts import device_name, print_verdict, verdict_label, write_json
from hidcap.run_config import CheckpointConfig, TrainConfig
from hidcap.runs import CheckpointSeries
from hidcap.training import train, train_many

NAME = "device_sprint"
TRAININGS = ("auto", "many", "separate")


def sprint_settings(smoke: bool) -> Any:
    """The probe's settings (full, or tiny for ``smoke``) with the CUNet scale (``cunet-sprint`` / ``cunet-tiny``)."""
    from probes import hidden_capabilities as hc

    base = hc.settings("tiny" if smoke else "full")
    return replace(base, scale=concept_scale("cunet-tiny" if smoke else "cunet-sprint"))


def _ms_per_step(run_dir: Path) -> float:
    """Milliseconds per step between the first and the last logged step of a run (build and warm-up excluded)."""
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    if len(rows) < 2 or rows[-1]["step"] <= rows[0]["step"]:
        raise RuntimeError(f"{run_dir}: need two logged steps to time, got {len(rows)}")
    return 1e3 * (rows[-1]["seconds"] - rows[0]["seconds"]) / (rows[-1]["step"] - rows[0]["step"])


def time_trainings(configs: list[TrainConfig], steps: int, folder: Path) -> dict[str, float]:
    """Milliseconds per step of one run alone (``separate``) and of all ``configs`` in lockstep (``many``, the
    whole group's step), each over ``steps`` steps after ``steps // 4`` warm-up steps, in fresh runs under
    ``folder``."""
    if steps < 4:
        raise ValueError(f"timing needs at least 4 steps, got {steps}")
    short = [replace(c, steps=steps, log_every=max(1, steps // 4), checkpoints=CheckpointConfig(steps=(steps,)))
             for c in configs]
    train(short[0], folder / "solo", progress=False)
    train_many(short, [folder / f"many{i}" for i in range(len(short))], progress=False)
    return {"separate": _ms_per_step(folder / "solo"), "many": _ms_per_step(folder / "many0")}


def plan_steps(ms: dict[str, float], seeds: int, budget_s: float, lo: int, hi: int, quantum: int) -> tuple[str, int]:
    """The faster way to train ``seeds`` runs (``many``: one lockstep group; ``separate``: one after another) and
    the steps per run that fit ``budget_s`` seconds, rounded down to ``quantum`` and clipped to [lo, hi]."""
    per_step_all = {"separate": ms["separate"] * seeds, "many": ms["many"]}
    mode = min(per_step_all, key=per_step_all.get)
    fit = int(budget_s * 1e3 / per_step_all[mode]) // quantum * quantum
    return mode, int(min(hi, max(lo, fit)))


def train_sprint(configs: dict[int, TrainConfig], dirs: dict[int, Path], mode: str) -> dict[int, CheckpointSeries]:
    """Train every seed's run (``mode``: ``many`` in one train_many group, ``separate`` one after another)."""
    if mode == "many":
        series = train_many(list(configs.values()), [dirs[s] for s in configs], progress=False)
        return dict(zip(configs, series))
    if mode != "separate":
        raise ValueError(f"mode must be 'many' or 'separate', got {mode!r}")
    return {s: train(c, dirs[s], progress=False) for s, c in configs.items()}


def main(argv: list[str] | None = None) -> dict:
    from probes import (
        hidden_capabilities as hc,  # the criterion (a), (b), (c) and its wording
    )

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--smoke", action="store_true", help="the whole code path on the CPU in seconds (tiny CUNet)")
    p.add_argument("--device", default="cuda")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--out", type=Path, default=Path("out/device_sprint"))
    p.add_argument("--training", choices=TRAININGS, default="auto",
                   help="train_many or separate runs (auto: whichever timed faster here)")
    p.add_argument("--train-budget", type=float, default=240.0, help="seconds of training for all seeds")
    p.add_argument("--min-steps", type=int, default=3000)
    p.add_argument("--max-steps", type=int, default=20000, help="the paper's run length")
    p.add_argument("--time-steps", type=int, default=40, help="steps per timing run (auto)")
    args = p.parse_args(argv)
    if args.smoke:
        args.device = "cpu" if args.device == "cuda" else args.device
        args.min_steps, args.max_steps, args.time_steps = 12, 12, 4
    if len(args.seeds) < (1 if args.smoke else 3) or len(set(args.seeds)) != len(args.seeds):
        p.error(f"--seeds: need {'1' if args.smoke else '3'} or more distinct seeds, got {args.seeds}")
    if not 0 < args.min_steps <= args.max_steps:
        p.error(f"need 0 < --min-steps <= --max-steps, got {args.min_steps}, {args.max_steps}")
    if not args.train_budget > 0:
        p.error(f"--train-budget must be > 0 seconds, got {args.train_budget}")
    if args.device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            p.error(f"--device {args.device} requested but CUDA is not available (use --smoke on a CPU)")
    started = time.perf_counter()
    phases: dict[str, float] = {}
    st = sprint_settings(args.smoke)
    spec = st.spec()
    args.out.mkdir(parents=True, exist_ok=True)
    pargs = ProbeArgs(name=NAME, scale="tiny" if args.smoke else "full", seeds=tuple(args.seeds), device=args.device,
                      out=args.out, progress=False, argv=tuple(argv or sys.argv[1:]), started=started)

    # ---- how to train, and how long
    t0 = time.perf_counter()
    configs = {s: st.scale.train_config(spec, s, args.device) for s in args.seeds}
    timing: dict[str, float] = {}
    mode = args.training
    quantum = 1 if args.smoke else st.scale.checkpoints.count * 50
    if mode == "auto":
        with tempfile.TemporaryDirectory(prefix="sprint_timing_") as tmp:
            timing = time_trainings(list(configs.values()), args.time_steps, Path(tmp))
        mode, steps = plan_steps(timing, len(args.seeds), args.train_budget, args.min_steps, args.max_steps, quantum)
    else:
        steps = args.max_steps if args.smoke else st.scale.steps
    configs = {s: replace(c, steps=steps, log_every=max(1, min(100, steps // 20))) for s, c in configs.items()}
    phases["timing"] = time.perf_counter() - t0
    print(f"training: {mode} ({', '.join(f'{k} {v:.1f} ms/step' for k, v in timing.items()) or 'as asked'}), "
          f"{steps} steps x {len(args.seeds)} seeds", flush=True)

    # ---- the concept probe, the runs, the measurements
    t0 = time.perf_counter()
    probe = concept_probe(spec, st.scale, args.out / "probe", args.device, progress=False)
    phases["concept_probe"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    tag = f"{st.scale.name}_sep{st.separation:g}_{steps}steps"
    series = train_sprint(configs, {s: pargs.run_dir(tag, s) for s in args.seeds}, mode)
    phases["train"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    per_seed, runs = {}, {}
    for i, seed in enumerate(args.seeds):
        donor = series[args.seeds[(i + 1) % len(args.seeds)]]  # the patch control's donor: the next seed's run
        m = measure_seed(pargs, st, spec, probe, seed, all_classes=seed == args.seeds[0], series=series[seed],
                         donor=donor)
        runs[seed], per_seed[seed] = m, analyse_seed(st, spec, m, seed)
    phases["measure"] = time.perf_counter() - t0

    # ---- the probe's criterion, decided by the probe's own decide() on the same measurements
    judged = {str(s): {k: r[k] for k in ("onset", "steps", "controls_at_capability_onset")}
              | {"turn_index": r["turn"]["index"]} for s, r in per_seed.items()}
    verdict = hc.decide({"params": {"tolerance": st.tolerance}, "data": {"seeds": judged}})
    passed = verdict.passed

    t0 = time.perf_counter()
    first = args.seeds[0]
    figures = [plot_fig6(per_seed, st.threshold, args.out / "fig6_protocols.png"),
               plot_per_seed(per_seed, st.threshold, args.out / "per_seed.png"),
               plotting.plot_capability([m["table"] for m in runs.values()], TARGET,
                                        args.out / "capability_vs_behaviour.png",
                                        labels=[f"seed {s}" for s in runs]),
               plot_trajectories(per_seed, spec.concepts, args.out / "concept_space_11.png", st.radius),
               plotting.plot_concept_space(runs[first]["space"], args.out / f"concept_space_seed{first}.png",
                                           held_out=(TARGET,),
                                           title=f"seed {first}: all classes (hollow: first checkpoint, filled: last)")]
    phases["figures"] = time.perf_counter() - t0
    phases["total"] = time.perf_counter() - started
    sprint = {"smoke": args.smoke, "device": args.device, "training": mode, "timing_ms_per_step": timing,
              "steps": steps, "checkpoints": len(per_seed[first]["steps"]), "train_budget_s": args.train_budget,
              "phases_s": {k: round(v, 1) for k, v in phases.items()},
              "differs_from_paper": f"{steps} training steps instead of 20000; {st.scale.checkpoints.count} linear "
                                    f"checkpoints (+ step 0) instead of 60 quadratic ones"}
    print("\n| phase | wall s |\n|---|---:|\n" + "\n".join(f"| {k} | {v:.1f} |" for k, v in phases.items()))
    for s, r in per_seed.items():
        fb, fc = r["final"]["behaviour"], r["final"]["capability"]
        print(f"seed {s}: onset capability {r['onset_step']['capability']}, behaviour {r['onset_step']['behaviour']}; "
              f"final behaviour {fb['estimate']:.2f}, capability {fc['estimate']:.2f}")
    record = {
        "probe": "device_sprint (hidden_capabilities)", "scale": "smoke" if args.smoke else "sprint",
        "verdict": verdict_label(passed, smoke=args.smoke), "passed": None if args.smoke else passed,
        "outcome": verdict_label(passed), "claim": hc.CLAIM, "paper": hc.PAPER,
        "criterion": hc.PROBE.criterion_text({"samples": st.samples, "fresh_seed_offset": hc.FRESH_SEED_OFFSET,
                                              "threshold": st.threshold, "radius": st.radius,
                                              "tolerance": st.tolerance}),
        "seeds": list(args.seeds), "device": device_name(args.device), "wall_s": round(phases["total"], 1),
        "summary": verdict.summary,
        "measured": {"settings": st.describe(), "model": type(st.scale.model).__name__,
                     "diffusion": type(st.scale.diffusion).__name__, "sprint": sprint,
                     "probe_heldout_accuracy": probe.heldout_accuracy, **verdict.parts,
                     "seeds": {str(s): r for s, r in per_seed.items()}},
        "figures": [str(f) for f in figures],
        "notes": ("smoke run: a tiny CUNet for a few steps; the numbers exercise the code path and mean nothing."
                  if args.smoke else sprint["differs_from_paper"]),
    }
    path = write_json(args.out / "verdict.json", record)
    print_verdict(record, path)
    return record

if __name__ == "__main__":
    main()
