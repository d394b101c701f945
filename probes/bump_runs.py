"""What the Gaussian-bump probes share (SEEDS.md C, paper 003): the model sizes per scale, training a run on one
or several bump data sets, and sampling one image per label while a layer is recorded.

Used by ``compose_interpolate.py``, ``percolation.py`` and ``torus_geometry.py``. Scales:

- ``tiny``: an 8×8 U-Net with two levels, a few training steps (the test suite's; results mean nothing);
- ``quick``: the CPU model of ``examples/clifford_torus.py`` (16×16, channels (16, 32, 32), T = 200);
- ``full``: paper 003's U-Net (:func:`hidcap.models.presets.gaussian_bumps`, 32×32, T = 1000), for a GPU.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from hidcap import Tracer
from hidcap.runs import CheckpointSeries
from hidcap.config_io import config_to_dict
from hidcap.data import BumpDataSpec, LabelledImages, concat
from hidcap.diffusion import DDPMConfig
from hidcap.models import UNetConfig, presets
from hidcap.rng import torch_generator
from hidcap.training import CheckpointConfig, OptimConfig, TrainConfig, train

#: The module whose output is "the representation" (our reading of paper 003's "layer 4": the first decoder
#: block after its upsampling, not the bottleneck), as in examples/clifford_torus.py.
LAYER = "ups.0.resample"


@dataclass(frozen=True)
class BumpScale:
    """Model, diffusion and optimiser of a bump experiment at one scale, plus how to sample from it.

    image_size: N of the model; steps / batch_size / checkpoints: the default run (probes override them);
    sample_steps: ancestral sampler steps (an evenly spaced subsequence of the T training steps);
    sample_batch: labels sampled at once (bounds memory at full scale).
    """

    name: str
    model: UNetConfig
    diffusion: DDPMConfig
    optimizer: OptimConfig
    batch_size: int
    steps: int
    checkpoints: CheckpointConfig
    image_size: int
    sample_steps: int
    sample_batch: int = 1024
    layer: str = LAYER

    def train_config(self, spec: BumpDataSpec | None, seed: int, device: str, **overrides: Any) -> TrainConfig:
        """The run of ``spec`` (None: the data is passed to :func:`train_run`) with ``overrides`` of any
        TrainConfig field (e.g. ``steps``, ``checkpoints``)."""
        if spec is not None and spec.image_size != self.image_size:
            raise ValueError(f"spec.image_size={spec.image_size} does not fit the {self.name} model "
                             f"({self.image_size} px)")
        steps = overrides.get("steps", self.steps)
        cfg = TrainConfig(model=self.model, diffusion=self.diffusion, data=spec, optimizer=self.optimizer,
                          checkpoints=self.checkpoints, batch_size=self.batch_size, steps=self.steps, seed=seed,
                          device=device, log_every=max(1, min(100, steps // 20)))
        return replace(cfg, **overrides)


SCALES = ("tiny", "quick", "full")


def bump_scale(name: str) -> BumpScale:
    """The ``tiny``, ``quick`` and ``full`` bump model scales (see the module docstring)."""
    if name == "tiny":
        return BumpScale(
            name, presets.tiny_bumps(image_size=8, channels=(8, 16), attention_resolutions=()),
            DDPMConfig.scaled(20), OptimConfig(lr=3e-3, weight_decay=0.0), batch_size=16, steps=20,
            checkpoints=CheckpointConfig(count=2), image_size=8, sample_steps=4, sample_batch=64,
        )
    if name == "quick":
        # examples/clifford_torus.py's "cpu" scale: learns 16x16 periodic bumps to ~0.97 accuracy in 2000 steps
        return BumpScale(
            name, presets.tiny_bumps(channels=(16, 32, 32), time_dim=32, cond_pe_dim=32, groups=8),
            DDPMConfig.scaled(200), OptimConfig(lr=2e-3, weight_decay=0.0), batch_size=64, steps=2000,
            checkpoints=CheckpointConfig(count=6), image_size=16, sample_steps=50, sample_batch=1024,
        )
    if name == "full":
        # paper 003: the DDPM U-Net of Appendix Fig. 7 on 32x32 images, T = 1000, AdamW
        return BumpScale(
            name, presets.gaussian_bumps(), DDPMConfig(timesteps=1000), OptimConfig(lr=3e-4, weight_decay=0.0),
            batch_size=128, steps=50000, checkpoints=CheckpointConfig(count=40), image_size=32,
            sample_steps=1000, sample_batch=1024,
        )
    raise ValueError(f"unknown scale {name!r}; use one of {SCALES}")


# ------------------------------------------------------------------------------------------ training
def build_data(specs: Sequence[BumpDataSpec], seed: int) -> LabelledImages:
    """Build every spec with ``seed`` and concatenate them (e.g. 2D bumps + 1D stripes, ``hidcap.data.concat``).

    The specs must share the image size and the latent frame (``offset``) so that their conditioning
    coordinates mean the same thing.
    """
    if not specs:
        raise ValueError("specs must hold at least one BumpDataSpec")
    sizes = {(s.image_size, s.offset) for s in specs}
    if len(sizes) != 1:
        raise ValueError(f"specs must share image_size and latent offset, got {sorted(sizes)}")
    return concat([s.build(seed) for s in specs])


def train_run(
    config: TrainConfig, run_dir: Path, specs: Sequence[BumpDataSpec] | None = None, *, progress: bool | None = None
) -> CheckpointSeries:
    """Train ``config`` into ``run_dir`` (a finished run there is reused) and return its checkpoint series.

    specs: several data sets trained on together (``config.data`` must then be None); they are written to
    ``run_dir/datasets.json``, and a run directory that holds a run on other data sets is refused.
    """
    run_dir = Path(run_dir)
    if specs is None:
        if config.data is None:
            raise ValueError("config.data is None and no specs were given")
        return train(config, run_dir, progress=progress)
    if config.data is not None:
        raise ValueError("pass either config.data or specs, not both")
    record = [config_to_dict(s) for s in specs]
    sidecar = run_dir / "datasets.json"
    if sidecar.is_file() and json.loads(sidecar.read_text()) != record:
        raise ValueError(f"{run_dir} holds a run on other data sets ({sidecar}); use a new --out")
    data = build_data(specs, config.seed if config.data_seed is None else config.data_seed)
    run_dir.mkdir(parents=True, exist_ok=True)
    sidecar.write_text(json.dumps(record, indent=2) + "\n")
    return train(config, run_dir, data=data, progress=progress)


# ------------------------------------------------------------------------------------------ sampling
def frame_grid(image_size: int, increment: float = 1.0, offset: float = 0.0) -> np.ndarray:
    """Labels ``(K, 2)`` of every ``(x, y)`` on the frame's lattice ``0, d, 2d, ... < N`` (x slowest), shifted by
    ``offset`` into latent units."""
    if image_size <= 0:
        raise ValueError(f"image_size must be positive, got {image_size}")
    if not increment > 0:
        raise ValueError(f"increment must be positive, got {increment}")
    axis = increment * np.arange(int(np.ceil(image_size / increment - 1e-9)))
    xs, ys = np.meshgrid(axis, axis, indexing="ij")
    return np.stack([xs.ravel(), ys.ravel()], axis=1) + offset


def sample_labels(
    series: CheckpointSeries,
    step: int,
    labels: np.ndarray | torch.Tensor,
    *,
    sample_steps: int,
    seed: int,
    layer: str | None = None,
    batch: int = 1024,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Sample one image per label ``(K, 2)`` from checkpoint ``step``; with ``layer``, record that module's output
    at the final sampling step.

    Returns images ``(K, 1, N, N)`` on the CPU in [0, 1] and activations ``(K, D)`` (flattened) or ``None``.
    Labels go through in chunks of ``batch``; the noise comes from one generator seeded with ``seed``.
    """
    if batch < 1:
        raise ValueError(f"batch must be positive, got {batch}")
    model = series.load(step).eval()
    diffusion = series.diffusion(step)
    device = next(model.parameters()).device
    lab = torch.as_tensor(np.asarray(labels), dtype=torch.float32)
    if lab.ndim != 2 or lab.shape[1] != 2:
        raise ValueError(f"labels must be (K, 2), got shape {tuple(lab.shape)}")
    gen = torch_generator(seed, device)
    images, acts = [], []
    for start in range(0, lab.shape[0], batch):
        chunk = lab[start:start + batch].to(device)
        if layer is None:
            images.append(diffusion.sample(model, chunk, gen, steps=sample_steps).cpu())
            continue
        with Tracer(model, [layer], calls=-1) as tr:
            images.append(diffusion.sample(model, chunk, gen, steps=sample_steps).cpu())
        acts.append(tr[layer].flatten(1).float().cpu())
    return torch.cat(images), (torch.cat(acts) if layer is not None else None)
