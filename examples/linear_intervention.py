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

Writes summary.json to --out and prints grids (rows α, columns β).
"""
from __future__ import annotations

import argparse
import json
import math
from dataclasses import replace
from pathlib import Path

import torch

from hidcap import LinearIntervention, Tracer, concept_direction
from hidcap.checkpoints import CheckpointSeries
from hidcap.data import COND_DIM, COND_LAYOUT
from hidcap.progress import progress_bar
from hidcap.rng import torch_generator
from hidcap.tracing import resolve_modules
from hidcap.diffusion import DDPMConfig
from hidcap.models import presets
from hidcap.training import CheckpointConfig, OptimConfig, TrainConfig, run_preset, train

ALPHAS = (0.1, 1.0, 2.0, 4.0)
BETAS = (0.1, 0.25, 0.5, 1.0)


def measure(images: torch.Tensor, class_bits: str = "11") -> dict[str, float]:
    """Pixel measure of (colour, size) images (B, 3, H, W) in [0, 1] (same as examples/patch_checkpoints.py):
    object = pixels > 0.3 away from the border median; mean B − R, mean area-equivalent radius, and the
    fraction of images whose colour (B > R means blue) / size (radius < 0.45 means small) / both match."""
    border = torch.cat([images[..., 0, :], images[..., -1, :], images[..., 1:-1, 0], images[..., 1:-1, -1]], -1)
    mask = (images - border.median(-1).values[..., None, None]).abs().amax(1) > 0.3  # (B, H, W)
    radius = (4 * mask.float().mean((1, 2)) / math.pi).sqrt()
    rgb = (images * mask[:, None]).sum((2, 3)) / mask.sum((1, 2)).clamp_min(1)[:, None]
    blue_minus_red, found = rgb[:, 2] - rgb[:, 0], mask.any(dim=(1, 2))
    color_ok = found & ((blue_minus_red > 0) == (class_bits[0] == "1"))
    size_ok = found & ((radius < 0.45) == (class_bits[1] == "1"))
    return {"b_minus_r": float(blue_minus_red.mean()), "radius": float(radius.mean()),
            "color": float(color_ok.float().mean()), "size": float(size_ok.float().mean()),
            "joint": float((color_ok & size_ok).float().mean())}


def input_vector(slot: str, value: tuple[float, ...] | float) -> torch.Tensor:
    """(COND_DIM,) conditioning vector with only ``slot`` set (the paper's "blue" / "large" inputs)."""
    v = torch.zeros(COND_DIM)
    v[COND_LAYOUT[slot]] = torch.as_tensor(value, dtype=torch.float32)
    return v


def run_config(tiny: bool, seed: int, device: str) -> TrainConfig:
    """The tiny concept-space preset (16 px, colour x size, 64 images per class) trained as a DDPM (T=100)
    with lr 3e-3 for 400 steps, checkpoints 0 + 5 quadratic; ``tiny``: 12 steps, 16 images per class."""
    config = run_preset("tiny", model=presets.tiny(time_scale=1.0), diffusion=DDPMConfig.scaled(100),
                        optimizer=OptimConfig(lr=3e-3), steps=400, seed=seed, device=device)
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
    step = series.steps[-1] if args.step == -1 else args.step
    model, diffusion = series.load(step), series.diffusion(step)
    spec = series.config.data
    held_out = spec.test_classes[0]
    cond = spec.prompt(held_out).expand(samples, -1).to(args.device)

    blue = input_vector("color", (0.05, 0.05, 0.95)).to(args.device)
    large = input_vector("size", 0.6).to(args.device)
    sites = resolve_modules(model, "*.cond_embed")
    directions = {s: (concept_direction(model, s, blue), concept_direction(model, s, large)) for s in sites}

    def sample(edits: dict | None = None) -> torch.Tensor:
        with Tracer(model, edits=edits):
            return diffusion.sample(model, cond, torch_generator(args.seed, args.device), steps=sample_steps).cpu()

    baseline = measure(sample(), held_out)
    grid = []
    for alpha, beta in progress_bar([(a, b) for a in ALPHAS for b in BETAS], progress=progress, desc="sweep"):
        edits = {s: LinearIntervention.amplify_suppress(b_hat, alpha, l_hat, beta) for s, (b_hat, l_hat) in directions.items()}
        grid.append({"alpha": alpha, "beta": beta, **measure(sample(edits), held_out)})

    summary = {"seed": args.seed, "device": args.device, "run": str(series.run_dir), "step": step,
               "class": held_out, "samples": samples, "sample_steps": sample_steps, "sites": sites,
               "baseline": baseline, "grid": grid}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")

    print(f"\nclass {held_out} at step {step}, {len(sites)} sites, {samples} samples per cell (rows alpha, columns beta)")
    for key in ("joint", "b_minus_r", "radius"):
        print(f"\n{key:>9s} " + " ".join(f"b={b:<6g}" for b in BETAS) + f"   no edit: {baseline[key]:.3f}")
        for alpha in ALPHAS:
            cells = [c[key] for c in grid if c["alpha"] == alpha]
            print(f"a={alpha:<7g} " + " ".join(f"{v:8.3f}" for v in cells))
    return summary


if __name__ == "__main__":
    main()
