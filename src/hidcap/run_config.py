"""The configuration of a training run: :class:`TrainConfig` with its :class:`OptimConfig` and
:class:`CheckpointConfig` (frozen dataclasses, saved as ``run_dir/config.json``).

They live apart from :mod:`hidcap.training` so that :mod:`hidcap.runs` can read a run's config without importing
the training loop (``hidcap.training`` re-exports all three).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from hidcap.data import BumpDataSpec, ConceptDataSpec
from hidcap.diffusion import DDPMConfig, VDMConfig
from hidcap.models import UNetConfig, presets

__all__ = ["CheckpointConfig", "DTYPES", "OptimConfig", "SPACINGS", "TrainConfig"]

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
SPACINGS = ("quadratic", "linear")


@dataclass(frozen=True)
class OptimConfig:
    """AdamW settings; ``grad_clip``: max global grad norm of the model parameters (None: no clipping).
    The diffusion schedule parameters (VDM γ) get no weight decay and no clipping."""

    lr: float = 1e-3
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.999)
    grad_clip: float | None = 1.0


@dataclass(frozen=True)
class CheckpointConfig:
    """Which steps get a checkpoint: ``count`` steps spaced ``'quadratic'`` (dense early, as in the paper) or
    ``'linear'`` over the run, always including the final step; ``include_start`` adds step 0 (the
    initialisation). ``steps`` (non-empty) overrides this with explicit steps."""

    count: int = 60
    spacing: str = "quadratic"
    include_start: bool = True
    steps: tuple[int, ...] = ()


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run depends on (saved as ``run_dir/config.json``).

    data: the data spec (``build(seed)``); may be ``None`` when tensors are passed to :func:`train`.
    data_seed: seed for ``data.build`` (default: ``seed``). seed: model init, dropout, noise and batch order.
    dtype: ``'float32'`` or an autocast dtype (``'bfloat16'``); channels_last / compile: speed options.
    log_every: write a ``metrics.jsonl`` row every this many steps (and at every checkpoint).
    """

    model: UNetConfig = field(default_factory=presets.tiny)
    diffusion: DDPMConfig | VDMConfig = field(default_factory=VDMConfig)
    data: ConceptDataSpec | BumpDataSpec | None = None
    optimizer: OptimConfig = field(default_factory=OptimConfig)
    checkpoints: CheckpointConfig = field(default_factory=CheckpointConfig)
    batch_size: int = 64
    steps: int = 20000
    seed: int = 0
    data_seed: int | None = None
    device: str = "cpu"
    dtype: str = "float32"
    channels_last: bool = False
    compile: bool = False
    log_every: int = 50

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.steps < 1:
            raise ValueError(f"steps must be >= 1, got {self.steps}")
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {sorted(DTYPES)}, got {self.dtype!r}")
        if self.log_every < 1:
            raise ValueError(f"log_every must be >= 1, got {self.log_every}")
        if self.checkpoints.spacing not in SPACINGS:
            raise ValueError(f"checkpoints.spacing must be one of {SPACINGS}, got {self.checkpoints.spacing!r}")
        if self.checkpoints.count < 1 and not self.checkpoints.steps:
            raise ValueError(f"checkpoints.count must be >= 1, got {self.checkpoints.count}")
        bad = [s for s in self.checkpoints.steps if not 0 <= s <= self.steps]
        if bad:
            raise ValueError(f"checkpoints.steps must lie in [0, steps={self.steps}], got {bad}")
