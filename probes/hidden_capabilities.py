"""Hidden capabilities: latent interventions elicit the held-out class before naive prompting does, at the
moment its concept-space trajectory turns (Park et al. 2024, Sec. 4.4, Fig. 6, and Fig. 17 for
embedding patching).

**Claim.** A diffusion model trained on (colour, size) classes 00, 01, 10 with a weak colour signal first
generates the held-out class 11 (small blue) as the training class it resembles most (*concept
memorisation*), then its concept-space trajectory turns suddenly towards 11. From that turn on, the model
can already make 11: linear latent interventions in the conditioning embeddings, overprompting (a bluer
colour than any training prompt) and patching in the final checkpoint's conditioning MLPs elicit it
(~6k steps in the paper, in every one of 5 seeds), while the naive prompt succeeds later or never.

**Protocol.** Train every seed's run (checkpoints spaced linearly at --quick; one ``train_all`` call, so
``--executor ray`` spreads the seeds over a cluster), then for each seed at every checkpoint generate class 11 under four protocols (``hidcap.evaluation.elicitation``): the naive prompt (behaviour),
overprompting, the paper's linear latent intervention ``e' = e + α(e·b̂)b̂, e'' = e' − β(e'·l̂)l̂`` in every
``*.cond_embed`` output over an (α, β) grid, and embedding patching from the final checkpoint; and under
their negative controls (``hidcap.evaluation.control_protocols``): an off-concept colour (the green channel
pushed as far as each overprompt colour is from the prompt), the intervention's ‖Δe‖ along random directions,
the intervention with the other concept values' inputs (red, small), and the conditioning MLPs of the next
seed's run patched in. **Selection control:** each protocol's variant is
chosen on ``samples`` selection samples and scored on as many fresh samples (generator seed + 100003);
capability = the fresh score of the variant chosen over the four protocols, behaviour = the naive prompt's
fresh score (the same budget). Every class is also placed in concept space
(``hidcap.evaluation.concept_scores``) with the same probe, and the conditioning embeddings'
disentanglement is tracked (``hidcap.evaluation.embedding_disentanglement``, no sampling needed).

**Criteria** (docs/probes.md, "How a verdict is decided" and "Criterion: hidden_capabilities"; stated before
the run that judges them). Accuracy = joint accuracy of the probe on fresh samples, each with a 95 % Wilson
interval; onset = first checkpoint with accuracy >= 0.8, with a 95 % bootstrap interval over the fresh samples
(2000 resamples; "never" later than every step):

- (a) capability first: in every seed, capability's onset is earlier than behaviour's beyond the intervals
  (capability's interval ends before behaviour's begins). Fail if behaviour's onset is earlier beyond the
  intervals in any seed; undetermined if some seed is not decided, or behaviour reaches 0.8 in no seed.
- (b) the turn coincides with capability onset. The *turn* of a trajectory is its departure from concept
  memorisation: the memorised corner is the training class one concept away from 11 (01 or 10) whose
  neighbourhood (L∞ distance <= ``radius`` in concept space) the trajectory of 11 visits most often; the
  turn is the first checkpoint after the trajectory's last visit there (so it leaves for good). In every
  seed with a turn, the whole capability onset interval must lie within ``tolerance`` checkpoints of it;
  fail if in some seed it lies entirely outside that window (or capability never gets there);
  undetermined otherwise, or when no seed has a turn. The checkpoint of the sharpest change of direction
  of the trajectory is reported as a second reading of "turn", not judged.
- (c) negative controls: in every seed with a capability onset, the protocol chosen at that checkpoint beats
  its control beyond the Wilson intervals there (real low > control high); a control within the intervals
  fails the claim. Undetermined if no seed has a capability onset.
- Verdict: fail if (a), (b) or (c) fails, pass if all pass, undetermined otherwise. Per-seed values and
  across-seed margins (capability − behaviour, lead, real − control) are reported with their spread; a
  margin not larger than the across-seed standard deviation is reported as not decided by that margin.

**Scales** (``hidcap.scales.CONCEPT_SCALES`` plus the settings below; ``--separation`` overrides the
colour separation):

- full (default; GPU): the paper's VDM at 32×32, 20k steps, 60 quadratic checkpoints (+ step 0), 64 samples
  per variant, 50 sampling steps, all 5 overprompt colours and the 4×4 (α, β) grid; colour separation
  0.3 (weak, so that 11 memorises 01); default seeds 0–4.
- ``--quick`` (CPU; 12 min 21 s measured with seeds 0–3 on a shared 2-core VM): the quick scale made to
  learn within a CPU budget (``quick_scale``:
  8×8 images, channels (16, 32), DDPM β 1e-3 -> 0.1, lr 2e-3, 1500 steps, 12 linearly spaced checkpoints
  + step 0), 24 samples per variant, 20 sampling steps, the three paper overprompt colours bluer than the
  prompt, 2×2 (α, β) pairs; colour separation 0.4 (measured: at 0.3 the naive prompt of seed 0 never
  reaches 0.8 in 1500 steps and 11 ends memorising 01, while interventions reach 1.0 from step 500);
  seeds 0–3 (4 seeds fit the budget; ``--seeds 0 1 2 3 4`` takes ~10 CPU minutes). Only the first seed
  places every class in concept space; the others place class 11 alone (all the verdict needs).
- ``--tiny`` (seconds): every code path on a 12-step 8×8 run; its verdict means nothing.

Outputs in ``--out``: ``verdict.json``; figures ``fig6_protocols.png`` (the paper's Fig. 6 layout: one
panel per protocol, one curve per seed, its control dashed, Wilson bands), ``per_seed.png`` (one panel per
seed, every protocol, onsets with their intervals and the turn marked), ``capability_vs_behaviour.png``, ``concept_space_11.png`` (trajectories of 11 with turn
and onset), ``concept_space_seed<S>.png`` (all classes of the first seed), ``disentanglement.png``;
per seed ``seed<S>/capability.csv``, ``seed<S>/capability_variants.csv``, ``seed<S>/capability_fresh.csv``,
``seed<S>/concept_space.json``.

    python -m probes.hidden_capabilities --quick                      # CPU, ~12 minutes
    python -m probes.hidden_capabilities --device cuda                # the paper's scale, 5 seeds
    python -m probes.hidden_capabilities --quick --seeds 0 1 2 3 4 --separation 0.4
    python -m probes.hidden_capabilities --tiny                       # seconds (the test suite's)
"""
from __future__ import annotations

import math
import sys

import numpy as np
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from hidcap import plotting
from hidcap.diffusion import DDPMConfig
from hidcap.evaluation.elicitation import OVERPROMPT_COLORS, EmbeddingPatch, LatentIntervention, NaivePrompt, Overprompt
from hidcap.evaluation.onsets import OnsetInterval, earlier
from hidcap.evaluation.seeds import seed_margin
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
from hidcap.experiments.probe_args import ProbeArgs, parse_probe_args
from hidcap.experiments.concept_measurement import concept_probe
from hidcap.scales import ConceptScale, concept_scale
from hidcap.experiments.verdicts import combine_verdicts, write_verdict
from hidcap.training import CheckpointConfig, OptimConfig


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


#: Default colour separation per scale (quick: measured, see the module docstring; full: a weak colour signal).
DEFAULT_SEPARATION = {"tiny": 0.4, "quick": 0.4, "full": 0.3}
#: Quick: 4 seeds fit the ~8 CPU-minute budget (5 seeds took 10 min of CPU); ``--seeds 0 1 2 3 4`` for the paper's 5.
DEFAULT_SEEDS = {"tiny": (0, 1), "quick": (0, 1, 2, 3), "full": (0, 1, 2, 3, 4)}


def quick_scale() -> ConceptScale:
    """``concept_scale("quick")`` made to learn the concept classes within a CPU budget.

    The shared quick scale (16×16, channels (8, 16), 1200 steps, DDPM β 1e-3 -> 0.2) still draws off-colour
    blobs after 1200 steps on this data: its ε-prediction is not precise enough at the highest noise levels
    (ᾱ_T ≈ 5e-5) to place the light background, and the colour of every class flips from checkpoint to
    checkpoint. Measured fixes (one seed, colour separation 0.4, pixel-level colour/size of the samples):
    8×8 images with channels (16, 32) (a step costs ~0.05 s CPU), β 1e-3 -> 0.1 (ᾱ_T ≈ 6e-3), AdamW lr 2e-3:
    the training classes are right by ~1000 steps and class 11 by ~1500. The probe gets 400 steps (8×8
    objects are small). Checkpoints are spaced linearly (the first hundreds of steps hold only noise).
    """
    base = concept_scale("quick")
    size = 8
    return replace(
        base, model=replace(base.model, image_size=size, channels=(16, 32)), image_size=size,
        diffusion=DDPMConfig(timesteps=100, beta_start=1e-3, beta_end=0.1), optimizer=OptimConfig(lr=2e-3),
        steps=1500, checkpoints=CheckpointConfig(count=12, spacing="linear"), probe={**base.probe, "steps": 400},
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
        return Settings(quick_scale(), sep, 0.3, overprompt=OVERPROMPT_COLORS[2:], alphas=(1.0, 4.0),
                        betas=(0.25, 1.0), samples=24, sample_steps=20)
    return Settings(base, sep, 0.3, overprompt=OVERPROMPT_COLORS, alphas=(0.1, 1.0, 2.0, 4.0),
                    betas=(0.1, 0.25, 0.5, 1.0), samples=base.samples_per_class, sample_steps=base.sample_steps)


# ------------------------------------------------------------------------------------------ analysis (pure)


def judge_capability_first(seeds: Mapping[Any, Mapping[str, Any]]) -> dict[str, Any]:
    """Criterion (a) from per-seed onset intervals ``{seed: {"capability": OnsetInterval, "behaviour": OnsetInterval}}``
    (fresh samples, first crossing of the threshold).

    A seed is ``earlier`` when capability's onset is earlier than behaviour's beyond the intervals
    (:func:`hidcap.evaluation.earlier`; "never" is later than every step), ``later`` when behaviour's is earlier
    beyond them, else ``not_decided``. ``behaviour_reached``: seeds whose behaviour onset estimate is a step.
    passed: False if any seed is ``later``; True if every seed is ``earlier`` and behaviour reaches the threshold
    in at least one seed; None otherwise.
    """
    out: dict[str, list] = {"earlier": [], "later": [], "not_decided": [], "behaviour_reached": []}
    for seed, o in seeds.items():
        cap, beh = o["capability"], o["behaviour"]
        key = "earlier" if earlier(cap, beh) else "later" if earlier(beh, cap) else "not_decided"
        out[key].append(seed)
        if beh.estimate is not None:
            out["behaviour_reached"].append(seed)
    if not seeds:
        passed = None
    elif out["later"]:
        passed = False
    else:
        passed = True if (not out["not_decided"] and out["behaviour_reached"]) else None
    return {"passed": passed, **out}


def judge_turn(seeds: Mapping[Any, Mapping[str, Any]], tolerance: int) -> dict[str, Any]:
    """Criterion (b) from ``{seed: {"turn": i | None, "low": i | None, "high": i | None}}``: the turn's checkpoint
    index and the capability onset interval in checkpoint indices (``None`` = "never").

    ``coincide``: the whole onset interval lies within ``tolerance`` checkpoints of the turn; ``apart``: it lies
    entirely outside that window (an interval whose early end is "never" is apart); else ``not_decided``;
    ``no_turn``: seeds without a turn. passed: False if any seed is apart; True if at least one coincides and
    none is apart or not decided; None otherwise. ``offsets``: interval ends minus the turn.
    """
    if tolerance < 0:
        raise ValueError(f"tolerance must be >= 0, got {tolerance}")
    out: dict[str, Any] = {"coincide": [], "apart": [], "not_decided": [], "no_turn": [], "offsets": {}}
    for seed, o in seeds.items():
        turn, low, high = o["turn"], o["low"], o["high"]
        if turn is None:
            out["no_turn"].append(seed)
            continue
        out["offsets"][seed] = [None if low is None else low - turn, None if high is None else high - turn]
        if low is None or low > turn + tolerance or (high is not None and high < turn - tolerance):
            out["apart"].append(seed)
        elif high is not None and low >= turn - tolerance and high <= turn + tolerance:
            out["coincide"].append(seed)
        else:
            out["not_decided"].append(seed)
    if out["apart"]:
        passed = False
    else:
        passed = True if (out["coincide"] and not out["not_decided"]) else None
    return {"passed": passed, **out}


def judge_controls(seeds: Mapping[Any, Mapping[str, Any] | None]) -> dict[str, Any]:
    """Criterion (c) from ``{seed: controls_at_capability_onset}`` (``None`` when capability never reaches the
    threshold; ``beats`` None when the chosen protocol has no control, i.e. the naive prompt).

    ``beats``: the real protocol beats its control beyond the intervals; ``fails``: it does not (a control as
    good as the protocol fails the claim); ``no_control`` / ``no_onset``: not judged. passed: False if any seed
    fails; True if at least one beats and none fails; None otherwise.
    """
    out: dict[str, list] = {"beats": [], "fails": [], "no_control": [], "no_onset": []}
    for seed, c in seeds.items():
        if c is None:
            out["no_onset"].append(seed)
        elif c["beats"] is None:
            out["no_control"].append(seed)
        else:
            out["beats" if c["beats"] else "fails"].append(seed)
    passed = False if out["fails"] else True if out["beats"] else None
    return {"passed": passed, **out}


def seed_margins(per_seed: Mapping[Any, Mapping[str, Any]]) -> dict[str, Any]:
    """Across-seed margins (reported, not judged): mean over checkpoints of capability − behaviour (fresh),
    lead of capability onset over behaviour onset (steps; seeds where both are reached), and real − control
    at capability onset; each with per-seed values, spread and whether the spread decides it."""
    seeds = list(per_seed)
    out: dict[str, Any] = {"capability_minus_behaviour": seed_margin(
        [per_seed[s]["capability_minus_behaviour_mean"] for s in seeds], 0.0, seeds).to_dict()}
    lead = {s: r["lead_steps"] for s, r in per_seed.items() if r["lead_steps"] is not None}
    out["lead_steps"] = seed_margin(list(lead.values()), 0.0, list(lead)).to_dict() if lead else None
    ctl = {s: r["controls_at_capability_onset"] for s, r in per_seed.items()}
    diffs = {s: c["real"]["estimate"] - c["control"]["estimate"] for s, c in ctl.items() if c and c["control"]}
    out["real_minus_control_at_onset"] = seed_margin(list(diffs.values()), 0.0, list(diffs)).to_dict() if diffs else None
    return out


# ------------------------------------------------------------------------------------------ measurement


# ------------------------------------------------------------------------------------------ figures


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


def main(argv: list[str] | None = None) -> dict:
    argv = list(sys.argv[1:] if argv is None else argv)
    scale_name = "tiny" if "--tiny" in argv else "quick" if "--quick" in argv else "full"
    args, ns = parse_probe_args(NAME, __doc__.split("\n\n")[0], argv, default_seeds=DEFAULT_SEEDS[scale_name], extra=_extra)
    st = settings(args.scale, ns.separation)
    spec = st.spec()
    probe = concept_probe(spec, st.scale, args.out / "probe", args.device, progress=args.progress)

    per_seed, measured_runs = {}, {}
    if len(args.seeds) < 2:
        raise SystemExit("hidden_capabilities needs at least 2 seeds: the patch control patches another seed's run")
    series = train_seeds(args, st, spec)  # every seed first (--executor spreads them), then the measurements
    for i, seed in enumerate(args.seeds):
        donor = series[args.seeds[(i + 1) % len(args.seeds)]]  # the patch control's donor: the next seed's run
        m = measure_seed(args, st, spec, probe, seed, all_classes=seed == args.seeds[0], series=series[seed],
                         donor=donor)
        measured_runs[seed] = m
        per_seed[seed] = analyse_seed(st, spec, m, seed)

    onsets = {s: {k: OnsetInterval.from_dict(v) for k, v in r["onset"].items()} for s, r in per_seed.items()}
    a = judge_capability_first(onsets)
    index = {s: {int(x): i for i, x in enumerate(r["steps"])} for s, r in per_seed.items()}
    b = judge_turn({s: {"turn": r["turn"]["index"],
                        "low": None if onsets[s]["capability"].low is None else index[s][onsets[s]["capability"].low],
                        "high": None if onsets[s]["capability"].high is None else index[s][onsets[s]["capability"].high]}
                    for s, r in per_seed.items()}, st.tolerance)
    c = judge_controls({s: r["controls_at_capability_onset"] for s, r in per_seed.items()})
    passed = combine_verdicts([a["passed"], b["passed"], c["passed"]])
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
    print(f"(a) capability first: {a}\n(b) turn = capability onset (±{st.tolerance} checkpoints): {b}\n"
          f"(c) real protocol beats its control at capability onset: {c}\nacross-seed margins: "
          + ", ".join(f"{k}: {_fmt_margin(v)}" for k, v in margins.items()))

    criterion = (
        f"joint accuracy of class {TARGET} (probe). At each checkpoint each protocol's variant is chosen on "
        f"{st.samples} selection samples and scored on {st.samples} fresh samples (generator seed + "
        f"{FRESH_SEED_OFFSET}); capability = fresh score of the variant chosen over naive, overprompting, linear "
        f"latent intervention and embedding patching; behaviour = the naive prompt's fresh score (same budget); "
        f"95 % Wilson intervals; onset = first checkpoint >= {st.threshold:g} on fresh samples, with a 95 % "
        f"bootstrap interval (2000 resamples of the samples; 'never' later than every step). "
        f"(a) in every seed capability's onset is earlier than behaviour's beyond the intervals (capability's "
        f"interval ends before behaviour's begins); fail if behaviour's is earlier beyond them in any seed; "
        f"undetermined if some seed is not decided or behaviour reaches {st.threshold:g} in no seed. "
        f"(b) the turn of {TARGET}'s concept-space trajectory (first checkpoint after its last visit within "
        f"L-inf {st.radius:g} of the memorised corner 01 or 10): in every seed with a turn the whole capability "
        f"onset interval lies within {st.tolerance} checkpoints of it; fail if in some seed it lies entirely "
        f"outside; undetermined otherwise or if no seed has a turn. (c) negative controls: in every seed with a "
        f"capability onset, the protocol chosen there beats its control (off-concept colour, random direction "
        f"moving e by the same norm, another seed's patch) beyond the Wilson intervals at that checkpoint; a control "
        f"within the intervals fails the claim. Pass = (a), (b) and (c) pass; fail if any fails."
    )
    notes = _notes(args, st, per_seed)
    return write_verdict(
        args, claim=CLAIM, paper=PAPER, criterion=criterion, passed=passed,
        measured={"settings": st.describe(), "probe_heldout_accuracy": probe.heldout_accuracy,
                  "criterion_a": a, "criterion_b": b, "criterion_c": c, "seed_margins": margins,
                  "pooled": pooled, "controls": CONTROL_OF, "fresh_seed_offset": FRESH_SEED_OFFSET,
                  "seeds": {str(s): r for s, r in per_seed.items()}},
        figures=figures, notes=notes,
    )


def _notes(args: ProbeArgs, st: Settings, per_seed: Mapping[int, Mapping[str, Any]]) -> str:
    if args.scale == "tiny":
        return "tiny smoke run: 12 training steps; the numbers exercise the code paths and mean nothing."
    if args.scale == "quick":
        return ("quick scale: an 8x8 DDPM with channels (16, 32), 1500 steps (quick_scale(); measured.settings), "
                "13 checkpoints instead of ~60, and fewer samples per variant, overprompt colours and (alpha, beta) "
                "pairs than the paper; one checkpoint is 125 steps, so onsets and the turn are resolved to that; with "
                f"{st.samples} samples a variant's accuracy has a standard error up to ~{0.5 / math.sqrt(st.samples):.2f}, "
                "and the max over many variants is biased upwards at a level of that size (measured.seeds.*.curves); "
                "the verdict uses the chosen variants' scores on fresh samples (measured.seeds.*.fresh).")
    return ""


if __name__ == "__main__":
    main()
