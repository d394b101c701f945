"""Concept signal sets learning speed: class 11 is learned sooner when the colours lie further apart.

Claim (Park et al. 2024, Sec. 4.1-4.2, Fig. 3 and 4): with concepts (color, size),
training classes 00 (large red), 01 (small red), 10 (large blue) and the held-out class 11 (small blue), the
number of gradient steps until class 11 is generated correctly (joint accuracy 80 %) falls as the colour
separation ``s`` (hence the colour *concept signal*) grows. On the way, class 11 first sits near the
training class that shares its stronger concept (*concept memorisation*: near 10 when colour is the stronger
signal, near 01 when size is), then turns to 11.

Protocol: for every colour separation level and seed, train a conditional diffusion model
(``hidcap.training.train``), generate class 11 (and, at the full scale, every class) at every checkpoint and
place it in concept space with a concept classifier trained on generator data of that level
(``hidcap.evaluation.concept_space``; one classifier per level, cached). The learning time of a run is
``hidcap.evaluation.learning_time``: the first checkpoint from which the 3-checkpoint moving average of the
joint accuracy of class 11 stays above the threshold (0.8). The measured colour and size concept signals
of each level come from ``hidcap.data.concept_signal`` (mean squared pixel change when the concept flips).

Criterion (stated before measuring): the Spearman rank correlation between colour separation and learning
time over all runs is negative. A run that never learns class 11 within its training steps counts as
slower than every run that does (all such runs tie at the slowest rank). The verdict is undetermined when
no run learns class 11 (every run ties) or the correlation is undefined.
Reported alongside (not part of the verdict): concept memorisation (before its learning time, or through
the whole run if it never learns, and after the initialisation: is class 11's concept-space point ever
nearest a training corner, 01 or 10, and which?) and the same learning-time rule applied to class 11's
colour concept alone (fraction of its samples the probe reads as blue).

Scales:

- ``--tiny``: 8 px, 12 steps, levels 0.3 and 0.8, one seed: seconds, exercises every code path (the
  verdict means nothing);
- ``--quick``: the 16 px DDPM of ``common.concept_scale("quick")`` (channels 8, 16) for its 1,200 steps (12
  quadratic checkpoints), objects centred (``position_range`` 0) and the size separation raised to 0.5 so
  that the small model learns size at all; levels 0.2 0.4 0.6 0.8, seed 0 only, only class 11 generated
  (about 7-8 minutes on one idle CPU thread). What it cannot show: in trial runs this model did not
  learn class 11 (joint) within 2,000 steps at any separation, so the verdict is likely undetermined; the
  colour-concept learning time of class 11 and its memorisation corner are reported as what this scale
  does show;
- full (default): the paper's VDM at 32 px, 20k steps, 60 checkpoints, levels 0.1 0.2 0.4 0.6 0.8,
  seeds 0 1 2, every class measured (one run is ~20 min on an A100: ``--device cuda``).

    python probes/concept_signal.py --quick
    python probes/concept_signal.py --device cuda
    python probes/concept_signal.py --quick --levels 0.3 0.5 0.7 --seeds 0 1
    python probes/concept_signal.py --tiny

Writes into ``--out``: ``verdict.json``, ``runs.csv`` (one row per run), ``curves.csv`` (accuracy and
concept-space point of every measured class per checkpoint), the figures ``learning_time.png``,
``accuracy.png``, ``concept_space_levels.png`` and one ``concept_space_s{level}.png`` per level (first seed).
"""
from __future__ import annotations

import argparse
from typing import Any

import numpy as np
import torch

from hidcap.data import ConceptDataSpec, concept_signal
from hidcap.experiments.concepts import concept_probe
from hidcap.experiments.scales import ConceptScale, concept_scale
from hidcap.experiments.sweeps import (
    HELD_OUT,
    Run,
    check_levels,
    measure_run,
    plot_accuracy,
    plot_learning_times,
    plot_trajectories,
    print_table,
    rank_verdict,
    resolve,
    run_summary,
    write_tables,
)
from hidcap.experiments.verdicts import write_verdict
from hidcap.plotting import plot_concept_space


NAME = "concept_signal"
CLAIM = ("concept signal sets learning speed: the steps until held-out class 11 (small blue) reaches 80 % joint "
         "accuracy fall as the colour separation grows")
PAPER = "paper 001 (Park et al. 2024), Sec. 4.1-4.2, Fig. 3 (learning speed vs separation) and Fig. 4 (concept space)"
THRESHOLD = 0.8
#: Colour separation levels of each scale (``--levels`` overrides them).
LEVELS = {"tiny": (0.3, 0.8), "quick": (0.2, 0.4, 0.6, 0.8), "full": (0.1, 0.2, 0.4, 0.6, 0.8)}
#: Seeds of each scale when ``--seeds`` is not given (the quick scale runs one seed to fit its CPU budget).
SEEDS = {"tiny": (0,), "quick": (0,), "full": (0, 1, 2)}
#: Size separation of each scale: the quick model does not learn size at the default 0.3 within its budget.
SIZE_SEPARATION = {"tiny": 0.3, "quick": 0.5, "full": 0.3}
#: Which classes are generated and placed in concept space (the quick scale measures only the held-out one).
MEASURED = {"tiny": ("00", "01", "10", "11"), "quick": ("11",), "full": ("00", "01", "10", "11")}
#: Data-spec fields a scale changes from Park et al. 2024. Quick: objects at the frame centre (position_range 0): with
#: the paper's random positions the 16 px model draws no recognisable object within its CPU budget.
DATA: dict[str, dict[str, Any]] = {"tiny": {}, "quick": {"position_range": 0.0}, "full": {}}
#: Training steps per run (None: the scale's own, ``common.concept_scale``).
STEPS: dict[str, int | None] = {"tiny": None, "quick": None, "full": None}


def criterion(threshold: float = THRESHOLD) -> str:
    return (f"Spearman rho(colour separation, learning time of class {HELD_OUT}) < 0 over all runs, where the "
            f"learning time is the first checkpoint from which the 3-checkpoint moving average of class "
            f"{HELD_OUT}'s joint accuracy stays above {threshold:g}; runs that never learn {HELD_OUT} count as "
            "slowest (tied after every learned run); undetermined if no run learns it or rho is undefined")


def level_spec(scale: ConceptScale, level: float, size_separation: float) -> ConceptDataSpec:
    """The data of one colour-separation level at ``scale`` (with the scale's ``DATA`` changes)."""
    return scale.spec(color_separation=level, size_separation=size_separation, **DATA.get(scale.name, {}))


def _fmt(value: float | None) -> str:
    return "undefined" if value is None else f"{value:+.2f}"


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


def main(argv: list[str] | None = None) -> dict:
    args, ns = resolve(NAME, argv, __doc__.split("\n\n")[0], _options, SEEDS)
    levels = check_levels(ns.levels if ns.levels is not None else LEVELS[args.scale], name="--levels")
    size_sep = SIZE_SEPARATION[args.scale] if ns.size_separation is None else ns.size_separation
    if size_sep <= 0:
        raise ValueError(f"--size-separation must be > 0, got {size_sep}")
    if args.device != "cpu":
        torch.backends.cudnn.benchmark = True
    scale = concept_scale(args.scale)
    steps = ns.steps or STEPS[args.scale] or scale.steps
    overrides = {"steps": steps, "log_every": max(1, min(50, steps // 10))}
    classes = MEASURED[args.scale]
    n_signal = 64 if args.tiny else 512

    runs, signals, probe_acc = [], {}, {}
    for level in levels:
        spec = level_spec(scale, level, size_sep)
        signals[level] = {"color": concept_signal(spec, "color", n=n_signal, seed=0),
                          "size": concept_signal(spec, "size", n=n_signal, seed=0)}
        probe = concept_probe(spec, scale, args.out / "probes" / f"color{level:g}_size{size_sep:g}", args.device,
                              progress=args.progress)
        probe_acc[level] = dict(probe.heldout_accuracy)
        for seed in args.seeds:
            tag = f"color{level:g}_size{size_sep:g}_steps{steps}"
            run_dir, table, total = measure_run(args, scale, spec, probe, tag, seed, classes, **overrides)
            runs.append(Run(level, seed, run_dir, table, total))
            print(f"  color separation {level:g}, seed {seed}: final joint accuracy of {HELD_OUT} "
                  f"{table.accuracy_curve(HELD_OUT)[1][-1]:.2f}", flush=True)

    rows = [run_summary(r, ns.threshold) for r in runs]
    times = [r["learning_time"] for r in rows]
    passed, rho = rank_verdict([r["level"] for r in rows], times, sign=-1)
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
    series = {f"class {HELD_OUT} joint (the verdict)": times, f"class {HELD_OUT} colour only": color_times}
    figures = [
        plot_learning_times(args.out / "learning_time.png", rows, levels, steps, "colour separation s", series,
                            f"time to {ns.threshold:.0%} on class {HELD_OUT}: joint rho = {_fmt(rho)}, "
                            f"colour-only rho = {_fmt(rho_color)}",
                            {lv: signals[lv]["color"] for lv in levels}, "measured colour concept signal (pixel MSE)"),
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
    print(f"Spearman rho(separation, learning time) = {_fmt(rho)} over {len(rows)} runs "
          f"({sum(t is not None for t in times)} learned class {HELD_OUT}); colour concept alone: rho = "
          f"{_fmt(rho_color)} ({sum(t is not None for t in color_times)} learned its colour)")
    notes = (f"size separation {size_sep:g}; data changes from Park et al. 2024: {DATA[args.scale] or 'none'}; "
             f"{steps} training steps per run; classes measured: {', '.join(classes)}; "
             f"{scale.samples_per_class} samples per class and checkpoint, {scale.sample_steps} sampling steps. ")
    if args.scale == "quick":
        notes += ("Quick scale: one seed and four levels to fit ~8 CPU minutes; objects centred (position_range 0) "
                  "and size separation 0.5 so that the 16 px model draws recognisable objects and learns size at "
                  "all; only class 11 is generated (memorisation is read against the fixed training corners). ")
    if args.tiny:
        notes += "Tiny scale: a smoke run; its verdict means nothing. "
    measured = {
        "threshold": ns.threshold,
        "levels": list(levels),
        "size_separation": size_sep,
        "training_steps": steps,
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
    return write_verdict(args, claim=CLAIM, paper=PAPER, criterion=criterion(ns.threshold), passed=passed,
                         measured=measured, figures=figures,
                         notes=notes.strip())


if __name__ == "__main__":
    main()
