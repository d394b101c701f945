"""Hidden capabilities: latent interventions elicit the held-out class before naive prompting does, at the
moment its concept-space trajectory turns (Park et al. 2024, Sec. 4.4, Fig. 6, and Fig. 17 for
embedding patching).

**Claim.** A diffusion model trained on (colour, size) classes 00, 01, 10 with a weak colour signal first
generates the held-out class 11 (small blue) as the training class it resembles most (*concept
memorisation*), then its concept-space trajectory turns suddenly towards 11. From that turn on, the model
can already make 11: linear latent interventions in the conditioning embeddings, overprompting (a bluer
colour than any training prompt) and patching in the final checkpoint's conditioning MLPs elicit it
(~6k steps in the paper, in every one of 5 seeds), while the naive prompt succeeds later or never.

**Protocol.** For each seed: train a run (checkpoints spaced quadratically), then at every checkpoint
generate class 11 under four protocols (``hidcap.evaluation.capability``): the naive prompt (behaviour),
overprompting, the paper's linear latent intervention ``e' = e + α(e·b̂)b̂, e'' = e' − β(e'·l̂)l̂`` in every
``*.cond_embed`` output over an (α, β) grid, and embedding patching from the final checkpoint.
Capability = the best of them. Every class is also placed in concept space
(``hidcap.evaluation.concept_space``) with the same probe, and the conditioning embeddings'
disentanglement is tracked (``hidcap.evaluation.embedding_disentanglement``, no sampling needed).

**Criteria** (stated before measuring; accuracy = joint accuracy of the probe, threshold 0.8; "onset" =
first checkpoint at which a curve reaches the threshold, no smoothing):

- (a) capability first: in every seed whose behaviour reaches 0.8, capability reaches it at a strictly
  earlier checkpoint (capability >= behaviour at each checkpoint by construction, so "at the same
  checkpoint" does not count). Undetermined when behaviour reaches 0.8 in no seed; seeds where capability
  gets there and behaviour never does are listed (``capability_only``) but do not decide (a).
- (b) the turn coincides with capability onset. The *turn* of a trajectory is its departure from concept
  memorisation: the memorised corner is the training class one concept away from 11 (01 or 10) whose
  neighbourhood (L∞ distance <= ``radius`` in concept space) the trajectory of 11 visits most often; the
  turn is the first checkpoint after the trajectory's last visit there (so it leaves for good). In every
  seed with a turn, capability onset must lie within ``tolerance`` checkpoints of it (a seed whose
  capability never reaches 0.8 does not coincide). Undetermined when no seed has a turn (no memorisation
  phase, or still memorising at the last checkpoint). The checkpoint of the sharpest change of direction
  of the trajectory is reported as a second reading of "turn", not judged.
- Verdict: fail if (a) or (b) fails, pass if both pass, undetermined otherwise.

**Scales** (``hidcap.experiments.scales.CONCEPT_SCALES`` plus the settings below; ``--separation`` overrides the
colour separation):

- full (default; GPU): the paper's VDM at 32×32, 20k steps, 60 quadratic checkpoints (+ step 0), 64 samples
  per variant, 50 sampling steps, all 5 overprompt colours and the 4×4 (α, β) grid; colour separation
  0.3 (weak, so that 11 memorises 01); default seeds 0–4.
- ``--quick`` (CPU, ~8 min of one core): the quick scale made to learn within that budget (``quick_scale``:
  8×8 images, channels (16, 32), DDPM β 1e-3 -> 0.1, lr 2e-3, 1500 steps, 12 linearly spaced checkpoints
  + step 0), 24 samples per variant, 20 sampling steps, the three paper overprompt colours bluer than the
  prompt, 2×2 (α, β) pairs; colour separation 0.4 (measured: at 0.3 the naive prompt of seed 0 never
  reaches 0.8 in 1500 steps and 11 ends memorising 01, while interventions reach 1.0 from step 500);
  seeds 0–3 (4 seeds fit the budget; ``--seeds 0 1 2 3 4`` takes ~10 CPU minutes). Only the first seed
  places every class in concept space; the others place class 11 alone (all the verdict needs).
- ``--tiny`` (seconds): every code path on a 12-step 8×8 run; its verdict means nothing.

Outputs in ``--out``: ``verdict.json``; figures ``fig6_protocols.png`` (the paper's Fig. 6 layout: one
panel per protocol, one curve per seed), ``per_seed.png`` (one panel per seed, every protocol, onsets and
the turn marked), ``capability_vs_behaviour.png``, ``concept_space_11.png`` (trajectories of 11 with turn
and onset), ``concept_space_seed<S>.png`` (all classes of the first seed), ``disentanglement.png``;
per seed ``seed<S>/capability.csv``, ``seed<S>/capability_variants.csv``, ``seed<S>/concept_space.json``.

    python -m probes.hidden_capabilities --quick                      # CPU, ~8 minutes
    python -m probes.hidden_capabilities --device cuda                # the paper's scale, 5 seeds
    python -m probes.hidden_capabilities --quick --seeds 0 1 2 3 4 --separation 0.4
    python -m probes.hidden_capabilities --tiny                       # seconds (the test suite's)
"""
from __future__ import annotations

import math
import sys
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from hidcap import plotting
from hidcap.diffusion import DDPMConfig
from hidcap.evaluation.capability import OVERPROMPT_COLORS, EmbeddingPatch, LatentIntervention, NaivePrompt, Overprompt
from hidcap.experiments.capability import (
    TARGET,
    analyse_seed,
    measure_seed,
    plot_fig6,
    plot_per_seed,
    plot_trajectories,
)
from hidcap.experiments.cli import ProbeArgs, parse_args
from hidcap.experiments.concepts import concept_probe
from hidcap.experiments.scales import ConceptScale, concept_scale
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
    """Criterion (a) from per-seed onset indices ``{seed: {"capability": i | None, "behaviour": i | None}}``.

    Returns ``{"passed", "compared", "capability_first", "not_first", "capability_only", "neither"}``
    (seed lists); passed: True/False over the seeds whose behaviour reaches the threshold, None if none does.
    """
    compared, first, not_first, only, neither = [], [], [], [], []
    for seed, o in seeds.items():
        cap, beh = o["capability"], o["behaviour"]
        if beh is not None:
            compared.append(seed)
            if cap is None:
                raise ValueError(f"seed {seed}: behaviour reached the threshold but capability did not; "
                                 "capability >= behaviour must hold at every checkpoint")
            (first if cap < beh else not_first).append(seed)
        elif cap is not None:
            only.append(seed)
        else:
            neither.append(seed)
    passed = None if not compared else not not_first
    return {"passed": passed, "compared": compared, "capability_first": first, "not_first": not_first,
            "capability_only": only, "neither": neither}


def judge_turn(seeds: Mapping[Any, Mapping[str, Any]], tolerance: int) -> dict[str, Any]:
    """Criterion (b) from ``{seed: {"turn": i | None, "capability": i | None}}`` (checkpoint indices).

    Returns ``{"passed", "coincide", "apart", "no_turn", "offsets"}``; offsets: capability onset minus turn,
    in checkpoints (None when capability never reaches the threshold). passed: None if no seed has a turn.
    """
    if tolerance < 0:
        raise ValueError(f"tolerance must be >= 0, got {tolerance}")
    coincide, apart, no_turn, offsets = [], [], [], {}
    for seed, o in seeds.items():
        turn, cap = o["turn"], o["capability"]
        if turn is None:
            no_turn.append(seed)
            continue
        offsets[seed] = None if cap is None else cap - turn
        (coincide if cap is not None and abs(cap - turn) <= tolerance else apart).append(seed)
    passed = None if not (coincide or apart) else not apart
    return {"passed": passed, "coincide": coincide, "apart": apart, "no_turn": no_turn, "offsets": offsets}


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


def main(argv: list[str] | None = None) -> dict:
    argv = list(sys.argv[1:] if argv is None else argv)
    scale_name = "tiny" if "--tiny" in argv else "quick" if "--quick" in argv else "full"
    args, ns = parse_args(NAME, __doc__.split("\n\n")[0], argv, default_seeds=DEFAULT_SEEDS[scale_name], extra=_extra)
    st = settings(args.scale, ns.separation)
    spec = st.spec()
    probe = concept_probe(spec, st.scale, args.out / "probe", args.device, progress=args.progress)

    per_seed, measured_runs = {}, {}
    for seed in args.seeds:
        m = measure_seed(args, st, spec, probe, seed, all_classes=seed == args.seeds[0])
        measured_runs[seed] = m
        per_seed[seed] = analyse_seed(st, spec, m)

    a = judge_capability_first({s: r["onset_index"] for s, r in per_seed.items()})
    b = judge_turn({s: {"turn": r["turn"]["index"], "capability": r["onset_index"]["capability"]}
                    for s, r in per_seed.items()}, st.tolerance)
    passed = combine_verdicts([a["passed"], b["passed"]])

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
    print(f"\nclass {TARGET}, colour separation {st.separation:g}, threshold {st.threshold:g} "
          f"(onsets: first checkpoint >= threshold; turn: departure from the memorised corner)")
    head = f"{'seed':>4} {'behaviour@':>10} {'capability@':>11} {'lead':>5} {'best at onset':>22} " \
           f"{'turn@':>6} {'from':>4} {'Δckpt':>5} {'final beh':>9} {'final cap':>9} {'disent.':>7}"
    print(head)
    for s, r in per_seed.items():
        off = b["offsets"].get(s)
        print(f"{s:>4} {_fmt(r['onset_step']['behaviour']):>10} {_fmt(r['onset_step']['capability']):>11} "
              f"{_fmt(r['lead_steps']):>5} {_fmt(r['best_at_capability_onset']):>22} {_fmt(r['turn']['step']):>6} "
              f"{_fmt(r['turn']['corner']):>4} {_fmt(off):>5} {r['final']['behaviour']:9.2f} "
              f"{r['final']['capability']:9.2f} {r['disentanglement'][-1]:7.2f}")
    print(f"(a) capability first: {a}\n(b) turn = capability onset (±{st.tolerance} checkpoints): {b}")

    criterion = (
        f"joint accuracy of class {TARGET} (probe), onset = first checkpoint >= {st.threshold:g}. "
        f"(a) in every seed whose naive-prompt behaviour reaches {st.threshold:g}, capability (max over naive, "
        f"overprompting, linear latent intervention, embedding patching) reaches it at a strictly earlier "
        f"checkpoint (undetermined if behaviour reaches it in no seed). (b) the turn of {TARGET}'s concept-space "
        f"trajectory (first checkpoint after its last visit within L-inf {st.radius:g} of the memorised corner 01 "
        f"or 10) lies within {st.tolerance} checkpoints of capability onset in every seed that has a turn "
        f"(undetermined if none has). Pass = (a) and (b) pass; fail if either fails."
    )
    notes = _notes(args, st, per_seed)
    return write_verdict(
        args, claim=CLAIM, paper=PAPER, criterion=criterion, passed=passed,
        measured={"settings": st.describe(), "probe_heldout_accuracy": probe.heldout_accuracy,
                  "criterion_a": a, "criterion_b": b, "seeds": {str(s): r for s, r in per_seed.items()}},
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
                "and capability, a max over many variants, is biased upwards at a level of that size.")
    return ""


if __name__ == "__main__":
    main()
