"""Probe: a percolation-like threshold in the kept fraction λ of Gaussian-bump data (Liang et al. 2024, Sec. 3.3, App. D).

Claim: bump centres are sites, connected when their bumps overlap (``‖a∘b‖₂/‖a‖₂`` of the inverted images above
0.005). Keeping a random fraction λ of a 32×32 lattice, the mass ratio of the largest cluster jumps from ≈0 to ≈1
at a critical λ that falls as the bump width σ grows; σ = 0.1 never connects. Models trained on such subsampled
data learn only above a threshold λ that moves with σ the same way (paper 003, Fig. 6(b, c, e)).

Measured: (1) :func:`hidcap.percolation.percolation_curve` for each σ on a fine λ grid, once per seed; (2) the
neighbour overlap against increment d, analytic and on rendered images (Fig. 6(b)); (3) with trained models (full
and tiny; ``--train-models`` at quick) one DDPM per (σ, λ) on nested subsamples, terminal accuracy on every
lattice point. Criterion: :data:`CRITERION` (docs/probes.md, "Criterion: percolation"); scales: :data:`SCALES`.

    python -m probes.percolation --quick                             # seeds 0 1 2, 5 repeats each
    python -m probes.percolation --quick --sigmas 0.2 0.3 0.5 1.0 --threshold 0.05
    python -m probes.percolation --device cuda --seeds 0 1          # full: simulation + trained models
    python -m probes.percolation --tiny --out /tmp/perc              # what the tests run
"""
from __future__ import annotations

import argparse
import json
from dataclasses import replace

import numpy as np

from hidcap.evaluation.curves import rise_width, stay_crossing  # noqa: F401 (rise_width: part of the probe's helpers)
from hidcap.experiments.claims import ClaimProbe, Measurements, Verdict
from hidcap.experiments.percolation_runs import (  # noqa: F401 (scales and rules, importable from the probe)
    PercolationScale,
    connects_neighbours,
    falls,
    format_interval,
    mean_model_rows,
    ordered_thresholds,
    percolation_scale,
    simulation_rows,
    threshold_band,
    pixel_overlaps,
    plot_curves,
    plot_overlap,
    simulate,
    train_models,
)
from hidcap.scales import bump_scale
from hidcap.percolation import neighbour_overlap_curve


NAME = "percolation"
CLAIM = ("The largest-cluster mass ratio of subsampled Gaussian-bump data jumps at a critical kept fraction λ "
         "whose location falls as the bump width σ grows (and trained models need λ above a σ-dependent threshold)")
PAPER = "Liang et al. 2024 (003), Sec. 3.3, Fig. 6(b, c, e), App. D"
MASS_LEVEL = 0.5  # λ_c: where the mean mass ratio crosses this for good
SHARP_LOW, SHARP_HIGH, SHARP_WIDTH = 0.1, 0.9, 0.4  # the 10 %–90 % rise must take at most this much λ
ACCURACY_LEVEL = 0.5  # model threshold: where the terminal accuracy crosses this for good
#: simulation (and model) seeds per scale: quick runs the simulation for 3 seeds of ``repeats`` each
DEFAULT_SEEDS = {"tiny": (0, 1), "quick": (0, 1, 2), "full": (0, 1, 2)}
CRITERION = (
    f"1. λ_c(σ): simulation once per seed (its own site orders, `repeats` per σ); λ_c = smallest λ from which the "
    f"mean largest-cluster mass ratio stays >= {MASS_LEVEL}, with a 95 % bootstrap interval over seeds and repeats "
    f"('never' later than every λ). Anything not decided beyond the intervals fails.",
    f"2. percolates sharply: every σ whose overlap radius reaches the nearest lattice neighbour percolates (λ_c's "
    f"interval ends at a λ) with a sharp rise (the interval of the Δλ from staying >= {SHARP_LOW} to staying >= "
    f"{SHARP_HIGH} ends at <= {SHARP_WIDTH}).",
    "3. never percolates: every σ whose radius does not reach it never percolates (λ_c's interval starts at 'never').",
    "4. λ_c moves with σ: no wider σ above its narrower neighbour beyond the intervals, and λ_c(widest) below "
    "λ_c(narrowest) beyond the intervals (>= 2 percolating σ's, else fail).",
    f"5. with trained models also: the λ from which accuracy stays >= {ACCURACY_LEVEL}, its interval read off the "
    "accuracy's 95 % band, is lower for the widest than for the narrowest σ beyond the intervals with no neighbour "
    "pair the other way (>= 2 σ's must reach it, else fail).",
    "Pass = 2-4 (and 5 with trained models); otherwise fail (never undetermined).",
)
SCALES = {
    "tiny": "seconds; 16x16 lattice, 2 repeats, seeds 0 and 1, four 8x8 models of 20 steps per seed",
    "quick": "the paper's 32x32 simulation, 5 repeats for each of seeds 0 1 2 (well under a CPU minute); no models",
    "full": "the simulation plus 4 σ x 10 λ models of paper 003's 32x32 U-Net for 20k steps each (GPU, many hours)",
}


# ------------------------------------------------------------------------------------------ pure helpers
def simulation_verdict(rows: list[dict]) -> tuple[bool, list[str]]:
    """Verdict of the simulation rows (``sigma``, ``connects``, ``lambda_c_interval`` with its ``rise_width``
    interval); returns ``(passed, failure reasons)``. Never undetermined: what is not decided beyond the intervals
    fails."""
    reasons = []
    for r in rows:
        iv = r["lambda_c_interval"]
        if r["connects"]:
            if iv["high"] is None:
                reasons.append(f"σ={r['sigma']} connects neighbours but does not percolate beyond the interval: "
                               f"λ_c {format_interval(iv)}, never in {iv['never']:.1%} of resamples")
            elif iv["rise_width"]["high"] is None or iv["rise_width"]["high"] > SHARP_WIDTH:
                reasons.append(f"σ={r['sigma']}: rise from {SHARP_LOW} to {SHARP_HIGH} takes Δλ "
                               f"{format_interval(iv['rise_width'])}, not ≤ {SHARP_WIDTH} beyond the interval")
        elif iv["low"] is not None:
            reasons.append(f"σ={r['sigma']} connects no neighbours yet may percolate: λ_c {format_interval(iv)}")
    ordered, why = ordered_thresholds([r["sigma"] for r in rows], [r["lambda_c_interval"] for r in rows])
    if not ordered:
        reasons.append("λ_c does not move with σ: " + why)
    return not reasons, reasons


def model_thresholds(model_means: list[dict]) -> dict[float, dict]:
    """Per σ, the model threshold (smallest λ from which mean accuracy stays ≥ ACCURACY_LEVEL) with its interval
    read off the accuracy band (:func:`~hidcap.experiments.percolation_runs.threshold_band`)."""
    out = {}
    for s in sorted({r["sigma"] for r in model_means}):
        rows = sorted((r for r in model_means if r["sigma"] == s), key=lambda r: r["lambda"])
        lam = [r["lambda"] for r in rows]
        acc = [r["accuracy"] for r in rows]
        low = [r["accuracy"] if r.get("accuracy_low") is None else r["accuracy_low"] for r in rows]
        high = [r["accuracy"] if r.get("accuracy_high") is None else r["accuracy_high"] for r in rows]
        out[s] = {"estimate": stay_crossing(lam, acc, ACCURACY_LEVEL), **threshold_band(lam, low, high, ACCURACY_LEVEL)}
    return out


def model_verdict(model_means: list[dict]) -> tuple[bool | None, list[str]]:
    """Verdict of the trained models: the λ threshold of accuracy must fall with σ beyond the intervals
    (:func:`ordered_thresholds`); ``None`` only when no models were trained."""
    if not model_means:
        return None, ["no models were trained"]
    th = model_thresholds(model_means)
    ordered, why = ordered_thresholds(list(th), list(th.values()))
    return (True, []) if ordered else (False, [f"model thresholds: {why}"])


    

    

# ------------------------------------------------------------------------------------------ main
def _fraction(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not 0 < v <= 1:
        raise argparse.ArgumentTypeError(f"λ must be in (0, 1], got {v}")
    return v


def _positive(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (np.isfinite(v) and v > 0):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {v}")
    return v


def _extra(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sigmas", type=_positive, nargs="+", default=None,
                        help="bump widths σ of the simulation (default 0.1 0.2 0.3 0.5 0.7 1.0)")
    parser.add_argument("--threshold", type=_positive, default=0.005,
                        help="overlap above which two bumps are connected (default 0.005, the paper's)")
    parser.add_argument("--repeats", type=int, default=None, help="simulation repeats (default 5; tiny 2)")
    parser.add_argument("--train-models", action=argparse.BooleanOptionalAction, default=None,
                        help="train models on subsampled data (default: on at full and tiny scale, off at quick)")
    parser.add_argument("--model-sigmas", type=_positive, nargs="+", default=None, help="σ's of the trained models")
    parser.add_argument("--model-lambdas", type=_fraction, nargs="+", default=None, help="λ's of the trained models")


def measure(args, ns) -> Measurements:
    """Simulate every seed, the neighbour overlaps and (when on) the trained models; figures and tables."""
    if ns.repeats is not None and ns.repeats < 1:
        raise ValueError(f"--repeats must be a positive integer, got {ns.repeats}")
    scale = percolation_scale(args.scale)
    overrides = {}
    if ns.sigmas is not None:
        overrides["sigmas"] = tuple(sorted(set(ns.sigmas)))
    if ns.repeats is not None:
        overrides["repeats"] = ns.repeats
    if ns.train_models is not None:
        overrides["train_models"] = ns.train_models
    if ns.model_sigmas is not None:
        overrides["model_sigmas"] = tuple(sorted(set(ns.model_sigmas)))
    if ns.model_lambdas is not None:
        overrides["model_lambdas"] = tuple(sorted(set(ns.model_lambdas)))
    scale = replace(scale, **overrides)
    if scale.train_models:  # every model σ gets a simulated curve to compare with
        scale = replace(scale, sigmas=tuple(sorted(set(scale.sigmas) | set(scale.model_sigmas))))
    threshold = float(ns.threshold)

    # 1. simulation, once per seed; λ_c per seed (bootstrap over repeats) and pooled (over seeds and repeats)
    by_seed = {seed: simulate(scale, threshold, seed, args.progress) for seed in args.seeds}
    curves, sim_rows = simulation_rows(scale, by_seed, threshold, MASS_LEVEL, (SHARP_LOW, SHARP_HIGH))

    # 2. neighbour overlap, analytic and pixelated
    increments = np.round(np.linspace(0.05, 4.0, 80), 4)
    analytic = neighbour_overlap_curve(increments, scale.sigmas)
    pixel = pixel_overlaps(scale.sigmas, increments)
    at_one = int(np.argmin(np.abs(increments - 1.0)))
    for i, r in enumerate(sim_rows):
        r["overlap_d1"] = {"analytic": float(analytic[i, at_one]), "pixel": float(pixel[i, at_one])}

    # 3. trained models
    model_rows, model_means = [], []
    if scale.train_models:
        bscale = bump_scale(args.scale)
        model_rows = train_models(args, scale, bscale)
        model_means = mean_model_rows(model_rows)
        model_rows = [{k: v for k, v in r.items() if k != "correct"} for r in model_rows]  # per-sample: not in JSON

    figures = ["percolation.png", "overlap.png"]
    plot_curves(args.out / figures[0], curves, sim_rows, model_means, scale.shape, threshold, args.seeds,
                mass_level=MASS_LEVEL, accuracy_level=ACCURACY_LEVEL)
    plot_overlap(args.out / figures[1], scale.sigmas, increments, analytic, pixel, threshold)
    curve_table = {
        "lambdas": [float(x) for x in scale.lambdas],
        "mass_ratio_mean": {f"{c.config.sigma:g}": c.mean for c in curves},
        "mass_ratio_std": {f"{c.config.sigma:g}": c.std for c in curves},
    }
    (args.out / "curves.json").write_text(json.dumps(
        {k: (v if k == "lambdas" else {s: np.asarray(a).tolist() for s, a in v.items()})
         for k, v in curve_table.items()}
    ) + "\n")

    print(f"\npercolation ({args.scale}): {scale.shape[0]}x{scale.shape[1]} lattice, threshold {threshold:g}, "
          f"{scale.repeats} repeats for each of seeds {list(args.seeds)}; λ_c estimate [95 % interval]")
    print(f"{'sigma':>6s} {'radius':>7s} {'connects':>8s} {'lambda_c (pooled)':>26s} {'10-90% width':>26s}  per seed")
    for r in sim_rows:
        iv = r["lambda_c_interval"]
        seeds_txt = " ".join(format_interval(v) for v in r["per_seed"].values())
        print(f"{r['sigma']:6g} {r['radius']:7.2f} {str(r['connects']):>8s} {format_interval(iv):>26s} "
              f"{format_interval(iv['rise_width']):>26s}  {seeds_txt}")
    if model_means:
        print(f"\n{'sigma':>6s} {'lambda':>7s} {'accuracy':>9s}  (mean over seeds {list(args.seeds)})")
        for r in model_means:
            print(f"{r['sigma']:6g} {r['lambda']:7g} {r['accuracy']:9.3f}")
        print("model thresholds: " + ", ".join(f"σ={s:g}: {format_interval(v)}" for s, v in model_thresholds(model_means).items()))

    notes = []
    if not scale.train_models:
        notes.append("No models were trained at this scale: the verdict is about the simulation only.")
    elif args.scale != "full":
        notes.append(f"Models are {bump_scale(args.scale).image_size}x"
                     f"{bump_scale(args.scale).image_size} ({args.scale} scale); their lattice is smaller "
                     "than the simulated one.")
    differ = [r["sigma"] for r in sim_rows
              if (r["overlap_d1"]["analytic"] > threshold) != (r["overlap_d1"]["pixel"] > threshold)]
    if differ:
        notes.append(f"For σ = {differ} the overlap of rendered (pixelated) neighbours at d = 1 and the analytic "
                     "overlap used by the simulation fall on different sides of the threshold (see overlap.png).")
    data = {"simulation": [{k: r[k] for k in ("sigma", "connects", "lambda_c_interval", "per_seed")} for r in sim_rows],
            "models_trained": scale.train_models, "model_means": model_means}
    reported = {
        "lattice": list(scale.shape), "threshold_overlap": threshold, "repeats": scale.repeats,
        "mass_level": MASS_LEVEL, "simulation_seeds": list(args.seeds), "simulation": sim_rows,
        "models_trained": scale.train_models, "models": model_rows, "model_means": model_means,
        "model_thresholds": ({f"{k:g}": v for k, v in model_thresholds(model_means).items()} if model_means else {}),
        "model_steps": scale.model_steps if scale.train_models else None,
    }
    return Measurements(params={}, data=data, reported=reported, figures=figures, notes=" ".join(notes))


def decide(measurements) -> Verdict:
    """:func:`simulation_verdict` on the pooled intervals (and :func:`model_verdict` with trained models); each
    seed's own simulation verdict is reported beside it."""
    d = measurements["data"]
    sim_passed, sim_reasons = simulation_verdict(d["simulation"])
    per_seed = {}
    for seed in measurements["seeds"]:
        ok, why = simulation_verdict([dict(r, lambda_c_interval=r["per_seed"][str(seed)]) for r in d["simulation"]])
        per_seed[str(seed)] = {"passed": ok, "failures": why}
    mod_passed, mod_reasons = model_verdict(d["model_means"]) if d["models_trained"] else (None, [])
    passed = bool(sim_passed and mod_passed) if d["models_trained"] else sim_passed
    parts = {"simulation_passed": sim_passed, "simulation_failures": sim_reasons,
             "simulation_per_seed_verdicts": per_seed, "models_passed": mod_passed, "model_failures": mod_reasons}
    why = "; ".join(sim_reasons + mod_reasons) or "every part holds"
    return Verdict(passed, parts, f"simulation {sim_passed}, models {mod_passed}: {why}")


PROBE = ClaimProbe(name=NAME, claim=CLAIM, paper=PAPER, criterion=CRITERION, scales=SCALES, seeds=DEFAULT_SEEDS,
                   measure=measure, decide=decide, options=_extra, description=__doc__.split("\n\n")[0])
main = PROBE.main

if __name__ == "__main__":
    main()
