"""Probe: a percolation-like threshold in the kept fraction λ of Gaussian-bump data (Liang et al. 2024, Sec. 3.3, App. D).

Claim: treat the bump centres of a data set as sites that are connected when their bumps overlap
(``‖a∘b‖₂/‖a‖₂`` of the inverted images above 0.005). Keeping a random fraction λ of a 32×32 lattice (d = 1),
the mass ratio of the largest connected cluster jumps from ≈0 to ≈1 at a critical λ that falls as the bump
width σ grows (wider bumps overlap more neighbours); σ = 0.1 never connects. Models trained on such
subsampled data learn the task (accuracy) only above a threshold λ that moves with σ the same way.
Paper 003 shows the simulation in Fig. 6(c) (5 repeats, threshold 0.005), the neighbour overlap in Fig. 6(b),
and the terminal accuracy of models trained on nested subsamples of one lattice in Fig. 6(e).

What this probe does:
1. simulation (every scale): :func:`hidcap.percolation.percolation_curve` on the lattice for each σ and a fine λ
   grid; the threshold λ_c(σ) is where the mean mass ratio crosses 0.5 for good (the smallest λ from which it
   stays ≥ 0.5, interpolated linearly between grid points);
2. the neighbour overlap versus increment d, analytic and on rendered pixel images (Fig. 6(b));
3. trained models (full scale, and tiny for the tests; ``--train-models`` turns them on at quick scale): one
   conditional DDPM per (σ, λ) on ``BumpDataSpec(subsample=λ)`` with the same data seed, so the kept sites are
   nested in λ and identical across σ; every model trains for the same number of steps (the paper's constant
   number of batches); terminal accuracy (``bump_accuracy``) on every lattice point.

Criterion (stated before running; ``passed`` is about the simulation alone when no models were trained):
- every σ whose connection radius (``overlap_radius(0.005)·σ``) reaches the nearest neighbour percolates:
  λ_c exists, and the mean mass ratio rises from 0.1 to 0.9 within Δλ ≤ 0.4 (a linear rise would need 0.8);
- every σ whose radius is below the lattice spacing never percolates (λ_c does not exist);
- λ_c moves with σ: non-increasing in σ over the percolating σ's, and lower for the widest σ than for the
  narrowest (at least two σ's must percolate, else undetermined).
- with models: the model threshold (smallest λ from which accuracy stays ≥ 0.5) is non-increasing in σ and lower
  for the widest than for the narrowest σ that reaches 0.5 (undetermined when fewer than two σ's reach it).

Scales: ``--tiny`` (seconds; 16×16 lattice, 2 repeats, four 8×8 models of 20 steps: the test suite's),
``--quick`` (the paper's 32×32 simulation with 5 repeats, about a second per σ; no models), full (the
simulation plus 4 σ × 10 λ models of paper 003's 32×32 U-Net for 20k steps each: a GPU job of many hours).

    python -m probes.percolation --quick
    python -m probes.percolation --quick --sigmas 0.2 0.3 0.5 1.0 --threshold 0.05
    python -m probes.percolation --device cuda --seeds 0 1          # full: simulation + trained models
    python -m probes.percolation --tiny --out /tmp/perc              # what the tests run
"""
from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, replace

import numpy as np

from hidcap.evaluation.curves import rise_width, stay_crossing
from hidcap.experiments.cli import parse_args
from hidcap.experiments.percolation import (
    mean_model_rows,
    pixel_overlaps,
    plot_curves,
    plot_overlap,
    simulate,
    train_models,
)
from hidcap.experiments.scales import bump_scale
from hidcap.experiments.verdicts import write_verdict
from hidcap.percolation import neighbour_overlap_curve, overlap_radius


NAME = "percolation"
CLAIM = ("The largest-cluster mass ratio of subsampled Gaussian-bump data jumps at a critical kept fraction λ "
         "whose location falls as the bump width σ grows (and trained models need λ above a σ-dependent threshold)")
PAPER = "Liang et al. 2024 (003), Sec. 3.3, Fig. 6(b, c, e), App. D"
MASS_LEVEL = 0.5  # λ_c: where the mean mass ratio crosses this for good
SHARP_LOW, SHARP_HIGH, SHARP_WIDTH = 0.1, 0.9, 0.4  # the 10 %–90 % rise must take at most this much λ
ACCURACY_LEVEL = 0.5  # model threshold: where the terminal accuracy crosses this for good
CRITERION = (
    f"Simulation: λ_c(σ) = smallest λ from which the mean largest-cluster mass ratio stays ≥ {MASS_LEVEL}. Every σ "
    f"whose overlap radius reaches the nearest lattice neighbour has a λ_c and a sharp rise (mass ratio from "
    f"{SHARP_LOW} to {SHARP_HIGH} within Δλ ≤ {SHARP_WIDTH}); every σ whose radius does not never percolates; λ_c is "
    f"non-increasing in σ and λ_c(widest) < λ_c(narrowest) over ≥ 2 percolating σ's. With trained models also: the "
    f"smallest λ from which terminal accuracy stays ≥ {ACCURACY_LEVEL} is non-increasing in σ and lower for the "
    f"widest than for the narrowest σ reaching it (≥ 2 σ's must reach it, else undetermined)."
)


# ------------------------------------------------------------------------------------------ scales
@dataclass(frozen=True)
class PercolationScale:
    """Simulation lattice and λ grid, and the trained-model grid (model_sigmas × model_lambdas) at one scale."""

    name: str
    shape: tuple[int, int]
    sigmas: tuple[float, ...]
    lambdas: tuple[float, ...]
    repeats: int
    train_models: bool
    model_sigmas: tuple[float, ...]
    model_lambdas: tuple[float, ...]
    model_steps: int
    model_increment: float = 1.0


def percolation_scale(name: str) -> PercolationScale:
    """The ``tiny``, ``quick`` and ``full`` settings (see the module docstring)."""
    if name == "tiny":
        return PercolationScale(name, (16, 16), (0.1, 0.3, 1.0), tuple(np.round(np.linspace(0.05, 1.0, 20), 4)),
                                repeats=2, train_models=True, model_sigmas=(0.3, 1.0), model_lambdas=(0.5, 1.0),
                                model_steps=20)
    fine = tuple(np.round(np.linspace(0.01, 1.0, 100), 4))
    sigmas = (0.1, 0.2, 0.3, 0.5, 0.7, 1.0)
    if name == "quick":
        return PercolationScale(name, (32, 32), sigmas, fine, repeats=5, train_models=False,
                                model_sigmas=(0.3, 0.5, 1.0), model_lambdas=(0.2, 0.4, 0.6, 0.8, 1.0), model_steps=1500)
    if name == "full":
        return PercolationScale(name, (32, 32), sigmas, fine, repeats=5, train_models=True,
                                model_sigmas=(0.1, 0.3, 0.5, 1.0),
                                model_lambdas=tuple(np.round(np.arange(1, 11) / 10, 4)), model_steps=20000)
    raise ValueError(f"unknown scale {name!r}; use tiny, quick or full")


# ------------------------------------------------------------------------------------------ pure helpers
def ordered_thresholds(sigmas, thresholds) -> bool | None:
    """Does the threshold move with σ: non-increasing in σ and lower at the widest than at the narrowest σ?

    Only σ's with a threshold (not None) count; ``None`` (undetermined) when fewer than two have one.
    """
    pairs = sorted((float(s), float(t)) for s, t in zip(sigmas, thresholds) if t is not None)
    if len(pairs) < 2:
        return None
    ts = [t for _, t in pairs]
    return bool(all(b <= a + 1e-12 for a, b in zip(ts, ts[1:])) and ts[-1] < ts[0])


def connects_neighbours(sigma: float, spacing: float = 1.0, threshold: float = 0.005) -> bool:
    """Whether bumps of width σ one lattice ``spacing`` apart overlap above ``threshold`` (nearest neighbours
    connect)."""
    return overlap_radius(threshold) * sigma >= spacing


def simulation_verdict(rows: list[dict]) -> tuple[bool | None, list[str]]:
    """Verdict of the simulation rows (σ, connects, lambda_c, rise_width); returns (passed, failure reasons)."""
    reasons = []
    for r in rows:
        if r["connects"]:
            if r["lambda_c"] is None:
                reasons.append(f"σ={r['sigma']} connects neighbours but never percolates")
            elif r["rise_width"] is None or r["rise_width"] > SHARP_WIDTH:
                reasons.append(f"σ={r['sigma']}: rise from {SHARP_LOW} to {SHARP_HIGH} takes Δλ={r['rise_width']} "
                               f"> {SHARP_WIDTH}")
        elif r["lambda_c"] is not None:
            reasons.append(f"σ={r['sigma']} connects no neighbours yet percolates at λ={r['lambda_c']:.3f}")
    order = ordered_thresholds([r["sigma"] for r in rows], [r["lambda_c"] for r in rows])
    if order is False:
        reasons.append("λ_c does not fall with σ: " + ", ".join(f"σ={r['sigma']}: {r['lambda_c']}" for r in rows))
    if reasons:
        return False, reasons
    if order is None:
        return None, ["fewer than two σ's percolate: whether λ_c moves with σ cannot be decided"]
    return True, []


def model_verdict(model_rows: list[dict]) -> tuple[bool | None, list[str]]:
    """Verdict of the trained models: per σ the λ threshold of the mean accuracy must fall with σ."""
    if not model_rows:
        return None, ["no models were trained"]
    sig = sorted({r["sigma"] for r in model_rows})
    thresholds = []
    for s in sig:
        rows = sorted((r for r in model_rows if r["sigma"] == s), key=lambda r: r["lambda"])
        thresholds.append(stay_crossing([r["lambda"] for r in rows], [r["accuracy"] for r in rows], ACCURACY_LEVEL))
    order = ordered_thresholds(sig, thresholds)
    if order is None:
        return None, [f"fewer than two σ's reach accuracy {ACCURACY_LEVEL}: thresholds {dict(zip(sig, thresholds))}"]
    if not order:
        return False, [f"model thresholds do not fall with σ: {dict(zip(sig, thresholds))}"]
    return True, []


# ------------------------------------------------------------------------------------------ measurement


# ------------------------------------------------------------------------------------------ figures


    

    

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


def main(argv: list[str] | None = None) -> dict:
    args, ns = parse_args(NAME, __doc__.split("\n\n")[0], argv, extra=_extra)
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
    seed = args.seeds[0]

    # 1. simulation
    curves = simulate(scale, threshold, seed, args.progress)
    sim_rows = []
    for c in curves:
        s = float(c.config.sigma)
        sim_rows.append({
            "sigma": s, "connects": connects_neighbours(s, 1.0, threshold),
            "radius": overlap_radius(threshold) * s,
            "lambda_c": stay_crossing(c.lambdas, c.mean, MASS_LEVEL),
            "rise_width": rise_width(c.lambdas, c.mean, SHARP_LOW, SHARP_HIGH),
            "mass_at": {f"{lam:g}": float(np.interp(lam, c.lambdas, c.mean)) for lam in (0.1, 0.25, 0.5, 0.75, 1.0)},
        })
    sim_passed, sim_reasons = simulation_verdict(sim_rows)

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
    mod_passed, mod_reasons = model_verdict(model_means) if scale.train_models else (None, [])
    if scale.train_models:
        if sim_passed is False or mod_passed is False:
            passed = False
        elif sim_passed is None or mod_passed is None:
            passed = None
        else:
            passed = True
    else:
        passed = sim_passed

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
          f"{scale.repeats} repeats, seed {seed}")
    print(f"{'sigma':>6s} {'radius':>7s} {'connects':>8s} {'lambda_c':>9s} {'10-90% width':>13s}")
    for r in sim_rows:
        lc = "never" if r["lambda_c"] is None else f"{r['lambda_c']:.3f}"
        w = "-" if r["rise_width"] is None else f"{r['rise_width']:.3f}"
        print(f"{r['sigma']:6g} {r['radius']:7.2f} {str(r['connects']):>8s} {lc:>9s} {w:>13s}")
    if model_means:
        print(f"\n{'sigma':>6s} {'lambda':>7s} {'accuracy':>9s}  (mean over seeds {list(args.seeds)})")
        for r in model_means:
            print(f"{r['sigma']:6g} {r['lambda']:7g} {r['accuracy']:9.3f}")

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
    if args.tiny:
        notes.append("Tiny scale: smoke run only; the verdict means nothing.")
    if len(args.seeds) > 1:
        notes.append(f"Simulation uses the first seed ({seed}); models use every seed.")
    measured = {
        "lattice": list(scale.shape), "threshold_overlap": threshold, "repeats": scale.repeats,
        "mass_level": MASS_LEVEL, "simulation": sim_rows, "simulation_passed": sim_passed,
        "simulation_failures": sim_reasons,
        "models_trained": scale.train_models, "models": model_rows, "model_means": model_means,
        "models_passed": mod_passed, "model_failures": mod_reasons,
        "model_steps": scale.model_steps if scale.train_models else None,
    }
    return write_verdict(args, claim=CLAIM, paper=PAPER, criterion=CRITERION, passed=passed, measured=measured,
                         figures=figures, notes=" ".join(notes))


if __name__ == "__main__":
    main()
