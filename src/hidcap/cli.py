"""The ``hidcap`` command: ``hidcap train --preset NAME --out RUN_DIR [...]`` and
``hidcap sample RUN_DIR --step STEP --out FILE.png [...]``."""
from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

__all__ = ["main", "build_parser", "sample_grid"]


def build_parser() -> argparse.ArgumentParser:
    from hidcap.training import RUN_PRESETS

    parser = argparse.ArgumentParser(prog="hidcap", description="Train and sample hidcap diffusion models.")
    sub = parser.add_subparsers(dest="command", required=True)

    t = sub.add_parser("train", help="train a preset and write a run directory (resumes if it exists)")
    t.add_argument("--preset", required=True, choices=sorted(RUN_PRESETS), help="run preset")
    t.add_argument("--out", required=True, type=Path, help="run directory")
    t.add_argument("--steps", type=int, help="training steps")
    t.add_argument("--batch-size", type=int)
    t.add_argument("--lr", type=float)
    t.add_argument("--weight-decay", type=float)
    t.add_argument("--seed", type=int)
    t.add_argument("--checkpoints", type=int, help="number of (quadratically spaced) checkpoints")
    t.add_argument("--device", help="e.g. cpu, cuda, cuda:1")
    t.add_argument("--dtype", choices=["float32", "bfloat16", "float16"], help="autocast dtype")
    t.add_argument("--channels-last", action="store_true", default=None)
    t.add_argument("--compile", action="store_true", default=None, help="torch.compile the model")
    t.add_argument("--cond-drop", type=float, help="classifier-free-guidance condition dropout")
    t.add_argument("--images-per-class", type=int, help="concept data: images per training class")
    t.add_argument("--no-resume", action="store_true", help="refuse to continue an existing run")
    t.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    s = sub.add_parser("sample", help="generate a PNG grid from a checkpoint of a run")
    s.add_argument("run_dir", type=Path)
    s.add_argument("--step", type=int, default=-1, help="checkpoint step (-1: last)")
    s.add_argument("--out", required=True, type=Path, help="output PNG file")
    s.add_argument("--n", type=int, default=8, help="images per prompt")
    s.add_argument("--classes", help="concept data: comma-separated class bits (default: all classes)")
    s.add_argument("--steps", type=int, help="sampling steps (default 50 for VDM, T for DDPM)")
    s.add_argument("--sampler", choices=["ancestral", "ddim"], default="ancestral", help="DDPM only")
    s.add_argument("--guidance", type=float, default=1.0, help="classifier-free guidance weight")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--device", default="cpu")
    return parser


def _train(args: argparse.Namespace) -> int:
    from hidcap.training import run_preset, train

    cfg = run_preset(args.preset)
    top = {"steps": args.steps, "batch_size": args.batch_size, "seed": args.seed, "device": args.device,
           "dtype": args.dtype, "channels_last": args.channels_last, "compile": args.compile}
    cfg = replace(cfg, **{k: v for k, v in top.items() if v is not None})
    opt = {"lr": args.lr, "weight_decay": args.weight_decay}
    cfg = replace(cfg, optimizer=replace(cfg.optimizer, **{k: v for k, v in opt.items() if v is not None}))
    if args.checkpoints is not None:
        cfg = replace(cfg, checkpoints=replace(cfg.checkpoints, count=args.checkpoints))
    if args.cond_drop is not None:
        cfg = replace(cfg, diffusion=replace(cfg.diffusion, cond_drop=args.cond_drop))
    if args.images_per_class is not None:
        if not hasattr(cfg.data, "images_per_class"):
            raise SystemExit(f"--images-per-class applies to concept data, not preset {args.preset!r}")
        cfg = replace(cfg, data=replace(cfg.data, images_per_class=args.images_per_class))
    series = train(cfg, args.out, progress=False if args.no_progress else None, resume=not args.no_resume)
    print(f"{series}: checkpoints at steps {series.steps}")
    return 0


def _prompts(data: Any, classes: str | None, n: int) -> tuple[Any, list[str]]:
    """Conditioning rows (P·n, D) and a label per prompt."""
    import torch

    if data is None:
        raise SystemExit("this run has no data spec in config.json; sample it from Python with explicit cond")
    if hasattr(data, "prompts"):
        names = classes.split(",") if classes else list(data.all_classes)
        cond = data.prompts(tuple(names))
    else:  # bump data: a few centres spread over the frame
        k = 4
        side = data.image_size
        axis = data.offset + (torch.arange(k, dtype=torch.float32) + 0.5) * side / k
        cond = torch.stack(torch.meshgrid(axis, axis, indexing="ij"), -1).reshape(-1, 2)
        names = [f"({x:.1f},{y:.1f})" for x, y in cond.tolist()]
    return cond.repeat_interleave(n, 0), names


def sample_grid(images: Any, rows: int, path: Path) -> Path:
    """Save images (N, C, H, W) in [0, 1] as a PNG grid with ``rows`` rows (1-px white gutters)."""
    import matplotlib.image
    from einops import rearrange

    import torch

    n, c, h, w = images.shape
    cols = -(-n // rows)
    pad = torch.ones(rows * cols - n, c, h, w)
    grid = torch.cat([images.cpu().float(), pad])
    grid = torch.nn.functional.pad(grid, (0, 1, 0, 1), value=1.0)
    grid = rearrange(grid, "(r k) c h w -> (r h) (k w) c", r=rows)
    if c == 1:
        grid = grid[..., 0]
    path.parent.mkdir(parents=True, exist_ok=True)
    matplotlib.image.imsave(path, grid.numpy(), cmap="gray" if c == 1 else None, vmin=0.0, vmax=1.0)
    return path


def _sample(args: argparse.Namespace) -> int:
    import torch

    from hidcap.runs import CheckpointSeries
    from hidcap.diffusion import DDPM
    from hidcap.rng import torch_generator

    series = CheckpointSeries(args.run_dir, device=args.device)
    step = series.path(args.step)  # clear error for a missing step
    model, diffusion = series.load(args.step), series.diffusion(args.step)
    cond, names = _prompts(series.config.data, args.classes, args.n)
    gen = torch_generator(args.seed, args.device)
    kwargs: dict[str, Any] = {"guidance": args.guidance}
    if args.steps is not None:
        kwargs["steps"] = args.steps
    if isinstance(diffusion, DDPM):
        kwargs["sampler"] = args.sampler
    images = diffusion.sample(model, cond.to(args.device), gen, **kwargs)
    sample_grid(images, len(names), args.out)
    print(f"wrote {args.out}: {len(names)} prompts ({', '.join(names)}) x {args.n} from {step.name}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``hidcap`` console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        if args.command == "train":
            return _train(args)
        return _sample(args)
    except (ValueError, KeyError, FileNotFoundError, FileExistsError) as exc:
        print(f"hidcap {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
