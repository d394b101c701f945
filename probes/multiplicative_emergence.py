"""Multiplicative emergence on the concept cube (Okawa et al. 2023, Figs. 5-7).

Claim. A conditional DDPM trained on four classes of the (shape, color, size) cube, {000, 100, 010, 001}
(bit 0 = circle / red / large), learns to compose concepts into the held-out classes: (1) in the order of
their concept distance to the training set (110, 101, 011 at distance 1 before 111 at distance 2; paper
Fig. 5); (2) suddenly, because a generation is correct only when *every* concept is right, so the joint
(multiplicative) accuracy jumps while the additive (mean per-concept) accuracy creeps up (Fig. 6); (3) as in
the toy model P(t) = (1 − (1 − p)^t)^n with n the number of composed concepts, whose first step above P*
is t* = ceil(log(1 − P*^{1/n}) / log(1 − p)) (Fig. 7).

Protocol. Train the DDPM (``--seeds``), train one linear probe per concept on flattened images of all eight
classes (it must be ≥ 99 % right on held-out renders, except at ``--tiny``), generate every class at every
checkpoint and score it with :func:`hidcap.evaluation.concept_space` (joint and additive accuracy, per-concept
correctness, concept-space points). Objects sit at the frame centre on a near-white background, as in the
paper's renders (with the library's default position jitter of ±0.5 a *linear* probe reads the shape only
~73 % right). Checkpoints are evenly spaced, like the paper's per-epoch evaluation.

Criteria (stated before anything is measured; learning time t* = :func:`hidcap.evaluation.learning_time`
of the joint accuracy at ``--threshold`` P* = 0.8, trailing 3-point moving average, must stay above):

1. order: in every seed that decides it, max t* over the distance-1 classes ≤ t* of 111 (a class never
   learned counts as latest; a seed where 111 and a distance-1 class are both never learned is undecided);
2. suddenness: for a curve a(step), S = (largest increase between two consecutive checkpoints) / (largest
   total increase, max over i<j of a_j − a_i): 1 for a one-interval jump, ≈ 1/K for a ramp over K
   intervals. Among held-out (seed, class) curves whose joint accuracy rises by ≥ 0.5, the joint S exceeds
   the additive S in more than half (exact ties, where the grid cannot tell, are left out);
3. toy model: with n = the class's concept distance (paper 002: "the number of atomic concepts being
   composed (aka concept distance)"), :func:`hidcap.theory.fit_multiplicative` is fitted to every learned
   held-out (n, t*) pair; p only sets the time scale, so the *shape* is the prediction: pass when at every
   n the fit is within 25 % of the mean measured t*. A second fit with n = the number of 1-bits (the
   alterations of the base class 000 a class needs; training classes then enter with n = 1) is reported.

Claims 1 and 3 are undecided (``None``) when the held-out classes needed are never learned; the verdict
passes when every claim passes and fails when any claim fails.

Scales:

- ``--tiny`` (seconds, the test suite): 8 px, 12 training steps, seed 0 by default; every code path, its
  numbers mean nothing;
- ``--quick`` (CPU, ~8 minutes of one core): 16 px, a (16, 32) version of the ``tiny`` U-Net, DDPM T=100 with
  β scaled to reach noise, lr 2e-3, 3000 steps at batch 32, 20 checkpoints, 24 samples per class with 20
  ancestral steps; seed 0 by default. It learns the training classes and starts composing; whether the
  distance-2 class is learned in 3000 steps decides which claims it can judge;
- full (GPU): 28 px, 5000 images (1250 per training class), the paper's DDPM (T = 500, β linear 1e-4 →
  0.02), a (64, 128, 256) U-Net, Adam(0.9, 0.99), weight decay 1e-5, 10 000 steps at batch 64 (128
  epochs), 50 checkpoints, 50 samples per class (the paper's N_t) with 100 ancestral steps; seeds 0 1 2.

Examples::

    python -m probes.multiplicative_emergence --quick                     # CPU, ~8 minutes
    python -m probes.multiplicative_emergence --quick --seeds 0 1         # two seeds, twice as long
    python -m probes.multiplicative_emergence --device cuda               # the paper's scale, seeds 0 1 2
    python -m probes.multiplicative_emergence --tiny --out /tmp/me        # smoke run

Writes into ``--out``: verdict.json, learning_times.csv, accuracy_seed{S}.csv, concept_space_seed{S}.json
and the figures accuracy_by_distance.png, joint_vs_additive.png, concept_space_seed{S}.png, toy_model.png.
"""
from __future__ import annotations

import argparse
import csv
import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from hidcap.data import ConceptDataSpec, ConceptGraph
from hidcap.diffusion import DDPMConfig
from hidcap.evaluation.concept_space import ConceptSpace
from hidcap.evaluation.learning_time import learning_time
from hidcap.experiments.cli import ProbeArgs, parse_args
from hidcap.experiments.concepts import concept_probe, measured_concept_space
from hidcap.experiments.scales import ConceptScale, concept_scale
from hidcap.experiments.verdicts import combine_verdicts, write_verdict
from hidcap.models import presets
from hidcap.plotting import figure, plot_concept_space, plot_distance_curves
from hidcap.theory import critical_time, fit_multiplicative, multiplicative_accuracy
from hidcap.training import CheckpointConfig, OptimConfig, train

NAME = "multiplicative_emergence"
CONCEPTS = ("shape", "color", "size")
TRAIN_CLASSES = ("000", "100", "010", "001")
TEST_CLASSES = ("110", "101", "011", "111")
POSITION_RANGE = 0.0  # objects centred, as in paper 002's renders (a linear probe cannot read a moving shape)
BACKGROUND = 1.0  # background separation 1: bit 0 = white, U[0.875, 1] per channel (paper 002: a blank background)
THRESHOLD = 0.8  # P*: learning-time level of the joint accuracy and the toy model's threshold
MIN_RISE = 0.5  # a joint curve must rise at least this much to be judged for suddenness
REL_TOL = 0.25  # claim 3: the toy fit within this fraction of the mean measured t* at every n
#: Seeds without --seeds: three at the paper's scale, one at the CPU scales (CPU minutes).
DEFAULT_SEEDS = {"full": (0, 1, 2), "quick": (0,), "tiny": (0,)}

CLAIM = ("Compositional generalisation on the concept cube emerges multiplicatively: held-out classes are "
         "learned in order of concept distance, joint accuracy jumps more suddenly than additive accuracy, and "
         "t*(n) follows the toy model (1 - (1 - p)^t)^n.")
PAPER = "Okawa et al. 2023 (paper 002), Figs. 5, 6 and 7"


# ------------------------------------------------------------------------------------------ scales
def probe_scale(name: str) -> ConceptScale:
    """The concept-cube run at scale ``name`` (``tiny``, ``quick`` or ``full``), built on the registry's concept scales."""
    base = concept_scale(name)  # ValueError on an unknown name
    linear = {"kind": "linear"}
    if name == "tiny":
        return replace(base, checkpoints=CheckpointConfig(count=3, spacing="linear"),
                       probe={**base.probe, **linear})
    if name == "quick":
        # the registry's quick U-Net at twice the width: the (8, 16) one does not fit the three-concept cube in
        # minutes (muddy colours, training classes unlearned after 2000 steps); (16, 32) does by ~1000 steps
        return replace(
            base, model=presets.tiny(time_scale=1.0, channels=(16, 32), groups=8), optimizer=OptimConfig(lr=2e-3),
            steps=3000, checkpoints=CheckpointConfig(count=20, spacing="linear"), images_per_class=256,
            sample_steps=20, samples_per_class=24,
            probe={"steps": 300, "batch_size": 64, "images_per_class": 256, "heldout_per_class": 128, **linear},
        )
    # full: paper 002 appendix A (28 px, 5000 images, DDPM T=500 with beta 1e-4 -> 0.02, Adam(0.9, 0.99), wd 1e-5)
    return replace(
        base,
        model=presets.hidden_capabilities(image_size=28, time_scale=1.0),
        diffusion=DDPMConfig(timesteps=500, beta_start=1e-4, beta_end=0.02),
        optimizer=OptimConfig(lr=1e-3, weight_decay=1e-5, betas=(0.9, 0.99)),
        batch_size=64, steps=10000, checkpoints=CheckpointConfig(count=50, spacing="linear"),
        image_size=28, images_per_class=1250, sample_steps=100, samples_per_class=50,
        probe={"steps": 1500, "batch_size": 128, "images_per_class": 1024, "heldout_per_class": 256, **linear},
    )


def cube_spec(scale: ConceptScale) -> ConceptDataSpec:
    """The (shape, color, size) cube with the paper's training split at ``scale``'s image size and count."""
    return scale.spec(concepts=CONCEPTS, train_classes=TRAIN_CLASSES, test_classes=TEST_CLASSES,
                      position_range=POSITION_RANGE, background_separation=BACKGROUND)


def distances(spec: ConceptDataSpec) -> dict[str, int]:
    """Concept distance of every class to the training set (training classes 0)."""
    graph = ConceptGraph.from_spec(spec)
    return graph.distances(spec.all_classes)


def ones(bits: str) -> int:
    """Number of 1-bits of a class: how many concepts differ from the base class 000."""
    return bits.count("1")


# ------------------------------------------------------------------------------------------ measures
def sudden_fraction(values: Sequence[float]) -> tuple[float | None, float]:
    """``(S, rise)`` of a curve over evenly spaced checkpoints: rise = max over i<j of v_j − v_i (0 for a
    curve that never increases), S = largest single-interval increase / rise (``None`` when rise is 0)."""
    v = np.asarray(values, dtype=float)
    if v.ndim != 1 or v.size < 2:
        raise ValueError(f"values must be a 1-D curve of at least two points, got shape {v.shape}")
    if not np.all(np.isfinite(v)):
        raise ValueError("values must be finite")
    rise = float(np.max(v - np.minimum.accumulate(v)))
    jump = float(np.max(np.diff(v)))
    if rise <= 0:
        return None, 0.0
    return jump / rise, rise


def order_holds(times: Mapping[str, int | None], dist: Mapping[str, int]) -> bool | None:
    """Claim 1 for one seed: max t* of the distance-1 classes ≤ t* of the distance-2 class(es).

    ``None`` t* (never learned) counts as latest; when the latest distance-1 class and the distance-2 class
    are both never learned the order is undecided (``None``).
    """
    d1 = [c for c in times if dist[c] == 1]
    d2 = [c for c in times if dist[c] == 2]
    if not d1 or not d2:
        raise ValueError(f"need classes at distance 1 and 2, got distances { {c: dist[c] for c in times} }")
    late = lambda c: math.inf if times[c] is None else float(times[c])  # noqa: E731
    t1, t2 = max(late(c) for c in d1), min(late(c) for c in d2)
    if math.isinf(t1) and math.isinf(t2):
        return None
    return t1 <= t2


def combine_order(per_seed: Sequence[bool | None]) -> bool | None:
    """Claim 1 over seeds: holds in every seed that decides it; ``None`` if no seed decides."""
    return combine_verdicts(per_seed, skip_undetermined=True)


def suddenness_vote(pairs: Sequence[tuple[float | None, float | None, float]],
                    min_rise: float = MIN_RISE) -> tuple[bool | None, dict[str, int]]:
    """Claim 2 from ``(S_joint, S_additive, joint_rise)`` per held-out curve.

    Curves whose joint rise is below ``min_rise`` are not judged; exact ties are left out. Passes when the
    joint S is larger in more than half of the judged curves; ``None`` when no curve can be judged.
    """
    sharper = flatter = ties = skipped = 0
    for s_joint, s_add, rise in pairs:
        if s_joint is None or rise < min_rise:
            skipped += 1
            continue
        s_add = 0.0 if s_add is None else s_add
        if abs(s_joint - s_add) < 1e-9:
            ties += 1
        elif s_joint > s_add:
            sharper += 1
        else:
            flatter += 1
    counts = {"joint_sharper": sharper, "additive_sharper": flatter, "ties": ties, "not_judged": skipped}
    judged = sharper + flatter
    return (None if judged == 0 else sharper > judged / 2), counts


def toy_fit(n: Sequence[int], t_star: Sequence[float], target: float = THRESHOLD,
            rel_tol: float = REL_TOL) -> dict[str, Any]:
    """Fit :func:`hidcap.theory.fit_multiplicative` to learned ``(n, t*)`` pairs and judge its shape.

    Returns ``{"passed", "p", "rmse", "n_levels", "measured_mean", "predicted", "max_rel_dev", "points"}``;
    ``passed`` is ``None`` (and the fit fields ``None``) with fewer than two distinct n.
    """
    n = np.asarray(n, dtype=int)
    t = np.asarray(t_star, dtype=float)
    if n.shape != t.shape:
        raise ValueError(f"n and t_star must have the same length, got {n.shape} and {t.shape}")
    levels = sorted(set(n.tolist()))
    out: dict[str, Any] = {"passed": None, "p": None, "rmse": None, "n_levels": levels, "measured_mean": None,
                           "predicted": None, "max_rel_dev": None, "points": int(n.size), "target": target}
    if len(levels) < 2:
        return out
    fit = fit_multiplicative(n, t, target)
    means = np.array([t[n == k].mean() for k in levels])
    pred = critical_time(fit.p, np.array(levels), target)
    rel = np.abs(pred - means) / means
    out.update(passed=bool(np.max(rel) <= rel_tol), p=fit.p, rmse=fit.rmse, measured_mean=means.tolist(),
               predicted=pred.tolist(), max_rel_dev=float(np.max(rel)))
    return out


def overall(parts: Sequence[bool | None]) -> bool | None:
    """All claims pass -> True; any fails -> False; otherwise undetermined."""
    return combine_verdicts(parts)


def concept_curves(cs: ConceptSpace, cls: str) -> tuple[np.ndarray, np.ndarray]:
    """``(steps (T,), accuracy (T, n_concepts))``: per-concept fraction of correct samples of ``cls``."""
    steps = np.array(cs.steps)
    return steps, np.stack([cs.correct[(int(s), cls)].mean(axis=0) for s in steps])


# ------------------------------------------------------------------------------------------ running
def measure_seed(args: ProbeArgs, scale: ConceptScale, spec: ConceptDataSpec, probe: Any, seed: int) -> ConceptSpace:
    """Train (or reuse) the run of ``seed`` and measure it at every checkpoint (cached beside the run)."""
    cfg = scale.train_config(spec, seed, args.device)
    run_dir = args.run_dir("cube", seed)
    series = train(cfg, run_dir, progress=args.progress)  # loads checkpoints onto cfg.device
    return measured_concept_space(series, spec, probe, scale, seed, args.out, name=f"concept_space_seed{seed}",
                                  progress=args.progress)


def _threshold(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"threshold must be a number in (0, 1), got {text!r}") from None
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"threshold must be in (0, 1), got {value}")
    return value


def _extra(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--threshold", type=_threshold, default=THRESHOLD,
                        help="learning-time level P* of the joint accuracy, also the toy model's "
                             f"(default {THRESHOLD})")


def main(argv: list[str] | None = None) -> dict:
    args, ns = parse_args(NAME, __doc__.split("\n\n")[0], argv, default_seeds=DEFAULT_SEEDS, extra=_extra)
    threshold = ns.threshold
    scale = probe_scale(args.scale)
    spec = cube_spec(scale)
    dist = distances(spec)
    probe = concept_probe(spec, scale, args.out / "probe", args.device, seed=0, progress=args.progress)
    print(f"linear probe held-out accuracy: {probe.heldout_accuracy}")

    spaces = {seed: measure_seed(args, scale, spec, probe, seed) for seed in args.seeds}
    rows: list[dict[str, Any]] = []
    for seed, cs in spaces.items():
        cs.to_csv(args.out / f"accuracy_seed{seed}.csv", table="accuracy")
        for c in spec.all_classes:
            steps, joint = cs.accuracy_curve(c, "joint")
            _, additive = cs.accuracy_curve(c, "additive")
            _, per_concept = concept_curves(cs, c)
            s_joint, rise = sudden_fraction(joint)
            s_add, rise_add = sudden_fraction(additive)
            product = per_concept.prod(axis=1)
            rows.append({
                "seed": seed, "class": c, "distance": dist[c], "ones": ones(c),
                "t_joint": learning_time(steps, joint, threshold),
                "t_additive": learning_time(steps, additive, threshold),
                "S_joint": s_joint, "S_additive": s_add, "rise_joint": rise, "rise_additive": rise_add,
                "final_joint": float(joint[-1]), "final_additive": float(additive[-1]),
                "rmse_joint_vs_product": float(np.sqrt(np.mean((joint - product) ** 2))),
                "rmse_joint_vs_additive": float(np.sqrt(np.mean((joint - additive) ** 2))),
            })
    _write_rows(args.out / "learning_times.csv", rows)

    # claim 1: order by concept distance
    order = {seed: order_holds({r["class"]: r["t_joint"] for r in rows if r["seed"] == seed and r["distance"] > 0},
                               dist)
             for seed in args.seeds}
    claim1 = combine_order(list(order.values()))
    # claim 2: joint accuracy jumps more suddenly than additive accuracy
    held = [r for r in rows if r["distance"] > 0]
    claim2, votes = suddenness_vote([(r["S_joint"], r["S_additive"], r["rise_joint"]) for r in held])
    # claim 3: toy model t*(n)
    learned = [r for r in held if r["t_joint"] is not None and r["t_joint"] > 0]
    fit = toy_fit([r["distance"] for r in learned], [r["t_joint"] for r in learned], threshold)
    learned_bits = [r for r in rows if r["ones"] > 0 and r["t_joint"] is not None and r["t_joint"] > 0]
    fit_bits = toy_fit([r["ones"] for r in learned_bits], [r["t_joint"] for r in learned_bits], threshold)
    claim3 = fit["passed"]
    passed = overall([claim1, claim2, claim3])

    figures = _figures(args, spaces, spec, dist, rows, fit, threshold)
    measured = {
        "probe_heldout_accuracy": probe.heldout_accuracy,
        "threshold": threshold,
        "steps": spaces[args.seeds[0]].steps,
        "learning_times": {str(s): {r["class"]: r["t_joint"] for r in rows if r["seed"] == s} for s in args.seeds},
        "mean_learning_time_by_distance": _mean_by_distance(rows),
        "claim1_order": {"passed": claim1, "per_seed": {str(s): v for s, v in order.items()}},
        "claim2_suddenness": {
            "passed": claim2, **votes,
            "per_curve": [{k: r[k] for k in ("seed", "class", "S_joint", "S_additive", "rise_joint", "rise_additive")}
                          for r in held],
            "mean_rmse_joint_vs_product": float(np.mean([r["rmse_joint_vs_product"] for r in held])),
            "mean_rmse_joint_vs_additive": float(np.mean([r["rmse_joint_vs_additive"] for r in held])),
        },
        "claim3_toy_fit": {**fit, "n_is": "concept distance (held-out classes)"},
        "toy_fit_n_ones": {**fit_bits, "n_is": "number of 1-bits (training and held-out classes)"},
        "final_joint": {str(s): {r["class"]: r["final_joint"] for r in rows if r["seed"] == s} for s in args.seeds},
    }
    _print_table(rows, args.seeds, fit, fit_bits, votes, order)
    criterion = (
        f"(1) per seed, max learning time (joint accuracy staying above {threshold:g}) of the distance-1 classes "
        f"<= that of 111, never learned = latest, in every deciding seed; (2) S = largest one-checkpoint increase / "
        f"total increase is larger for joint than additive accuracy in more than half of the held-out curves whose "
        f"joint accuracy rises by >= {MIN_RISE:g}; (3) fit_multiplicative with n = concept distance is within "
        f"{REL_TOL:.0%} of the mean measured t* at every n. Pass = all three pass."
    )
    notes = (f"scale {args.scale}: {scale.steps} training steps, {len(spaces[args.seeds[0]].steps)} linear "
             "checkpoints (step 0 included), "
             f"{scale.samples_per_class} samples per class, {scale.sample_steps} sampling steps; objects centred "
             f"(position range {POSITION_RANGE}) on a white background so that linear probes read the shape.")
    never = {s: [r["class"] for r in held if r["seed"] == s and r["t_joint"] is None] for s in args.seeds}
    if any(never.values()):
        notes += (" Held-out classes never learned (counted as latest for claim 1, left out of the toy fit): "
                  + "; ".join(f"seed {s}: {', '.join(cs)}" for s, cs in never.items() if cs) + ".")
    if args.tiny:
        notes += " Tiny run: exercises the code paths only; its numbers mean nothing."
    return write_verdict(args, claim=CLAIM, paper=PAPER, criterion=criterion, passed=passed, measured=measured,
                         figures=figures, notes=notes)


def _mean_by_distance(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """distance -> mean learning time over learned (seed, class) pairs and how many were never learned."""
    out: dict[str, Any] = {}
    for d in sorted({r["distance"] for r in rows}):
        ts = [r["t_joint"] for r in rows if r["distance"] == d]
        got = [t for t in ts if t is not None]
        out[str(d)] = {"mean": float(np.mean(got)) if got else None, "learned": len(got), "never": len(ts) - len(got)}
    return out


def _write_rows(path: Path, rows: Sequence[Mapping[str, Any]]) -> None:
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        for r in rows:
            w.writerow({k: ("" if v is None else v) for k, v in r.items()})


def _fmt(v: Any, width: int = 6, none: str = "-") -> str:
    if v is None:
        return f"{none:>{width}s}"
    if isinstance(v, float):
        return f"{v:{width}.2f}"
    return f"{v:>{width}}"


def _print_table(rows: Sequence[Mapping[str, Any]], seeds: Sequence[int], fit: Mapping[str, Any],
                 fit_bits: Mapping[str, Any], votes: Mapping[str, int], order: Mapping[int, bool | None]) -> None:
    print(f"\n{'class':>5s} {'dist':>4s} " + " ".join(f"{'t* s' + str(s):>7s}" for s in seeds)
          + f" {'S_joint':>8s} {'S_add':>6s} {'final joint':>11s}")
    classes = list(dict.fromkeys(r["class"] for r in rows))
    for c in classes:
        rs = [r for r in rows if r["class"] == c]
        sj = [r["S_joint"] for r in rs if r["S_joint"] is not None]
        sa = [r["S_additive"] for r in rs if r["S_additive"] is not None]
        print(f"{c:>5s} {rs[0]['distance']:>4d} " + " ".join(_fmt(r["t_joint"], 7, "never") for r in rs)
              + f" {_fmt(float(np.mean(sj)) if sj else None, 8)} {_fmt(float(np.mean(sa)) if sa else None, 6)}"
              + f" {np.mean([r['final_joint'] for r in rs]):11.2f}")
    print(f"order d1 <= d2 per seed: {dict(order)}")
    print(f"suddenness votes: {dict(votes)}")
    held = [r for r in rows if r["distance"] > 0]
    print(f"held-out curves, rmse of joint accuracy vs product of per-concept accuracies: "
          f"{np.mean([r['rmse_joint_vs_product'] for r in held]):.3f}, vs additive accuracy: "
          f"{np.mean([r['rmse_joint_vs_additive'] for r in held]):.3f}")
    for label, f in (("n = distance", fit), ("n = 1-bits", fit_bits)):
        if f["p"] is None:
            print(f"toy fit ({label}): undetermined (learned n levels {f['n_levels']})")
        else:
            print(f"toy fit ({label}): p = {f['p']:.3g}, rmse = {f['rmse']:.1f} steps, n {f['n_levels']}: "
                  f"measured {np.round(f['measured_mean'], 1).tolist()} vs predicted {f['predicted']} "
                  f"(max rel. dev. {f['max_rel_dev']:.2f})")


# ------------------------------------------------------------------------------------------ figures
def _figures(args: ProbeArgs, spaces: Mapping[int, ConceptSpace], spec: ConceptDataSpec, dist: Mapping[str, int],
             rows: Sequence[Mapping[str, Any]], fit: Mapping[str, Any], threshold: float) -> list[Path]:
    seeds = list(spaces)
    seed_label = f"seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))}"
    mean_curves = {}
    for c in spec.all_classes:
        curves = [spaces[s].accuracy_curve(c, "joint") for s in seeds]
        mean_curves[c] = (curves[0][0], np.mean([v for _, v in curves], axis=0))
    figs = [plot_distance_curves(mean_curves, dist, args.out / "accuracy_by_distance.png",
                                 title=f"joint accuracy by concept distance (0 = trained; mean of {seed_label})")]
    figs.append(_plot_joint_vs_additive(spaces, args.out / "joint_vs_additive.png", threshold))
    for s in seeds:
        # held-out classes only: the training classes go straight to their corners and clutter the cube
        figs.append(plot_concept_space(spaces[s], args.out / f"concept_space_seed{s}.png", classes=TEST_CLASSES,
                                       title=f"held-out classes in concept space, seed {s}\n"
                                             "(hollow: first checkpoint, filled: last)"))
    figs.append(_plot_toy(spaces, dist, rows, fit, args.out / "toy_model.png", threshold))
    return figs


def _plot_joint_vs_additive(spaces: Mapping[int, ConceptSpace], path: Path, threshold: float) -> Path:
    """Top row: joint (solid) vs additive (dashed) accuracy of every held-out class, mean over seeds (thin:
    single seeds); bottom row: per-concept accuracies (mean over seeds)."""
    fig = figure((13.0, 6.0))
    axes = fig.subplots(2, len(TEST_CLASSES), sharex=True, sharey=True)
    colours = {"shape": "tab:blue", "color": "tab:orange", "size": "tab:green"}
    for k, c in enumerate(TEST_CLASSES):
        top, bottom = axes[0, k], axes[1, k]
        joint = [sp.accuracy_curve(c, "joint") for sp in spaces.values()]
        additive = [sp.accuracy_curve(c, "additive") for sp in spaces.values()]
        steps = joint[0][0]
        if len(spaces) > 1:
            for (_, j), (_, a) in zip(joint, additive):
                top.plot(steps, j, "-", color="tab:red", lw=0.6, alpha=0.35)
                top.plot(steps, a, "--", color="tab:gray", lw=0.6, alpha=0.35)
        top.plot(steps, np.mean([j for _, j in joint], axis=0), "-o", ms=3, color="tab:red", label="joint (product)")
        top.plot(steps, np.mean([a for _, a in additive], axis=0), "--s", ms=3, color="tab:gray",
                 label="additive (mean)")
        top.axhline(threshold, color="0.5", ls=":", lw=1)
        top.set_title(f"class {c} ({'distance 2' if c == '111' else 'distance 1'})", fontsize=10)
        per = np.mean([concept_curves(sp, c)[1] for sp in spaces.values()], axis=0)
        for j, name in enumerate(CONCEPTS):
            bottom.plot(steps, per[:, j], "-", color=colours[name], lw=1.5, label=name)
        bottom.axhline(0.5, color="0.7", ls=":", lw=1)
        bottom.set_xlabel("training step")
    axes[0, 0].set_ylabel("accuracy of the class")
    axes[1, 0].set_ylabel("per-concept accuracy")
    axes[0, 0].set_ylim(-0.03, 1.05)
    axes[0, 0].legend(fontsize=8, loc="upper left")
    axes[1, 0].legend(fontsize=8, loc="lower right")
    fig.suptitle(f"joint vs additive accuracy of the held-out classes (mean of {len(spaces)} seed(s); "
                 f"dotted: P* = {threshold:g} / chance 0.5)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    return path


def _plot_toy(spaces: Mapping[int, ConceptSpace], dist: Mapping[str, int], rows: Sequence[Mapping[str, Any]],
              fit: Mapping[str, Any], path: Path, threshold: float) -> Path:
    """Left: toy curves P(t) = (1 − (1 − p)^t)^n with the fitted p beside the measured joint accuracy
    (mean over held-out classes of each distance and seeds). Right: t*(n) measured vs the toy model."""
    steps = np.array(next(iter(spaces.values())).steps, dtype=float)
    t_max = float(steps.max()) if steps.size else 1.0
    fitted = fit["p"] is not None
    # without a fit, an illustrative p puts t*(1) in the middle of the run
    p = fit["p"] if fitted else float(-np.expm1(np.log(1 - threshold) / max(t_max / 2, 1.0)))
    fig = figure((11.0, 4.2))
    left, right = fig.subplots(1, 2)
    t = np.linspace(0, t_max, 400)
    cmap = {1: "tab:purple", 2: "tab:red", 3: "tab:brown"}
    for n in (1, 2, 3):
        left.plot(t, multiplicative_accuracy(t, p, n), "-", color=cmap[n], lw=1.5, alpha=0.8, label=f"toy n = {n}")
    for d in (1, 2):
        classes = [c for c in TEST_CLASSES if dist[c] == d]
        curves = [sp.accuracy_curve(c, "joint")[1] for sp in spaces.values() for c in classes]
        left.plot(steps, np.mean(curves, axis=0), "o--", ms=4, color=cmap[d], lw=1,
                  label=f"measured, distance {d}")
    left.axhline(threshold, color="0.5", ls=":", lw=1)
    left.set_xlabel("training step (toy: one coin flip per step)")
    left.set_ylabel("joint accuracy / P(t)")
    left.set_ylim(-0.03, 1.05)
    left.set_title(f"toy model, {'fitted' if fitted else 'illustrative (no fit)'} p = {p:.3g}", fontsize=10)
    left.legend(fontsize=8)

    held = [r for r in rows if r["distance"] > 0]
    rng = np.random.default_rng(0)
    for r in held:
        if r["t_joint"] is None:
            continue
        right.scatter(r["distance"] + rng.uniform(-0.08, 0.08), r["t_joint"], s=18, color="0.55", alpha=0.7)
    never = sum(r["t_joint"] is None for r in held)
    if fitted:
        levels = np.array(fit["n_levels"])
        right.plot(levels, fit["measured_mean"], "s", ms=9, color="tab:red", label="measured mean t*")
        n_grid = np.arange(1, 5)
        right.plot(n_grid, critical_time(p, n_grid, threshold), "-^", color="tab:blue",
                   label=f"toy t*(n), p = {p:.3g}")
        right.set_title(f"t*(n): fit rmse {fit['rmse']:.0f} steps, max rel. dev. {fit['max_rel_dev']:.2f}",
                        fontsize=10)
    else:
        right.set_title("t*(n): fewer than two distances learned, no fit", fontsize=10)
    right.scatter([], [], s=18, color="0.55", label=f"(seed, class) t*; never learned: {never}")
    right.set_ylim(bottom=0, top=max(right.get_ylim()[1], 1.05 * t_max))
    right.set_xlabel("n = concept distance")
    right.set_ylabel(f"t* (first step staying above {threshold:g})")
    right.set_xticks([1, 2, 3, 4])
    right.set_xlim(0.5, 4.5)
    right.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    return path


if __name__ == "__main__":
    main()
