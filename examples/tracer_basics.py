"""Tracer basics: record, stack over sampling steps, edit and patch activations of a diffusion U-Net.

Builds an (untrained) CPU-sized U-Net (``hidcap.models.presets.tiny``: a conditioning MLP named
``*.cond_embed`` in every residual block, attention at ``mid.attn``) and walks through the four things a
``hidcap.Tracer`` does:

1. record modules by exact name (``mid.attn``) and by glob (``*.cond_embed``) during one forward pass;
2. ``tr.stack(name)`` over the sampling steps of a VDM sampler (one model call per step);
3. edit a module's output (scale ``mid.res.1`` by 2) and see the model output change;
4. activation patching: record ``mid.attn`` on input A, ``replace=`` it while running input B, and check
   that ``mid.attn`` now outputs exactly A's tensor (and that the model output moved).

    python examples/tracer_basics.py            # 16 images, 50 sampling steps (seconds on a CPU)
    python examples/tracer_basics.py --tiny     # what the test suite runs

Writes summary.json and mid_attn_steps.png (mean |activation| of each mid.attn channel at each sampling
step: what ``tr.stack`` holds) to --out and prints what it found. Same seed -> same numbers on one device.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from torch import nn

from hidcap import Tracer
from hidcap.data import ConceptDataSpec
from hidcap.diffusion import VDM, VDMConfig
from hidcap.models import UNet, presets
from hidcap.plotting import plot_heatmap
from hidcap.rng import torch_generator


def build_model(seed: int, device: str) -> UNet:
    """The tiny preset U-Net with seeded weights. Its ε head starts at zero (a fresh model predicts ε̂ = 0
    whatever happens inside), so we give the head small random weights to make edits visible."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = UNet(presets.tiny())
        nn.init.normal_(model.out_conv.weight, std=0.05)
    return model.to(device).eval()


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tiny", action="store_true", help="seconds-long smoke run (used by the tests)")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda (default cpu)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("out/tracer_basics"))
    parser.add_argument("--no-progress", action="store_true", help="hide the sampling progress bar")
    args = parser.parse_args(argv)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        parser.error(f"--device {args.device} requested but CUDA is not available")
    n, sample_steps = (4, 5) if args.tiny else (16, 50)

    model = build_model(args.seed, args.device)
    spec = ConceptDataSpec(image_size=16)  # prompts for classes 00, 01, 10, 11 (colour, size)
    gen = torch_generator(args.seed, args.device)
    cond = spec.prompts().repeat(n // 4, 1).to(args.device)  # (n, 12)
    x = torch.randn(n, 3, 16, 16, generator=gen, device=args.device)
    t = torch.full((n,), 0.5, device=args.device)

    with torch.no_grad():
        # 1. record by exact name and by glob
        with Tracer(model, ["mid.attn", "*.cond_embed"]) as tr:
            eps = model(x, t, cond)
        shapes = {name: list(tr[name].shape) for name in tr.names}

        # 2. one record per sampling step, stacked on a new leading dim
        diffusion = VDM(VDMConfig())
        with Tracer(model, ["mid.attn"]) as tr_s:
            diffusion.sample(model, cond, torch_generator(args.seed, args.device), steps=sample_steps,
                             progress=False if args.no_progress else None)
        traj = tr_s.stack("mid.attn")  # (sample_steps, n, C, H, W)
        step_norms = traj.flatten(2).norm(dim=-1).mean(dim=1)  # (sample_steps,) mean activation norm per step

        # 3. an edit: double one residual block's output
        with Tracer(model, edits={"mid.res.1": lambda out, call: 2.0 * out}):
            eps_edit = model(x, t, cond)
        edit_change = float((eps_edit - eps).abs().max())

        # 4. activation patching: record on A (first half), replace while running B (second half)
        a, b = slice(0, n // 2), slice(n // 2, n)
        with Tracer(model, ["mid.attn"]) as clean:
            model(x[a], t[a], cond[a])
        with Tracer(model, ["mid.attn"]) as own:
            eps_b = model(x[b], t[b], cond[b])
        with Tracer(model, ["mid.attn"], replace={"mid.attn": clean["mid.attn"]}) as patched:
            eps_patched = model(x[b], t[b], cond[b])

    summary = {
        "seed": args.seed, "device": args.device, "batch": n, "sample_steps": sample_steps,
        "recorded": tr.names, "shapes": shapes,
        "stack_shape": list(traj.shape), "calls": tr_s.calls("mid.attn"),
        "step_norms": [round(float(v), 4) for v in step_norms],
        "edit_max_change": edit_change,
        "patched_vs_recorded": float((patched["mid.attn"] - clean["mid.attn"]).abs().max()),
        "own_vs_recorded": float((own["mid.attn"] - clean["mid.attn"]).abs().max()),
        "output_change_by_patch": float((eps_patched - eps_b).abs().max()),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    channel_means = traj.abs().mean(dim=(1, 3, 4))  # (sample_steps, C): mean |activation| per channel
    t_model = [f"{(sample_steps - i) / sample_steps:.2f}" for i in range(sample_steps)]  # VDM time t per step
    plot_heatmap({"mean |mid.attn output|": channel_means.cpu().numpy()}, args.out / "mid_attn_steps.png",
                 row_labels=t_model, col_labels=[str(c) for c in range(channel_means.shape[1])],
                 row_name="sampling step (time t)", col_name="channel",
                 title=f"tr.stack('mid.attn'): {sample_steps} sampling steps, untrained tiny U-Net")

    print(f"1. recorded {len(tr.names)} modules ('mid.attn' + glob '*.cond_embed'):")
    for name, shape in shapes.items():
        print(f"   {name:28s} {tuple(shape)}")
    print(f"2. sampling with {sample_steps} steps called mid.attn {summary['calls']} times; "
          f"tr.stack('mid.attn') -> {tuple(traj.shape)}")
    print(f"   mean activation norm per step: {summary['step_norms'][0]:.3g} ... {summary['step_norms'][-1]:.3g} "
          "(untrained: its eps does not remove the noise, so the latent grows as the sampler rescales it)")
    print(f"3. edit mid.res.1 -> 2x: max |eps change| = {edit_change:.4g}")
    print(f"4. patch mid.attn from A into B: max |patched - recorded A| = {summary['patched_vs_recorded']:.3g} "
          f"(B's own: {summary['own_vs_recorded']:.3g}); max |eps change| = {summary['output_change_by_patch']:.4g}")
    return summary


if __name__ == "__main__":
    main()
