"""Underspecification delays and bends generalisation: masking the colour of red triangles slows class 11.

Claim (Park et al. 2024, Sec. 5, Fig. 8 and 9): with concepts (color, shape), training classes 00 (red circle), 01
(red triangle), 10 (blue circle) and the held-out class 11 (blue triangle), masking the colour slot of the
conditioning for a fraction α of the red triangles delays the learning of class 11 (Fig. 8) and bends its
concept-space trajectory towards red (Fig. 9a). The toy model (Eq. 2, ``hidcap.theory.underspecified_dynamics``) is
gradient flow on ``L = ((1 − sα) − z1)² + (1 − z2)²``.

Measured: for every α and seed a model is trained on data whose class-01 colour slot is zeroed for a fraction α
(``hidcap.data.Masking``); class 11 is generated with its full prompt at every checkpoint and placed in concept
space (one classifier for all α). Learning time: ``hidcap.evaluation.curves``; end colour: the mean P(color = blue)
over the last three checkpoints. Criterion: :data:`CRITERION` (docs/probes.md, "Criterion: underspecification");
scales: :data:`SCALES`. Reported alongside: Spearman rho of α against learning time and end colour, the fitted
line of Eq. 2, the colour-only learning times and the per-seed delay.

    python -m probes.underspecification --quick
    python -m probes.underspecification --device cuda
    python -m probes.underspecification --quick --fractions 0 0.25 0.5 0.75 1 --seeds 0 1
    python -m probes.underspecification --tiny

Writes into ``--out``: ``verdict.json``, ``measurements.json``, ``runs.csv``, ``curves.csv``, the figures
``learning_time.png``, ``accuracy.png``, ``trajectories.png`` and ``concept_space_a{α}.png`` per α (first seed).
"""
from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hidcap.data import ConceptDataSpec, Masking
from hidcap.evaluation.intervals import beats
from hidcap.experiments.concept_measurement import concept_probe
from hidcap.experiments.level_onsets import compare_onsets, end_reading, onset_gaps, run_onset
from hidcap.scales import ConceptScale, concept_scale
from hidcap.evaluation.ranks import rank_verdict, spearman
from hidcap.experiments.level_plots import plot_accuracy, plot_learning_times
from hidcap.experiments.claims import ClaimProbe, Measurements, Verdict
from hidcap.experiments.level_sweeps import (HELD_OUT, Run, SweepPoint, check_levels, extreme_tables, load_runs,
                                             measure_sweep, run_summary, saved_runs)
from hidcap.experiments.level_tables import print_table, write_tables
from hidcap.experiments.probe_args import check_sweep_args
from hidcap.experiments.underspecification import plot_trajectories
from hidcap.plotting import plot_concept_space


NAME = "underspecification"
CLAIM = ("underspecification delays and bends generalisation: masking the colour of a fraction alpha of class 01 "
         "(red triangles; small red objects at the quick scale) delays class 11 (blue triangle; small blue) and pulls "
         "its generations towards red")
PAPER = "paper 001 (Park et al. 2024), Sec. 5, Fig. 8 (steps to 80 % vs masking) and Fig. 9 (concept space, Eq. 2)"
#: The two concepts of each scale (quick: size instead of shape, see SCALES).
CONCEPTS = {"tiny": ("color", "shape"), "quick": ("color", "size"), "full": ("color", "shape")}
THRESHOLD = 0.8  # joint-accuracy level of the learning time (as in probes/concept_signal.py)
MASKED_CLASS = "01"
END_CHECKPOINTS = 3
FRACTIONS = {"tiny": (0.0, 1.0), "quick": (0.0, 0.5, 1.0), "full": (0.0, 0.25, 0.5, 0.75, 1.0)}
SEEDS = {"tiny": (0,), "quick": (0, 1, 2), "full": (0, 1, 2)}
#: The concept scale (``hidcap.scales.CONCEPT_SCALES``) each probe scale runs.
SCALE = {"tiny": "tiny", "quick": "quick-8px", "full": "full"}
MEASURED = {"tiny": ("00", "01", "10", "11"), "quick": ("11",), "full": ("00", "01", "10", "11")}
#: Training steps per run (None: the scale's own).
STEPS: dict[str, int | None] = {"tiny": None, "quick": None, "full": None}
#: Names of the corners of each concept pair.
CORNERS = {("color", "shape"): {"00": "red circle", "01": "red triangle", "10": "blue circle", "11": "blue triangle"},
           ("color", "size"): {"00": "large red", "01": "small red", "10": "large blue", "11": "small blue"}}
#: Concept-space axis labels of each concept pair.
AXES = {("color", "shape"): ("P(color = blue)", "P(shape = triangle)"), ("color", "size"): ("P(color = blue)", "P(size = small)")}
#: Data-spec fields a scale changes from Park et al. 2024, App. B (none).
DATA: dict[str, dict[str, Any]] = {"tiny": {}, "quick": {}, "full": {}}


CRITERION = (
    f"Onset = learning time of class {HELD_OUT} (first checkpoint from which the 3-checkpoint moving average of its "
    "joint accuracy stays above {threshold:g}) with a 95 % bootstrap interval (never = later than every step); end "
    f"colour = share of class {HELD_OUT}'s samples read as blue over the last {END_CHECKPOINTS} checkpoints with a "
    "95 % interval; lo/hi = the smallest/largest masked fraction alpha.",
    f"(1) learned: class {HELD_OUT} is learned at lo in every seed.",
    "(2) delay: the seed-pooled onset at lo is earlier than at hi beyond the intervals.",
    "(3) no seed has the onset at hi earlier than at lo beyond the intervals.",
    "(4) bend: the end colour at hi is below that at lo beyond the intervals.",
    "Pass iff all four; otherwise fail (not decided counts as fail).",
)
SCALES = {
    "tiny": "8 px, 12 steps, α ∈ {0, 1}, one seed: seconds (the test suite's smoke run)",
    "quick": "CONCEPT_SCALES['quick-8px'] (8 px, channels (16, 32), DDPM T = 100 with β 1e-3 -> 0.1, 2,400 steps, 16 "
             "linear checkpoints), concepts (color, size) instead of (color, shape) (at 8 px a triangle and a circle "
             "differ by a few pixels: class 01 is the small red object, 11 the small blue one), size separation 0.3, "
             "α ∈ {0, 0.5, 1}, seeds 0 1 2, only class 11 generated (32 samples per checkpoint, 20 sampling steps)",
    "full": "the paper's VDM at 32 px, 20k steps, 60 checkpoints, α ∈ {0, .25, .5, .75, 1}, seeds 0 1 2, every class "
            "generated (~20 min a run on an A100: --device cuda)",
}


def judge(fractions: Sequence[float], runs: Sequence[Run], threshold: float = THRESHOLD) -> tuple[bool, dict[str, Any]]:
    """The verdict of :data:`CRITERION` from the runs of the smallest and largest α (one per seed each).

    Returns ``(passed, parts)`` with parts 1-4 and the onsets (:func:`compare_onsets`, first = smallest α) and
    end colour readings (:func:`end_reading`) behind them."""
    lo, hi, seeds, first, second = extreme_tables(fractions, runs, "alpha")
    cmp = compare_onsets(first, second, HELD_OUT, threshold, seeds=seeds)
    learned = {str(s): cmp["per_seed"][str(s)]["first"]["estimate"] is not None for s in seeds}
    end_lo = end_reading(first, HELD_OUT, "color", END_CHECKPOINTS)
    end_hi = end_reading(second, HELD_OUT, "color", END_CHECKPOINTS)
    parts = {"low_alpha": lo, "high_alpha": hi, "1_learned_at_low": all(learned.values()), "learned_at_low": learned,
             "2_pooled_delay": cmp["pooled"]["order"] == "earlier", "3_no_seed_against": cmp["counts"]["later"] == 0,
             "4_bend": beats(end_lo, end_hi), "onsets": cmp,
             "end_color": {"low_alpha": end_lo.to_dict(), "high_alpha": end_hi.to_dict()}}
    passed = all(parts[k] for k in ("1_learned_at_low", "2_pooled_delay", "3_no_seed_against", "4_bend"))
    return bool(passed), parts


def decide(measurements) -> Verdict:
    """:func:`judge` on the saved tables of the smallest and largest α."""
    d = measurements["data"]
    passed, parts = judge(d["fractions"], load_runs(d["runs"]), measurements["params"]["threshold"])
    pooled, end = parts["onsets"]["pooled"], parts["end_color"]
    iv = lambda o: f"{o['estimate']} [{o['low']}, {o['high']}]"  # noqa: E731
    ivf = lambda o: f"{o['estimate']:.2f} [{o['low']:.2f}, {o['high']:.2f}]"  # noqa: E731
    return Verdict(passed, {"parts": parts},
                   f"pooled onset at alpha = {parts['low_alpha']:g}: {iv(pooled['first'])}, at alpha = "
                   f"{parts['high_alpha']:g}: {iv(pooled['second'])} -> {pooled['order']}; end P(blue read) "
                   f"{ivf(end['low_alpha'])} -> {ivf(end['high_alpha'])}; parts 1-4: {parts['1_learned_at_low']}, "
                   f"{parts['2_pooled_delay']}, {parts['3_no_seed_against']}, {parts['4_bend']}")


# ------------------------------------------------------------------------------------------ pure helpers
def end_color(points: Sequence[Sequence[float]], last: int = END_CHECKPOINTS) -> float:
    """Mean colour coordinate (column 0) of the last ``last`` points of a trajectory (T, n)."""
    pts = np.asarray(points, dtype=float)
    if pts.ndim != 2 or pts.shape[0] < 1:
        raise ValueError(f"points must be a non-empty (T, n) trajectory, got shape {pts.shape}")
    if last < 1:
        raise ValueError(f"last must be >= 1, got {last}")
    return float(pts[-last:, 0].mean())


def fit_line(x: Sequence[float], y: Sequence[float]) -> tuple[float, float] | None:
    """Least-squares ``y ≈ a − s·x``; returns ``(a, s)`` (``None`` if x is constant or too short)."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.size < 2 or np.ptp(x) == 0:
        return None
    slope, intercept = np.polyfit(x, y, 1)
    return float(intercept), float(-slope)


def run_spec(scale: ConceptScale, alpha: float, name: str) -> ConceptDataSpec:
    """The data of masked fraction ``alpha`` at probe scale ``name`` (concepts ``CONCEPTS[name]``), class 01's
    colour slot zeroed for a fraction ``alpha`` of its samples, the scale's ``DATA`` changes applied."""
    return scale.spec(concepts=CONCEPTS[name], masks=(Masking(concept="color", class_bits=MASKED_CLASS, fraction=alpha),),
                      **DATA[name])


# ------------------------------------------------------------------------------------------ main
def _options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--fractions", type=float, nargs="+", default=None,
                        help="masked fractions alpha in [0, 1] of class 01's colour slot (default per scale: "
                             + "; ".join(f"{k} {' '.join(map(str, v))}" for k, v in FRACTIONS.items()) + ")")
    parser.add_argument("--steps", type=int, default=None, help="training steps per run (default: the scale's)")
    parser.add_argument("--threshold", type=float, default=THRESHOLD, help="joint-accuracy threshold (default 0.8)")


def measure(args, ns) -> Measurements:
    """Train and measure every (α, seed), write the tables and figures; the extreme α's tables are saved."""
    check_sweep_args(ns)
    fractions = check_levels(ns.fractions if ns.fractions is not None else FRACTIONS[args.scale], name="--fractions",
                             open_low=False)
    if args.device != "cpu":
        torch.backends.cudnn.benchmark = True
    scale = concept_scale(SCALE[args.scale])
    steps = ns.steps or STEPS[args.scale] or scale.steps
    overrides = {"steps": steps, "log_every": max(1, min(50, steps // 10))}
    classes = MEASURED[args.scale]
    concepts = CONCEPTS[args.scale]
    probe = concept_probe(run_spec(scale, 0.0, args.scale), scale, args.out / "probe", args.device,
                          progress=args.progress)
    suffix = "" if scale.name == args.scale else f"_{scale.name}_{''.join(c[:2] for c in concepts)}"
    points = [SweepPoint(a, seed, run_spec(scale, a, args.scale), probe, f"mask{a:g}_steps{steps}{suffix}")
              for a in fractions for seed in args.seeds]
    runs = measure_sweep(args, scale, points, classes, **overrides)
    for run in runs:
        print(f"  alpha {run.level:g}, seed {run.seed}: final joint accuracy of {HELD_OUT} {run.curve()[1][-1]:.2f}",
              flush=True)

    rows = [run_summary(r, ns.threshold) for r in runs]
    for row, run in zip(rows, runs):
        row["end_color"] = end_color(run.trajectory()[1])
    alphas = [r["level"] for r in rows]
    times = [r["learning_time"] for r in rows]
    ends = [r["end_color"] for r in rows]
    for row, run in zip(rows, runs):
        row["onset"] = run_onset(run.table, HELD_OUT, ns.threshold).to_dict()
        row["end_color_interval"] = end_reading([run.table], HELD_OUT, "color", END_CHECKPOINTS).to_dict()
    _, parts = judge(fractions, runs, ns.threshold)  # for the delay per seed (reported); the verdict is decide's
    parts["delay_per_seed"], parts["delay_across_seeds"] = onset_gaps(parts["onsets"])  # onset at hi − onset at lo
    _, rho_time = rank_verdict(alphas, times, sign=+1)
    color_times = [r["concept_learning_time"]["color"] for r in rows]
    color_delay, rho_ctime = rank_verdict(alphas, color_times, sign=+1)
    fmt = (lambda v: "undefined" if v is None else f"{v:+.3f}")
    rho_color = spearman(alphas, ends)
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
                            "masked fraction alpha of class 01 (colour masked)",
                            {f"class {HELD_OUT} joint (the verdict)": times,
                             f"class {HELD_OUT} colour only": color_times},
                            f"time to {ns.threshold:.0%} on class {HELD_OUT}: joint rho = {fmt(rho_time)}, "
                            f"colour-only rho = {fmt(rho_ctime)}",
                            intervals={f"class {HELD_OUT} joint (the verdict)": [r["onset"] for r in rows]}),
        plot_accuracy(args.out / "accuracy.png", runs, fractions, "alpha =", ns.threshold),
        plot_trajectories(args.out / "trajectories.png", runs, fractions,
                          {(r["level"], r["seed"]): r["end_color"] for r in rows}, fit,
                          corner_names=CORNERS[concepts], end_checkpoints=END_CHECKPOINTS,
                          end_intervals={(r["level"], r["seed"]): r["end_color_interval"] for r in rows},
                          axis_labels=AXES[concepts]),
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
    print(f"Spearman rho(alpha, learning time) = {fmt(rho_time)}, rho(alpha, end colour) = {fmt(rho_color)}")
    notes = (f"concepts {concepts}; data changes from Park et al. 2024: {DATA[args.scale] or 'none'}; concept scale "
             f"{scale.name}; {steps} training steps per run; classes generated: {', '.join(classes)}; "
             f"{scale.samples_per_class} samples per class and checkpoint, {scale.sample_steps} sampling steps; "
             "masked colour slot value 0. ")
    measured = {
        "threshold": ns.threshold,
        "fractions": list(fractions),
        "training_steps": steps,
        "concepts": list(concepts),
        "delay_per_seed": parts["delay_per_seed"], "delay_across_seeds": parts["delay_across_seeds"],
        "delay": {"spearman_rho": rho_time, "n_runs": len(rows), "n_learned": sum(t is not None for t in times)},
        "color_concept_delay": {"note": "secondary, not the verdict: the delay rule on class 11's colour alone",
                                "passed": color_delay, "spearman_rho": rho_ctime,
                                "n_learned": sum(t is not None for t in color_times)},
        "bend": {"spearman_rho": rho_color, "end_checkpoints": END_CHECKPOINTS,
                 "end_color_at_smallest_alpha": float(np.mean([e for a, e in zip(alphas, ends) if a == min(alphas)])),
                 "fit_intercept": None if fit is None else fit[0], "fit_s": None if fit is None else fit[1]},
        "per_fraction": per_fraction,
        "probe_heldout_accuracy": dict(probe.heldout_accuracy),
        "runs": rows,
    }
    data = {"fractions": list(fractions), "runs": saved_runs(runs, fractions)}
    return Measurements(params={"threshold": ns.threshold}, data=data, reported=measured,
                        figures=[p.name for p in map(Path, figures)], notes=notes.strip())


PROBE = ClaimProbe(name=NAME, claim=CLAIM, paper=PAPER, criterion=CRITERION, scales=SCALES, seeds=SEEDS,
                   measure=measure, decide=decide, options=_options, description=__doc__.split("\n\n")[0])
main = PROBE.main


if __name__ == "__main__":
    main()
