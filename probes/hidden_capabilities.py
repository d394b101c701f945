"""Hidden capabilities: latent interventions elicit the held-out class before naive prompting does, at the
moment its concept-space trajectory turns (Park et al. 2024, Sec. 4.4, Fig. 6, and Fig. 17 for embedding patching).

Claim: a model trained on (colour, size) classes 00, 01, 10 with a weak colour signal first generates the
held-out class 11 (small blue) as the training class it resembles most (concept memorisation), then its
trajectory turns towards 11. From that turn on, overprompting, the linear latent intervention
``e' = e + α(e·b̂)b̂, e'' = e' − β(e'·l̂)l̂`` in every ``*.cond_embed`` output and patching in the final
checkpoint's conditioning MLPs elicit 11, while the naive prompt succeeds later or never.

Measured per seed and checkpoint (:mod:`hidcap.experiments.capability`): class 11 under the four protocols
(``hidcap.evaluation.elicitation``) and their negative controls (``control_protocols``); each protocol's variant
is chosen on ``samples`` selection samples and scored on as many fresh ones; every class placed in concept space;
the conditioning embeddings' disentanglement. Criterion: :data:`CRITERION` (docs/probes.md, "Criterion:
hidden_capabilities"); scales: :data:`SCALES` and :func:`settings`.

    python -m probes.hidden_capabilities --quick                      # CPU, ~12 minutes
    python -m probes.hidden_capabilities --device cuda                # the paper's scale, 5 seeds
    python -m probes.hidden_capabilities --quick --seeds 0 1 2 3 4 --separation 0.4
    python -m probes.hidden_capabilities --tiny                       # seconds (the test suite's)
"""
from __future__ import annotations

import math

import numpy as np
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hidcap import plotting
from hidcap.evaluation.protocols import OVERPROMPT_COLORS, EmbeddingPatch, LatentIntervention, NaivePrompt, Overprompt
from hidcap.evaluation.onsets import OnsetInterval, earlier
from hidcap.experiments.capability import (
    CONTROL_OF,
    FRESH_SEED_OFFSET,
    TARGET,
    onset_intervals,
    analyse_seed,
    measure_seed,
    plot_fig6,
    plot_per_seed,
    plot_trajectories,
    train_seeds,
)
from hidcap.experiments.capability_judging import judge_capability_first, judge_controls, judge_turn, seed_margins
from hidcap.experiments.claims import ClaimProbe, Measurements, Verdict
from hidcap.experiments.probe_args import ProbeArgs
from hidcap.experiments.concept_measurement import concept_probe
from hidcap.scales import ConceptScale, concept_scale
from hidcap.experiments.verdicts import combine_verdicts


NAME = "hidden_capabilities"
CLAIM = ("capability (overprompting, linear latent intervention, embedding patching) reaches 80% on the "
         "held-out class 11 before naive prompting does, at the turn of 11's concept-space trajectory")
PAPER = "Park et al. 2024 (001), Sec. 4.4, Fig. 6 (and App. C.6, Fig. 17)"


# ------------------------------------------------------------------------------------------ settings
@dataclass(frozen=True)
class Settings:
    """One scale of the probe.

    scale: the concept-space run and generation sizes; separation / size_separation: the concept signals;
    overprompt: the overprompting colours; alphas, betas: the latent-intervention grid; samples: samples per
    variant (capability) and per class (concept space); sample_steps: sampler steps; threshold: accuracy
    threshold of every onset; radius: the memorisation neighbourhood (L∞, concept space); tolerance: how many
    checkpoints apart turn and capability onset may be.
    """

    scale: ConceptScale
    separation: float
    size_separation: float
    overprompt: tuple[tuple[float, float, float], ...]
    alphas: tuple[float, ...]
    betas: tuple[float, ...]
    samples: int
    sample_steps: int
    threshold: float = 0.8
    radius: float = 0.3
    tolerance: int = 2

    def __post_init__(self) -> None:
        if not 0.0 < self.separation <= 1.0:
            raise ValueError(f"colour separation must be in (0, 1], got {self.separation}")
        if not 0.0 < self.threshold <= 1.0:
            raise ValueError(f"threshold must be in (0, 1], got {self.threshold}")
        if not 0.0 < self.radius < 0.5:
            raise ValueError(f"radius must be in (0, 0.5) so that corner neighbourhoods do not touch, got {self.radius}")
        if self.tolerance < 0:
            raise ValueError(f"tolerance must be >= 0 checkpoints, got {self.tolerance}")
        if not self.overprompt or not self.alphas or not self.betas:
            raise ValueError("overprompt, alphas and betas must not be empty")

    def spec(self) -> Any:
        return self.scale.spec(color_separation=self.separation, size_separation=self.size_separation)

    def protocols(self) -> tuple[Any, ...]:
        """Naive prompt, overprompting, linear latent intervention, embedding patching (from the last checkpoint)."""
        return (NaivePrompt(), Overprompt(colors=self.overprompt),
                LatentIntervention(alphas=self.alphas, betas=self.betas), EmbeddingPatch())

    def describe(self) -> dict[str, Any]:
        """The settings as plain numbers (for the verdict)."""
        s = self.scale
        return {
            "model_channels": list(s.model.channels), "image_size": s.image_size, "diffusion": type(s.diffusion).__name__,
            "diffusion_schedule": {k: getattr(s.diffusion, k) for k in ("timesteps", "beta_start", "beta_end",
                                                                       "gamma_min", "gamma_max") if hasattr(s.diffusion, k)},
            "train_steps": s.steps, "batch_size": s.batch_size, "lr": s.optimizer.lr, "checkpoints": s.checkpoints.count,
            "checkpoint_spacing": s.checkpoints.spacing,
            "images_per_class": s.images_per_class, "color_separation": self.separation,
            "size_separation": self.size_separation, "overprompt_colors": [list(c) for c in self.overprompt],
            "alphas": list(self.alphas), "betas": list(self.betas), "samples_per_variant": self.samples,
            "sample_steps": self.sample_steps, "threshold": self.threshold, "radius": self.radius,
            "tolerance_checkpoints": self.tolerance,
        }


#: Default colour separation per scale (quick: measured, see SCALES; full: a weak colour signal).
DEFAULT_SEPARATION = {"tiny": 0.4, "quick": 0.4, "full": 0.3}
#: Quick: 4 seeds fit the ~8 CPU-minute budget (5 seeds took 10 min of CPU); ``--seeds 0 1 2 3 4`` for the paper's 5.
DEFAULT_SEEDS = {"tiny": (0, 1), "quick": (0, 1, 2, 3), "full": (0, 1, 2, 3, 4)}
SCALES = {
    "tiny": "seconds: every code path on a 12-step 8x8 run (the test suite's smoke run)",
    "quick": "CPU, ~12 min with seeds 0-3: hidcap.scales' hidden-capabilities-quick (8x8, channels (16, 32), DDPM β 1e-3 -> 0.1, lr 2e-3, 1500 "
             "steps, 12 linear checkpoints + step 0), 24 samples per variant, 20 sampling steps, the three paper "
             "overprompt colours bluer than the prompt, 2x2 (α, β); colour separation 0.4 (at 0.3 the naive prompt of "
             "seed 0 never reaches 0.8 in 1500 steps); only the first seed places every class in concept space",
    "full": "GPU: the paper's VDM at 32x32, 20k steps, 60 quadratic checkpoints (+ step 0), 64 samples per variant, 50 "
            "sampling steps, all 5 overprompt colours, the 4x4 (α, β) grid; colour separation 0.3; seeds 0-4",
}
CRITERION = (
    f"0. Accuracy = joint accuracy of class {TARGET} (probe). At each checkpoint each protocol's variant is chosen on "
    "{samples} selection samples and scored on {samples} fresh samples (generator seed + {fresh_seed_offset}); "
    "capability = fresh score of the variant chosen over naive, overprompting, linear latent intervention and "
    "embedding patching; behaviour = the naive prompt's fresh score (same budget); 95 % Wilson intervals; onset = "
    "first checkpoint >= {threshold:g} on fresh samples, with a 95 % bootstrap interval (2000 resamples of the "
    "samples; 'never' later than every step).",
    "(a) capability first: in every seed capability's onset is earlier than behaviour's beyond the intervals "
    "(capability's interval ends before behaviour's begins); fail if behaviour's is earlier beyond them in any "
    "seed; undetermined if some seed is not decided or behaviour reaches {threshold:g} in no seed.",
    f"(b) the turn of {TARGET}'s concept-space trajectory (first checkpoint after its last visit within L-inf "
    "{radius:g} of the memorised corner 01 or 10): in every seed with a turn the whole capability onset interval "
    "lies within {tolerance} checkpoints of it; fail if in some seed it lies entirely outside; undetermined "
    "otherwise or if no seed has a turn.",
    "(c) negative controls: in every seed with a capability onset, the protocol chosen there beats its control "
    "(off-concept colour, random direction moving e by the same norm, another seed's patch) beyond the Wilson "
    "intervals at that checkpoint; a control within the intervals fails the claim.",
    "Pass = (a), (b) and (c) pass; fail if any fails; undetermined otherwise.",
)


def settings(scale: str, separation: float | None = None) -> Settings:
    """The probe's settings at ``scale`` (``'tiny'``, ``'quick'``, ``'full'``); ``separation``: colour separation."""
    base = concept_scale(scale)  # ValueError on an unknown scale
    sep = DEFAULT_SEPARATION[scale] if separation is None else float(separation)
    if scale == "tiny":
        return Settings(base, sep, 0.3, overprompt=OVERPROMPT_COLORS[::4], alphas=(1.0, 4.0), betas=(1.0,),
                        samples=base.samples_per_class, sample_steps=base.sample_steps)
    if scale == "quick":
        # the three paper colours bluer than the blue prompt at separations up to 0.5; 2x2 (alpha, beta) pairs
        return Settings(concept_scale("hidden-capabilities-quick"), sep, 0.3, overprompt=OVERPROMPT_COLORS[2:],
                        alphas=(1.0, 4.0),
                        betas=(0.25, 1.0), samples=24, sample_steps=20)
    return Settings(base, sep, 0.3, overprompt=OVERPROMPT_COLORS, alphas=(0.1, 1.0, 2.0, 4.0),
                    betas=(0.1, 0.25, 0.5, 1.0), samples=base.samples_per_class, sample_steps=base.sample_steps)


# ------------------------------------------------------------------------------------------ main
def _separation(text: str) -> float:
    import argparse

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid float value: {text!r}") from None
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"colour separation must be in (0, 1], got {value:g}")
    return value


def _extra(parser: Any) -> None:
    parser.add_argument("--separation", type=_separation, default=None,
                        help="colour separation s in (0, 1] (default: 0.4 quick, 0.3 full)")


def _fmt(v: Any) -> str:
    return "-" if v is None else f"{v:.2f}" if isinstance(v, float) else str(v)


def _fmt_onset(o: Mapping[str, Any]) -> str:
    """``estimate [low, high]``, "never" for None."""
    n = lambda x: "never" if x is None else str(x)  # noqa: E731
    return f"{n(o['estimate'])} [{n(o['low'])},{n(o['high'])}]"


def _fmt_margin(m: Mapping[str, Any] | None) -> str:
    return "-" if m is None else f"{m['margin']:.3g} ({m['side']}, sd {_fmt(m['spread']['std'])})"


def _fmt_iv(d: Mapping[str, Any]) -> str:
    return f"{d['estimate']:.2f} [{d['low']:.2f},{d['high']:.2f}]"


def measure(args: ProbeArgs, ns) -> Measurements:
    """Train every seed, measure each at every checkpoint, draw the figures and print the per-seed table."""
    st = settings(args.scale, ns.separation)
    spec = st.spec()
    probe = concept_probe(spec, st.scale, args.out / "probe", args.device, progress=args.progress)

    per_seed, measured_runs = {}, {}
    series = train_seeds(args, st, spec)  # every seed first (--executor spreads them), then the measurements
    for i, seed in enumerate(args.seeds):
        donor = series[args.seeds[(i + 1) % len(args.seeds)]]  # the patch control's donor: the next seed's run
        m = measure_seed(args, st, spec, probe, seed, all_classes=seed == args.seeds[0], series=series[seed],
                         donor=donor)
        measured_runs[seed] = m
        per_seed[seed] = analyse_seed(st, spec, m, seed)

    # pooled over seeds (reported): onsets of the mean curve, two-level bootstrap over seeds and samples
    pooled = None
    if len({tuple(r["steps"]) for r in per_seed.values()}) == 1:
        steps = next(iter(per_seed.values()))["steps"]
        pooled_correct = {k: np.stack([m["table"].correct(TARGET, None if k == "capability" else m["table"].naive)[1]
                                       for m in measured_runs.values()]) for k in ("capability", "behaviour")}
        on = onset_intervals(steps, pooled_correct, st.threshold, seed=0)
        pooled = {"onset": {k: v.to_dict() for k, v in on.items()},
                  "capability_earlier": earlier(on["capability"], on["behaviour"])}
    margins = seed_margins(per_seed)

    figures = [plot_fig6(per_seed, st.threshold, args.out / "fig6_protocols.png"),
               plot_per_seed(per_seed, st.threshold, args.out / "per_seed.png"),
               plotting.plot_capability([m["table"] for m in measured_runs.values()], TARGET,
                                        args.out / "capability_vs_behaviour.png",
                                        labels=[f"seed {s}" for s in measured_runs]),
               plot_trajectories(per_seed, spec.concepts, args.out / "concept_space_11.png", st.radius)]
    first = args.seeds[0]
    figures.append(plotting.plot_concept_space(
        measured_runs[first]["space"], args.out / f"concept_space_seed{first}.png", held_out=(TARGET,),
        title=f"seed {first}: all classes (hollow: first checkpoint, filled: last)"))
    figures.append(plotting.plot_curves(
        {f"seed {s}": (r["steps"], r["disentanglement"]) for s, r in per_seed.items()},
        args.out / "disentanglement.png", ylabel="embedding disentanglement 1 - |cos|",
        title="conditioning-embedding disentanglement (mean over cond_embed sites)"))

    # ---- table
    print(f"\nclass {TARGET}, colour separation {st.separation:g}, threshold {st.threshold:g} (fresh samples; "
          f"onsets: first checkpoint >= threshold [95 % bootstrap interval]; turn: departure from the memorised corner)")
    head = f"{'seed':>4} {'behaviour@':>18} {'capability@':>18} {'earlier':>7} {'chosen at onset':>22} " \
           f"{'real/control there':>19} {'turn@':>6} {'from':>4} {'final beh':>16} {'final cap':>16}"
    print(head)
    for s, r in per_seed.items():
        on = r["onset"]
        ctl = r["controls_at_capability_onset"]
        rc = "-" if not ctl or not ctl["control"] else f"{ctl['real']['estimate']:.2f}/{ctl['control']['estimate']:.2f}"
        fb, fc = r["final"]["behaviour"], r["final"]["capability"]
        print(f"{s:>4} {_fmt_onset(on['behaviour']):>18} {_fmt_onset(on['capability']):>18} "
              f"{'yes' if r['capability_earlier'] else 'no':>7} {_fmt(r['best_at_capability_onset']):>22} {rc:>19} "
              f"{_fmt(r['turn']['step']):>6} {_fmt(r['turn']['corner']):>4} {_fmt_iv(fb):>16} {_fmt_iv(fc):>16}")
    print("across-seed margins: " + ", ".join(f"{k}: {_fmt_margin(v)}" for k, v in margins.items()))

    judged = {str(s): {k: r[k] for k in ("onset", "steps", "controls_at_capability_onset")}
              | {"turn_index": r["turn"]["index"]} for s, r in per_seed.items()}
    params = {"samples": st.samples, "fresh_seed_offset": FRESH_SEED_OFFSET, "threshold": st.threshold,
              "radius": st.radius, "tolerance": st.tolerance}
    return Measurements(
        params=params, data={"seeds": judged},
        reported={"settings": st.describe(), "probe_heldout_accuracy": probe.heldout_accuracy,
                  "seed_margins": margins, "pooled": pooled, "controls": CONTROL_OF,
                  "fresh_seed_offset": FRESH_SEED_OFFSET, "seeds": {str(s): r for s, r in per_seed.items()}},
        figures=[str(f.relative_to(args.out)) if f.is_relative_to(args.out) else str(f) for f in map(Path, figures)],
        notes=_notes(args, st, per_seed))


def decide(measurements) -> Verdict:
    """(a), (b) and (c) over the seeds (:mod:`hidcap.experiments.capability_judging`), combined."""
    seeds = {int(s): r for s, r in measurements["data"]["seeds"].items()}
    onsets = {s: {k: OnsetInterval.from_dict(v) for k, v in r["onset"].items()} for s, r in seeds.items()}
    a = judge_capability_first(onsets)
    index = {s: {int(x): i for i, x in enumerate(r["steps"])} for s, r in seeds.items()}
    at = lambda s, end: None if end is None else index[s][end]  # noqa: E731
    b = judge_turn({s: {"turn": r["turn_index"], "low": at(s, onsets[s]["capability"].low),
                        "high": at(s, onsets[s]["capability"].high)} for s, r in seeds.items()},
                   measurements["params"]["tolerance"])
    c = judge_controls({s: r["controls_at_capability_onset"] for s, r in seeds.items()})
    passed = combine_verdicts([a["passed"], b["passed"], c["passed"]])
    return Verdict(passed, {"criterion_a": a, "criterion_b": b, "criterion_c": c},
                   f"(a) capability first {a['passed']}, (b) turn = capability onset {b['passed']}, "
                   f"(c) beats its control {c['passed']}")


def _notes(args: ProbeArgs, st: Settings, per_seed: Mapping[int, Mapping[str, Any]]) -> str:
    if args.scale == "quick":
        return ("quick scale: an 8x8 DDPM with channels (16, 32), 1500 steps (hidden-capabilities-quick; measured.settings), "
                "13 checkpoints instead of ~60, and fewer samples per variant, overprompt colours and (alpha, beta) "
                "pairs than the paper; one checkpoint is 125 steps, so onsets and the turn are resolved to that; with "
                f"{st.samples} samples a variant's accuracy has a standard error up to ~{0.5 / math.sqrt(st.samples):.2f}, "
                "and the max over many variants is biased upwards at a level of that size (measured.seeds.*.curves); "
                "the verdict uses the chosen variants' scores on fresh samples (measured.seeds.*.fresh).")
    return ""


PROBE = ClaimProbe(name=NAME, claim=CLAIM, paper=PAPER, criterion=CRITERION, scales=SCALES, seeds=DEFAULT_SEEDS,
                   measure=measure, decide=decide, options=_extra, description=__doc__.split("\n\n")[0],
                   min_seeds=2)  # the patch control patches another seed's run
main = PROBE.main

if __name__ == "__main__":
    main()
