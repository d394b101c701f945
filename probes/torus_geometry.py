"""A DDPM on periodic 2D bumps learns a torus: PR rises then falls, Betti (1, 2, 1), Clifford-like x_on_y.

Claim (Liang et al. 2024, Sec. 3.1, Fig. 2, 3 and 8, App. B): the representation (``ups.0.resample`` at the final
sampling step, one sample per integer (x, y)) is a torus whose participation ratio (PR) rises then falls, with
Betti numbers (1, 2, 1), x-on-y close to a Clifford torus and rings within each variable far from parallel
("hyper-factorised"). The full-scale version of ``examples/clifford_torus.py``; both measure with
:func:`hidcap.experiments.torus_measurement.measure_torus`. Criterion: :data:`CRITERION` (docs/probes.md,
"Criterion: torus_geometry"); scales: :data:`SCALES`.

    python -m probes.torus_geometry --quick                        # seeds 0 1 2, ~27 CPU minutes
    python -m probes.torus_geometry --device cuda --seeds 0 1 2
    python -m probes.torus_geometry --tiny --out /tmp/torus        # what the tests run
    python -m probes.torus_geometry --decide /tmp/torus            # the verdict again, from measurements.json
"""
from __future__ import annotations

import numpy as np

from hidcap import geometry
from hidcap.evaluation.curves import rise_then_fall
from hidcap.evaluation.intervals import Interval, bootstrap_mean, wilson_interval
from hidcap.evaluation.seeds import seed_margin, seed_spread
from hidcap.experiments.claims import ClaimProbe, Measurements, Verdict
from hidcap.experiments.probe_args import ProbeArgs
from hidcap.scales import torus_scale
from hidcap.experiments.torus_measurement import measure_torus_scale, torus_figures
from hidcap.experiments.probe_runs import train_all


NAME = "torus_geometry"
CLAIM = ("A DDPM trained on periodic 2D Gaussian bumps learns a torus whose effective dimension rises then falls, "
         "with Betti numbers (1, 2, 1), x and y in orthogonal (Clifford-like) subspaces and non-parallel rings "
         "within each variable (hyper-factorisation)")
PAPER = "Liang et al. 2024 (003), Sec. 3.1, Fig. 2, 3 and 8, App. B"
MIN_ACCURACY = 0.5
PR_DROP = 0.9  # final PR must be at most this fraction of the peak
TORUS_BETTI = (1, 2, 1)
MIN_RESIDUAL = 0.25  # median x_on_x / y_on_y parallelism residual of a hyper-factorised code
#: training seeds per scale (quick: 3, judged by the majority rule)
DEFAULT_SEEDS = {"tiny": (0, 1), "quick": (0, 1, 2), "full": (0, 1, 2)}
PARTS = ("learned", "rise_then_fall", "betti_121", "x_on_y_clifford", "within_variable_not_parallel")
CRITERION = (
    f"1. learned (per seed): final sample accuracy >= {MIN_ACCURACY} beyond its 95 % Wilson interval (low end >= "
    f"{MIN_ACCURACY}); a seed that did not learn fails every other part.",
    f"2. rise then fall (per seed): over the measured trained checkpoints the peak participation ratio lies "
    f"strictly inside the run and the final PR <= {PR_DROP} x peak (fewer than three checkpoints: fails).",
    f"3. topology (per seed): Betti numbers of the final representation = {TORUS_BETTI}.",
    "4. x_on_y Clifford (per seed): x_on_y closer to the Clifford than to the standard torus (summed Wasserstein "
    "distance of the orthogonality and parallelism statistics).",
    f"5. hyper-factorised (per seed): median parallelism residual of x_on_x and of y_on_y >= {MIN_RESIDUAL}.",
    "6. majority rule (fixed before any run): a part holds when it holds in a strict majority of seeds (2 of 3; "
    "all of 1 or 2). Pass = every part holds; otherwise fail (never undetermined).",
)
SCALES = {
    "tiny": "seconds; 8x8, 20 steps, seeds 0 and 1 (the test suite's smoke run)",
    "quick": "CPU, seeds 0 1 2, ~9 CPU minutes per seed: 16x16 bumps, d = 0.5, the example's CPU U-Net for 1500 "
             "steps, checkpoints 50 200 500 1000 1500 each measured on the 32 x 32 training lattice (1,024 points, 50 "
             "sampling steps, 300 landmarks; TORUS_SCALES['example-cpu'])",
    "full": "GPU: 32x32, d = 0.1 (102,400 images), Liang et al.'s U-Net, T = 1000, 50k steps, 40 checkpoints of which "
            "every 4th is measured with the full 1000-step sampler",
}


def torus_test_summary(verdict: geometry.TorusVerdict) -> dict:
    """The numbers the criterion reads from a :class:`~hidcap.geometry.TorusVerdict`."""
    med = {t: float(np.median(verdict.model.values[t]["parallelism"])) for t in geometry.TESTS}
    return {
        "closer": dict(verdict.closer),
        "distances": verdict.distances,
        "median_parallelism_residual": med,
        "median_orthogonality_cosine": {t: float(np.median(verdict.model.values[t]["orthogonality"]))
                                        for t in geometry.TESTS},
        "x_on_y_clifford": verdict.closer["x_on_y"] == "clifford",
        "within_variable_not_parallel": bool(med["x_on_x"] >= MIN_RESIDUAL and med["y_on_y"] >= MIN_RESIDUAL),
    }


def seed_verdict(accuracy: Interval, rise: dict, betti, torus: dict) -> tuple[bool, dict]:
    """Pass/fail of one seed and its part results (see CRITERION). accuracy: the final accuracy's Wilson interval;
    rise: :func:`~hidcap.evaluation.curves.rise_then_fall`; betti: (H0, H1, H2); torus: :func:`torus_test_summary`.
    A seed that did not learn fails every part; a rise-then-fall that cannot be judged (``None``) fails.
    ``parts["as_measured"]`` keeps each geometry part's own result, whether or not the seed learned."""
    if not isinstance(accuracy, Interval):
        raise ValueError(f"accuracy must be an Interval, got {type(accuracy).__name__}")
    learned = bool(accuracy.low >= MIN_ACCURACY)
    raw = {
        "rise_then_fall": rise["passed"] is True,
        "betti_121": tuple(int(b) for b in betti) == TORUS_BETTI,
        "x_on_y_clifford": bool(torus["x_on_y_clifford"]),
        "within_variable_not_parallel": bool(torus["within_variable_not_parallel"]),
    }
    parts = {"learned": learned, **{k: learned and v for k, v in raw.items()}}
    return all(parts.values()), {**parts, "as_measured": raw}


def majority_verdict(per_seed_parts: dict[int, dict[str, bool]]) -> tuple[bool, dict]:
    """The majority rule: each part of :data:`PARTS` holds when it holds in a strict majority of seeds (more than
    half); pass = every part holds. Returns ``(passed, {part: {"seeds_holding": [...], "of": n, "holds": bool}})``."""
    if not per_seed_parts:
        raise ValueError("per_seed_parts holds no seed")
    n = len(per_seed_parts)
    out = {}
    for part in PARTS:
        holding = [s for s, p in per_seed_parts.items() if p[part]]
        out[part] = {"seeds_holding": holding, "of": n, "holds": 2 * len(holding) > n}
    return all(v["holds"] for v in out.values()), out


def loop_bars(betti: geometry.BettiResult) -> dict:
    """The loop (H1) and void (H2) bars of the Betti rule: the longest lifetimes, the threshold a bar had to
    exceed and the gap (shortest counted bar / next bar)."""
    out = {}
    for k, name in ((1, "h1"), (2, "h2")):
        if k >= len(betti.lifetimes):
            continue
        out[name] = {"longest": [float(x) for x in np.asarray(betti.lifetimes[k])[:4]],
                     "threshold": float(betti.thresholds[k]) if len(betti.thresholds) > k else None,
                     "gap": float(betti.gaps[k]) if len(betti.gaps) > k else None,
                     "cutoff": float(betti.cutoffs[k])}
    out["rule"] = betti.rule
    return out


def _bar(betti: geometry.BettiResult, k: int, i: int) -> float:
    """Lifetime of the (i+1)-th longest finite H_k bar (0 when there is none): the torus's second loop."""
    life = np.asarray(betti.lifetimes[k]) if k < len(betti.lifetimes) else np.zeros(0)
    return float(life[i]) if life.size > i else 0.0


def run_seed(args: ProbeArgs, scale, seed: int, series) -> dict:
    """Measure the trained run ``series`` of ``seed``: the rows, rise-then-fall, torus tests and final accuracy."""
    m = measure_torus_scale(series, scale, seed, args.progress)
    rise = rise_then_fall([r["step"] for r in m.rows], [r["participation_ratio"] for r in m.rows], PR_DROP)
    final = m.correct[-1]
    return {"seed": seed, "m": m, "rows": m.rows, "rise": rise, "torus": torus_test_summary(m.verdict),
            "accuracy": wilson_interval(int(final.sum()), int(final.size))}


def measure(args: ProbeArgs, ns) -> Measurements:
    """Train every seed (one ``train_all`` set), measure each, draw the figures and print the tables."""
    scale = torus_scale(args.scale)
    trained = train_all(args, {("torus", seed): scale.train_config(seed, args.device) for seed in args.seeds})
    results = [run_seed(args, scale, seed, trained[("torus", seed)]) for seed in args.seeds]
    names = torus_figures(args.out, [r["m"] for r in results], accuracy_line=MIN_ACCURACY, betti_expected=TORUS_BETTI)
    judged, per_seed = [], []
    for res in results:
        judged.append({"seed": res["seed"], "accuracy_interval": res["accuracy"].to_dict(), "rise_then_fall": res["rise"],
                       "betti": list(res["m"].betti.betti), "torus_tests": res["torus"]})
        per_seed.append({
            "seed": res["seed"],
            "checkpoints": [{k: v for k, v in r.items() if k != "eigenvalues"} for r in res["rows"]],
            "final_accuracy": res["rows"][-1]["accuracy"], "final_accuracy_interval": res["accuracy"].to_dict(),
            "final_participation_ratio": res["rows"][-1]["participation_ratio"],
            "final_top4_explained": res["rows"][-1]["top4_explained"],
            "rise_then_fall": res["rise"], "betti": list(res["m"].betti.betti), "loop_bars": loop_bars(res["m"].betti),
            "torus_tests": res["torus"],
        })
        print(f"\ntorus geometry ({args.scale}), seed {res['seed']}, layer {scale.bumps.layer}, "
              f"{len(res['m'].labels)} grid points")
        print(f"{'step':>7s} {'accuracy':>9s} {'PR':>7s} {'top-4 var':>9s}")
        for r in res["rows"]:
            print(f"{r['step']:7d} {r['accuracy']:9.3f} {r['participation_ratio']:7.2f} {r['top4_explained']:9.3f}")
        rise, acc = res["rise"], res["accuracy"]
        print(f"PR peak {rise['peak_pr']:.2f} at step {rise['peak_step']} (interior: {rise['interior_peak']}), "
              f"final {rise['final_pr']:.2f} = {rise['final_over_peak']:.2f} x peak")
        print(f"final accuracy {acc.estimate:.3f} [{acc.low:.3f}, {acc.high:.3f}] (95 % Wilson, n = {acc.n})")
        print(f"Betti numbers (final): {res['m'].betti.betti}   (a torus: {TORUS_BETTI})")
        print(res["m"].betti.summary())
        print(res["m"].verdict.summary())
        med = res["torus"]["median_parallelism_residual"]
        print("median parallelism residual: " + ", ".join(f"{t} {v:.3f}" for t, v in med.items()))

    notes = []
    if args.scale == "quick":
        notes.append("Quick scale is a 16x16 torus trained for a few thousand images' worth of steps on a CPU; "
                     "the paper's run is 32x32 with 102,400 images for hours on a GPU. Parts that fail here may "
                     "need the full scale.")
    seeds = [r["seed"] for r in results]
    pooled = bootstrap_mean(np.stack([r["m"].correct[-1] for r in results]).astype(float))
    finals = [r["rise"]["final_over_peak"] for r in results]
    dispersion = {
        "final_accuracy": seed_spread([r["accuracy"].estimate for r in results], seeds).to_dict(),
        "final_participation_ratio": seed_spread([r["rows"][-1]["participation_ratio"] for r in results],
                                                 seeds).to_dict(),
        "peak_participation_ratio": seed_spread([r["rise"]["peak_pr"] for r in results], seeds).to_dict(),
        "h1_second_longest_bar": seed_spread([_bar(r["m"].betti, 1, 1) for r in results], seeds).to_dict(),
    }
    margins = {
        "final_over_peak_pr": (seed_margin(finals, PR_DROP, seeds).to_dict()
                               if all(f is not None for f in finals) else None),
        "median_residual_x_on_x": seed_margin([r["torus"]["median_parallelism_residual"]["x_on_x"] for r in results],
                                              MIN_RESIDUAL, seeds).to_dict(),
        "median_residual_y_on_y": seed_margin([r["torus"]["median_parallelism_residual"]["y_on_y"] for r in results],
                                              MIN_RESIDUAL, seeds).to_dict(),
    }
    print(f"final accuracy pooled {pooled.estimate:.3f} [{pooled.low:.3f}, {pooled.high:.3f}]")
    reported = {"layer": scale.bumps.layer, "image_size": scale.data.image_size, "increment": scale.data.increment,
                "grid_step": scale.grid_step, "measured_points": int(len(scale.labels())),
                "landmarks": scale.landmarks, "train_steps": scale.steps, "sample_steps": scale.sample_steps,
                "final_accuracy_pooled": pooled.to_dict(), "dispersion": dispersion,
                "seed_margins": margins, "per_seed": per_seed}
    return Measurements(params={}, data={"per_seed": judged}, reported=reported, figures=list(names),
                        notes=" ".join(notes))


def decide(measurements) -> Verdict:
    """Each seed's parts (:func:`seed_verdict`), then the majority rule (:func:`majority_verdict`)."""
    seeds = measurements["data"]["per_seed"]
    parts = {}
    for s in seeds:
        _, parts[s["seed"]] = seed_verdict(Interval.from_dict(s["accuracy_interval"]), s["rise_then_fall"],
                                           s["betti"], s["torus_tests"])
    passed, majority = majority_verdict({k: {p: v[p] for p in PARTS} for k, v in parts.items()})
    summary = "majority rule: " + ", ".join(f"{k} {len(v['seeds_holding'])}/{v['of']}" for k, v in majority.items())
    return Verdict(passed, {"majority": majority, "per_seed_parts": {str(k): v for k, v in parts.items()}}, summary)


PROBE = ClaimProbe(name=NAME, claim=CLAIM, paper=PAPER, criterion=CRITERION, scales=SCALES, seeds=DEFAULT_SEEDS,
                   measure=measure, decide=decide, description=__doc__.split("\n\n")[0])
main = PROBE.main

if __name__ == "__main__":
    main()
