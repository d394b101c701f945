"""Embedding patching across a checkpoint series: does the final model's conditioning help earlier ones?

Trains a tiny concept-space run (colour x size; classes 00, 01, 10 trained, 11 = small blue held out), then
for every checkpoint generates the held-out class twice with the same noise: with the checkpoint's own
weights, and with every conditioning MLP (``"*.cond_embed"``) patched from the final checkpoint
(``hidcap.patch(model, "*.cond_embed", final_step, series=series)``). Each image is measured directly
from its pixels (object = pixels far from the border colour): blue if its mean B > R, small if its
area-equivalent radius is below 0.45; joint = both, as the class asks. A row measured on generator data
of the class shows what a perfect model would score.

    python examples/patch_checkpoints.py            # 400 training steps, 6 checkpoints (1-2 minutes on a CPU)
    python examples/patch_checkpoints.py --tiny     # seconds; what the test suite runs

Writes summary.json to --out and prints a table. Re-running with the same --out reuses the training run.
"""
from __future__ import annotations

import argparse
import json
import math
from dataclasses import replace
from pathlib import Path

import torch

from hidcap import patch
from hidcap.progress import progress_bar
from hidcap.rng import torch_generator
from hidcap.diffusion import DDPMConfig
from hidcap.models import presets
from hidcap.training import CheckpointConfig, OptimConfig, TrainConfig, run_preset, train


def measure(images: torch.Tensor, class_bits: str = "11") -> dict[str, float]:
    """Pixel measure of generated (colour, size) images (B, 3, H, W) in [0, 1] against ``class_bits``.

    Background = per-channel median of the border pixels; object = pixels differing from it by > 0.3 in
    some channel. Returns the mean B − R of the object, its mean area-equivalent radius (half-frame
    units: large ≈ 0.6, small ≈ 0.3) and the fraction of images whose colour / size / both match.
    """
    border = torch.cat([images[..., 0, :], images[..., -1, :], images[..., 1:-1, 0], images[..., 1:-1, -1]], -1)
    mask = (images - border.median(-1).values[..., None, None]).abs().amax(1) > 0.3  # (B, H, W)
    radius = (4 * mask.float().mean((1, 2)) / math.pi).sqrt()  # circle of equal area on the [-1, 1]² frame
    rgb = (images * mask[:, None]).sum((2, 3)) / mask.sum((1, 2)).clamp_min(1)[:, None]  # (B, 3)
    blue_minus_red = rgb[:, 2] - rgb[:, 0]
    found = mask.any(dim=(1, 2))
    color_ok = found & ((blue_minus_red > 0) == (class_bits[0] == "1"))
    size_ok = found & ((radius < 0.45) == (class_bits[1] == "1"))
    return {
        "b_minus_r": float(blue_minus_red.mean()), "radius": float(radius.mean()),
        "color": float(color_ok.float().mean()), "size": float(size_ok.float().mean()),
        "joint": float((color_ok & size_ok).float().mean()),
    }


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
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda (default cpu)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("out/patch_checkpoints"))
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    args = parser.parse_args(argv)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        parser.error(f"--device {args.device} requested but CUDA is not available")
    progress = False if args.no_progress else None

    samples, sample_steps = (8, 4) if args.tiny else (64, 25)
    series = train(run_config(args.tiny, args.seed, args.device), args.out / "run", progress=progress)
    spec, final = series.config.data, series.steps[-1]
    held_out = spec.test_classes[0]
    cond = spec.prompt(held_out).expand(samples, -1).to(args.device)

    rows = []
    for step, model in progress_bar(series, progress=progress, desc="checkpoints", total=len(series)):
        diffusion = series.diffusion(step)
        own = diffusion.sample(model, cond, torch_generator(args.seed, args.device), steps=sample_steps)
        with patch(model, "*.cond_embed", final, series=series):
            patched = diffusion.sample(model, cond, torch_generator(args.seed, args.device), steps=sample_steps)
        rows.append({"step": step, "own": measure(own.cpu(), held_out), "patched": measure(patched.cpu(), held_out),
                     "identical": bool(torch.equal(own, patched))})
    reference = measure(spec.sample([held_out], samples, args.seed).images, held_out)

    summary = {"seed": args.seed, "device": args.device, "class": held_out, "final_step": final,
               "samples": samples, "sample_steps": sample_steps, "reference": reference, "rows": rows}
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")

    print(f"\nheld-out class {held_out} (small blue), {samples} samples per cell, cond_embed patched from step {final}")
    cols = ("color", "size", "joint", "b_minus_r", "radius")
    head = " ".join(f"{c:>9s}" for c in cols)
    print(f"{'':7s} {'own weights':^49s} | {'patched *.cond_embed':^49s}")
    print(f"{'step':>7s} {head} | {head}")
    for r in rows:
        own_s = " ".join(f"{r['own'][c]:9.3f}" for c in cols)
        print(f"{r['step']:7d} {own_s} | " + " ".join(f"{r['patched'][c]:9.3f}" for c in cols))
    print(f"{'data':>7s} " + " ".join(f"{reference[c]:9.3f}" for c in cols) + "   (generator images of the class)")
    return summary


if __name__ == "__main__":
    main()
