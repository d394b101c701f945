"""Linear latent intervention: steer every conditioning MLP towards "blue" and away from "large".

At every conditioning-MLP site (``"*.cond_embed"``) of one checkpoint, ``hidcap.concept_direction`` gives
b̂ (the normalised output for the blue input, colour [.05, .05, .95] alone) and l̂ (the large input, size
0.6 alone). For each α ∈ {0.1, 1, 2, 4} and β ∈ {0.1, 0.25, 0.5, 1}, the held-out class 11 (small blue) is
generated while a Tracer edits every site with ``LinearIntervention.amplify_suppress(b̂, α, l̂, β)``:
``e' = e + α(e·b̂)b̂``, ``e'' = e' − β(e'·l̂)l̂``. All cells and the unedited baseline use the same noise.
Images are measured from their pixels (see examples/patch_checkpoints.py: colour, size and joint
accuracy against the class, mean B − R, mean radius).

    python examples/linear_intervention.py                 # trains the same 400-step run, last checkpoint
    python examples/linear_intervention.py --run out/patch_checkpoints/run --step 144  # reuse a run
    python examples/linear_intervention.py --tiny          # seconds; what the test suite runs

--run must be a concept-space run (its config.json has ConceptDataSpec data), e.g. one written by this
script, examples/patch_checkpoints.py or ``hidcap train --preset tiny``.

Writes summary.json and intervention.png (α×β heatmaps of joint accuracy, mean B − R and mean radius) to
--out and prints grids (rows α, columns β).
"""
from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import torch

from hidcap import LinearIntervention, Tracer, concept_direction
from hidcap.data import COND_DIM, COND_LAYOUT, ConceptDataSpec
from hidcap.plotting import plot_heatmap
from hidcap.runs import CheckpointSeries
from hidcap.progress import progress_bar
from hidcap.rng import torch_generator
from hidcap.tracing import resolve_modules
from hidcap.evaluation.pixels import pixel_concepts
from hidcap.training import CheckpointConfig, TrainConfig, run_preset, train

ALPHAS = (0.1, 1.0, 2.0, 4.0)
BETAS = (0.1, 0.25, 0.5, 1.0)


def input_vector(slot: str, value: tuple[float, ...] | float) -> torch.Tensor:
    """(COND_DIM,) conditioning vector with only ``slot`` set (the paper's "blue" / "large" inputs)."""
    v = torch.zeros(COND_DIM)
    v[COND_LAYOUT[slot]] = torch.as_tensor(value, dtype=torch.float32)
    return v


def run_config(tiny: bool, seed: int, device: str) -> TrainConfig:
    """The ``tiny`` run preset; ``tiny``: 12 steps, 16 images per class."""
    config = run_preset("tiny", seed=seed, device=device)
    if tiny:
        config = replace(config, steps=12, batch_size=16, log_every=4, checkpoints=CheckpointConfig(count=2),
                         data=replace(config.data, images_per_class=16))
    return config


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiny", action="store_true", help="seconds-long smoke run (used by the tests)")
    parser.add_argument("--run", type=Path, default=None, help="existing concept-space run dir (default: train one)")
    parser.add_argument("--step", type=int, default=-1, help="checkpoint step to intervene on (default -1: last)")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda (default cpu)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("out/linear_intervention"))
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    args = parser.parse_args(argv)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        parser.error(f"--device {args.device} requested but CUDA is not available")
    progress = False if args.no_progress else None
    samples, sample_steps = (4, 4) if args.tiny else (32, 25)

    if args.run is not None:
        series = CheckpointSeries(args.run, device=args.device)
    else:
        series = train(run_config(args.tiny, args.seed, args.device), args.out / "run", progress=progress)
    spec = series.config.data
    if not isinstance(spec, ConceptDataSpec):
        parser.error(f"--run {args.run} is not a concept-space run: its data is "
                     f"{type(spec).__name__ if spec is not None else 'not recorded'}, this example needs "
                     "ConceptDataSpec (colour and size concepts), e.g. a run of `hidcap train --preset tiny`")
    if not {"color", "size"} <= set(spec.concepts):
        parser.error(f"--run {args.run}: the intervention steers colour and size; the run's concepts are "
                     f"{spec.concepts}")
    step = series.steps[-1] if args.step == -1 else args.step
    model, diffusion = series.load(step), series.diffusion(step)
    held_out = spec.test_classes[0]
    cond = spec.prompt(held_out).expand(samples, -1).to(args.device)

    blue = input_vector("color", (0.05, 0.05, 0.95)).to(args.device)
    large = input_vector("size", 0.6).to(args.device)
    sites = resolve_modules(model, "*.cond_embed")
    directions = {s: (concept_direction(model, s, blue), concept_direction(model, s, large)) for s in sites}

    def sample(edits: dict | None = None) -> torch.Tensor:
        with Tracer(model, edits=edits):
            gen = torch_generator(args.seed, args.device)
            return diffusion.sample(model, cond, gen, steps=sample_steps, progress=False).cpu()

    baseline = pixel_concepts(sample(), held_out)
    grid = []
    for alpha, beta in progress_bar([(a, b) for a in ALPHAS for b in BETAS], progress=progress, desc="sweep"):
        edits = {s: LinearIntervention.amplify_suppress(b_hat, alpha, l_hat, beta) for s, (b_hat, l_hat) in directions.items()}
        grid.append({"alpha": alpha, "beta": beta, **pixel_concepts(sample(edits), held_out)})

    summary = {"seed": args.seed, "device": args.device, "run": str(series.run_dir), "step": step,
               "class": held_out, "samples": samples, "sample_steps": sample_steps, "sites": sites,
               "baseline": baseline, "grid": grid}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    panels = {key: [[c[key] for c in grid if c["alpha"] == a] for a in ALPHAS]
              for key in ("joint", "b_minus_r", "radius")}
    plot_heatmap({f"{k} (no edit {baseline[k]:.2f})": v for k, v in panels.items()}, args.out / "intervention.png",
                 row_labels=[f"{a:g}" for a in ALPHAS], col_labels=[f"{b:g}" for b in BETAS],
                 row_name="α (amplify blue)", col_name="β (suppress large)",
                 title=f"class {held_out} at step {step}: every *.cond_embed edited, {samples} samples per cell")

    print(f"\nclass {held_out} at step {step}, {len(sites)} sites, {samples} samples per cell (rows alpha, columns beta)")
    for key in ("joint", "b_minus_r", "radius"):
        print(f"\n{key:>9s} " + " ".join(f"b={b:<6g}" for b in BETAS) + f"   no edit: {baseline[key]:.3f}")
        for alpha in ALPHAS:
            cells = [c[key] for c in grid if c["alpha"] == alpha]
            print(f"a={alpha:<7g} " + " ".join(f"{v:8.3f}" for v in cells))
    return summary


if __name__ == "__main__":
    main()
