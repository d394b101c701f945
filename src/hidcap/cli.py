"""The ``hidcap`` command: ``hidcap train --preset NAME --out RUN_DIR [...]``,
``hidcap sample RUN_DIR --step STEP --out FILE.png [...]`` and
``hidcap sweep --preset NAME --out DIR --grid FIELD=V1,V2 [--seeds ...] [--executor local|ray]``.

Errors are one line on stderr with exit status 2 (``--debug``: the traceback)."""
from __future__ import annotations

import argparse
import errno
import math
import sys
import warnings
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, NoReturn

__all__ = ["CLIError", "main", "build_parser", "sample_grid"]


class CLIError(Exception):
    """A user error the command reports as one line (exit status 2)."""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``hidcap: error: …`` on stderr, exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _finite_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
    return value


def _png_path(text: str) -> Path:
    path = Path(text)
    if path.suffix.lower() != ".png":
        raise argparse.ArgumentTypeError(f"must be a .png file, got {text!r}")
    return path


def build_parser() -> argparse.ArgumentParser:
    from hidcap.training import RUN_PRESETS

    parser = _Parser(prog="hidcap", description="Train and sample hidcap diffusion models.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    t = sub.add_parser("train", help="train a preset and write a run directory (resumes if it exists; more --steps "
                                      "extend a run, docs/models.md)")
    t.add_argument("--preset", required=True, choices=sorted(RUN_PRESETS), help="run preset")
    t.add_argument("--out", required=True, type=Path, help="run directory")
    t.add_argument("--steps", type=_positive_int, help="training steps")
    t.add_argument("--batch-size", type=_positive_int)
    t.add_argument("--lr", type=_finite_float)
    t.add_argument("--weight-decay", type=_finite_float)
    t.add_argument("--seed", type=int)
    t.add_argument("--checkpoints", type=_positive_int, help="number of (quadratically spaced) checkpoints")
    t.add_argument("--device", help="e.g. cpu, cuda, cuda:1")
    t.add_argument("--dtype", choices=["float32", "bfloat16", "float16"],
                   help="autocast dtype (float16 has no loss scaling; see docs/models.md)")
    t.add_argument("--channels-last", action="store_true", default=None)
    t.add_argument("--compile", action="store_true", default=None, help="torch.compile the model")
    t.add_argument("--cond-drop", type=_finite_float, help="classifier-free-guidance condition dropout")
    t.add_argument("--images-per-class", type=_positive_int, help="concept data: images per training class")
    t.add_argument("--no-resume", action="store_true", help="refuse to continue an existing run")
    t.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    t.add_argument("--debug", action="store_true", help="show the full traceback on errors")

    s = sub.add_parser("sample", help="generate a PNG grid from a checkpoint of a run")
    s.add_argument("run_dir", type=Path)
    s.add_argument("--step", type=int, default=-1, help="checkpoint step (-1: last)")
    s.add_argument("--out", required=True, type=_png_path, help="output PNG file")
    s.add_argument("--n", type=_positive_int, default=8, help="images per prompt")
    s.add_argument("--classes", help="concept data: comma-separated class bits (default: all classes)")
    s.add_argument("--steps", type=_positive_int, help="sampling steps (default 50 for VDM, T for DDPM)")
    s.add_argument("--sampler", choices=["ancestral", "ddim"], default="ancestral", help="DDPM only")
    s.add_argument("--guidance", type=_finite_float, default=1.0, help="classifier-free guidance weight")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--device", default="cpu")
    s.add_argument("--no-progress", action="store_true", help="hide the sampling progress bar")
    s.add_argument("--debug", action="store_true", help="show the full traceback on errors")

    w = sub.add_parser("sweep", help="train a grid of runs, one directory per grid point (resumable; docs/sweeps.md)")
    base = w.add_mutually_exclusive_group(required=True)
    base.add_argument("--preset", choices=sorted(RUN_PRESETS), help="run preset as the base config")
    base.add_argument("--config", type=Path, help="a run's config.json as the base config")
    w.add_argument("--out", required=True, type=Path, help="sweep directory (shared by all workers)")
    w.add_argument("--grid", nargs="+", action="extend", default=[], metavar="FIELD=V1,V2",
                   help="grid axes over config fields in dotted form, e.g. optimizer.lr=0.001,0.003")
    w.add_argument("--set", nargs="+", action="extend", default=[], metavar="FIELD=VALUE",
                   help="base config overrides, e.g. steps=500")
    w.add_argument("--seeds", nargs="+", type=int, help="seeds (the last grid axis)")
    w.add_argument("--executor", choices=["local", "ray"], default="local")
    w.add_argument("--workers", type=int, help="local: processes (default: one per core, or per GPU)")
    w.add_argument("--address", help="ray: address of a running cluster (default: start a local instance)")
    w.add_argument("--num-cpus", type=float, default=1, help="ray: CPUs per run")
    w.add_argument("--num-gpus", type=float, default=0, help="ray: GPUs per run")
    w.add_argument("--group", type=_positive_int, metavar="K",
                   help="train same-shape runs up to K at a time as one batched model (hidcap.training.train_many); "
                        "default: each run on its own (docs/sweeps.md)")
    w.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    w.add_argument("--debug", action="store_true", help="show the full traceback on errors")
    return parser


def _check_device(device: str | None) -> None:
    """A clear error for a device this torch cannot use (before any work starts)."""
    if device is None:
        return
    import torch

    try:
        dev = torch.device(device)
    except RuntimeError as exc:
        raise CLIError(f"--device {device!r} is not a torch device ({exc})") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise CLIError(
            f"--device {device}: CUDA is not available to this torch ({torch.__version__}); use --device cpu"
        )
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise CLIError(f"--device {device}: only {torch.cuda.device_count()} CUDA device(s) visible")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise CLIError(f"--device {device}: MPS is not available")


def _train(args: argparse.Namespace) -> int:
    from hidcap.training import run_preset, train

    _check_device(args.device)
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
            raise CLIError(f"--images-per-class applies to concept data, not preset {args.preset!r}")
        cfg = replace(cfg, data=replace(cfg.data, images_per_class=args.images_per_class))
    with warnings.catch_warnings(record=True) as caught:  # e.g. an extension that moves the checkpoint schedule
        warnings.simplefilter("always")
        series = train(cfg, args.out, progress=False if args.no_progress else None, resume=not args.no_resume)
    for warning in caught:
        print(f"hidcap train: warning: {' '.join(str(warning.message).split())}", file=sys.stderr)
    print(f"{series}: checkpoints at steps {series.steps}")
    return 0


def _sweep(args: argparse.Namespace) -> int:
    from hidcap.config_io import load_config, set_field
    from hidcap.sweep import format_table, parse_grid, run_sweep
    from hidcap.training import TrainConfig, run_preset

    cfg = run_preset(args.preset) if args.preset else load_config(TrainConfig, args.config)
    for spec in args.set:
        key, sep, value = spec.partition("=")
        if not sep:
            raise ValueError(f"--set {spec!r} must look like field=value")
        cfg = set_field(cfg, key.strip(), value.strip())
    try:
        results = run_sweep(cfg, parse_grid(args.grid), args.out, seeds=args.seeds, executor=args.executor,
                            workers=args.workers, address=args.address, num_cpus=args.num_cpus,
                            num_gpus=args.num_gpus, group=args.group,
                            progress=False if args.no_progress else None)
    except ImportError as exc:
        raise ValueError(str(exc)) from None
    print(format_table(results))
    failed = [r for r in results if r.status == "failed"]
    for r in failed:
        print(f"hidcap sweep: run {r.run} {r.params} failed: {r.error}", file=sys.stderr)
    counts = {s: sum(r.status == s for r in results) for s in ("done", "skipped", "failed")}
    print(f"{len(results)} runs ({', '.join(f'{n} {s}' for s, n in counts.items())}); "
          f"summary: {args.out / 'summary.csv'}, index: {args.out / 'index.csv'}")
    return 1 if failed else 0


def _prompts(data: Any, classes: str | None, n: int) -> tuple[Any, list[str]]:
    """Conditioning rows (P·n, D) and a label per prompt."""
    import torch

    if data is None:
        raise CLIError("this run has no data spec in config.json; sample it from Python with explicit cond")
    if hasattr(data, "prompts"):
        names = classes.split(",") if classes else list(data.all_classes)
        cond = data.prompts(tuple(names))
    else:  # bump data: a few centres spread over the frame
        k = 4
        side = data.image_size
        axis = data.offset + (torch.arange(k, dtype=torch.float32) + 0.5) * side / k
        cond = torch.stack(torch.meshgrid(axis, axis, indexing="ij"), -1).reshape(-1, 2)
        names = [f"(x, y) = ({x:.1f}, {y:.1f})" for x, y in cond.tolist()]
    return cond.repeat_interleave(n, 0), names


def sample_grid(images: Any, rows: int | Sequence[str], path: Path, *, title: str | None = None) -> Path:
    """Save images (N, C, H, W) in [0, 1] as a labelled PNG grid (:func:`hidcap.plotting.plot_image_grid`).

    rows: the row labels (e.g. class bits or ``(x, y)`` bump centres), or a number of rows (labelled 1, 2, …).
    Pixels are upscaled by nearest neighbour; single-channel images get a grey-value colour bar."""
    from hidcap.plotting import plot_image_grid

    labels = [str(i + 1) for i in range(rows)] if isinstance(rows, int) else list(rows)
    n = images.shape[0]
    if n % len(labels):  # pad the last row with white cells
        import torch

        images = torch.cat([images.cpu(), torch.ones(len(labels) - n % len(labels), *images.shape[1:])])
    return plot_image_grid(images, path, row_labels=labels, title=title)


def _sample(args: argparse.Namespace) -> int:
    import torch

    from hidcap.runs import CheckpointSeries
    from hidcap.diffusion import DDPM
    from hidcap.rng import torch_generator

    _check_device(args.device)
    series = CheckpointSeries(args.run_dir, device=args.device)
    step = series.path(args.step)  # clear error for a missing step
    model, diffusion = series.load(args.step), series.diffusion(args.step)
    cond, names = _prompts(series.config.data, args.classes, args.n)
    gen = torch_generator(args.seed, args.device)
    kwargs: dict[str, Any] = {"guidance": args.guidance, "progress": False if args.no_progress else None}
    if args.steps is not None:
        kwargs["steps"] = args.steps
    if isinstance(diffusion, DDPM):
        kwargs["sampler"] = args.sampler
    images = diffusion.sample(model, cond.to(args.device), gen, **kwargs)
    what = "class" if hasattr(series.config.data, "prompts") else "bump centre"
    data = series.config.data
    labels = [f"{c}: {data.describe(c)}" for c in names] if what == "class" else names
    sample_grid(images, labels, args.out,
                title=f"{args.run_dir.name} · {step.stem} · one row per {what}, {args.n} samples each")
    print(f"wrote {args.out}: {len(names)} prompts ({', '.join(names)}) x {args.n} from {step.name}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``hidcap`` console script; returns the exit status.

    Every error is reported as one line on stderr (``hidcap <command>: error: …``) with exit status 2 and no
    traceback; ``--debug`` shows the traceback instead."""
    args = build_parser().parse_args(argv)
    try:
        if args.command == "train":
            return _train(args)
        if args.command == "sweep":
            return _sweep(args)
        return _sample(args)
    except KeyboardInterrupt:
        print(f"hidcap {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 -- the CLI boundary: every failure becomes one line
        if args.debug:
            raise
        print(f"hidcap {args.command}: error: {_one_line(exc)}", file=sys.stderr)
        return 2


def _one_line(exc: BaseException) -> str:
    """The message of ``exc`` on one line; the type is named unless it is a plain user error."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    from hidcap.runlock import RunLockedError

    if isinstance(exc, (CLIError, ValueError, KeyError, FileNotFoundError, FileExistsError, RunLockedError)):
        return text
    if (isinstance(exc, OSError) and exc.errno == errno.ENOSPC) or "No space left on device" in text:
        return f"no space left on device ({text}); earlier checkpoints are kept"
    return f"{type(exc).__name__}: {text} (run with --debug for the traceback)"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
