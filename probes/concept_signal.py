"""Concept signal sets learning speed: class 11 is learned sooner when the colours lie further apart.

Claim (Park et al. 2024, Sec. 4.1-4.2, Fig. 3 and 4): with concepts (color, size), training classes 00 (large
red), 01 (small red), 10 (large blue) and the held-out class 11 (small blue), the number of gradient steps until
class 11 is generated correctly (joint accuracy 80 %) falls as the colour separation ``s`` (the colour concept
signal) grows. On the way, class 11 first sits near the training class that shares its stronger concept
(concept memorisation), then turns to 11.

Measured: for every separation level and seed a conditional diffusion model is trained; class 11 (and, at the full
scale, every class) is generated at every checkpoint and placed in concept space with a concept classifier of that
level (``hidcap.evaluation.concept_scores``); learning time: ``hidcap.evaluation.curves``; concept signals:
``hidcap.data.concept_signal``. Criterion: :data:`CRITERION` (docs/probes.md, "Criterion: concept_signal");
scales: :data:`SCALES`. Reported alongside: Spearman rho(separation, learning time), concept memorisation, the
per-seed lead of ``hi`` over ``lo``, and the same rule on class 11's colour concept alone.

    python -m probes.concept_signal --quick
    python -m probes.concept_signal --device cuda
    python -m probes.concept_signal --quick --levels 0.3 0.5 0.7 --seeds 0 1
    python -m probes.concept_signal --tiny

Writes into ``--out``: ``verdict.json``, ``measurements.json``, ``runs.csv``, ``curves.csv``, the figures
``learning_time.png``, ``accuracy.png``, ``concept_space_levels.png`` and ``concept_space_s{level}.png`` per level.
"""
from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hidcap.data import ConceptDataSpec, concept_signal
from hidcap.experiments.concept_measurement import concept_probe
from hidcap.evaluation.intervals import accuracy_interval
from hidcap.experiments.level_onsets import compare_onsets, joint_correct, onset_gaps, run_onset
from hidcap.scales import ConceptScale, concept_scale
from hidcap.evaluation.ranks import rank_verdict
from hidcap.experiments.level_plots import plot_accuracy, plot_learning_times, plot_trajectories
from hidcap.experiments.claims import ClaimProbe, Measurements, Verdict
from hidcap.experiments.level_sweeps import (HELD_OUT, Run, SweepPoint, check_levels, extreme_tables, load_runs,
                                             measure_sweep, run_summary, saved_runs)
from hidcap.experiments.level_tables import print_table, write_tables
from hidcap.experiments.probe_args import check_sweep_args
from hidcap.plotting import plot_concept_space


NAME = "concept_signal"
CLAIM = ("concept signal sets learning speed: the steps until held-out class 11 (small blue) reaches 80 % joint "
         "accuracy fall as the colour separation grows")
PAPER = "paper 001 (Park et al. 2024), Sec. 4.1-4.2, Fig. 3 (learning speed vs separation) and Fig. 4 (concept space)"
THRESHOLD = 0.8
#: Colour separation levels of each scale (``--levels`` overrides them).
LEVELS = {"tiny": (0.3, 0.8), "quick": (0.4, 0.6, 0.8), "full": (0.1, 0.2, 0.4, 0.6, 0.8)}
#: Seeds of each scale when ``--seeds`` is not given.
SEEDS = {"tiny": (0,), "quick": (0, 1, 2), "full": (0, 1, 2)}
#: The concept scale (``hidcap.scales.CONCEPT_SCALES``) each probe scale runs.
SCALE = {"tiny": "tiny", "quick": "quick-8px", "full": "full"}
#: Size separation of each scale (Park et al. 2024's 0.3 everywhere).
SIZE_SEPARATION = {"tiny": 0.3, "quick": 0.3, "full": 0.3}
#: Which classes are generated and placed in concept space (the quick scale measures only the held-out one).
MEASURED = {"tiny": ("00", "01", "10", "11"), "quick": ("11",), "full": ("00", "01", "10", "11")}
#: Data-spec fields a scale changes from Park et al. 2024 (none).
DATA: dict[str, dict[str, Any]] = {"tiny": {}, "quick": {}, "full": {}}
#: Training steps per run (None: the scale's own, ``common.concept_scale``).
STEPS: dict[str, int | None] = {"tiny": None, "quick": None, "full": None}


CRITERION = (
    f"Onset = learning time of class {HELD_OUT} (first checkpoint from which the 3-checkpoint moving average of its "
    "joint accuracy stays above {threshold:g}) with a 95 % bootstrap interval (never = later than every step); "
    "lo/hi = the smallest/largest colour separation.",
    f"(a) class {HELD_OUT} is learned at hi in every seed.",
    "(b) the seed-pooled onset at hi is earlier than at lo beyond the intervals (two-level bootstrap over seeds and "
    "samples).",
    "(c) in no seed is the onset at lo earlier than at hi beyond the intervals.",
    "Pass iff (a), (b) and (c); otherwise fail (not decided counts as fail).",
)
SCALES = {
    "tiny": "8 px, 12 steps, levels 0.3 and 0.8, one seed: seconds (the test suite's smoke run)",
    "quick": "CONCEPT_SCALES['quick-8px'] (8 px, channels (16, 32), DDPM T = 100 with β 1e-3 -> 0.1, 2,400 steps, 16 "
             "linear checkpoints), the paper's data otherwise (size separation 0.3, positions ±0.5), levels 0.4 0.6 "
             "0.8, seeds 0 1 2, only class 11 generated (32 samples per checkpoint, 20 sampling steps)",
    "full": "the paper's VDM at 32 px, 20k steps, 60 checkpoints, levels 0.1 0.2 0.4 0.6 0.8, seeds 0 1 2, every class "
            "measured (~20 min a run on an A100: --device cuda)",
}


def judge(levels: Sequence[float], runs: Sequence[Run], threshold: float = THRESHOLD) -> tuple[bool, dict[str, Any]]:
    """The verdict of :data:`CRITERION` from the runs of the lowest and highest level (one per seed each).

    Returns ``(passed, parts)``; parts holds (a), (b), (c) with the onsets behind them
    (:func:`hidcap.experiments.level_onsets.compare_onsets`, first = highest level)."""
    lo, hi, seeds, lo_tables, hi_tables = extreme_tables(levels, runs)
    cmp = compare_onsets(hi_tables, lo_tables, HELD_OUT, threshold, seeds=seeds)
    learned = {str(s): cmp["per_seed"][str(s)]["first"]["estimate"] is not None for s in seeds}
    a = all(learned.values())
    b = cmp["pooled"]["order"] == "earlier"
    c = cmp["counts"]["later"] == 0
    return bool(a and b and c), {"low_level": lo, "high_level": hi, "a_learned_at_high": a, "learned_at_high": learned,
                                 "b_pooled_faster": b, "c_no_seed_against": c, "onsets": cmp}


def decide(measurements) -> Verdict:
    """:func:`judge` on the saved tables of the lowest and highest level."""
    d = measurements["data"]
    passed, parts = judge(d["levels"], load_runs(d["runs"]), measurements["params"]["threshold"])
    pooled = parts["onsets"]["pooled"]
    return Verdict(passed, {"parts": parts},
                   f"pooled onset at s = {parts['high_level']:g}: {_onset(pooled['first'])}, at s = "
                   f"{parts['low_level']:g}: {_onset(pooled['second'])} -> {pooled['order']}; (a) learned at the "
                   f"highest level in every seed: {parts['a_learned_at_high']}, (b) {parts['b_pooled_faster']}, "
                   f"(c) {parts['c_no_seed_against']}")


def level_spec(scale: ConceptScale, level: float, size_separation: float) -> ConceptDataSpec:
    """The data of one colour-separation level at ``scale`` (with the scale's ``DATA`` changes)."""
    return scale.spec(color_separation=level, size_separation=size_separation, **DATA.get(scale.name, {}))


def _fmt(value: float | None) -> str:
    return "undefined" if value is None else f"{value:+.2f}"


def _onset(o: dict[str, Any]) -> str:
    """An onset interval dict as ``step [low, high]`` ("never" for None)."""
    f = lambda v: "never" if v is None else str(v)  # noqa: E731
    return f"{f(o['estimate'])} [{f(o['low'])}, {f(o['high'])}]"


def final_interval(run: Run):
    """95 % Wilson interval of class 11's joint accuracy at the run's last checkpoint."""
    _, correct = joint_correct(run.table, HELD_OUT)
    return accuracy_interval(correct[-1])


# ------------------------------------------------------------------------------------------ main
def _options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--levels", type=float, nargs="+", default=None,
                        help="colour separations s in (0, 1] (default per scale: "
                             + "; ".join(f"{k} {' '.join(map(str, v))}" for k, v in LEVELS.items()) + ")")
    parser.add_argument("--size-separation", type=float, default=None,
                        help="size separation (default per scale: "
                             + ", ".join(f"{k} {v}" for k, v in SIZE_SEPARATION.items()) + ")")
    parser.add_argument("--steps", type=int, default=None, help="training steps per run (default: the scale's)")
    parser.add_argument("--threshold", type=float, default=THRESHOLD, help="joint-accuracy threshold (default 0.8)")


def measure(args, ns) -> Measurements:
    """Train and measure every (level, seed), write the tables and figures; the extreme levels' tables are saved."""
    check_sweep_args(ns)
    levels = check_levels(ns.levels if ns.levels is not None else LEVELS[args.scale], name="--levels")
    size_sep = SIZE_SEPARATION[args.scale] if ns.size_separation is None else ns.size_separation
    if size_sep <= 0:
        raise ValueError(f"--size-separation must be > 0, got {size_sep}")
    if args.device != "cpu":
        torch.backends.cudnn.benchmark = True
    scale = concept_scale(SCALE[args.scale])
    steps = ns.steps or STEPS[args.scale] or scale.steps
    overrides = {"steps": steps, "log_every": max(1, min(50, steps // 10))}
    classes = MEASURED[args.scale]
    n_signal = 64 if args.tiny else 512

    points, signals, probe_acc = [], {}, {}
    for level in levels:
        spec = level_spec(scale, level, size_sep)
        signals[level] = {"color": concept_signal(spec, "color", n=n_signal, seed=0),
                          "size": concept_signal(spec, "size", n=n_signal, seed=0)}
        probe = concept_probe(spec, scale, args.out / "probes" / f"color{level:g}_size{size_sep:g}", args.device,
                              progress=args.progress)
        probe_acc[level] = dict(probe.heldout_accuracy)
        tag = f"color{level:g}_size{size_sep:g}_steps{steps}" + ("" if scale.name == args.scale else f"_{scale.name}")
        points += [SweepPoint(level, seed, spec, probe, tag) for seed in args.seeds]
    runs = measure_sweep(args, scale, points, classes, **overrides)
    for run in runs:
        print(f"  color separation {run.level:g}, seed {run.seed}: final joint accuracy of {HELD_OUT} "
              f"{run.curve()[1][-1]:.2f}", flush=True)

    rows = [run_summary(r, ns.threshold) for r in runs]
    for row, run in zip(rows, runs):
        row["onset"] = run_onset(run.table, HELD_OUT, ns.threshold).to_dict()
        row["final_accuracy_interval"] = final_interval(run).to_dict()
    times = [r["learning_time"] for r in rows]
    _, parts = judge(levels, runs, ns.threshold)  # for the lead per seed (reported); the verdict is decide's
    _, rho = rank_verdict([r["level"] for r in rows], times, sign=-1)
    parts["lead_per_seed"], parts["lead_across_seeds"] = onset_gaps(parts["onsets"])  # onset at lo − onset at hi
    color_times = [r["concept_learning_time"]["color"] for r in rows]
    color_faster, rho_color = rank_verdict([r["level"] for r in rows], color_times, sign=-1)
    mem_checked = [r for r in rows if r["memorization"]["memorized"] is not None]
    corners: dict[str, int] = {}
    for r in mem_checked:
        if r["memorization"]["corner"]:
            corners[r["memorization"]["corner"]] = corners.get(r["memorization"]["corner"], 0) + 1
    per_level = {}
    for lv in levels:
        lt = [r["learning_time"] for r in rows if r["level"] == lv]
        learned = [t for t in lt if t is not None]
        per_level[f"{lv:g}"] = {
            "color_signal": signals[lv]["color"], "size_signal": signals[lv]["size"],
            "learned_runs": len(learned), "runs": len(lt),
            "mean_learning_time": float(np.mean(learned)) if learned else None,
            "learning_times": lt,
            "memorized_corners": [r["memorization"]["corner"] for r in rows if r["level"] == lv],
            "probe_heldout_accuracy": probe_acc[lv],
        }

    write_tables(args.out, rows, runs, "color_separation")
    joint_label = f"class {HELD_OUT} joint (the verdict)"
    series = {joint_label: times, f"class {HELD_OUT} colour only": color_times}
    figures = [
        plot_learning_times(args.out / "learning_time.png", rows, levels, steps, "colour separation s", series,
                            f"time to {ns.threshold:.0%} on class {HELD_OUT}: joint rho = {_fmt(rho)}, "
                            f"colour-only rho = {_fmt(rho_color)}",
                            {lv: signals[lv]["color"] for lv in levels}, "measured colour concept signal (pixel MSE)",
                            intervals={joint_label: [r["onset"] for r in rows]}),
        plot_accuracy(args.out / "accuracy.png", runs, levels, "s =", ns.threshold),
        plot_trajectories(args.out / "concept_space_levels.png", runs, levels, "s =",
                          ("P(color = blue)", "P(size = small)"),
                          {"00": "large red", "01": "small red", "10": "large blue", "11": "small blue"},
                          title=f"class {HELD_OUT} by colour separation s (hollow: first checkpoint, filled: last)"),
    ]
    first = args.seeds[0]
    for run in runs:
        if run.seed == first:
            figures.append(plot_concept_space(
                run.table, args.out / f"concept_space_s{run.level:g}.png", held_out=(HELD_OUT,),
                title=f"colour separation {run.level:g}, seed {first} (hollow: first checkpoint, filled: last)"))

    print_table(rows, "color sep")
    print(f"Spearman rho(separation, learning time) = {_fmt(rho)}; colour concept alone: rho = {_fmt(rho_color)}")
    notes = (f"size separation {size_sep:g}; data changes from Park et al. 2024: {DATA[args.scale] or 'none'}; "
             f"concept scale {scale.name}; {steps} training steps per run; classes measured: {', '.join(classes)}; "
             f"{scale.samples_per_class} samples per class and checkpoint, {scale.sample_steps} sampling steps. ")
    measured = {
        "threshold": ns.threshold,
        "levels": list(levels),
        "size_separation": size_sep,
        "training_steps": steps,
        "lead_per_seed": parts["lead_per_seed"], "lead_across_seeds": parts["lead_across_seeds"],
        "spearman_rho": rho,
        "n_runs": len(rows),
        "n_learned": sum(t is not None for t in times),
        "color_concept": {"note": "secondary, not the verdict: the same rule on the colour concept alone",
                          "spearman_rho": rho_color, "faster_with_separation": color_faster,
                          "n_learned": sum(t is not None for t in color_times)},
        "per_level": per_level,
        "memorization": {"runs_checked": len(mem_checked),
                         "runs_memorized": sum(bool(r["memorization"]["memorized"]) for r in mem_checked),
                         "corners": corners},
        "runs": rows,
    }
    data = {"levels": list(levels), "runs": saved_runs(runs, levels)}
    return Measurements(params={"threshold": ns.threshold}, data=data, reported=measured,
                        figures=[p.name for p in map(Path, figures)], notes=notes.strip())


PROBE = ClaimProbe(name=NAME, claim=CLAIM, paper=PAPER, criterion=CRITERION, scales=SCALES, seeds=SEEDS,
                   measure=measure, decide=decide, options=_options, description=__doc__.split("\n\n")[0])
main = PROBE.main


if __name__ == "__main__":
    main()
