"""Multiplicative emergence on the concept cube (Okawa et al. 2023, Figs. 5-7).

Claim: a conditional DDPM trained on {000, 100, 010, 001} of the (shape, color, size) cube (bit 0 = circle / red
/ large) composes concepts into the held-out classes (1) in the order of their concept distance to the training
set (110, 101, 011 before 111; Fig. 5); (2) suddenly, because a generation is right only when every concept is,
so joint accuracy jumps while additive accuracy creeps up (Fig. 6); (3) as the toy model P(t) = (1 − (1 − p)^t)^n
with n the number of composed concepts, t* = ceil(log(1 − P*^{1/n}) / log(1 − p)) (Fig. 7).

Measured: one linear probe per concept on all eight classes (≥ 99 % on held-out renders, except at ``--tiny``);
every class generated at every checkpoint and scored by :func:`hidcap.evaluation.concept_space`. Objects sit at
the frame centre on a near-white background, as in the paper's renders (with ±0.5 jitter a linear probe reads
the shape only ~73 % right). Criterion: :data:`CRITERION` (docs/probes.md, "Criterion: multiplicative_emergence");
scales: :data:`SCALES`; the rules: :mod:`hidcap.experiments.emergence_judging`.

    python -m probes.multiplicative_emergence --quick                     # CPU, seeds 0 1 2
    python -m probes.multiplicative_emergence --device cuda               # the paper's scale, seeds 0 1 2
    python -m probes.multiplicative_emergence --tiny --out /tmp/me        # smoke run

Writes into ``--out``: verdict.json, measurements.json, learning_times.csv, accuracy_seed{S}.csv,
concept_space_seed{S}.json and the figures accuracy_by_distance.png, joint_vs_additive.png,
concept_space_seed{S}.png, toy_model.png.
"""
from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from hidcap.data import ConceptDataSpec
from hidcap.evaluation.concept_scores import ConceptSpace
from hidcap.evaluation.curves import learning_time
from hidcap.evaluation.seeds import seed_spread
from hidcap.experiments.claims import ClaimProbe, Measurements, Verdict
from hidcap.experiments.concept_measurement import concept_probe, measured_concept_space
from hidcap.experiments.emergence import (
    CONCEPTS,
    TEST_CLASSES,
    TRAIN_CLASSES,
    concept_curves,
    figures,
    mean_by_distance,
    print_table,
    write_rows,
)
from hidcap.experiments.emergence_judging import (  # noqa: F401 (the rules, importable from the probe)
    class_onsets,
    combine_order,
    distances,
    ones,
    order_beyond_intervals,
    order_holds,
    overall,
    sudden_fraction,
    suddenness_share,
    suddenness_vote,
    toy_fit,
)
from hidcap.experiments.probe_args import ProbeArgs
from hidcap.experiments.probe_runs import train_all
from hidcap.scales import ConceptScale, concept_scale


NAME = "multiplicative_emergence"
POSITION_RANGE = 0.0  # objects centred, as in paper 002's renders (a linear probe cannot read a moving shape)
BACKGROUND = 1.0  # background separation 1: bit 0 = white, U[0.875, 1] per channel (paper 002: a blank background)
THRESHOLD = 0.8  # P*: learning-time level of the joint accuracy and the toy model's threshold
MIN_RISE = 0.5  # a joint curve must rise at least this much to be judged for suddenness
REL_TOL = 0.25  # claim 3: the toy fit within this fraction of the mean measured t* at every n
CRITERION = (
    "Onset = learning time (joint accuracy, 3-checkpoint moving average staying above {threshold:g}) with a 95 % "
    "bootstrap interval, seed-pooled over seeds and samples ('never' later than every step).",
    "(0) 111 is learned in every seed.",
    "(1) order: no distance-2 class is earlier than a distance-1 class beyond the pooled intervals and at least one "
    "distance-1 class is earlier than 111 beyond them.",
    "(2) suddenness: S = largest one-checkpoint increase / total increase is larger for joint than for additive "
    "accuracy in a share of the held-out (seed, class) curves whose joint accuracy rises by >= {min_rise:g} whose "
    "95 % Wilson interval lies above 1/2.",
    "(3) fit_multiplicative with n = concept distance, fitted to the learned held-out t*, needs two distances and is "
    "within {rel_tol:.0%} of the mean measured t* at each.",
    "Pass iff (0)-(3); otherwise fail.",
)
#: Seeds without --seeds: three at the paper's and the CPU scale, one at the tiny scale.
DEFAULT_SEEDS = {"full": (0, 1, 2), "quick": (0, 1, 2), "tiny": (0,)}
SCALES = {
    "tiny": "seconds: 8 px, 12 training steps, seed 0 (the test suite's smoke run)",
    "quick": "CPU, ~10 minutes of one core per seed: 12 px, a (16, 32) tiny U-Net, DDPM T=100 with β 1e-3 -> 0.1, lr "
             "2e-3, 6000 steps at batch 32, 20 linear checkpoints, 24 samples per class with 20 ancestral steps; seeds "
             "0 1 2",
    "full": "GPU: 28 px, 5000 images, the paper's DDPM (T = 500, β 1e-4 -> 0.02), a (64, 128, 256) U-Net, Adam(0.9, "
            "0.99), weight decay 1e-5, 10 000 steps at batch 64, 50 checkpoints, 50 samples per class, 100 ancestral "
            "steps; seeds 0 1 2",
}

CLAIM = ("Compositional generalisation on the concept cube emerges multiplicatively: held-out classes are "
         "learned in order of concept distance, joint accuracy jumps more suddenly than additive accuracy, and "
         "t*(n) follows the toy model (1 - (1 - p)^t)^n.")
PAPER = "Okawa et al. 2023 (paper 002), Figs. 5, 6 and 7"


# ------------------------------------------------------------------------------------------ scales
def probe_scale(name: str) -> ConceptScale:
    """The concept-cube run at scale ``name`` (``tiny``, ``quick`` or ``full``): ``hidcap.scales``' emergence-NAME."""
    if name not in ("tiny", "quick", "full"):
        raise ValueError(f"unknown scale {name!r}; use one of ('tiny', 'quick', 'full')")
    return concept_scale(f"emergence-{name}")


def cube_spec(scale: ConceptScale) -> ConceptDataSpec:
    """The (shape, color, size) cube with the paper's training split at ``scale``'s image size and count."""
    return scale.spec(concepts=CONCEPTS, train_classes=TRAIN_CLASSES, test_classes=TEST_CLASSES,
                      position_range=POSITION_RANGE, background_separation=BACKGROUND)


# ------------------------------------------------------------------------------------------ running
def measure_seeds(args: ProbeArgs, scale: ConceptScale, spec: ConceptDataSpec, probe: Any) -> dict[int, ConceptSpace]:
    """Train (or reuse) the run of every seed as one set (:func:`~hidcap.experiments.probe_runs.train_all`), then
    measure each at every checkpoint (cached in ``args.out`` as ``concept_space_seed{S}.json``)."""
    series = train_all(args, {("cube", seed): scale.train_config(spec, seed, args.device) for seed in args.seeds})
    return {seed: measured_concept_space(series[("cube", seed)], spec, probe, scale, seed, args.out,
                                         name=f"concept_space_seed{seed}", progress=args.progress)
            for seed in args.seeds}


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


def measure(args: ProbeArgs, ns) -> Measurements:
    """Train every seed, measure every class at every checkpoint, write the tables and figures."""
    threshold = ns.threshold
    scale = probe_scale(args.scale)
    spec = cube_spec(scale)
    dist = distances(spec)
    probe = concept_probe(spec, scale, args.out / "probe", args.device, seed=0, progress=args.progress)
    print(f"linear probe held-out accuracy: {probe.heldout_accuracy}")

    spaces = measure_seeds(args, scale, spec, probe)
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
    write_rows(args.out / "learning_times.csv", rows)

    held = [r for r in rows if r["distance"] > 0]
    held_classes = [c for c in spec.all_classes if dist[c] > 0]
    onsets = class_onsets(spaces, spec.all_classes, threshold)
    learned = [r for r in held if r["t_joint"] is not None and r["t_joint"] > 0]
    fit = toy_fit([r["distance"] for r in learned], [r["t_joint"] for r in learned], threshold, REL_TOL)
    learned_bits = [r for r in rows if r["ones"] > 0 and r["t_joint"] is not None and r["t_joint"] > 0]
    fit_bits = toy_fit([r["ones"] for r in learned_bits], [r["t_joint"] for r in learned_bits], threshold, REL_TOL)
    _, votes = suddenness_vote([(r["S_joint"], r["S_additive"], r["rise_joint"]) for r in held], MIN_RISE)
    per_seed_order = {str(s): order_holds({r["class"]: r["t_joint"] for r in rows if r["seed"] == s and r["distance"] > 0},
                                          dist) for s in args.seeds}
    by_distance = {}
    for d in (1, 2):
        per = [np.mean([r["t_joint"] for r in held if r["seed"] == s and r["distance"] == d and r["t_joint"] is not None])
               for s in args.seeds
               if any(r["t_joint"] is not None for r in held if r["seed"] == s and r["distance"] == d)]
        by_distance[str(d)] = seed_spread(per).to_dict() if per else None

    figure_names = figures(args, spaces, spec, dist, rows, fit, threshold,
                           {c: onsets[c]["pooled"] for c in held_classes})
    reported = {
        "probe_heldout_accuracy": probe.heldout_accuracy,
        "threshold": threshold,
        "steps": spaces[args.seeds[0]].steps,
        "learning_times": {str(s): {r["class"]: r["t_joint"] for r in rows if r["seed"] == s} for s in args.seeds},
        "mean_learning_time_by_distance": mean_by_distance(rows),
        "onsets": onsets,
        "mean_t_by_distance_across_seeds": by_distance,
        "toy_fit_n_ones": {**fit_bits, "n_is": "number of 1-bits (training and held-out classes)"},
        "final_joint": {str(s): {r["class"]: r["final_joint"] for r in rows if r["seed"] == s} for s in args.seeds},
    }
    print_table(rows, args.seeds, fit, fit_bits, votes, per_seed_order)
    fmt = lambda o: f"{o['estimate']} [{o['low']}, {o['high']}]"  # noqa: E731
    print("pooled onsets: " + ", ".join(f"{c} {fmt(onsets[c]['pooled'])}" for c in held_classes))
    notes = (f"scale {args.scale}: {scale.steps} training steps, {len(spaces[args.seeds[0]].steps)} linear "
             "checkpoints (step 0 included), "
             f"{scale.samples_per_class} samples per class, {scale.sample_steps} sampling steps; objects centred "
             f"(position range {POSITION_RANGE}) on a white background so that linear probes read the shape.")
    never = {s: [r["class"] for r in held if r["seed"] == s and r["t_joint"] is None] for s in args.seeds}
    if any(never.values()):
        notes += (" Held-out classes never learned (left out of the toy fit): "
                  + "; ".join(f"seed {s}: {', '.join(cs)}" for s, cs in never.items() if cs) + ".")
    judged = ("seed", "class", "distance", "t_joint", "S_joint", "S_additive", "rise_joint", "rise_additive",
              "rmse_joint_vs_product", "rmse_joint_vs_additive")
    data = {"classes": list(spec.all_classes), "distances": dist, "rows": [{k: r[k] for k in judged} for r in rows],
            "onsets": {c: onsets[c] for c in held_classes}}
    return Measurements(params={"threshold": threshold, "min_rise": MIN_RISE, "rel_tol": REL_TOL}, data=data,
                        reported=reported, figures=[p.name for p in figure_names], notes=notes)


def decide(measurements) -> Verdict:
    """Claims (0)-(3) from the per-(seed, class) rows and the onset intervals
    (:mod:`hidcap.experiments.emergence_judging`)."""
    d, params, seeds = measurements["data"], measurements["params"], measurements["seeds"]
    dist, onsets = d["distances"], d["onsets"]
    held = [r for r in d["rows"] if r["distance"] > 0]
    held_classes = [c for c in d["classes"] if dist[c] > 0]
    far = [c for c in held_classes if dist[c] == 2]
    claim0 = all(onsets[c]["per_seed"][str(s)]["estimate"] is not None for c in far for s in seeds)
    order = order_beyond_intervals({c: onsets[c]["pooled"] for c in held_classes}, dist)
    _, votes = suddenness_vote([(r["S_joint"], r["S_additive"], r["rise_joint"]) for r in held], params["min_rise"])
    sudden = suddenness_share(votes)
    learned = [r for r in held if r["t_joint"] is not None and r["t_joint"] > 0]
    fit = toy_fit([r["distance"] for r in learned], [r["t_joint"] for r in learned], params["threshold"],
                  params["rel_tol"])
    claims = (claim0, order["passed"], sudden["passed"], bool(fit["passed"]))
    per_seed_order = {str(s): order_holds({r["class"]: r["t_joint"] for r in held if r["seed"] == s}, dist)
                      for s in seeds}
    parts = {
        "claim0_far_learned": {"passed": claim0, "classes": far},
        "claim1_order": {**order, "per_seed_point_estimates": per_seed_order},
        "claim2_suddenness": {
            **sudden, **votes,
            "per_curve": [{k: r[k] for k in ("seed", "class", "S_joint", "S_additive", "rise_joint", "rise_additive")}
                          for r in held],
            "mean_rmse_joint_vs_product": float(np.mean([r["rmse_joint_vs_product"] for r in held])),
            "mean_rmse_joint_vs_additive": float(np.mean([r["rmse_joint_vs_additive"] for r in held])),
        },
        "claim3_toy_fit": {**fit, "n_is": "concept distance (held-out classes)"},
    }
    return Verdict(bool(all(claims)), parts,
                   f"(0) 111 learned in every seed {claims[0]}; (1) order {claims[1]} (against {order['against']}, "
                   f"earlier {order['earlier_near']}); (2) suddenness {claims[2]} (share {sudden['share']}, judged "
                   f"{sudden['judged']}); (3) toy fit {claims[3]}")


PROBE = ClaimProbe(name=NAME, claim=CLAIM, paper=PAPER, criterion=CRITERION, scales=SCALES, seeds=DEFAULT_SEEDS,
                   measure=measure, decide=decide, options=_extra, description=__doc__.split("\n\n")[0])
main = PROBE.main


if __name__ == "__main__":
    main()
