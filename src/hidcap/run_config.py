"""The configuration of a training run: :class:`TrainConfig` with its :class:`OptimConfig` and
:class:`CheckpointConfig` (frozen dataclasses, saved as ``run_dir/config.json``).

They live apart from :mod:`hidcap.training` so that :mod:`hidcap.runs` can read a run's config without importing
the training loop (``hidcap.training`` re-exports all three).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from hidcap.data import BumpDataSpec, ConcatSpec, ConceptDataSpec
from hidcap.diffusion import DDPMConfig, OkawaDDPMConfig, ParkVDMConfig, VDMConfig
from hidcap.models import ContextUNetConfig, CUNetConfig, UNetConfig, presets

__all__ = ["CheckpointConfig", "DTYPES", "OptimConfig", "SPACINGS", "TrainConfig", "checkpoint_schedule",
           "checkpoint_steps"]

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
SPACINGS = ("quadratic", "linear")


@dataclass(frozen=True)
class OptimConfig:
    """AdamW settings; ``grad_clip``: max global grad norm of the model parameters, a finite number > 0
    (``None``: no clipping; 0 is rejected, it would zero every update). The diffusion schedule parameters
    (VDM γ) get no weight decay and no clipping."""

    lr: float = 1e-3
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.999)
    grad_clip: float | None = 1.0

    def __post_init__(self) -> None:
        if not (_finite(self.lr) and self.lr > 0):
            raise ValueError(f"optimizer.lr must be a finite number > 0, got {self.lr}")
        if not (_finite(self.weight_decay) and self.weight_decay >= 0):
            raise ValueError(f"optimizer.weight_decay must be a finite number >= 0, got {self.weight_decay}")
        if len(self.betas) != 2 or not all(_finite(b) and 0.0 <= b < 1.0 for b in self.betas):
            raise ValueError(f"optimizer.betas must be two numbers in [0, 1), got {self.betas}")
        if self.grad_clip is not None and not (_finite(self.grad_clip) and self.grad_clip > 0):
            raise ValueError(
                f"optimizer.grad_clip must be a finite number > 0, or None for no clipping; got {self.grad_clip}"
            )


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, bool) and bool(np.isfinite(x))


def _check_int(owner: Any, name: str, minimum: int, optional: bool = False) -> None:
    """Field ``name`` of frozen dataclass ``owner`` must be an int >= minimum (numpy integers are stored as
    int, so the config stays JSON-able); the error names the field."""
    value = getattr(owner, name)
    if optional and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an int, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    object.__setattr__(owner, name, int(value))


@dataclass(frozen=True)
class CheckpointConfig:
    """Which steps get a checkpoint: ``count`` steps spaced ``'quadratic'`` (dense early, as in the paper) or
    ``'linear'`` over the run, always including the final step; ``include_start`` adds step 0 (the
    initialisation). ``steps`` (non-empty) overrides this with explicit steps."""

    count: int = 60
    spacing: str = "quadratic"
    include_start: bool = True
    steps: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        bad = [s for s in self.steps if isinstance(s, bool) or not isinstance(s, (int, np.integer))]
        if bad:
            raise ValueError(f"checkpoints.steps must be ints, got {bad}")
        object.__setattr__(self, "steps", tuple(int(s) for s in self.steps))  # numpy ints -> int (JSON-able)


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run depends on (saved as ``run_dir/config.json``).

    data: the data spec (``build(seed)``; several bump data sets at once: :class:`~hidcap.data.ConcatSpec`); may
        be ``None`` when tensors are passed to :func:`train`.
    data_seed: seed for ``data.build`` (default: ``seed``). seed: model init, dropout, noise and batch order.
    dtype: ``'float32'`` or an autocast dtype (``'bfloat16'``); channels_last / compile: speed options.
    log_every: write a ``metrics.jsonl`` row every this many steps (and at every checkpoint).
    """

    model: UNetConfig | CUNetConfig | ContextUNetConfig = field(default_factory=presets.tiny)
    diffusion: DDPMConfig | VDMConfig | ParkVDMConfig | OkawaDDPMConfig = field(default_factory=VDMConfig)
    data: ConceptDataSpec | BumpDataSpec | ConcatSpec | None = None
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
        for name, minimum in (("batch_size", 1), ("steps", 1), ("seed", 0), ("log_every", 1)):
            _check_int(self, name, minimum)
        _check_int(self, "data_seed", 0, optional=True)
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {sorted(DTYPES)}, got {self.dtype!r}")
        if self.checkpoints.spacing not in SPACINGS:
            raise ValueError(f"checkpoints.spacing must be one of {SPACINGS}, got {self.checkpoints.spacing!r}")
        if self.checkpoints.count < 1 and not self.checkpoints.steps:
            raise ValueError(f"checkpoints.count must be >= 1, got {self.checkpoints.count}")
        bad = [s for s in self.checkpoints.steps if not 0 <= s <= self.steps]
        if bad:
            raise ValueError(f"checkpoints.steps must lie in [0, steps={self.steps}], got {bad}")


def checkpoint_steps(total: int, count: int, spacing: str = "quadratic", include_start: bool = False) -> tuple[int, ...]:
    """Sorted checkpoint steps: ``count`` steps in (0, total] with step_i ≈ total·(i/count)² (quadratic) or
    total·i/count (linear), nudged to be strictly increasing (fewer if ``count > total``); the last is
    ``total``. ``include_start`` prepends 0. E.g. ``checkpoint_steps(100, 4)`` -> ``(6, 25, 56, 100)``."""
    if total < 1 or count < 1:
        raise ValueError(f"total and count must be >= 1, got total={total}, count={count}")
    if spacing not in SPACINGS:
        raise ValueError(f"spacing must be one of {SPACINGS}, got {spacing!r}")
    count = min(count, total)
    power = 2 if spacing == "quadratic" else 1
    raw = [round(total * (i / count) ** power) for i in range(1, count + 1)]
    steps: list[int] = []
    for s in raw:
        steps.append(max(s, steps[-1] + 1 if steps else 1))
    # nudging upwards can overshoot near the end; pull back so the last is `total` and steps stay distinct
    steps[-1] = total
    for i in range(len(steps) - 2, -1, -1):
        steps[i] = min(steps[i], steps[i + 1] - 1)
    return ((0,) if include_start else ()) + tuple(steps)


#: The note in a run's config.json (beside the config's fields, see :func:`hidcap.config_io.save_config`) that
#: records each extension of the run: ``[{"from_steps": 20, "to_steps": 40, "at_step": 20}, ...]``.
EXTENSIONS_KEY = "@extensions"


def extended_schedule(config: TrainConfig, extensions: list[dict[str, int]]) -> tuple[int, ...]:
    """The steps a run of ``config`` that was extended (``extensions``, oldest first, as :data:`EXTENSIONS_KEY`
    records them) checkpointed: each earlier length's schedule up to the step it was extended at, then
    ``config``'s schedule after the last extension (sorted)."""
    from dataclasses import replace

    steps: set[int] = set()
    start = -1
    for ext in extensions:
        try:
            before, at = int(ext["from_steps"]), int(ext["at_step"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"extension record {ext!r} needs integer 'from_steps' and 'at_step'") from exc
        steps |= {s for s in checkpoint_schedule(replace(config, steps=before)) if start < s <= at}
        start = at
    steps |= {s for s in checkpoint_schedule(config) if s > start}
    return tuple(sorted(steps))


def checkpoint_schedule(config: TrainConfig) -> tuple[int, ...]:
    """The steps a run of ``config`` checkpoints (sorted): ``config.checkpoints.steps`` plus the final step, or
    :func:`checkpoint_steps` of its count and spacing."""
    c = config.checkpoints
    if c.steps:
        return tuple(sorted(set(c.steps) | {config.steps}))
    return checkpoint_steps(config.steps, c.count, c.spacing, c.include_start)
