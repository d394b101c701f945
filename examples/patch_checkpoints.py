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

Writes summary.json and samples.png (the held-out class at every checkpoint, own weights above patched, same
noise) to --out and prints a table. Re-running with the same --out reuses the training run.
"""
from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import torch

from hidcap import patch
from hidcap.plotting import plot_image_grid
from hidcap.progress import progress_bar
from hidcap.rng import torch_generator
from hidcap.evaluation.pixels import pixel_concepts
from hidcap.training import CheckpointConfig, TrainConfig, run_preset, train


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

    rows, grids, labels = [], [], []
    shown = min(samples, 8)
    for step, model in progress_bar(series, progress=progress, desc="checkpoints", total=len(series)):
        diffusion = series.diffusion(step)
        own = diffusion.sample(model, cond, torch_generator(args.seed, args.device), steps=sample_steps,
                               progress=False)
        with patch(model, "*.cond_embed", final, series=series):
            patched = diffusion.sample(model, cond, torch_generator(args.seed, args.device), steps=sample_steps,
                                       progress=False)
        rows.append({"step": step, "own": pixel_concepts(own.cpu(), held_out), "patched": pixel_concepts(patched.cpu(), held_out),
                     "identical": bool(torch.equal(own, patched))})
        grids += [own[:shown].cpu(), patched[:shown].cpu()]
        labels += [f"step {step}: own", f"step {step}: patched"]
    reference = pixel_concepts(spec.sample([held_out], samples, args.seed).images, held_out)

    summary = {"seed": args.seed, "device": args.device, "class": held_out, "final_step": final,
               "samples": samples, "sample_steps": sample_steps, "reference": reference, "rows": rows}
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    plot_image_grid(torch.cat(grids), args.out / "samples.png", row_labels=labels,
                    title=f"held-out class {held_out}: own weights vs *.cond_embed patched from step {final}")

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
