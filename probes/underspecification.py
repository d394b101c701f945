"""Underspecification delays and bends generalisation: masking the colour of red triangles slows class 11.

Claim (Park et al. 2024, Sec. 5, Fig. 8 and 9): with concepts (color, shape),
training classes 00 (red circle), 01 (red triangle), 10 (blue circle) and the held-out class 11 (blue
triangle), masking the colour slot of the conditioning for a fraction α of the red triangles (the prompt
says "triangle" but not "red") delays the learning of class 11 (Fig. 8) and bends its concept-space
trajectory towards red: the more is masked, the redder the blue-triangle prompt's images end up
(Fig. 9a). The paper's toy model (Eq. 2) is gradient flow on ``L = ((1 − sα) − z1)² + (1 − z2)²``: the
colour target of class 11 slides from blue (1) towards red (1 − s).

Protocol: for every masked fraction α and seed, train a conditional diffusion model on data whose class-01
colour slot is zeroed for a fraction α of its samples (``hidcap.data.Masking(concept="color",
class_bits="01", fraction=α)``), generate class 11 with its full (unmasked) prompt at every checkpoint and
place it in concept space (``hidcap.evaluation.concept_space``; one concept classifier for all α, since
masking changes the conditioning, not the images). Learning time: ``hidcap.evaluation.learning_time``, the
first checkpoint from which the 3-checkpoint moving average of class 11's joint accuracy stays above 0.8.
End colour: the mean of class 11's colour coordinate P(color = blue) over the last three checkpoints.
The toy model is ``hidcap.theory.underspecified_dynamics`` (s = 1: full masking moves the target to red).

Criterion (stated before measuring), both parts must hold:

1. delay: Spearman rho(α, learning time of class 11) > 0 over all runs; a run that never learns class 11
   counts as slower than every run that does (such runs tie at the slowest rank); undetermined when no run
   learns class 11 or rho is undefined;
2. bend: Spearman rho(α, end colour coordinate of class 11) < 0 over all runs (undefined rho: undetermined).

The verdict is fail if either part fails, undetermined if neither fails but one is undetermined, else pass.

Scales:

- ``--tiny``: 8 px, 12 steps, α ∈ {0, 1}, one seed: seconds, exercises every code path (meaningless verdict);
- ``--quick``: the 16 px DDPM of ``hidcap.experiments.scales.CONCEPT_SCALES["quick"]`` for 1,600 steps, objects centred and
  larger (see ``DATA``), α ∈ {0, 0.5, 1}, seed 0, only class 11 generated (about 7-8 minutes on one idle
  CPU thread). What it cannot show: the shape concept has ~1/6 of the colour's pixel signal and this
  model is not expected to learn class 11 (blue triangle) jointly within its budget, so the delay part is
  likely undetermined; the bend (end colour against α) and the colour-only learning time are measurable;
- full (default): the paper's VDM at 32 px, 20k steps, 60 checkpoints, α ∈ {0, .25, .5, .75, 1}, seeds 0 1 2,
  every class generated (one run is ~20 min on an A100: ``--device cuda``).

    python -m probes.underspecification --quick
    python -m probes.underspecification --device cuda
    python -m probes.underspecification --quick --fractions 0 0.25 0.5 0.75 1 --seeds 0 1
    python -m probes.underspecification --tiny

Writes into ``--out``: ``verdict.json``, ``runs.csv`` (one row per run), ``curves.csv`` (accuracy and
concept-space point per run, class and checkpoint), the figures ``learning_time.png``, ``accuracy.png``,
``trajectories.png`` (measured beside Eq. 2) and one ``concept_space_a{α}.png`` per α (first seed).
"""
from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from hidcap.data import ConceptDataSpec, Masking
from hidcap.experiments.concepts import concept_probe
from hidcap.experiments.scales import ConceptScale, concept_scale
from hidcap.experiments.sweeps import (
    HELD_OUT,
    Run,
    check_levels,
    measure_run,
    plot_accuracy,
    plot_learning_times,
    print_table,
    rank_verdict,
    resolve,
    run_summary,
    spearman,
    write_tables,
)
from hidcap.experiments.underspecification import plot_trajectories
from hidcap.experiments.verdicts import combine_verdicts, write_verdict
from hidcap.plotting import plot_concept_space


NAME = "underspecification"
CLAIM = ("underspecification delays and bends generalisation: masking the colour of a fraction alpha of the red "
         "triangles delays class 11 (blue triangle) and pulls its generations towards red")
PAPER = "paper 001 (Park et al. 2024), Sec. 5, Fig. 8 (steps to 80 % vs masking) and Fig. 9 (concept space, Eq. 2)"
CONCEPTS = ("color", "shape")
THRESHOLD = 0.8  # joint-accuracy level of the learning time (as in probes/concept_signal.py)
MASKED_CLASS = "01"
END_CHECKPOINTS = 3
#: The bend is judged only when the least-masked runs draw class 11 blue (mean end P(blue) at least this).
BLUE_AT_START = 0.5
FRACTIONS = {"tiny": (0.0, 1.0), "quick": (0.0, 0.5, 1.0), "full": (0.0, 0.25, 0.5, 0.75, 1.0)}
SEEDS = {"tiny": (0,), "quick": (0,), "full": (0, 1, 2)}
MEASURED = {"tiny": ("00", "01", "10", "11"), "quick": ("11",), "full": ("00", "01", "10", "11")}
#: Training steps per run (None: the scale's own).
STEPS: dict[str, int | None] = {"tiny": None, "quick": 1600, "full": None}
CORNERS = {"00": "red circle", "01": "red triangle", "10": "blue circle", "11": "blue triangle"}
#: Data-spec fields a scale changes from Park et al. 2024, App. B. Quick: objects at the frame centre and larger (size
#: separation 0.6: large radius 0.75), which gives the shape concept 1.6x the pixel signal of the default.
DATA: dict[str, dict[str, Any]] = {"tiny": {}, "quick": {"position_range": 0.0, "size_separation": 0.6}, "full": {}}


def criterion(threshold: float = THRESHOLD) -> str:
    return (f"(1) delay: Spearman rho(alpha, learning time of class {HELD_OUT}) > 0 over all runs (learning time = "
            f"first checkpoint from which the 3-checkpoint moving average of its joint accuracy stays above "
            f"{threshold:g}; never learned = slowest, tied; undetermined if no run learns it or rho is undefined) "
            f"AND (2) bend: Spearman rho(alpha, end colour coordinate P(color = blue) of class {HELD_OUT}, mean of "
            f"the last {END_CHECKPOINTS} checkpoints) < 0, judged only if the runs at the smallest alpha end blue "
            f"(mean end P(blue) >= {BLUE_AT_START:g}; else nothing can bend towards red: undetermined); "
            "fail if either part fails, undetermined if one is undetermined")


# ------------------------------------------------------------------------------------------ pure helpers
def end_color(points: Sequence[Sequence[float]], last: int = END_CHECKPOINTS) -> float:
    """Mean colour coordinate (column 0) of the last ``last`` points of a trajectory (T, n)."""
    pts = np.asarray(points, dtype=float)
    if pts.ndim != 2 or pts.shape[0] < 1:
        raise ValueError(f"points must be a non-empty (T, n) trajectory, got shape {pts.shape}")
    if last < 1:
        raise ValueError(f"last must be >= 1, got {last}")
    return float(pts[-last:, 0].mean())


def bend_verdict(fractions: Sequence[float], colors: Sequence[float],
                 blue_at_start: float = BLUE_AT_START) -> tuple[bool | None, float | None]:
    """``(passed, rho)`` for "the end colour coordinate falls as α grows".

    ``passed`` is ``None`` when rho is undefined, or when the runs at the smallest α do not end blue (their
    mean colour coordinate is below ``blue_at_start``): a class that never heads to blue cannot bend to red.
    """
    if len(fractions) != len(colors):
        raise ValueError(f"fractions and colors must have the same length, got {len(fractions)} and {len(colors)}")
    rho = spearman(fractions, list(colors))
    if rho is None or not fractions:
        return None, rho
    lowest = min(fractions)
    start = float(np.mean([c for a, c in zip(fractions, colors) if a == lowest]))
    if start < blue_at_start:
        return None, rho
    return bool(rho < 0), rho


def fit_line(x: Sequence[float], y: Sequence[float]) -> tuple[float, float] | None:
    """Least-squares ``y ≈ a − s·x``; returns ``(a, s)`` (``None`` if x is constant or too short)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.size < 2 or np.ptp(x) == 0:
        return None
    slope, intercept = np.polyfit(x, y, 1)
    return float(intercept), float(-slope)


def run_spec(scale: ConceptScale, alpha: float) -> ConceptDataSpec:
    """The data of masked fraction ``alpha`` at ``scale``: concepts (color, shape), class 01's colour slot
    zeroed for a fraction ``alpha`` of its samples, the scale's ``DATA`` changes applied."""
    return scale.spec(concepts=CONCEPTS, masks=(Masking(concept="color", class_bits=MASKED_CLASS, fraction=alpha),),
                      **DATA.get(scale.name, {}))


# ------------------------------------------------------------------------------------------ figure


# ------------------------------------------------------------------------------------------ main
def _options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--fractions", type=float, nargs="+", default=None,
                        help="masked fractions alpha in [0, 1] of class 01's colour slot (default per scale: "
                             + "; ".join(f"{k} {' '.join(map(str, v))}" for k, v in FRACTIONS.items()) + ")")
    parser.add_argument("--steps", type=int, default=None, help="training steps per run (default: the scale's)")
    parser.add_argument("--threshold", type=float, default=THRESHOLD, help="joint-accuracy threshold (default 0.8)")


def main(argv: list[str] | None = None) -> dict:
    args, ns = resolve(NAME, argv, __doc__.split("\n\n")[0], _options, SEEDS)
    fractions = check_levels(ns.fractions if ns.fractions is not None else FRACTIONS[args.scale], name="--fractions",
                             open_low=False)
    if args.device != "cpu":
        torch.backends.cudnn.benchmark = True
    scale = concept_scale(args.scale)
    steps = ns.steps or STEPS[args.scale] or scale.steps
    overrides = {"steps": steps, "log_every": max(1, min(50, steps // 10))}
    classes = MEASURED[args.scale]
    probe = concept_probe(run_spec(scale, 0.0), scale, args.out / "probe", args.device, progress=args.progress)

    runs = []
    for a in fractions:
        spec = run_spec(scale, a)
        for seed in args.seeds:
            run_dir, table, total = measure_run(args, scale, spec, probe, f"mask{a:g}_steps{steps}", seed, classes,
                                                **overrides)
            runs.append(Run(a, seed, run_dir, table, total))
            print(f"  alpha {a:g}, seed {seed}: final joint accuracy of {HELD_OUT} "
                  f"{table.accuracy_curve(HELD_OUT)[1][-1]:.2f}", flush=True)

    rows = [run_summary(r, ns.threshold) for r in runs]
    for row, run in zip(rows, runs):
        row["end_color"] = end_color(run.trajectory()[1])
    alphas = [r["level"] for r in rows]
    times = [r["learning_time"] for r in rows]
    ends = [r["end_color"] for r in rows]
    delay, rho_time = rank_verdict(alphas, times, sign=+1)
    color_times = [r["concept_learning_time"]["color"] for r in rows]
    color_delay, rho_ctime = rank_verdict(alphas, color_times, sign=+1)
    fmt = (lambda v: "undefined" if v is None else f"{v:+.3f}")
    bend, rho_color = bend_verdict(alphas, ends)
    passed = combine_verdicts([delay, bend])
    fit = fit_line(alphas, ends)
    per_fraction = {}
    for a in fractions:
        lt = [r["learning_time"] for r in rows if r["level"] == a]
        learned = [t for t in lt if t is not None]
        ec = [r["end_color"] for r in rows if r["level"] == a]
        per_fraction[f"{a:g}"] = {"learned_runs": len(learned), "runs": len(lt), "learning_times": lt,
                                  "mean_learning_time": float(np.mean(learned)) if learned else None,
                                  "end_colors": ec, "mean_end_color": float(np.mean(ec)),
                                  "toy_target_color": 1.0 - a}

    write_tables(args.out, rows, runs, "alpha")
    with (args.out / "runs.csv").open() as f:  # add the end colour column to the shared run table
        lines = f.read().splitlines()
    lines = [lines[0] + ",end_color"] + [f"{line},{r['end_color']:.6f}" for line, r in zip(lines[1:], rows)]
    (args.out / "runs.csv").write_text("\n".join(lines) + "\n")
    figures = [
        plot_learning_times(args.out / "learning_time.png", rows, fractions, steps,
                            "masked fraction alpha of red triangles",
                            {f"class {HELD_OUT} joint (the verdict)": times,
                             f"class {HELD_OUT} colour only": color_times},
                            f"time to {ns.threshold:.0%} on class {HELD_OUT}: joint rho = {fmt(rho_time)}, "
                            f"colour-only rho = {fmt(rho_ctime)}"),
        plot_accuracy(args.out / "accuracy.png", runs, fractions, "alpha =", ns.threshold),
        plot_trajectories(args.out / "trajectories.png", runs, fractions,
                          {(r["level"], r["seed"]): r["end_color"] for r in rows}, fit, corner_names=CORNERS,
                          blue_at_start=BLUE_AT_START, end_checkpoints=END_CHECKPOINTS),
    ]
    first = args.seeds[0]
    for run in runs:
        if run.seed == first:
            figures.append(plot_concept_space(
                run.table, args.out / f"concept_space_a{run.level:g}.png", held_out=(HELD_OUT,),
                title=f"colour of 01 masked for alpha = {run.level:g}, seed {first} (hollow: first, filled: last)"))

    print_table(rows, "alpha")
    print(f"{'alpha':>10s} {'end P(blue)':>11s}")
    for r in rows:
        print(f"{r['level']:>10g} {r['end_color']:>11.2f}")
    print(f"Spearman rho(alpha, learning time) = {fmt(rho_time)} -> delay {delay}; "
          f"rho(alpha, end colour) = {fmt(rho_color)} -> bend {bend}")
    notes = (f"data changes from Park et al. 2024: {DATA[args.scale] or 'none'}; {steps} training steps per run; "
             f"classes generated: {', '.join(classes)}; {scale.samples_per_class} "
             f"samples per class and checkpoint, {scale.sample_steps} sampling steps; masked colour slot value 0. ")
    if args.scale == "quick":
        notes += ("Quick scale: one seed and three fractions to fit ~8 CPU minutes; objects centred and larger "
                  "(position_range 0, size separation 0.6); only class 11 is generated. ")
    if args.tiny:
        notes += "Tiny scale: a smoke run; its verdict means nothing. "
    measured = {
        "threshold": ns.threshold,
        "fractions": list(fractions),
        "training_steps": steps,
        "delay": {"passed": delay, "spearman_rho": rho_time, "n_runs": len(rows),
                  "n_learned": sum(t is not None for t in times)},
        "color_concept_delay": {"note": "secondary, not the verdict: the delay rule on class 11's colour alone",
                                "passed": color_delay, "spearman_rho": rho_ctime,
                                "n_learned": sum(t is not None for t in color_times)},
        "bend": {"passed": bend, "spearman_rho": rho_color, "end_checkpoints": END_CHECKPOINTS,
                 "blue_at_start_required": BLUE_AT_START,
                 "end_color_at_smallest_alpha": float(np.mean([e for a, e in zip(alphas, ends) if a == min(alphas)])),
                 "fit_intercept": None if fit is None else fit[0], "fit_s": None if fit is None else fit[1]},
        "per_fraction": per_fraction,
        "probe_heldout_accuracy": dict(probe.heldout_accuracy),
        "runs": rows,
    }
    return write_verdict(args, claim=CLAIM, paper=PAPER, criterion=criterion(ns.threshold), passed=passed,
                         measured=measured, figures=figures,
                         notes=notes.strip())


if __name__ == "__main__":
    main()
