"""What every probe shares: its command line, the three scales, the concept-space run settings, the probe
classifier cache and the verdict file.

Every probe runs as ``python probes/NAME.py [--tiny | --quick] [--seeds 0 1 2] [--device cuda] [--out DIR]``:

- full (the default): the paper's scale; meant for a GPU (``--device cuda``);
- ``--quick``: small models on the CPU, minutes; what docs/results.md records when no GPU was lent;
- ``--tiny``: seconds; exercises every code path for the test suite (its verdict means nothing).

A probe writes its figures (PNG) and ``verdict.json`` into ``--out`` (default ``out/probes/NAME/SCALE``):
the claim, the paper's figure, the criterion, ``passed`` (true, false, or null when the data cannot decide),
the measured numbers, and the scale, seeds, device, command and wall time. Training runs live under
``--out/runs`` and are reused when the probe is run again with the same ``--out``.
"""
from __future__ import annotations

import argparse
import json
import platform
import shlex
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hidcap.data import ConceptDataSpec
from hidcap.diffusion import DDPMConfig, VDMConfig
from hidcap.evaluation import ConceptProbe, load_probe, train_probe
from hidcap.models import UNetConfig, presets
from hidcap.training import CheckpointConfig, OptimConfig, TrainConfig

SCALES = ("tiny", "quick", "full")
VERDICTS = {True: "pass", False: "fail", None: "undetermined"}


# ------------------------------------------------------------------------------------------ command line
@dataclass(frozen=True)
class ProbeArgs:
    """Parsed command line of one probe run. ``started``: ``time.perf_counter()`` at parse time."""

    name: str
    scale: str
    seeds: tuple[int, ...]
    device: str
    out: Path
    progress: bool | None
    argv: tuple[str, ...]
    started: float = field(default_factory=time.perf_counter)

    @property
    def tiny(self) -> bool:
        return self.scale == "tiny"

    def run_dir(self, tag: str, seed: int) -> Path:
        """Where the training run ``tag`` of ``seed`` lives (reused by a later run with the same --out)."""
        return self.out / "runs" / f"{tag}_seed{seed}"


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"seed must be a non-negative integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"seed must be a non-negative integer, got {value}")
    return value


def parse_args(
    name: str,
    description: str,
    argv: Sequence[str] | None = None,
    *,
    default_seeds: Sequence[int] | Mapping[str, Sequence[int]] = (0,),
    min_seeds: int = 1,
    extra: Any = None,
) -> tuple[ProbeArgs, argparse.Namespace]:
    """Parse a probe's command line; returns ``(ProbeArgs, namespace)`` (the namespace holds ``extra``'s options).

    default_seeds: the seeds without ``--seeds``, one list for every scale or a mapping scale -> seeds (e.g.
    fewer seeds at the quick scale). ``extra(parser)`` may add probe-specific options. Repeated seeds, fewer
    than ``min_seeds`` seeds, or a CUDA device on a machine without one end the program with a usage error
    naming the problem.
    """
    per_scale = (
        {k: tuple(v) for k, v in default_seeds.items()} if isinstance(default_seeds, Mapping)
        else {k: tuple(default_seeds) for k in SCALES}
    )
    if set(per_scale) != set(SCALES):
        raise ValueError(f"default_seeds must give seeds for every scale {SCALES}, got {sorted(per_scale)}")
    parser = argparse.ArgumentParser(prog=f"probes/{name}.py", description=description)
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="CPU-sized run (minutes)")
    size.add_argument("--tiny", action="store_true", help="seconds-long smoke run (the test suite's)")
    shown = "; ".join(f"{k}: {' '.join(map(str, v))}" for k, v in per_scale.items())
    parser.add_argument("--seeds", type=_seed, nargs="+", default=None, help=f"training seeds (default {shown})")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda (default cpu)")
    parser.add_argument("--out", type=Path, default=None, help=f"output folder (default out/probes/{name}/SCALE)")
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
    if extra is not None:
        extra(parser)
    argv = list(sys.argv[1:] if argv is None else argv)
    ns = parser.parse_args(argv)
    scale = "tiny" if ns.tiny else "quick" if ns.quick else "full"
    if ns.seeds is None:
        ns.seeds = list(per_scale[scale])
    if len(set(ns.seeds)) != len(ns.seeds):
        parser.error(f"--seeds must not repeat a seed, got {ns.seeds}")
    if len(ns.seeds) < min_seeds:
        parser.error(f"this probe needs at least {min_seeds} seeds, got {len(ns.seeds)}: {ns.seeds}")
    if ns.device.startswith("cuda") and not torch.cuda.is_available():
        parser.error(f"--device {ns.device} requested but CUDA is not available")
    out = ns.out if ns.out is not None else Path("out/probes") / name / scale
    out.mkdir(parents=True, exist_ok=True)
    args = ProbeArgs(name=name, scale=scale, seeds=tuple(ns.seeds), device=ns.device, out=out,
                     progress=False if ns.no_progress else None, argv=tuple(argv))
    return args, ns


# ------------------------------------------------------------------------------------------ verdict file
def _plain(value: Any) -> Any:
    """JSON-able copy: numpy scalars/arrays and tensors become numbers/lists, tuples lists, NaN/inf None."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return float(value) if np.isfinite(value) else None
    if isinstance(value, Path):
        return str(value)
    return value


def device_name(device: str) -> str:
    """Human-readable name of ``device`` (GPU model, or the CPU with its core count)."""
    if device.startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(device))
    import os

    return f"CPU ({platform.machine()}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads)"


def write_verdict(
    args: ProbeArgs,
    *,
    claim: str,
    paper: str,
    criterion: str,
    passed: bool | None,
    measured: dict[str, Any],
    figures: Sequence[str | Path] = (),
    notes: str = "",
) -> dict[str, Any]:
    """Write ``verdict.json`` into ``args.out``, print a one-line summary and return the record.

    passed: ``True``/``False`` against ``criterion``, or ``None`` when the measurements cannot decide it
    (e.g. behaviour never reached the threshold in any seed). Figures must exist (``FileNotFoundError``).
    """
    if passed not in (True, False, None):
        raise ValueError(f"passed must be True, False or None, got {passed!r}")
    names = []
    for f in figures:
        path = Path(f)
        if not path.is_absolute() and not path.is_relative_to(args.out):
            path = args.out / path  # a name relative to the output folder
        if not path.is_file():
            raise FileNotFoundError(f"figure {path} was not written")
        names.append(str(path.relative_to(args.out)) if path.is_relative_to(args.out) else str(path))
    record = {
        "probe": args.name,
        "claim": claim,
        "paper": paper,
        "criterion": criterion,
        "passed": passed,
        "verdict": VERDICTS[passed],
        "measured": _plain(measured),
        "figures": names,
        "notes": notes,
        "scale": args.scale,
        "seeds": list(args.seeds),
        "device": args.device,
        "device_name": device_name(args.device),
        "torch": torch.__version__,
        "command": shlex.join(["python", f"probes/{args.name}.py", *args.argv]),
        "wall_s": round(time.perf_counter() - args.started, 1),
    }
    (args.out / "verdict.json").write_text(json.dumps(record, indent=2, allow_nan=False) + "\n")
    print(f"\n[{record['verdict'].upper()}] {args.name} ({args.scale}, seeds {list(args.seeds)}, "
          f"{record['wall_s']:.0f} s): {claim}\n  criterion: {criterion}\n  -> {args.out / 'verdict.json'}")
    return record


# ------------------------------------------------------------------------------------------ concept runs
@dataclass(frozen=True)
class ConceptScale:
    """How big a concept-space experiment is at one scale.

    model / diffusion / optimizer / batch_size / steps / checkpoints: the training run; image_size and
    images_per_class: the data; sample_steps and samples_per_class: generation per class and checkpoint;
    probe: keyword arguments of :func:`hidcap.evaluation.train_probe`; strict_probe: refuse a probe under
    99 % held-out accuracy (off only for ``tiny``, whose probe is trained for a few steps).
    """

    name: str
    model: UNetConfig
    diffusion: DDPMConfig | VDMConfig
    optimizer: OptimConfig
    batch_size: int
    steps: int
    checkpoints: CheckpointConfig
    image_size: int
    images_per_class: int
    sample_steps: int
    samples_per_class: int
    probe: dict[str, Any]
    strict_probe: bool = True

    def spec(self, **fields: Any) -> ConceptDataSpec:
        """A :class:`ConceptDataSpec` at this scale's image size and count, with ``fields`` overridden."""
        return ConceptDataSpec(**{"image_size": self.image_size, "images_per_class": self.images_per_class, **fields})

    def train_config(self, spec: ConceptDataSpec, seed: int, device: str, **overrides: Any) -> TrainConfig:
        """The run of ``spec`` at this scale (``overrides``: any TrainConfig field, e.g. ``steps``)."""
        if spec.image_size != self.model.image_size:
            raise ValueError(f"spec.image_size={spec.image_size} does not fit the {self.name} model "
                             f"({self.model.image_size} px)")
        cfg = TrainConfig(model=self.model, diffusion=self.diffusion, data=spec, optimizer=self.optimizer,
                          checkpoints=self.checkpoints, batch_size=self.batch_size, steps=self.steps,
                          seed=seed, device=device, log_every=max(1, min(50, self.steps // 10)))
        return replace(cfg, **overrides)


def concept_scale(name: str) -> ConceptScale:
    """The ``tiny``, ``quick`` and ``full`` concept-space scales (SEEDS.md A)."""
    if name == "tiny":
        return ConceptScale(
            name, presets.tiny(time_scale=1.0, image_size=8, channels=(8, 8)), DDPMConfig.scaled(20),
            OptimConfig(lr=3e-3), batch_size=16, steps=12, checkpoints=CheckpointConfig(count=3),
            image_size=8, images_per_class=16, sample_steps=3, samples_per_class=4,
            probe={"steps": 5, "batch_size": 16, "images_per_class": 16, "heldout_per_class": 8, "width": 4},
            strict_probe=False,
        )
    if name == "quick":
        # the tiny-ddpm run preset: a 16x16 DDPM (T=100) that learns the training classes in minutes
        return ConceptScale(
            name, presets.tiny(time_scale=1.0), DDPMConfig.scaled(100), OptimConfig(lr=3e-3),
            batch_size=32, steps=1200, checkpoints=CheckpointConfig(count=12), image_size=16,
            images_per_class=256, sample_steps=25, samples_per_class=32,
            probe={"steps": 200, "batch_size": 64, "images_per_class": 256, "heldout_per_class": 128, "width": 8},
        )
    if name == "full":
        # SEEDS.md A: VDM, channels (64, 128, 256), 20k steps at batch 64, ~60 quadratic checkpoints
        return ConceptScale(
            name, presets.hidden_capabilities(), VDMConfig(), OptimConfig(lr=1e-3, weight_decay=0.01),
            batch_size=64, steps=20000, checkpoints=CheckpointConfig(count=60), image_size=32,
            images_per_class=2048, sample_steps=50, samples_per_class=64,
            probe={"steps": 1500, "batch_size": 128, "images_per_class": 1024, "heldout_per_class": 256, "width": 16},
        )
    raise ValueError(f"unknown scale {name!r}; use one of {SCALES}")


def concept_probe(spec: ConceptDataSpec, scale: ConceptScale, folder: Path, device: str, seed: int = 0,
                  progress: bool | None = None) -> ConceptProbe:
    """The concept classifier for ``spec``'s concepts, trained with ``scale.probe`` once and cached in ``folder``.

    A cached probe is reused only when everything it depends on matches (the spec's concepts, separations,
    shapes, image size, position range, blur and noise, the training settings and the seed); otherwise it is
    retrained and the cache replaced.
    """
    key = _probe_key(spec, scale.probe, seed)
    if (folder / "probe.json").is_file() and (folder / "spec.json").is_file():
        if json.loads((folder / "spec.json").read_text()) == key:
            return load_probe(folder, device)
    probe = train_probe(spec, seed=seed, device=device, progress=progress, **scale.probe)
    probe.save(folder)
    (folder / "spec.json").write_text(json.dumps(key) + "\n")
    return probe


def _probe_key(spec: ConceptDataSpec, settings: dict[str, Any], seed: int) -> dict[str, Any]:
    """Everything a trained probe depends on, as JSON-able values."""
    data = {"concepts": list(spec.concepts), "color": spec.color_separation, "size": spec.size_separation,
            "background": spec.background_separation, "shapes": list(spec.shapes), "image_size": spec.image_size,
            "position_range": spec.position_range, "blur_px": spec.blur_px, "noise_std": spec.noise_std}
    return {"data": data, "settings": _plain(dict(settings)), "seed": seed}


def first_crossing(steps: Sequence[int], values: Sequence[float], threshold: float) -> int | None:
    """First step whose value reaches ``threshold`` (no smoothing, no staying), or ``None``."""
    for s, v in zip(steps, values):
        if v >= threshold:
            return int(s)
    return None
